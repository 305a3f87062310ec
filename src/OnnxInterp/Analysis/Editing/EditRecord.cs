namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// edit.json: what was edited and how, and the ROME paper's scores per fact and averaged (<see cref="Efficacy"/>,
/// <see cref="Paraphrase"/>, <see cref="Specificity"/>: the edited, exported model's; <see cref="Before"/>: the original's).
/// </summary>
public sealed record EditRecord(
    string Schema,
    string Tool,
    EditSource Source,
    EditMethod Method,
    EditSite Site,
    double? Efficacy,
    double? Paraphrase,
    double? Specificity,
    EditAverages Before,
    IReadOnlyList<EditedFact> Facts)
{
    public const string SchemaName = "onnxinterp-edit/1";
    public const string FileName = "edit.json";
    public const string ExportFolder = "onnx";
}

/// <summary>The checkpoint edited (its folder and the SHA-256 of config.json and its safetensors), the facts file, the world seed.</summary>
public sealed record EditSource(string Checkpoint, string Hash, string? Facts, int WorldSeed);

/// <summary>
/// The method, in words and numbers: the layer, the key and value definitions, how the value differs from ROME's, the
/// search's margin, largest donor step and clamp, the key statistics' corpus, how many facts the update writes,
/// ‖W' − W‖_F / ‖W‖_F of the edited down projection and the relative change of its output over the corpus's keys.
/// </summary>
public sealed record EditMethod(string Name, int Layer, string Tensor, string Key, string Value, string DiffersFromRome, string Update,
    double Margin, double MaxScale, double ClampNormFactor, int GradientRounds, EditCorpus Corpus, int Written, double RelativeChange, double CorpusOutputChange);

/// <summary>The corpus the keys' second moment was estimated from: where it came from, its texts and key vectors (tokens).</summary>
public sealed record EditCorpus(string Source, int Texts, long Keys);

/// <summary>
/// Where the edit went and why: chosen by causal tracing (restoring blocks.{l}.mlp.hook_post at the subject's last token in
/// a run on another subject, the recovered share of logit(old) − logit(partner's answer), mean over the traced facts, per
/// layer: the layer with the largest) or given (--layer); and the facts' maps at the edited site before and after the edit.
/// </summary>
public sealed record EditSite(string ChosenBy, string Hook, IReadOnlyList<double>? MeanEffect, int TracedFacts, EditMapSummary? Map);

/// <summary>
/// The facts' maps at the edited layer, the subject's last token (mean over the facts with a map): the change of
/// logit(target) − logit(old) in the partner's run when the fact's MLP state there is restored, on the original model and on
/// the edited one, and the same averaged over every other (layer, position) of the maps.
/// </summary>
public sealed record EditMapSummary(double SiteBefore, double SiteAfter, double ElsewhereBefore, double ElsewhereAfter, int Facts);

/// <summary>Averages over the facts (null where no fact has such prompts).</summary>
public sealed record EditAverages(double? Efficacy, double? Paraphrase, double? Specificity);

/// <summary>
/// One edited fact: what it was, its scores on the edited model and on the original, its value search (<see cref="Written"/>:
/// whether the update writes it, i.e. the search reached the margin), generations and map.
/// </summary>
public sealed record EditedFact(
    string Subject,
    string Prompt,
    string Target,
    string Old,
    string OldSource,
    string? Dataset,
    IReadOnlyList<string> Paraphrases,
    IReadOnlyList<EditNeighbour> Neighbours,
    double Efficacy,
    double? Paraphrase,
    double? Specificity,
    double Margin,
    FactScores Before,
    bool Written,
    FactValue Value,
    EditGeneration Generation,
    FactMap? Map);

/// <summary>The greedy continuation of the prompt on the original model and on the edited one.</summary>
public sealed record EditGeneration(string Before, string After);

/// <summary>
/// A fact's causal-tracing map (rows: layers; columns: the prompt's tokens from the subject on, <see cref="Labels"/>): the
/// change of logit(target) − logit(old) in the run on <see cref="Partner"/> when the fact's blocks.{l}.mlp.hook_post at
/// that token is restored, on the original model and on the edited one.
/// </summary>
public sealed record FactMap(string Partner, IReadOnlyList<string> Labels, int SubjectLast, double[][] Before, double[][] After);

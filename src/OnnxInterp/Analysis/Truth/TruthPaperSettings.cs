using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// The layers the paper's code uses for one model: the probe layer (config.ini probe_layer: the layer whose activations
/// train the probes and the intervention's direction) and the intervention's layers, intervene_layer..probe_layer with
/// both ends included (interventions.py:147-159, <c>range(start_layer, end_layer + 1)</c>). <see cref="FromTable"/> is
/// false for a model the paper did not study, whose layers follow <see cref="PaperModel.ScaleLayer"/>.
/// </summary>
public sealed record TruthPaperLayers(string Key, int ProbeLayer, int FirstInterventionLayer, bool FromTable)
{
    /// <summary>The layers the direction is added at, first to the probe layer inclusive.</summary>
    public IReadOnlyList<int> InterventionLayers => Enumerable.Range(FirstInterventionLayer, ProbeLayer - FirstInterventionLayer + 1).ToList();
}

/// <summary>
/// The truth analysis's settings in the paper's code (HZD01/post-training-mechanistic-analysis, Knowledge+Truthfulness):
/// the per-model layer table of config.ini, the datasets of its README commands, and the constants of probes.py,
/// probe_transfer.py and interventions.py. Line numbers refer to the repository's HEAD.
/// </summary>
public static class TruthPaperSettings
{
    /// <summary>
    /// config.ini, keyed by <see cref="PaperModel.Key"/>: (probe_layer, intervene_layer). Two keys differ from the
    /// config.ini section names: "llama-3.1-8b-sft" is [llama-tulu3-8b-sft] and "mistral-7B-SFT" is [mistral-7B-sft].
    /// </summary>
    public static readonly IReadOnlyDictionary<string, (int ProbeLayer, int InterveneLayer)> Table = new Dictionary<string, (int, int)>(StringComparer.Ordinal)
    {
        ["llama-2-13b"] = (14, 8),             // config.ini:6-10
        ["llama-2-13b-instruct"] = (14, 8),    // config.ini:13-17
        ["llama-3.1-8b"] = (12, 8),            // config.ini:22-26
        ["llama-3.1-8b-instruct"] = (12, 8),   // config.ini:30-34
        ["mistral-7B"] = (13, 8),              // config.ini:37-42
        ["mistral-7B-SFT"] = (13, 8),          // config.ini:46-51 [mistral-7B-sft]
        ["mistral-7B-instruct"] = (13, 8),     // config.ini:63-68
        ["llama-3.1-8b-sft"] = (12, 8),        // config.ini:72-76 [llama-tulu3-8b-sft]
    };

    /// <summary>The probe layer of the paper's main model (Llama-3.1-8B, 32 layers), scaled for models outside the table.</summary>
    public const int MainProbeLayer = 12;

    /// <summary>The first intervention layer of the paper's main model, scaled for models outside the table.</summary>
    public const int MainInterveneLayer = 8;

    /// <summary>
    /// The datasets the probes and the intervention's direction are trained on (README "Step 2" and "Step 3":
    /// probe_transfer.py --train_datasets_m1/m2 and interventions.py --train_datasets; the committed
    /// experimental_outputs/label_change_intervention_results.json names the same five), in that order.
    /// </summary>
    public static readonly IReadOnlyList<string> TrainingDatasets = ["sp_en_trans", "animal_class", "inventors", "element_symb", "facts"];

    /// <summary>The held-out dataset of the README's probe transfer (--val_datasets_m1/m2 cities) and the intervention's (--val_dataset cities).</summary>
    public const string InterventionDataset = "cities";

    /// <summary>interventions.py:85 <c>seed = 1</c>; statement i of a subset shuffles its examples after <c>random.seed(seed + i)</c> (line 102).</summary>
    public const int Seed = 1;

    /// <summary>interventions.py:110: the query is the shuffled examples, "\n", the statement and this.</summary>
    public const string Question = JudgingAnswers.Question;

    /// <summary>
    /// interventions.py:30 <c>len_suffix = len(tokenizer.encode('This statement is:'))</c>: encoded with the tokenizer's
    /// special tokens (a BOS where it adds one) and without the leading space; the intervened positions count back from it.
    /// </summary>
    public const string SuffixForLength = "This statement is:";

    /// <summary>interventions.py:29: the answers' token ids are the last of <c>tokenizer.encode(' TRUE')</c> / <c>(' FALSE')</c>.</summary>
    public const string TrueAnswer = JudgingAnswers.True, FalseAnswer = JudgingAnswers.False;

    /// <summary>interventions.py:131 <c>--intervention_coefficient</c> default 1: the direction is added as is.</summary>
    public const double InterventionCoefficient = 1.0;

    /// <summary>
    /// The layers for <paramref name="model"/>: its config.ini row, or for a model the paper did not study, the main
    /// model's layers (12, 8) at the same relative depth (<see cref="PaperModel.ScaleLayer"/>), the first intervention
    /// layer kept at or below the probe layer.
    /// </summary>
    public static TruthPaperLayers For(PaperModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.InTable && Table.TryGetValue(model.Key, out var row))
            return new TruthPaperLayers(model.Key, row.ProbeLayer, row.InterveneLayer, true);
        int probe = model.ScaleLayer(MainProbeLayer);
        return new TruthPaperLayers(model.Key, probe, Math.Min(model.ScaleLayer(MainInterveneLayer), probe), false);
    }
}

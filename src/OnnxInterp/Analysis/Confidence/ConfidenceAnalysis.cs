using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>A model taking part (the first is the base): its last-layer weights and, for the ablation, its session.</summary>
public sealed record ConfidenceModel(string Name, LastLayerWeights Weights, IHookedModel? Model = null)
{
    /// <summary>The model as the paper's tables know it (<see cref="PaperModels.Identify"/>); null when not identified.</summary>
    public PaperModel? Paper { get; init; }
}

/// <summary>The statements the ablation and calibration run on: a dataset, its few-shot examples and the shared tokenizer.</summary>
public sealed record ConfidenceData(StatementDataset Dataset, IReadOnlyList<(string Statement, bool True)> FewShot, HfTokenizer Tokenizer);

public record ConfidenceOptions
{
    /// <summary>
    /// <see cref="AnalysisProtocol.Default"/>: every pair of models is compared. <see cref="AnalysisProtocol.Paper"/>:
    /// the base against each post-trained model, as IoU.py is run (--model1 base --model2 post-trained: Confidence/README.md,
    /// IoU.py:159-199). The neurons themselves are found the same way in both (<see cref="EntropyNeurons"/>); the ratio
    /// is <see cref="EntropyNeuronOptions.Ratio"/>, which the paper preset sets to the authors' norm / LogitVar.
    /// </summary>
    public AnalysisProtocol Protocol { get; init; } = AnalysisProtocol.Default;

    public EntropyNeuronOptions Selection { get; init; } = new();
    public AblationOptions Ablation { get; init; } = new();

    /// <summary>What counts as the entropy-neuron signature (measured with the ablation, on its first prompts).</summary>
    public SignatureOptions Signature { get; init; } = new();

    /// <summary>Judge at most this many statements (a seeded shuffle of the dataset); null judges all.</summary>
    public int? MaxStatements { get; init; } = 200;

    public int Seed { get; init; } = 1;
    public string TrueAnswer { get; init; } = JudgingAnswers.True;
    public string FalseAnswer { get; init; } = JudgingAnswers.False;
}

/// <summary>Where a run is: the model, the stage ("weights", "means", "ablation") and how far.</summary>
public sealed record ConfidenceProgress(string Model, string Stage, int Done, int Total);

/// <summary>Everything the confidence analysis measured; <see cref="Ablations"/> is null when no data was given.</summary>
public sealed record ConfidenceResult(
    ConfidenceOptions Options,
    IReadOnlyList<EntropyNeuronSet> Models,
    IReadOnlyList<EntropyNeuronOverlap> Overlaps,
    string? Dataset,
    IReadOnlyList<ModelAblation>? Ablations)
{
    /// <summary>Each model's entropy-neuron signature (<see cref="EntropySignatures"/>), in model order; null when no data was given.</summary>
    public IReadOnlyList<EntropySignature>? Signatures { get; init; }

    /// <summary>The signature was measured and no selected neuron of any model has it: the overlaps compare noise.</summary>
    public bool NoSelectedNeuronHasSignature => Signatures is { Count: > 0 } s && s.All(x => x.NoneSelectedHasSignature);

    /// <summary>The signature of <paramref name="model"/>, when measured.</summary>
    public EntropySignature? SignatureOf(string model) => Signatures?.FirstOrDefault(s => s.Model == model);
}

/// <summary>
/// The confidence analysis: entropy neurons of each model's last layer from its weights (the paper's Table 14:
/// overlap, IoU and the average ratio difference for the pairs <see cref="ConfidenceOptions.Protocol"/> compares, with
/// the authors' numbers attached where the models are the paper's and they have them), then, beyond the paper, what the
/// neurons do: mean-ablate each model's own entropy neurons over the judging prompts of a dataset and measure the
/// change in output entropy, final residual norm and TRUE/FALSE confidence, beside each model's calibration (ECE).
/// </summary>
public static class ConfidenceAnalysis
{
    public static ConfidenceResult Run(IReadOnlyList<ConfidenceModel> models, ConfidenceData? data = null, ConfidenceOptions? options = null,
        IProgress<ConfidenceProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new ConfidenceOptions();
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (!Enum.IsDefined(o.Protocol)) Throw.Argument($"unknown protocol; known: {string.Join(", ", Enum.GetNames<AnalysisProtocol>())}", "protocol", (int)o.Protocol);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in models)
        {
            if (!names.Add(m.Name)) Throw.Argument("two models share a name", "models", m.Name);
            var w = m.Weights;
            var b = models[0].Weights;
            if (w.Neurons != b.Neurons || w.Hidden != b.Hidden || w.Vocab != b.Vocab)
                throw new IncompatibleModelsException("the models differ in shape", w.Source, "neurons x hidden x vocab",
                    $"{models[0].Name}: {b.Neurons}x{b.Hidden}x{b.Vocab}, {m.Name}: {w.Neurons}x{w.Hidden}x{w.Vocab}");
        }

        var sets = new List<EntropyNeuronSet>();
        foreach (var m in models)
        {
            cancellation.ThrowIfCancellationRequested();
            sets.Add(EntropyNeurons.Find(m.Name, m.Weights, o.Selection) with { Paper = m.Paper });
            progress?.Report(new ConfidenceProgress(m.Name, "weights", 1, 1));
        }
        var overlaps = new List<EntropyNeuronOverlap>();
        foreach (var (i, j) in Pairs(sets.Count, o.Protocol))
            overlaps.Add(EntropyNeuronOverlap.Compare(sets[i], sets[j]) with { Published = Published(sets[i], sets[j]) });

        if (data is null) return new ConfidenceResult(o, sets, overlaps, null, null);

        var missing = models.FirstOrDefault(m => m.Model is null);
        if (missing is not null) Throw.Argument("the ablation needs an exported model (a session) for every model", "models", missing.Name);
        var (trueId, falseId) = JudgingAnswers.Tokens(data.Tokenizer, o.TrueAnswer, o.FalseAnswer, "entropy");
        var prompts = JudgingPrompts.Build(data.Dataset, data.FewShot, data.Tokenizer, o.MaxStatements, o.Seed);
        EntropySignatures.Validate(o.Signature);
        var ablations = new List<ModelAblation>();
        var signatures = new List<EntropySignature>();
        for (int i = 0; i < models.Count; i++)
        {
            ablations.Add(NeuronAblation.Run(models[i].Name, models[i].Model!, models[i].Weights, sets[i].Indices, prompts, trueId, falseId,
                o.Ablation, progress, cancellation));
            signatures.Add(EntropySignatures.Measure(models[i].Name, models[i].Model!, models[i].Weights, sets[i], prompts, o.Signature, o.Ablation, cancellation));
        }
        return new ConfidenceResult(o, sets, overlaps, data.Dataset.Name, ablations) { Signatures = signatures };
    }

    /// <summary>The pairs of model indices compared under <paramref name="protocol"/>, base (0) first.</summary>
    public static IEnumerable<(int A, int B)> Pairs(int models, AnalysisProtocol protocol)
    {
        for (int i = 0; i < models; i++)
            for (int j = i + 1; j < models; j++)
                if (protocol != AnalysisProtocol.Paper || i == 0) yield return (i, j);
    }

    static PublishedEntropyPair? Published(EntropyNeuronSet a, EntropyNeuronSet b) =>
        a.Paper is { InTable: true } pa && b.Paper is { InTable: true } pb ? PaperEntropyResults.Find(pa.Key, pb.Key) : null;
}

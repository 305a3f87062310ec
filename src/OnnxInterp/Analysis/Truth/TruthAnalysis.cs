using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Truth;

/// <summary>A model taking part in the comparison; the first one given is the base.</summary>
public sealed record TruthModel(string Name, ModelSession Session);

/// <summary>A statement dataset and, for the intervention, its few-shot examples (null when it has none).</summary>
public sealed record TruthDataset(StatementDataset Data, IReadOnlyList<(string Statement, bool True)>? FewShot = null)
{
    public string Name => Data.Name;
}

/// <summary>Where truth is read (probes, directions) and written (the intervention).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<TruthReading>))]
public enum TruthReading
{
    /// <summary>
    /// The paper's: the bare statement (no few-shot prefix) at its last token; the intervention at the statement's last
    /// two tokens inside the few-shot prompt.
    /// </summary>
    Statement,

    /// <summary>
    /// Where the judgement is asked for: the few-shot prompt (each dataset's own examples) at its last token, the ":" of
    /// " This statement is:"; the intervention at the prompt's last two tokens. For models that compute truth only when
    /// asked (small models trained on judging documents), not in the paper.
    /// </summary>
    Judgement,
}

public record TruthOptions
{
    public TruthReading Reading { get; init; } = TruthReading.Statement;

    /// <summary>Use at most this many statements (the first ones) of each dataset; null: all.</summary>
    public int? MaxStatementsPerDataset { get; init; }

    /// <summary>The probe layer (Table 2, the intervention's direction); null: the base model's best layer by mass-mean accuracy.</summary>
    public int? Layer { get; init; }

    /// <summary>Layers whose activations are collected and probed; null: all.</summary>
    public IReadOnlyList<int>? Layers { get; init; }

    /// <summary>Also fit plain logistic regression at every layer, for comparison.</summary>
    public bool Logistic { get; init; } = true;

    /// <summary>Inverse L2 strength of the logistic probe (scikit-learn's C).</summary>
    public double LogisticC { get; init; } = LogisticProbe.DefaultC;

    public bool Intervene { get; init; } = true;

    /// <summary>The dataset whose few-shot prompts are intervened on; null: the first dataset with few-shot examples.</summary>
    public string? InterventionDataset { get; init; }

    /// <summary>First and last layer the direction is added at; null: the <see cref="DefaultInterventionLayers"/> layers up to the probe layer.</summary>
    public int? InterventionFirstLayer { get; init; }

    public int? InterventionLastLayer { get; init; }

    public const int DefaultInterventionLayers = 5;

    /// <summary>Multiplies the added direction (the paper's intervention_coefficient).</summary>
    public double InterventionScale { get; init; } = 1.0;

    /// <summary>
    /// Use at most this many true and this many false statements for the intervention (the first ones that are not
    /// few-shot examples); null: all.
    /// </summary>
    public int? MaxInterventionStatements { get; init; }

    public int BatchSize { get; init; } = 32;

    /// <summary>Seeds the few-shot shuffles and, with a single dataset, its train/test split.</summary>
    public int Seed { get; init; } = 1;

    public string TrueAnswer { get; init; } = " TRUE";
    public string FalseAnswer { get; init; } = " FALSE";
}

public readonly record struct TruthProgress(string Stage, int Done, int Total);

public sealed record TruthDatasetInfo(string Name, int Statements, int True);

/// <summary>Probe accuracy at one layer: the mean over held-out datasets, and each dataset's.</summary>
public sealed record LayerProbeAccuracy(int Layer, double MassMean, double? Logistic, IReadOnlyList<DatasetAccuracy> PerDataset);

public sealed record ModelProbes(string Model, IReadOnlyList<LayerProbeAccuracy> Layers)
{
    /// <summary>The layer with the highest mean mass-mean accuracy (the lowest such layer on ties).</summary>
    public int BestLayer => Layers.OrderByDescending(l => l.MassMean).ThenBy(l => l.Layer).First().Layer;

    public LayerProbeAccuracy At(int layer) => Layers.First(l => l.Layer == layer);
}

/// <summary>Cosine similarities [model][model] of the truth directions at one layer.</summary>
public sealed record LayerCosines(int Layer, double[][] Matrix);

/// <summary>One model's mean P(" TRUE") − P(" FALSE") on the true and on the false statements, without intervention.</summary>
public sealed record InterventionBaseline(string Model, double TrueStatements, double FalseStatements);

/// <summary>
/// The direction of model <see cref="Direction"/> applied to model <see cref="Model"/> (a cell of the paper's Table 3):
/// subtracted on true statements, added on false ones.
/// </summary>
public sealed record InterventionEffect(string Direction, string Model, double BaseTrue, double BaseFalse, double TrueToFalse, double FalseToTrue)
{
    public double EffectTrueToFalse => TruthIntervention.EffectTrueToFalse(BaseTrue, TrueToFalse);
    public double EffectFalseToTrue => TruthIntervention.EffectFalseToTrue(BaseFalse, FalseToTrue);
    public double MeanEffect => (EffectTrueToFalse + EffectFalseToTrue) / 2;
}

public sealed record InterventionResult(
    string Dataset,
    IReadOnlyList<string> DirectionDatasets,
    IReadOnlyList<int> Layers,
    double Scale,
    int TrueStatements,
    int FalseStatements,
    int Skipped,
    IReadOnlyList<double> DirectionNorms,
    IReadOnlyList<InterventionBaseline> Baselines,
    IReadOnlyList<InterventionEffect> Effects);

public sealed record TruthResult(
    IReadOnlyList<string> Models,
    IReadOnlyList<TruthDatasetInfo> Datasets,
    string Evaluation,
    IReadOnlyList<int> Layers,
    int ProbeLayer,
    IReadOnlyList<ModelProbes> Probes,
    IReadOnlyList<LayerCosines> Cosines,
    IReadOnlyList<double[]> ProbeLayerDirections,
    IReadOnlyList<ProbeTransferRow> Transfer,
    InterventionResult? Intervention,
    TruthOptions Options)
{
    public LayerCosines CosinesAtProbeLayer => Cosines.First(c => c.Layer == ProbeLayer);
}

/// <summary>
/// The truthfulness analysis (the paper's §truthfulness and its code): last-token activations of the bare statements
/// (or, with <see cref="TruthReading.Judgement"/>, of the few-shot prompts) at every layer, each dataset centred on its own; the direction t = mean(true) − mean(false) per layer and its cosine
/// across models; mass-mean and logistic probes by leave-one-dataset-out accuracy; the base probe transferred to each
/// post-trained model (Table 2); and the direction of each model added to / subtracted from each model's few-shot
/// prompts (Table 3).
/// </summary>
public static class TruthAnalysis
{
    public static TruthResult Run(IReadOnlyList<TruthDataset> datasets, HfTokenizer tokenizer, IReadOnlyList<TruthModel> models,
        TruthOptions? options = null, IProgress<TruthProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new TruthOptions();
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (datasets.Count == 0) Throw.Argument("at least one dataset is needed", "datasets", 0);
        foreach (var g in datasets.GroupBy(d => d.Name)) if (g.Count() > 1) Throw.Argument("a dataset is given twice", "datasets", g.Key);
        foreach (var m in models.Skip(1)) ModelPair.CheckCompatible(models[0].Session, m.Session);
        int numLayers = models[0].Session.Manifest.Config.NumLayers;
        var layers = (o.Layers ?? Enumerable.Range(0, numLayers).ToList()).Distinct().Order().ToList();
        foreach (int l in layers) if ((uint)l >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "layers", l);
        if (layers.Count == 0) Throw.Argument("at least one layer is needed", "layers", 0);
        if (o.Layer is int pl && !layers.Contains(pl)) Throw.Argument("the probe layer must be among the collected layers", "layer", pl);
        CheckInterventionOptions(o, datasets, numLayers);

        if (o.MaxStatementsPerDataset is <= 0) Throw.Argument("the statement limit must be positive", "max_statements_per_dataset", o.MaxStatementsPerDataset);
        datasets = datasets.Select(d => o.MaxStatementsPerDataset is int k && d.Data.Statements.Count > k
            ? d with { Data = d.Data with { Statements = d.Data.Statements.Take(k).ToList() } } : d).ToList();
        foreach (var d in datasets)
            if (d.Data.TrueCount == 0 || d.Data.TrueCount == d.Data.Statements.Count)
                Throw.Argument("every dataset needs true and false statements", "dataset", d.Name);
        var tokenized = datasets.Select(d => Tokenize(d, tokenizer, o)).ToList();
        int totalRows = tokenized.Sum(d => d.Tokens.Length);

        // acts[model][layer index][dataset], each dataset centred on its own.
        var acts = new ActivationSet[models.Count][][];
        for (int m = 0; m < models.Count; m++)
        {
            string stage = $"activations {models[m].Name}";
            var raw = TruthActivations.Collect(models[m].Session, tokenized, layers, o.BatchSize,
                done => progress?.Report(new TruthProgress(stage, done, totalRows)), cancellation);
            acts[m] = raw.Select(perDataset => perDataset.Select(s => s.Centered()).ToArray()).ToArray();
        }

        var folds = new IReadOnlyList<ProbeFold>[models.Count][];
        var probes = new List<ModelProbes>();
        int fits = models.Count * layers.Count, fitted = 0;
        for (int m = 0; m < models.Count; m++)
        {
            folds[m] = new IReadOnlyList<ProbeFold>[layers.Count];
            var perLayer = new List<LayerProbeAccuracy>();
            for (int li = 0; li < layers.Count; li++)
            {
                cancellation.ThrowIfCancellationRequested();
                folds[m][li] = ProbeEvaluation.Folds(datasets.Select((d, di) => (d.Name, acts[m][li][di])).ToList(), o.Seed);
                var acc = ProbeEvaluation.Evaluate(folds[m][li], o.Logistic, o.LogisticC);
                perLayer.Add(new LayerProbeAccuracy(layers[li], acc.Average(a => a.MassMean), o.Logistic ? acc.Average(a => a.Logistic!.Value) : null, acc));
                progress?.Report(new TruthProgress("probes", ++fitted, fits));
            }
            probes.Add(new ModelProbes(models[m].Name, perLayer));
        }

        var cosines = new List<LayerCosines>();
        var pooledDirections = new double[layers.Count][][];
        for (int li = 0; li < layers.Count; li++)
        {
            pooledDirections[li] = Enumerable.Range(0, models.Count).Select(m => TruthDirection.MeanDifference(ActivationSet.Concat(acts[m][li]))).ToArray();
            cosines.Add(new LayerCosines(layers[li], TruthDirection.CosineMatrix(pooledDirections[li])));
        }

        int probeLayer = o.Layer ?? probes[0].BestLayer;
        int pi = layers.IndexOf(probeLayer);
        var transfer = new List<ProbeTransferRow>();
        for (int m = 1; m < models.Count; m++) transfer.AddRange(ProbeEvaluation.Transfer(models[m].Name, folds[0][pi], folds[m][pi]));

        InterventionResult? intervention = null;
        if (o.Intervene)
            intervention = Intervene(datasets, tokenizer, models, acts, pi, probeLayer, numLayers, o, progress, cancellation);

        string evaluation = datasets.Count > 1 ? "leave-one-dataset-out"
            : $"{datasets[0].Name}: {ProbeEvaluation.SplitTrainFraction:P0} train / {1 - ProbeEvaluation.SplitTrainFraction:P0} test (seed {o.Seed})";
        return new TruthResult(models.Select(m => m.Name).ToList(),
            tokenized.Select(d => new TruthDatasetInfo(d.Name, d.Labels.Length, d.Labels.Count(l => l == 1))).ToList(),
            evaluation, layers, probeLayer, probes, cosines, pooledDirections[pi], transfer, intervention, o);
    }

    /// <summary>Fails before any model runs when the intervention's options cannot work.</summary>
    static void CheckInterventionOptions(TruthOptions o, IReadOnlyList<TruthDataset> datasets, int numLayers)
    {
        if (!(o.LogisticC > 0) || double.IsInfinity(o.LogisticC)) Throw.Argument("C must be positive and finite", "logistic_c", o.LogisticC);
        if (!o.Intervene) return;
        if (o.InterventionDataset is { } name)
        {
            var target = datasets.FirstOrDefault(d => d.Name == name)
                ?? throw new InvalidArgumentException($"the intervention dataset is not among the datasets ({string.Join(", ", datasets.Select(d => d.Name))})", "intervention_dataset", name);
            if (target.FewShot is not { Count: > 0 }) Throw.Argument("the intervention dataset has no few-shot examples", "intervention_dataset", name);
        }
        if (o.InterventionFirstLayer is int first && (uint)first >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "intervention_first_layer", first);
        if (o.InterventionLastLayer is int last && (uint)last >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "intervention_last_layer", last);
        if (!double.IsFinite(o.InterventionScale)) Throw.Argument("the scale must be finite", "intervention_scale", o.InterventionScale);
        if (o.MaxInterventionStatements is <= 0) Throw.Argument("the statement limit must be positive", "max_intervention_statements", o.MaxInterventionStatements);
    }

    static TokenizedDataset Tokenize(TruthDataset d, HfTokenizer tokenizer, TruthOptions o)
    {
        if (o.Reading == TruthReading.Statement)
            return new TokenizedDataset(d.Name, d.Data.Statements.Select(s => tokenizer.Encode(s.Text)).ToArray(), d.Data.Statements.Select(s => s.Label).ToArray());
        if (d.FewShot is not { Count: > 0 }) Throw.Argument("reading the judgement needs few-shot examples for every dataset", "dataset", d.Name);
        var (prompts, _) = TruthIntervention.BuildPrompts(d.Data.Statements, d.FewShot, tokenizer, o.Seed, o.Reading);
        var labels = prompts.Select(p => p.True ? 1 : 0).ToArray();
        if (labels.All(l => l == 1) || labels.All(l => l == 0)) Throw.Argument("no true or no false statement is left in the few-shot prompts", "dataset", d.Name);
        return new TokenizedDataset(d.Name, prompts.Select(p => p.Tokens).ToArray(), labels);
    }

    static InterventionResult? Intervene(IReadOnlyList<TruthDataset> datasets, HfTokenizer tokenizer, IReadOnlyList<TruthModel> models,
        ActivationSet[][][] acts, int pi, int probeLayer, int numLayers, TruthOptions o, IProgress<TruthProgress>? progress, CancellationToken cancellation)
    {
        var target = o.InterventionDataset is { } name ? datasets.First(d => d.Name == name) : datasets.FirstOrDefault(d => d.FewShot is { Count: > 0 });
        if (target is null) return null;
        int first = o.InterventionFirstLayer ?? Math.Max(0, probeLayer - (TruthOptions.DefaultInterventionLayers - 1));
        int last = o.InterventionLastLayer ?? probeLayer;
        if (last < first) Throw.Argument($"the last layer comes before the first ({first})", "intervention_last_layer", last);
        var layers = Enumerable.Range(first, last - first + 1).ToList();
        int trueId = FirstToken(tokenizer, o.TrueAnswer), falseId = FirstToken(tokenizer, o.FalseAnswer);
        if (trueId == falseId) Throw.Argument("the two answers start with the same token for this tokenizer", "answer", $"'{o.TrueAnswer}' / '{o.FalseAnswer}'");

        // As the paper: the direction is learnt on the other datasets (on the target itself when it is the only one), at
        // the probe layer, and added as is. Its code scales the unit direction by the projection of mean(true) − mean(false)
        // on it, which for t is t itself.
        int ti = datasets.Select(d => d.Name).ToList().IndexOf(target.Name);
        var sources = datasets.Count > 1 ? Enumerable.Range(0, datasets.Count).Where(i => i != ti).ToList() : [ti];
        var directions = Enumerable.Range(0, models.Count)
            .Select(m => TruthDirection.MeanDifference(ActivationSet.Concat(sources.Select(i => acts[m][pi][i]).ToList())))
            .ToList();
        var vectors = directions.Select(d => d.Select(x => (float)x).ToArray()).ToList();

        var statements = target.Data.Statements;
        var (truePrompts, skippedTrue) = TruthIntervention.BuildPrompts(statements.Where(s => s.Label == 1), target.FewShot!, tokenizer, o.Seed, o.Reading);
        var (falsePrompts, skippedFalse) = TruthIntervention.BuildPrompts(statements.Where(s => s.Label == 0), target.FewShot!, tokenizer, o.Seed, o.Reading);
        if (o.MaxInterventionStatements is int max)
        {
            // After leaving out the examples' own statements (a synthetic dataset's first ones).
            truePrompts = truePrompts.Take(max).ToList();
            falsePrompts = falsePrompts.Take(max).ToList();
        }
        if (truePrompts.Count == 0 || falsePrompts.Count == 0)
            Throw.Argument("no true or no false statement of the intervention dataset is left for the intervention", "intervention_dataset", target.Name);

        int runs = models.Count * (1 + models.Count), done = 0;
        void Step() => progress?.Report(new TruthProgress("intervention", ++done, runs));
        float scale = (float)o.InterventionScale;
        double PDiff(int model, IReadOnlyList<TruthPrompt> prompts, int? direction, float factor) =>
            TruthIntervention.MeanProbabilityDifference(models[model].Session, prompts, trueId, falseId,
                direction is int d ? vectors[d] : null, layers, factor, o.BatchSize, cancellation);

        var baselines = new List<InterventionBaseline>();
        for (int j = 0; j < models.Count; j++)
        {
            baselines.Add(new InterventionBaseline(models[j].Name, PDiff(j, truePrompts, null, 0), PDiff(j, falsePrompts, null, 0)));
            Step();
        }
        var effects = new List<InterventionEffect>();
        for (int i = 0; i < models.Count; i++)
            for (int j = 0; j < models.Count; j++)
            {
                double tf = PDiff(j, truePrompts, i, -scale);
                double ft = PDiff(j, falsePrompts, i, scale);
                effects.Add(new InterventionEffect(models[i].Name, models[j].Name, baselines[j].TrueStatements, baselines[j].FalseStatements, tf, ft));
                Step();
            }
        return new InterventionResult(target.Name, sources.Select(i => datasets[i].Name).ToList(), layers, o.InterventionScale,
            truePrompts.Count, falsePrompts.Count, skippedTrue + skippedFalse,
            directions.Select(d => Math.Sqrt(d.Sum(x => x * x))).ToList(), baselines, effects);
    }

    /// <summary>The token predicted at the last position: the answer's first (for Llama-3 and the family, its only) token.</summary>
    static int FirstToken(HfTokenizer tok, string text)
    {
        var ids = tok.Encode(text, addSpecialTokens: false);
        if (ids.Length == 0) Throw.Argument("the answer encodes to no token", "answer", text);
        return ids[0];
    }
}

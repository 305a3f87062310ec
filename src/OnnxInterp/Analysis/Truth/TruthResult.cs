namespace OnnxInterp.Analysis.Truth;

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

/// <summary>
/// Table 3's runs: the target dataset, the datasets the directions were learnt on, the layers they were added at and
/// the intervened positions (<see cref="Positions"/>, counted from the end; empty when they are each prompt's own, as
/// the default protocol's statement's last two tokens).
/// </summary>
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
    IReadOnlyList<InterventionEffect> Effects)
{
    public IReadOnlyList<int> Positions { get; init; } = [];
}

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

    public AnalysisProtocol Protocol => Options.Protocol;

    /// <summary>Paper protocol: the datasets the probes and directions were trained on (the rest were tested on); null under the default.</summary>
    public IReadOnlyList<string>? TrainingDatasets { get; init; }

    /// <summary>Paper protocol: the paper's training datasets that were not among the datasets, so not trained on.</summary>
    public IReadOnlyList<string> MissingTrainingDatasets { get; init; } = [];

    /// <summary>Paper protocol: each model's identity and layers as the paper's table (or its rule) gives them, base first.</summary>
    public IReadOnlyList<TruthPaperLayers>? PaperLayers { get; init; }
}

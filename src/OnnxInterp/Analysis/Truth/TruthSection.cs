namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// results.json's "truth" section (docs/results-schema.md): the report's tables as arrays of records keyed by model,
/// dataset and direction: probe accuracy per layer, the directions' cosines at the probe layer, Table 2 (probe
/// transfer, with a mean row per model) and Table 3 (intervention effects).
/// </summary>
public sealed record TruthSection(
    AnalysisProtocol Protocol,
    TruthReading Reading,
    string Evaluation,
    IReadOnlyList<int> Layers,
    int ProbeLayer,
    IReadOnlyList<string>? TrainingDatasets,
    IReadOnlyList<string> MissingTrainingDatasets,
    IReadOnlyList<TruthSectionPaperLayers>? PaperLayers,
    IReadOnlyList<TruthSectionDataset> Datasets,
    IReadOnlyList<TruthSectionProbes> Probes,
    IReadOnlyList<TruthSectionCosine> Cosines,
    IReadOnlyList<TruthSectionTransfer> Transfer,
    TruthSectionIntervention? Intervention)
{
    /// <summary>The <c>dataset</c> of each post-trained model's Table 2 row averaged over the held-out datasets.</summary>
    public const string MeanRow = "mean";

    public static TruthSection From(TruthResult r)
    {
        var cos = r.CosinesAtProbeLayer.Matrix;
        var cosines = new List<TruthSectionCosine>();
        for (int i = 0; i < r.Models.Count; i++)
            for (int j = i + 1; j < r.Models.Count; j++)
                cosines.Add(new TruthSectionCosine(r.Models[i], r.Models[j], cos[i][j]));
        var transfer = new List<TruthSectionTransfer>();
        foreach (var g in r.Transfer.GroupBy(t => t.Model))
        {
            transfer.AddRange(g.Select(t => new TruthSectionTransfer(g.Key, t.Dataset, t.BaseOnBase, t.Own, t.BaseProbe, t.Difference, t.OwnOnBase)));
            transfer.Add(new TruthSectionTransfer(g.Key, MeanRow, g.Average(t => t.BaseOnBase), g.Average(t => t.Own), g.Average(t => t.BaseProbe),
                g.Average(t => t.Difference), g.Average(t => t.OwnOnBase)));
        }
        return new TruthSection(
            r.Protocol,
            r.Options.Reading,
            r.Evaluation,
            r.Layers,
            r.ProbeLayer,
            r.TrainingDatasets,
            r.MissingTrainingDatasets,
            r.PaperLayers?.Select((p, i) => new TruthSectionPaperLayers(r.Models[i], p.Key, p.FromTable, p.ProbeLayer, p.FirstInterventionLayer)).ToList(),
            r.Datasets.Select(d => new TruthSectionDataset(d.Name, d.Statements, d.True)).ToList(),
            r.Probes.Select(p =>
            {
                var at = p.At(r.ProbeLayer);
                return new TruthSectionProbes(p.Model, p.BestLayer, p.At(p.BestLayer).MassMean, at.MassMean, at.Logistic,
                    p.Layers.Select(l => new TruthSectionLayer(l.Layer, l.MassMean, l.Logistic,
                        l.PerDataset.Select(d => new TruthSectionLayerDataset(d.Dataset, d.MassMean, d.Logistic)).ToList())).ToList());
            }).ToList(),
            cosines,
            transfer,
            r.Intervention is { } iv ? TruthSectionIntervention.From(r, iv) : null);
    }
}

/// <summary>Under the paper protocol, a model's identity and layers as the paper's table (or its rule) gives them.</summary>
public sealed record TruthSectionPaperLayers(string Model, string Key, bool FromTable, int ProbeLayer, int FirstInterventionLayer);

public sealed record TruthSectionDataset(string Dataset, int Statements, int True);

/// <summary>A model's probes: the best layer and its accuracy, the accuracies at the probe layer, and every layer's.</summary>
public sealed record TruthSectionProbes(string Model, int BestLayer, double BestAccuracy, double Accuracy, double? LogisticAccuracy,
    IReadOnlyList<TruthSectionLayer> Layers);

public sealed record TruthSectionLayer(int Layer, double MassMean, double? Logistic, IReadOnlyList<TruthSectionLayerDataset> Datasets);

public sealed record TruthSectionLayerDataset(string Dataset, double MassMean, double? Logistic);

public sealed record TruthSectionCosine(string A, string B, double Cosine);

/// <summary>A row of Table 2: on a held-out dataset (or their <see cref="TruthSection.MeanRow"/>), the base probe against the model's own.</summary>
public sealed record TruthSectionTransfer(string Model, string Dataset, double BaseOnBase, double Own, double BaseProbe, double Difference, double OwnOnBase);

/// <summary>Table 3: where the directions were added, each model's baseline and every (direction, model) effect.</summary>
public sealed record TruthSectionIntervention(
    string Dataset,
    IReadOnlyList<string> DirectionDatasets,
    IReadOnlyList<int> Layers,
    IReadOnlyList<int> Positions,
    double Scale,
    int TrueStatements,
    int FalseStatements,
    int Skipped,
    double OwnMeanEffect,
    double CrossMeanEffect,
    IReadOnlyList<TruthSectionBaseline> Baselines,
    IReadOnlyList<TruthSectionEffect> Effects)
{
    public static TruthSectionIntervention From(TruthResult r, InterventionResult iv)
    {
        var cross = iv.Effects.Where(e => e.Direction != e.Model).ToList();
        return new(iv.Dataset, iv.DirectionDatasets, iv.Layers, iv.Positions, iv.Scale, iv.TrueStatements, iv.FalseStatements, iv.Skipped,
            iv.Effects.Where(e => e.Direction == e.Model).Average(e => e.MeanEffect),
            cross.Count > 0 ? cross.Average(e => e.MeanEffect) : double.NaN,
            iv.Baselines.Select((x, i) => new TruthSectionBaseline(x.Model, x.TrueStatements, x.FalseStatements, iv.DirectionNorms[i])).ToList(),
            iv.Effects.Select(e => new TruthSectionEffect(e.Direction, e.Model, e.TrueToFalse, e.FalseToTrue, e.EffectTrueToFalse, e.EffectFalseToTrue,
                e.MeanEffect, TruthPaperResults.Effect(r, e)?.Mean)).ToList());
    }
}

/// <summary>A model's mean P(TRUE) − P(FALSE) on the true and on the false statements, and the norm of its direction.</summary>
public sealed record TruthSectionBaseline(string Model, double TrueStatements, double FalseStatements, double DirectionNorm);

/// <summary>A cell of Table 3: <see cref="Direction"/>'s direction applied to <see cref="Model"/>; the paper's mean IE when a published run matches.</summary>
public sealed record TruthSectionEffect(string Direction, string Model, double TrueToFalse, double FalseToTrue, double EffectTrueToFalse,
    double EffectFalseToTrue, double MeanEffect, double? PaperMeanEffect);

namespace OnnxInterp.Analysis.Truth;

/// <summary>A published intervention effect: the direction of <see cref="DirectionKey"/> on <see cref="ModelKey"/> (config.ini keys).</summary>
public sealed record PublishedEffect(string DirectionKey, string ModelKey, double TrueToFalse, double FalseToTrue)
{
    public double Mean => (TrueToFalse + FalseToTrue) / 2;
}

/// <summary>A published baseline: mean P(" TRUE") − P(" FALSE") of a model on the true and on the false statements.</summary>
public sealed record PublishedBaseline(string ModelKey, double TrueStatements, double FalseStatements);

/// <summary>
/// The paper's truth numbers that this library can put beside its own. Only the intervention run committed to the
/// paper's repository is here (Knowledge+Truthfulness/experimental_outputs/label_change_intervention_results.json at
/// 4abef9d: Llama-3.1-8B and its Instruct, directions trained on <see cref="TruthPaperSettings.TrainingDatasets"/>,
/// intervened on cities, MMProbe, coefficient 1). The paper's Table 2 (probe transfer) and the other rows of its
/// Table 3 could not be read here (the paper's text was not available to this build), so none are given: no number
/// is made up.
/// </summary>
public static class TruthPaperResults
{
    public const string Source = "the paper's repository, Knowledge+Truthfulness/experimental_outputs/label_change_intervention_results.json";

    /// <summary>The dataset intervened on and the coefficient of the published run.</summary>
    public const string Dataset = "cities";

    public const double Coefficient = 1.0;

    /// <summary>nif_mX_mY: the direction of model X applied to model Y (interventions.py:346-356; JSON lines 20-31).</summary>
    public static readonly IReadOnlyList<PublishedEffect> Effects =
    [
        new("llama-3.1-8b", "llama-3.1-8b", 0.9518072289156626, 0.7069672131147541),                   // nif_m1_m1, lines 20-21
        new("llama-3.1-8b-instruct", "llama-3.1-8b", 0.9859437751004017, 0.6577868852459017),          // nif_m2_m1, lines 23-24
        new("llama-3.1-8b", "llama-3.1-8b-instruct", 0.998019801980198, 0.793713163064833),            // nif_m1_m2, lines 26-27
        new("llama-3.1-8b-instruct", "llama-3.1-8b-instruct", 0.998019801980198, 0.756385068762279),   // nif_m2_m2, lines 29-30
    ];

    /// <summary>p_diff_mX_true_base / false_base (JSON lines 32-35).</summary>
    public static readonly IReadOnlyList<PublishedBaseline> Baselines =
    [
        new("llama-3.1-8b", 0.9453125, -0.90625),
        new("llama-3.1-8b-instruct", 0.97265625, -0.98828125),
    ];

    /// <summary>
    /// Whether <paramref name="r"/> ran the published setting: the paper protocol on models of the paper's table, the
    /// table's probe and intervention layers, all of the paper's training datasets, every statement, the published
    /// dataset and coefficient. Only then are the published numbers put beside it.
    /// </summary>
    public static bool Comparable(TruthResult r) =>
        r.Protocol == AnalysisProtocol.Paper && r.Intervention is { } iv && r.PaperLayers is { } pl && pl.All(p => p.FromTable)
        && r.ProbeLayer == pl[0].ProbeLayer && iv.Layers.SequenceEqual(pl[0].InterventionLayers)
        && iv.Dataset == Dataset && iv.Scale == Coefficient && iv.DirectionDatasets.SequenceEqual(TruthPaperSettings.TrainingDatasets)
        && r.Options.MaxStatementsPerDataset is null && r.Options.MaxInterventionStatements is null;

    /// <summary>The published effect of this direction → model cell, or null (not comparable, or a pair the run did not publish).</summary>
    public static PublishedEffect? Effect(TruthResult r, InterventionEffect e) =>
        Comparable(r) && KeyOf(r, e.Direction) is { } d && KeyOf(r, e.Model) is { } m
            ? Effects.FirstOrDefault(x => x.DirectionKey == d && x.ModelKey == m) : null;

    /// <summary>The published baseline of a model, or null.</summary>
    public static PublishedBaseline? Baseline(TruthResult r, string model) =>
        Comparable(r) && KeyOf(r, model) is { } k ? Baselines.FirstOrDefault(b => b.ModelKey == k) : null;

    static string? KeyOf(TruthResult r, string model)
    {
        int i = r.Models.ToList().IndexOf(model);
        return i >= 0 && r.PaperLayers is { } pl ? pl[i].Key : null;
    }
}

using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// Two models' entropy neurons compared as the paper's Table 14 does: how many neuron indices they share, the IoU
/// of the two index sets (Confidence/IoU.py:90-97), and for the shared neurons the average ratio difference, the mean
/// of | |r_A| − |r_B| | (with the paper preset's positive r = norm / LogitVar, simply |r_A − r_B|), beside the mean
/// |r| over all entropy neurons of both models (the scale that difference is read against). IoU.py writes each
/// model's {neuron: ratio} (IoU.py:82-86, 206-212) and no difference; this mean over the shared neurons is the
/// reading of "average ratio difference" that uses exactly what the script writes.
/// </summary>
public sealed record EntropyNeuronOverlap(
    string A,
    string B,
    int[] Shared,
    double Iou,
    double? MeanAbsRatioDiff,
    double MeanAbsRatio,
    double MeanAbsRatioA,
    double MeanAbsRatioB)
{
    public int Overlap => Shared.Length;

    /// <summary>The paper's own numbers for this pair (<see cref="PaperEntropyResults"/>), when the two models are the paper's and it has them.</summary>
    public PublishedEntropyPair? Published { get; init; }

    public static EntropyNeuronOverlap Compare(EntropyNeuronSet a, EntropyNeuronSet b)
    {
        if (a.Norms.Length != b.Norms.Length)
            throw new IncompatibleModelsException($"the models' last layers differ in width: {a.Norms.Length} vs {b.Norms.Length}", null, "intermediate_size",
                $"{a.Model}: {a.Norms.Length}, {b.Model}: {b.Norms.Length}");
        if (a.RatioKind != b.RatioKind)
            Throw.Argument($"the two models' ratios are of different kinds ({a.Model}: {a.RatioKind}, {b.Model}: {b.RatioKind})", "ratio", b.RatioKind);
        return Of(a.Model, b.Model, a.Neurons.ToDictionary(n => n.Index, n => n.Ratio), b.Neurons.ToDictionary(n => n.Index, n => n.Ratio));
    }

    /// <summary>
    /// The comparison from each model's {neuron index: ratio}, the form IoU.py writes (IoU.py:86); the aggregation
    /// <see cref="Compare"/> and the paper's committed results share.
    /// </summary>
    public static EntropyNeuronOverlap Of(string a, string b, IReadOnlyDictionary<int, double> ratiosA, IReadOnlyDictionary<int, double> ratiosB)
    {
        if (ratiosA.Count == 0 || ratiosB.Count == 0) Throw.Argument("a model has no entropy neurons to compare", "neurons", ratiosA.Count == 0 ? a : b);
        foreach (var (model, ratios) in new[] { (a, ratiosA), (b, ratiosB) })
            foreach (var (index, r) in ratios)
                if (!double.IsFinite(r)) Throw.Argument($"the ratio of {model}'s neuron {index} is not finite", "ratio", r);
        var ra = ratiosA.ToDictionary(p => p.Key, p => Math.Abs(p.Value));
        var rb = ratiosB.ToDictionary(p => p.Key, p => Math.Abs(p.Value));
        var shared = ra.Keys.Where(rb.ContainsKey).Order().ToArray();
        int union = ra.Count + rb.Count - shared.Length;
        double? diff = shared.Length == 0 ? null : shared.Average(i => Math.Abs(ra[i] - rb[i]));
        return new EntropyNeuronOverlap(a, b, shared, (double)shared.Length / union, diff,
            ra.Values.Concat(rb.Values).Average(), ra.Values.Average(), rb.Values.Average());
    }
}

using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// Two models' entropy neurons compared as the paper's Table 14 does: how many neuron indices they share, the IoU
/// of the two index sets, and for the shared neurons the mean of | |r_A| − |r_B| | with r = norm / ln(LogitVar),
/// beside the mean |r| over all entropy neurons of both models (the scale that difference is read against).
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

    public static EntropyNeuronOverlap Compare(EntropyNeuronSet a, EntropyNeuronSet b)
    {
        if (a.Norms.Length != b.Norms.Length)
            throw new IncompatibleModelsException($"the models' last layers differ in width: {a.Norms.Length} vs {b.Norms.Length}", null, "intermediate_size",
                $"{a.Model}: {a.Norms.Length}, {b.Model}: {b.Norms.Length}");
        if (a.Neurons.Count == 0 || b.Neurons.Count == 0) Throw.Argument("a model has no entropy neurons to compare", "neurons", a.Neurons.Count == 0 ? a.Model : b.Model);
        var ra = a.Neurons.ToDictionary(n => n.Index, n => n.AbsRatio);
        var rb = b.Neurons.ToDictionary(n => n.Index, n => n.AbsRatio);
        var shared = ra.Keys.Where(rb.ContainsKey).Order().ToArray();
        int union = ra.Count + rb.Count - shared.Length;
        double? diff = shared.Length == 0 ? null : shared.Average(i => Math.Abs(ra[i] - rb[i]));
        return new EntropyNeuronOverlap(a.Model, b.Model, shared, (double)shared.Length / union, diff,
            ra.Values.Concat(rb.Values).Average(), ra.Values.Average(), rb.Values.Average());
    }
}

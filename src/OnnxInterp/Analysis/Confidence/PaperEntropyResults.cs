using System.Collections.ObjectModel;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// One pair's entropy neurons as the paper's authors computed them: each model's {neuron index: ratio}
/// (<see cref="Ratio"/> says which ratio), the IoU they recorded, and where the numbers come from.
/// <see cref="Overlap"/> aggregates them as OnnxInterp aggregates its own.
/// </summary>
public sealed record PublishedEntropyPair(
    string A,
    string B,
    double Iou,
    IReadOnlyDictionary<int, double> RatiosA,
    IReadOnlyDictionary<int, double> RatiosB,
    EntropyRatio Ratio,
    string Source)
{
    /// <summary>Overlap, IoU and average ratio difference of the authors' neurons, by <see cref="EntropyNeuronOverlap.Of"/>.</summary>
    public EntropyNeuronOverlap Overlap => EntropyNeuronOverlap.Of(A, B, RatiosA, RatiosB);
}

/// <summary>
/// The paper's own entropy-neuron numbers that this project could find. The printed Table 14 of arXiv 2504.02904 was
/// not available when this was written (no copy of its text beyond the abstract could be read), so no number of it is
/// here. What is here is the authors' results file: Confidence/neuron_analysis_results.json of
/// HZD01/post-training-mechanistic-analysis, committed in d1a7c7e ("fix figure", 2025-10-29) and deleted five
/// minutes later in 0c69234. It is IoU.py's output (its analysis_key and layout, IoU.py:164, 206-212) for
/// llama-3.1-8b vs llama-3.1-8b-instruct with --norm_top_percentages 0.25 --var_bottom_ns 10, and its ratios are
/// norm / LogitVar (<see cref="EntropyRatio.NormOverLogitVar"/>). Keys are the paper's model names
/// (<see cref="PaperModel.Key"/>, IoU.py:16-28).
/// </summary>
public static class PaperEntropyResults
{
    /// <summary>Where the numbers come from.</summary>
    public const string Source = "HZD01/post-training-mechanistic-analysis@d1a7c7e:Confidence/neuron_analysis_results.json";

    /// <summary>What the report says about the printed table.</summary>
    public const string Table14Note =
        "The printed Table 14 of arXiv 2504.02904 could not be read here, so none of its numbers is shown; the paper columns are the " +
        "authors' committed results file (" + Source + ", IoU.py's output, deleted from the repository in 0c69234), which holds one pair. " +
        "Its average ratio difference is computed from its per-neuron ratios by the same aggregation as ours.";

    /// <summary>The pairs the authors' results hold, base model first.</summary>
    public static IReadOnlyList<PublishedEntropyPair> Pairs { get; } =
    [
        // neuron_analysis_results.json at d1a7c7e: iou line 17, ratios lines 20-29 and 32-41, in the file's order (IoU.py's nsmallest order: by LogitVar).
        new("llama-3.1-8b", "llama-3.1-8b-instruct", 0.6666666666666666,
            Ratios((12111, 10186.10907361756), (993, 7006.727179301661), (207, 6500.16858455736), (2287, 5579.173104284134),
                (8677, 5447.333796429395), (10510, 5682.164829731264), (1852, 5596.088404963324), (11184, 5109.661675614204),
                (12664, 5394.743175802788), (8775, 4953.436908815023)),
            Ratios((12111, 10370.38012958894), (993, 7037.433504291961), (207, 7021.042764162901), (2287, 5591.482449186238),
                (8677, 5548.499989858751), (5463, 5769.427472126558), (1852, 5624.122810660656), (10510, 5488.169905517047),
                (9032, 5223.822189176137), (11184, 5098.5863306353785)),
            EntropyRatio.NormOverLogitVar, Source),
    ];

    /// <summary>The authors' numbers for the pair (a, b) of paper model keys, in either order (then returned as a vs b); null when they have none.</summary>
    public static PublishedEntropyPair? Find(string a, string b)
    {
        foreach (var p in Pairs)
        {
            if (p.A == a && p.B == b) return p;
            if (p.A == b && p.B == a) return p with { A = a, B = b, RatiosA = p.RatiosB, RatiosB = p.RatiosA };
        }
        return null;
    }

    /// <summary>The authors' entropy neurons of one model (paper model key), from the first pair that has it; null when none does.</summary>
    public static IReadOnlyDictionary<int, double>? Neurons(string model) =>
        Pairs.Select(p => p.A == model ? p.RatiosA : p.B == model ? p.RatiosB : null).FirstOrDefault(r => r is not null);

    static ReadOnlyDictionary<int, double> Ratios(params (int Neuron, double Ratio)[] neurons) =>
        new(neurons.ToDictionary(n => n.Neuron, n => n.Ratio));
}

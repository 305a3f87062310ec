using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>Arditi et al.'s selection thresholds (select_direction's defaults).</summary>
public sealed record SelectionOptions
{
    /// <summary>Discard candidates whose ablation moves harmless next-token distributions by a mean KL above this.</summary>
    public double KlThreshold { get; init; } = 0.1;

    /// <summary>Discard candidates whose addition leaves the mean harmless refusal log-odds below this.</summary>
    public double InduceThreshold { get; init; }

    /// <summary>Discard candidates from the last fraction of the layers (layer ≥ ⌊L · (1 − f)⌋).</summary>
    public double PruneLayerFraction { get; init; } = 0.2;
}

/// <summary>
/// One candidate direction's scores on the validation instructions: mean refusal log-odds on harmful prompts with it
/// ablated (lower is better), on harmless prompts with it added, and the mean KL of harmless next-token
/// distributions under its ablation.
/// </summary>
public sealed record CandidateScore(int Layer, int Position, double AblationScore, double AdditionScore, double Kl)
{
    /// <summary>Why the filters drop it (null: kept), the first failing filter in Arditi et al.'s order.</summary>
    public string? Discarded { get; init; }
}

/// <summary>The selected (layer, position), the scores behind it, and the filters relaxed to find one (empty normally).</summary>
public sealed record DirectionSelectionResult(
    int Layer,
    int Position,
    double BaselineHarmful,
    double BaselineHarmless,
    IReadOnlyList<CandidateScore> Candidates,
    IReadOnlyList<string> Relaxed,
    IReadOnlyList<int> RefusalTokens);

/// <summary>
/// Chooses the refusal direction among candidates as Arditi et al. do: drop the last 20% of layers, candidates whose
/// ablation changes harmless outputs (KL &gt; 0.1) and those whose addition does not induce refusal (log-odds &lt; 0);
/// keep the one whose ablation lowers the harmful refusal log-odds most.
/// </summary>
public static class DirectionSelection
{
    public const string PrunedLayer = "last layers", HighKl = "kl", NoInduce = "no induce", NotFinite = "nan";

    /// <summary>The layers selection evaluates: those below ⌊L · (1 − f)⌋, at least layer 0.</summary>
    public static int KeptLayers(int layers, double pruneFraction) => Math.Max(1, (int)(layers * (1.0 - pruneFraction)));

    /// <summary>
    /// Marks every candidate with the first filter it fails and picks the lowest ablation score among the kept ones
    /// (ties: the first in the list). When none is kept, the induce filter is relaxed, then the KL filter, then the
    /// layer pruning (the sources stop with an error there); the filters the chosen one fails are reported.
    /// </summary>
    public static (CandidateScore Chosen, IReadOnlyList<CandidateScore> Marked, IReadOnlyList<string> Relaxed) Choose(
        IReadOnlyList<CandidateScore> candidates, int layers, SelectionOptions options)
    {
        if (candidates.Count == 0) Throw.Argument("no candidate directions", "candidates", 0);
        int kept = (int)(layers * (1.0 - options.PruneLayerFraction));
        List<string> Failures(CandidateScore c)
        {
            if (!double.IsFinite(c.AblationScore) || !double.IsFinite(c.AdditionScore) || !double.IsFinite(c.Kl)) return [NotFinite];
            var f = new List<string>();
            if (c.Layer >= kept) f.Add(PrunedLayer);
            if (c.Kl > options.KlThreshold) f.Add(HighKl);
            if (c.AdditionScore < options.InduceThreshold) f.Add(NoInduce);
            return f;
        }
        var failures = candidates.Select(Failures).ToList();
        var marked = candidates.Select((c, i) => c with { Discarded = failures[i].FirstOrDefault() }).ToList();
        // Relaxation levels: nothing, the induce filter, induce and KL, all three.
        string[][] relaxable = [[], [NoInduce], [NoInduce, HighKl], [NoInduce, HighKl, PrunedLayer]];
        foreach (var allowed in relaxable)
        {
            int best = -1;
            for (int i = 0; i < candidates.Count; i++)
                if (failures[i].All(allowed.Contains) && (best < 0 || candidates[i].AblationScore < candidates[best].AblationScore)) best = i;
            if (best >= 0) return (marked[best], marked, failures[best]);
        }
        throw new InvalidArgumentException("every candidate direction has a non-finite score", "candidates", candidates.Count.ToString());
    }

    /// <summary>
    /// Scores every candidate in <paramref name="meanDifferences"/> ([position][layer], positions
    /// <paramref name="positions"/>, layers <paramref name="layers"/>) on the validation prompts and chooses one.
    /// Candidates in pruned layers are evaluated only when no other candidate has finite scores.
    /// </summary>
    public static DirectionSelectionResult Run(IHookedModel session, IReadOnlyList<int[]> harmful, IReadOnlyList<int[]> harmless,
        float[][][] meanDifferences, IReadOnlyList<int> layers, IReadOnlyList<int> positions, IReadOnlyList<int> refusalTokens,
        int padTokenId, SelectionOptions options, float additionCoefficient = 1f, AdditionScale additionScale = AdditionScale.MeanDifference,
        AdditionHooks additionHooks = AdditionHooks.ResidPre, int batchSize = 32, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellation = default)
    {
        int n = session.Config.NumLayers;
        int keep = KeptLayers(n, options.PruneLayerFraction);
        double baseHarmful = RefusalLogits.MeanLogOdds(session, harmful, refusalTokens, null, padTokenId, batchSize, cancellation);
        var baseHarmlessLogits = RefusalLogits.LastLogits(session, harmless, null, padTokenId, batchSize, cancellation);
        double baseHarmless = baseHarmlessLogits.Average(l => RefusalLogits.LogOdds(l, refusalTokens));
        var grid = layers.Select((l, i) => (Layer: l, Index: i)).ToList();
        var unpruned = grid.Where(x => x.Layer < keep).ToList();
        var pruned = grid.Where(x => x.Layer >= keep).ToList();
        int total = positions.Count * unpruned.Count, done = 0;

        List<CandidateScore> Score(List<(int Layer, int Index)> which)
        {
            var scores = new List<CandidateScore>();
            for (int pi = 0; pi < positions.Count; pi++)
                foreach (var (layer, li) in which)
                {
                    var dir = new RefusalDirection("", layer, positions[pi], meanDifferences[pi][li]);
                    // A zero difference (e.g. the embeddings of tokens every prompt shares) defines no direction.
                    if (dir.Norm == 0)
                    {
                        scores.Add(new CandidateScore(layer, positions[pi], double.NaN, double.NaN, double.NaN));
                        progress?.Report((++done, total));
                        continue;
                    }
                    var ablation = dir.Ablation(n);
                    var ablatedHarmless = RefusalLogits.LastLogits(session, harmless, ablation, padTokenId, batchSize, cancellation);
                    double kl = ablatedHarmless.Select((q, i) => RefusalLogits.Kl(baseHarmlessLogits[i], q)).Average();
                    double abl = RefusalLogits.MeanLogOdds(session, harmful, refusalTokens, ablation, padTokenId, batchSize, cancellation);
                    double add = RefusalLogits.MeanLogOdds(session, harmless, refusalTokens, dir.Addition(additionCoefficient, additionScale, layer, additionHooks), padTokenId, batchSize, cancellation);
                    scores.Add(new CandidateScore(layer, positions[pi], abl, add, kl));
                    progress?.Report((++done, total));
                }
            return scores;
        }

        // Pruned layers cannot be chosen while an unpruned candidate has finite scores, so they are evaluated only when none has.
        var scores = Score(unpruned);
        if (!scores.Any(c => double.IsFinite(c.AblationScore) && double.IsFinite(c.AdditionScore) && double.IsFinite(c.Kl)))
        {
            total += positions.Count * pruned.Count;
            scores.AddRange(Score(pruned));
        }
        var (chosen, marked, relaxed) = Choose(scores, n, options);
        return new DirectionSelectionResult(chosen.Layer, chosen.Position, baseHarmful, baseHarmless, marked, relaxed, refusalTokens);
    }
}

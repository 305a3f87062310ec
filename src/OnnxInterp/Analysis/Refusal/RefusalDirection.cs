using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Refusal;

/// <summary>How activation addition scales the direction.</summary>
public enum AdditionScale
{
    /// <summary>c · (mean(harmful) − mean(harmless)), un-normalised: Arditi et al.'s activation addition (c = 1).</summary>
    MeanDifference,

    /// <summary>c · r with r of unit norm: the paper's steering (its c is tuned per model).</summary>
    UnitDirection,
}

/// <summary>Where activation addition adds the direction, at every position.</summary>
public enum AdditionHooks
{
    /// <summary>Once, at <c>blocks.{l}.hook_resid_pre</c>: Arditi et al.'s activation addition.</summary>
    ResidPre,

    /// <summary>
    /// At <c>blocks.{l}.hook_resid_pre</c>, <c>hook_resid_mid</c> and <c>hook_resid_post</c>, each add carried into what
    /// follows, so the stream leaving the block holds about three times the vector: the paper's hooks
    /// (Refusal/apply_refusal_dir.py lines 378 and 493, act_add_hook at lines 19-26).
    /// </summary>
    ResidPreMidPost,
}

/// <summary>
/// A refusal direction of one model: the difference of the mean <c>blocks.{Layer}.hook_resid_pre</c> over harmful and
/// over harmless instructions at <see cref="Position"/> (counted from the end of the prompt, −1 = last token).
/// <see cref="Unit"/> is r, the normalised difference.
/// </summary>
public sealed record RefusalDirection(string Model, int Layer, int Position, float[] MeanDifference)
{
    /// <summary>‖mean(harmful) − mean(harmless)‖.</summary>
    public double Norm => Math.Sqrt(MeanDifference.Sum(x => (double)x * x));

    /// <summary>r = the mean difference over its norm.</summary>
    public float[] Unit
    {
        get
        {
            double n = Norm;
            if (n == 0) Throw.Argument("the mean difference is zero: the direction is undefined", "direction", $"{Model} layer {Layer} position {Position}");
            return MeanDifference.Select(x => (float)(x / n)).ToArray();
        }
    }

    /// <summary>cos(r_a, r_b).</summary>
    public static double Cosine(RefusalDirection a, RefusalDirection b)
    {
        if (a.MeanDifference.Length != b.MeanDifference.Length)
            Throw.Argument("the directions have different dimensions", "direction", $"{a.MeanDifference.Length} vs {b.MeanDifference.Length}");
        double dot = 0;
        for (int i = 0; i < a.MeanDifference.Length; i++) dot += (double)a.MeanDifference[i] * b.MeanDifference[i];
        return dot / (a.Norm * b.Norm);
    }

    /// <summary>
    /// Directional ablation: r projected out of resid_pre, resid_mid and resid_post of every layer, at every position
    /// (in generation, the generated ones too). This equals Arditi et al.'s hooks on the block input and the attention
    /// and MLP outputs: with those three free of r, so is every residual stream.
    /// </summary>
    public IReadOnlyList<Intervention> Ablation(int layers)
    {
        if (layers < 1) Throw.Argument("must be at least 1", "layers", layers);
        float[][] r = [Unit];
        var list = new List<Intervention>(3 * layers);
        for (int l = 0; l < layers; l++)
            foreach (var kind in new[] { HookKind.ResidPre, HookKind.ResidMid, HookKind.ResidPost })
                list.Add(Intervention.ProjectOut(new HookName(kind, l), r));
        return list;
    }

    /// <summary>
    /// Activation addition at this direction's layer (<c>blocks.{Layer}.hook_resid_pre</c>), at every position:
    /// + coefficient · the mean difference (Arditi et al.) or · r (the paper), per <paramref name="scale"/>. A negative
    /// coefficient subtracts.
    /// </summary>
    public Intervention Addition(float coefficient = 1f, AdditionScale scale = AdditionScale.MeanDifference) =>
        Addition(coefficient, scale, Layer, AdditionHooks.ResidPre)[0];

    /// <summary>
    /// Activation addition at <paramref name="layer"/> (which may differ from the direction's own, as the paper's
    /// Llama-2 runs do), at every position, at the hooks <paramref name="hooks"/> names, in their forward order:
    /// + coefficient · the mean difference or · r. A negative coefficient subtracts.
    /// </summary>
    public IReadOnlyList<Intervention> Addition(float coefficient, AdditionScale scale, int layer, AdditionHooks hooks)
    {
        if (layer < 0) Throw.Argument("must be 0 or more", "layer", layer);
        var vector = scale == AdditionScale.MeanDifference ? MeanDifference : Unit;
        HookKind[] kinds = hooks == AdditionHooks.ResidPre ? [HookKind.ResidPre] : [HookKind.ResidPre, HookKind.ResidMid, HookKind.ResidPost];
        return kinds.Select(k => Intervention.Add(new HookName(k, layer), vector, coefficient)).ToList();
    }
}

/// <summary>
/// Mean differences of <c>blocks.{l}.hook_resid_pre</c> between harmful and harmless prompts, for a grid of layers
/// and positions (Arditi et al.'s candidate directions), accumulated in double precision.
/// </summary>
public static class RefusalDirections
{
    /// <summary>
    /// The mean differences at every layer in <paramref name="layers"/> and every position in <paramref name="positions"/>
    /// (negative: from the end of each prompt): [position][layer] → vector of the hidden size.
    /// </summary>
    public static float[][][] MeanDifferences(IHookedModel session, IReadOnlyList<int[]> harmful, IReadOnlyList<int[]> harmless,
        IReadOnlyList<int> layers, IReadOnlyList<int> positions, int padTokenId, int batchSize = 32, CancellationToken cancellation = default)
    {
        var a = MeanActivations(session, harmful, layers, positions, padTokenId, batchSize, cancellation);
        var b = MeanActivations(session, harmless, layers, positions, padTokenId, batchSize, cancellation);
        return a.Select((perLayer, p) => perLayer.Select((v, l) => v.Select((x, i) => (float)(x - b[p][l][i])).ToArray()).ToArray()).ToArray();
    }

    /// <summary>mean(harmful) − mean(harmless) of activation vectors, accumulated in double precision.</summary>
    public static float[] MeanDifference(IReadOnlyList<float[]> harmful, IReadOnlyList<float[]> harmless)
    {
        if (harmful.Count == 0 || harmless.Count == 0) Throw.Argument("both classes need at least one activation", "activations", $"{harmful.Count} harmful, {harmless.Count} harmless");
        int d = harmful[0].Length;
        var diff = new double[d];
        foreach (var (set, sign) in new[] { (harmful, 1.0), (harmless, -1.0) })
            foreach (var v in set)
            {
                if (v.Length != d) Throw.Argument($"every activation must have {d} values", "activations", v.Length);
                for (int i = 0; i < d; i++) diff[i] += sign * v[i] / set.Count;
            }
        return diff.Select(x => (float)x).ToArray();
    }

    /// <summary>Mean resid_pre over the prompts: [position][layer][d] in double precision.</summary>
    public static double[][][] MeanActivations(IHookedModel session, IReadOnlyList<int[]> prompts, IReadOnlyList<int> layers,
        IReadOnlyList<int> positions, int padTokenId, int batchSize = 32, CancellationToken cancellation = default)
    {
        var c = session.Config;
        if (prompts.Count == 0) Throw.Argument("no prompts", "prompts", 0);
        if (layers.Count == 0) Throw.Argument("no layers", "layers", 0);
        if (positions.Count == 0) Throw.Argument("no positions", "positions", 0);
        if (batchSize < 1) Throw.Argument("must be at least 1", "batch_size", batchSize);
        foreach (var l in layers)
            if ((uint)l >= (uint)c.NumLayers) Throw.Argument($"layer outside 0..{c.NumLayers - 1}", "layer", l);
        int shortest = prompts.Min(p => p.Length);
        foreach (var p in positions)
            if (p >= 0 || -p > shortest) Throw.Argument($"position must lie in -{shortest}..-1 (counted from the end of the shortest prompt)", "position", p);
        int d = c.HiddenSize;
        var sums = positions.Select(_ => layers.Select(_ => new double[d]).ToArray()).ToArray();
        var hooks = layers.Select(l => HookName.ResidPre(l)).ToList();
        Batches.Run(session, prompts, batchSize, batch => ForwardRequest.FromPrompts(batch, padTokenId) with
        {
            Hooks = [.. hooks],
            CapturePositions = positions.ToArray(),
            LogitPositions = [-1],
        }, (_, batch, r) =>
        {
            for (int li = 0; li < layers.Count; li++)
            {
                var t = r.Cache[hooks[li]];
                for (int b = 0; b < batch.Count; b++)
                    for (int pi = 0; pi < positions.Count; pi++)
                    {
                        var v = t.Vector(b, pi);
                        var s = sums[pi][li];
                        for (int i = 0; i < d; i++) s[i] += v[i];
                    }
            }
        }, cancellation: cancellation);
        foreach (var perLayer in sums)
            foreach (var s in perLayer)
                for (int i = 0; i < d; i++) s[i] /= prompts.Count;
        return sums;
    }
}

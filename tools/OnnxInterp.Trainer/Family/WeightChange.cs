using OnnxInterp.Checkpoints;

namespace OnnxInterp.Trainer.Family;

/// <summary>
/// How far post-training moved a member from the base: ‖W_post − W_base‖_F / ‖W_base‖_F for every tensor (matrices and
/// RMSNorm gains), in double. Real post-trained models sit a few percent from their base.
/// </summary>
public sealed record WeightChange(string Model, IReadOnlyDictionary<string, double> Relative)
{
    static IEnumerable<double> Matrices(IReadOnlyDictionary<string, double> r) =>
        r.Where(kv => !kv.Key.EndsWith("norm.weight", StringComparison.Ordinal)).Select(kv => kv.Value);

    public double MaxMatrix => Matrices(Relative).Max();
    public double MinMatrix => Matrices(Relative).Min();
    public double MedianMatrix
    {
        get
        {
            var v = Matrices(Relative).Order().ToArray();
            return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
        }
    }

    /// <summary>The tensor that moved most (relative).</summary>
    public string Largest => Relative.MaxBy(kv => kv.Value).Key;

    /// <summary>Every tensor of <paramref name="postDir"/> against the same tensor of <paramref name="baseDir"/>.</summary>
    public static WeightChange Measure(string model, string baseDir, string postDir)
    {
        var b = CheckpointReader.Read(baseDir);
        var p = CheckpointReader.Read(postDir);
        if (b.Config != p.Config)
            throw new IncompatibleModelsException("the member and the base differ in shape", postDir, "config", $"{model} vs base");
        var rel = new SortedDictionary<string, double>(StringComparer.Ordinal);
        for (int i = 0; i < b.Parameters.Count; i++) rel[b.Parameters[i].Name] = RelativeChange(b.Parameters[i].Data, p.Parameters[i].Data);
        return new WeightChange(model, rel);
    }

    /// <summary>‖post − base‖₂ / ‖base‖₂ over the flattened tensors, in double.</summary>
    public static double RelativeChange(ReadOnlySpan<float> baseWeights, ReadOnlySpan<float> post)
    {
        if (baseWeights.Length != post.Length) throw new ArgumentException($"lengths differ: {baseWeights.Length} vs {post.Length}", nameof(post));
        double diff = 0, norm = 0;
        for (int i = 0; i < post.Length; i++)
        {
            double d = (double)post[i] - baseWeights[i];
            diff += d * d;
            norm += (double)baseWeights[i] * baseWeights[i];
        }
        return norm > 0 ? Math.Sqrt(diff / norm) : (diff > 0 ? double.PositiveInfinity : 0);
    }
}

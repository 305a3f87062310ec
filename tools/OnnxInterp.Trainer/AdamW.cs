using System.Numerics.Tensors;

namespace OnnxInterp.Trainer;

/// <summary>
/// AdamW (β1 0.9, β2 0.95, ε 1e-8 by default) with decoupled weight decay on the projection matrices and lm_head only:
/// RMSNorm gains and the token embedding take none (decaying gains pulls them toward 0, not toward the identity; an
/// embedding row is only updated when its token appears, so decay would shrink rare tokens disproportionately).
/// With an anchor (L2-SP, Li et al. 2018, decoupled as AdamW does), the decay pulls every parameter toward the
/// anchor's value instead of toward 0: w ← w − lr·λ·(w − w₀) on norms and embeddings too, since the pull keeps
/// them where they were rather than shrinking them. Post-training uses it to stay near the base.
/// Every update is element-wise, so it is bit-reproducible whatever the partition.
/// </summary>
public sealed class AdamW
{
    readonly TinyLlama _model;
    readonly float[][] _m, _v;
    readonly float[][]? _anchor;
    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public int Step { get; private set; }

    /// <param name="anchor">Decay toward these weights (a model of the same shape; copied) instead of toward 0; null: plain AdamW.</param>
    public AdamW(TinyLlama model, double weightDecay = 0.1, double beta1 = 0.9, double beta2 = 0.95, double epsilon = 1e-8, TinyLlama? anchor = null)
    {
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), beta1, "must lie in [0, 1)");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta2), beta2, "must lie in [0, 1)");
        if (!(weightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(weightDecay), weightDecay, "must be non-negative");
        _model = model;
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        _m = model.Parameters.Select(p => new float[p.Data.Length]).ToArray();
        _v = model.Parameters.Select(p => new float[p.Data.Length]).ToArray();
        if (anchor is not null)
        {
            if (anchor.Config != model.Config) throw new ArgumentException("the anchor's config differs from the model's", nameof(anchor));
            _anchor = anchor.Parameters.Select(p => (float[])p.Data.Clone()).ToArray();
        }
    }

    /// <summary>Whether the decay pulls toward an anchor (L2-SP) rather than toward 0.</summary>
    public bool Anchored => _anchor is not null;

    /// <summary>Whether a parameter takes weight decay: 2-D projections and lm_head, not norms or the embedding.</summary>
    public static bool Decays(Parameter p) => !p.IsNorm && !p.IsEmbedding;

    /// <summary>One update with learning rate <paramref name="lr"/> from <paramref name="gradients"/> (aligned with the model).</summary>
    public void Update(TinyLlama gradients, double lr)
    {
        Step++;
        float b1 = (float)Beta1, b2 = (float)Beta2;
        float c1 = (float)(1 - Math.Pow(Beta1, Step)), c2 = (float)(1 - Math.Pow(Beta2, Step));
        float step = (float)lr / c1, eps = (float)Epsilon, invSqrtC2 = 1f / MathF.Sqrt(c2);
        for (int pi = 0; pi < _model.Parameters.Count; pi++)
        {
            var p = _model.Parameters[pi];
            float decay = _anchor is not null || Decays(p) ? (float)(1 - lr * WeightDecay) : 1f;
            var w = p.Data;
            var w0 = _anchor?[pi];
            var g = gradients.Parameters[pi].Data;
            var m = _m[pi];
            var v = _v[pi];
            const int chunk = 1 << 14;
            int chunks = (w.Length + chunk - 1) / chunk;
            Parallel.For(0, chunks, ch =>
            {
                int s = ch * chunk, e = Math.Min(w.Length, s + chunk);
                for (int i = s; i < e; i++)
                {
                    float gi = g[i];
                    float mi = m[i] = b1 * m[i] + (1 - b1) * gi;
                    float vi = v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                    float keep = w0 is null ? w[i] * decay : w0[i] + (w[i] - w0[i]) * decay;
                    w[i] = keep - step * mi / (MathF.Sqrt(vi) * invSqrtC2 + eps);
                }
            });
        }
    }

    /// <summary>Global L2 norm of the gradients, summed per tensor in a fixed order.</summary>
    public static double GlobalNorm(TinyLlama gradients)
    {
        double ss = 0;
        foreach (var p in gradients.Parameters) ss += TensorPrimitives.SumOfSquares<float>(p.Data);
        return Math.Sqrt(ss);
    }

    /// <summary>Scales the gradients so their global norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipGlobalNorm(TinyLlama gradients, double maxNorm)
    {
        double norm = GlobalNorm(gradients);
        if (maxNorm > 0 && norm > maxNorm)
        {
            float s = (float)(maxNorm / (norm + 1e-6));
            foreach (var p in gradients.Parameters) TensorPrimitives.Multiply(p.Data, s, p.Data);
        }
        return norm;
    }
}

/// <summary>Linear warmup from lr/warmup to lr over <c>warmup</c> steps, then cosine decay to 10% of lr at the last step.</summary>
public static class LearningRateSchedule
{
    public const double FinalFraction = 0.1;

    /// <param name="step">0-based step.</param>
    public static double At(int step, int totalSteps, int warmup, double lr)
    {
        if (step < warmup) return lr * (step + 1) / warmup;
        int decaySteps = Math.Max(1, totalSteps - warmup - 1);
        double progress = Math.Clamp((double)(step - warmup) / decaySteps, 0, 1);
        return lr * (FinalFraction + (1 - FinalFraction) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}

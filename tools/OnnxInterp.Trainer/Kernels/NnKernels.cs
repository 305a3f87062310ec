using System.Numerics.Tensors;

namespace OnnxInterp.Trainer.Kernels;

/// <summary>Per-row building blocks of the forward and backward pass. Caller-supplied destinations; nothing allocates.</summary>
public static class NnKernels
{
    /// <summary>y = x / sqrt(mean(x²) + eps) ⊙ w; returns the inverse RMS, which the backward pass needs.</summary>
    public static float RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, float eps)
    {
        float ss = TensorPrimitives.SumOfSquares(x);
        float r = 1f / MathF.Sqrt(ss / x.Length + eps);
        TensorPrimitives.Multiply(x, r, y);
        TensorPrimitives.Multiply(y, w, y);
        return r;
    }

    /// <summary>
    /// dx += r·(dy⊙w) − x·r³·mean(dy⊙w⊙x). <paramref name="scratch"/> holds dy⊙w (length of x).
    /// The gain's gradient (Σ over rows of dy⊙x·r) is accumulated separately, in a fixed row order.
    /// </summary>
    public static void RmsNormBackward(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> w, float r, Span<float> dx, Span<float> scratch)
    {
        TensorPrimitives.Multiply(dy, w, scratch);
        float dot = TensorPrimitives.Dot(scratch, x);
        float c = -dot * r * r * r / x.Length;
        // dx += r·scratch + c·x
        TensorPrimitives.MultiplyAdd(scratch, r, dx, dx);
        TensorPrimitives.MultiplyAdd(x, c, dx, dx);
    }

    /// <summary>
    /// Rotary embedding of one head in place, HF's non-interleaved form: y1 = x1·cos − x2·sin, y2 = x2·cos + x1·sin over
    /// the two halves. With <paramref name="inverse"/>, the transposed rotation (the backward pass).
    /// </summary>
    public static void Rope(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool inverse)
    {
        int half = cos.Length;
        var x1 = x[..half];
        var x2 = x.Slice(half, half);
        float sign = inverse ? -1f : 1f;
        for (int j = 0; j < half; j++)
        {
            float a = x1[j], b = x2[j], c = cos[j], s = sign * sin[j];
            x1[j] = a * c - b * s;
            x2[j] = b * c + a * s;
        }
    }

    /// <summary>m = silu(g) ⊙ u.</summary>
    public static void SwiGlu(ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> m)
    {
        TensorPrimitives.Sigmoid(g, m);
        TensorPrimitives.Multiply(m, g, m);
        TensorPrimitives.Multiply(m, u, m);
    }

    /// <summary>dg = dm⊙u⊙silu′(g), du = dm⊙silu(g), with silu′(g) = σ(g)·(1 + g·(1 − σ(g))).</summary>
    public static void SwiGluBackward(ReadOnlySpan<float> dm, ReadOnlySpan<float> g, ReadOnlySpan<float> u, Span<float> dg, Span<float> du)
    {
        TensorPrimitives.Sigmoid(g, dg);
        for (int i = 0; i < g.Length; i++)
        {
            float s = dg[i], gi = g[i], silu = gi * s;
            du[i] = dm[i] * silu;
            dg[i] = dm[i] * u[i] * (s + silu * (1f - s));
        }
    }

    /// <summary>
    /// Cross-entropy of one row of logits against <paramref name="target"/>, weighted by <paramref name="weight"/>
    /// (mask / masked-token count). Overwrites the logits with d(weighted loss)/d(logits) and returns the unweighted loss.
    /// </summary>
    public static float CrossEntropyInPlace(Span<float> logits, int target, float weight)
    {
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, logits);
        float target0 = logits[target];
        TensorPrimitives.Exp(logits, logits);
        float sum = TensorPrimitives.Sum(logits);
        float loss = MathF.Log(sum) - target0;
        TensorPrimitives.Multiply(logits, weight / sum, logits);
        logits[target] -= weight;
        return loss;
    }
}

using System.Numerics;
using System.Numerics.Tensors;

namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// The per-token kernels of model diffing: log-softmax, KL divergence, top-1 and rank over a vocabulary, on spans with
/// caller-supplied destinations (nothing allocated per token). fp32 with TensorPrimitives; the tests compare each with a
/// double-precision scalar reference.
/// </summary>
public static class Divergence
{
    /// <summary>
    /// Writes log softmax(<paramref name="logits"/>) to <paramref name="logProbs"/> and softmax to <paramref name="probs"/>
    /// (each as long as the logits).
    /// </summary>
    public static void LogSoftmax(ReadOnlySpan<float> logits, Span<float> logProbs, Span<float> probs)
    {
        float max = TensorPrimitives.Max(logits);
        TensorPrimitives.Subtract(logits, max, logProbs);
        TensorPrimitives.Exp(logProbs, probs);
        float logZ = MathF.Log(TensorPrimitives.Sum(probs));
        TensorPrimitives.Subtract(logProbs, logZ, logProbs);
        TensorPrimitives.Exp(logProbs, probs);
    }

    /// <summary>
    /// KL(p ‖ q) = Σ p (log p − log q) in nats, from p's probabilities and both log-probabilities; <paramref name="scratch"/>
    /// is as long as the vocabulary. Rounding can make a KL of near-identical distributions slightly negative: it is clamped at 0.
    /// </summary>
    public static double Kl(ReadOnlySpan<float> p, ReadOnlySpan<float> logP, ReadOnlySpan<float> logQ, Span<float> scratch)
    {
        TensorPrimitives.Subtract(logP, logQ, scratch);
        return Math.Max(0.0, TensorPrimitives.Dot(p, scratch));
    }

    /// <summary>The index of the largest logit (the first one on ties).</summary>
    public static int Top1(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    /// <summary>The rank of <paramref name="token"/> under <paramref name="logits"/>: how many logits are strictly larger (0: the top token).</summary>
    public static int Rank(ReadOnlySpan<float> logits, int token)
    {
        float x = logits[token];
        int count = 0, i = 0;
        if (Vector.IsHardwareAccelerated && logits.Length >= Vector<float>.Count)
        {
            var threshold = new Vector<float>(x);
            var acc = Vector<int>.Zero;
            for (; i <= logits.Length - Vector<float>.Count; i += Vector<float>.Count)
                acc -= Vector.GreaterThan(new Vector<float>(logits.Slice(i, Vector<float>.Count)), threshold);
            count = Vector.Sum(acc);
        }
        for (; i < logits.Length; i++)
            if (logits[i] > x) count++;
        return count;
    }
}

using System.Numerics.Tensors;

namespace OnnxInterp.Trainer.Kernels;

/// <summary>
/// Causal grouped-query attention for one (sequence, KV head) pair, forward and backward. Rows are tokens of one
/// sequence; q/att rows hold all query heads (qStride = heads·hd), k/v rows all KV heads (kvStride = kvHeads·hd).
/// One call owns the K/V gradient of its KV head, so pairs run in parallel without races or reduction-order drift.
/// </summary>
public static class CausalAttention
{
    /// <param name="probs">[group, T, T] softmax probabilities for the query heads of this KV head (upper triangle zero).</param>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> att, Span<float> probs,
        int t, int hd, int qStride, int kvStride, int kvHead, int group)
    {
        float scale = 1f / MathF.Sqrt(hd);
        for (int gh = 0; gh < group; gh++)
        {
            int h = kvHead * group + gh;
            for (int i = 0; i < t; i++)
            {
                var qi = q.Slice(i * qStride + h * hd, hd);
                var p = probs.Slice((gh * t + i) * t, t);
                for (int j = 0; j <= i; j++) p[j] = TensorPrimitives.Dot(qi, k.Slice(j * kvStride + kvHead * hd, hd)) * scale;
                var row = p[..(i + 1)];
                TensorPrimitives.SoftMax(row, row);
                p[(i + 1)..].Clear();
                var oi = att.Slice(i * qStride + h * hd, hd);
                oi.Clear();
                for (int j = 0; j <= i; j++) TensorPrimitives.MultiplyAdd(v.Slice(j * kvStride + kvHead * hd, hd), p[j], oi, oi);
            }
        }
    }

    /// <summary>
    /// From d(att) for this KV head's query heads, writes dq for those heads and overwrites dk, dv of this KV head.
    /// <paramref name="dp"/> is scratch of length T.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> probs, ReadOnlySpan<float> datt,
        Span<float> dq, Span<float> dk, Span<float> dv, Span<float> dp, int t, int hd, int qStride, int kvStride, int kvHead, int group)
    {
        float scale = 1f / MathF.Sqrt(hd);
        for (int j = 0; j < t; j++)
        {
            dk.Slice(j * kvStride + kvHead * hd, hd).Clear();
            dv.Slice(j * kvStride + kvHead * hd, hd).Clear();
        }
        for (int gh = 0; gh < group; gh++)
        {
            int h = kvHead * group + gh;
            for (int i = 0; i < t; i++)
            {
                var p = probs.Slice((gh * t + i) * t, i + 1);
                var dai = datt.Slice(i * qStride + h * hd, hd);
                var d = dp[..(i + 1)];
                for (int j = 0; j <= i; j++)
                {
                    var vj = v.Slice(j * kvStride + kvHead * hd, hd);
                    d[j] = TensorPrimitives.Dot(dai, vj);
                    var dvj = dv.Slice(j * kvStride + kvHead * hd, hd);
                    TensorPrimitives.MultiplyAdd(dai, p[j], dvj, dvj);
                }
                float sum = TensorPrimitives.Dot(p, d);
                // dS = P ⊙ (dP − Σ P·dP), then the 1/sqrt(hd) of the scores.
                TensorPrimitives.Subtract(d, sum, d);
                TensorPrimitives.Multiply(d, p, d);
                TensorPrimitives.Multiply(d, scale, d);
                var qi = q.Slice(i * qStride + h * hd, hd);
                var dqi = dq.Slice(i * qStride + h * hd, hd);
                dqi.Clear();
                for (int j = 0; j <= i; j++)
                {
                    var kj = k.Slice(j * kvStride + kvHead * hd, hd);
                    TensorPrimitives.MultiplyAdd(kj, d[j], dqi, dqi);
                    var dkj = dk.Slice(j * kvStride + kvHead * hd, hd);
                    TensorPrimitives.MultiplyAdd(qi, d[j], dkj, dkj);
                }
            }
        }
    }
}

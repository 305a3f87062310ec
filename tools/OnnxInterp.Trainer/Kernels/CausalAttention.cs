using System.Numerics.Tensors;

namespace OnnxInterp.Trainer.Kernels;

/// <summary>
/// Causal grouped-query attention for one (sequence, KV head) pair, forward and backward. Rows are tokens of one
/// sequence; q/att rows hold all query heads (qStride = heads·hd), k/v rows all KV heads (kvStride = kvHeads·hd).
/// Each head's products (QKᵀ, PV and their gradients) are matrix products on the calling thread (<see cref="Sgemm"/>
/// with parallel: false): the caller runs pairs in parallel, and one call owns the K/V gradient of its KV head, so
/// there are no races and no reduction-order drift. The products span the whole T x T square; the softmax zeroes
/// the upper triangle, so masked scores never contribute.
/// </summary>
public static class CausalAttention
{
    /// <param name="probs">[group, T, T] softmax probabilities for the query heads of this KV head (upper triangle zero).</param>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> att, Span<float> probs,
        int t, int hd, int qStride, int kvStride, int kvHead, int group)
    {
        float scale = 1f / MathF.Sqrt(hd);
        var kh = k[(kvHead * hd)..];
        var vh = v[(kvHead * hd)..];
        for (int gh = 0; gh < group; gh++)
        {
            int h = kvHead * group + gh;
            var p = probs.Slice(gh * t * t, t * t);
            // S = Q_h·K_hᵀ, then each row i scaled and softmaxed over keys 0..i.
            Sgemm.NT(t, t, hd, q[(h * hd)..], qStride, kh, kvStride, p, t, false, parallel: false);
            for (int i = 0; i < t; i++)
            {
                var row = p.Slice(i * t, i + 1);
                TensorPrimitives.Multiply(row, scale, row);
                TensorPrimitives.SoftMax(row, row);
                p.Slice(i * t + i + 1, t - i - 1).Clear();
            }
            // O_h = P·V_h
            Sgemm.NN(t, hd, t, p, t, vh, kvStride, att[(h * hd)..], qStride, false, parallel: false);
        }
    }

    /// <summary>
    /// From d(att) for this KV head's query heads, writes dq for those heads and overwrites dk, dv of this KV head.
    /// <paramref name="ds"/> is scratch of length T·T.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> probs, ReadOnlySpan<float> datt,
        Span<float> dq, Span<float> dk, Span<float> dv, Span<float> ds, int t, int hd, int qStride, int kvStride, int kvHead, int group)
    {
        if (ds.Length < t * t) throw new ArgumentException($"scratch of {ds.Length} floats is shorter than T·T = {t * t}", nameof(ds));
        float scale = 1f / MathF.Sqrt(hd);
        var kh = k[(kvHead * hd)..];
        var vh = v[(kvHead * hd)..];
        var dkh = dk[(kvHead * hd)..];
        var dvh = dv[(kvHead * hd)..];
        ds = ds[..(t * t)];
        for (int gh = 0; gh < group; gh++)
        {
            int h = kvHead * group + gh;
            var p = probs.Slice(gh * t * t, t * t);
            var dai = datt[(h * hd)..];
            // dV_h += Pᵀ·dO_h; dP = dO_h·V_hᵀ
            Sgemm.TN(t, hd, t, p, t, dai, qStride, dvh, kvStride, accumulate: gh > 0, parallel: false);
            Sgemm.NT(t, t, hd, dai, qStride, vh, kvStride, ds, t, false, parallel: false);
            // dS = P ⊙ (dP − Σ_j P·dP) / sqrt(hd), row by row over the causal part (the rest of P is zero).
            for (int i = 0; i < t; i++)
            {
                var pi = p.Slice(i * t, i + 1);
                var di = ds.Slice(i * t, i + 1);
                float sum = TensorPrimitives.Dot(pi, di);
                TensorPrimitives.Subtract(di, sum, di);
                TensorPrimitives.Multiply(di, pi, di);
                TensorPrimitives.Multiply(di, scale, di);
                ds.Slice(i * t + i + 1, t - i - 1).Clear();
            }
            // dQ_h = dS·K_h; dK_h += dSᵀ·Q_h
            Sgemm.NN(t, hd, t, ds, t, kh, kvStride, dq[(h * hd)..], qStride, false, parallel: false);
            Sgemm.TN(t, hd, t, ds, t, q[(h * hd)..], qStride, dkh, kvStride, accumulate: gh > 0, parallel: false);
        }
    }
}

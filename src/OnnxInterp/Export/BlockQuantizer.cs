namespace OnnxInterp.Export;

/// <summary>
/// A weight matrix as MatMulNBits stores it (ONNX Runtime contrib op spec): B is uint8 [N, k_blocks, blob_size] with
/// k_blocks = ⌈K / block_size⌉ and blob_size = block_size · bits / 8, values packed along K, for 4 bits the first
/// value of a pair in the low nibble; scales [N · k_blocks]; zero points, when present, uint8
/// [N · ⌈k_blocks · bits / 8⌉] packed the same way. Dequantized weight = (q − zero_point) · scale, with zero point
/// 2^(bits−1) when there is no zero-point tensor.
/// </summary>
sealed record QuantizedMatrix(int N, int K, int Bits, int BlockSize, byte[] Packed, float[] Scales, byte[]? ZeroPoints)
{
    public int KBlocks => (K + BlockSize - 1) / BlockSize;
    public int BlobSize => BlockSize * Bits / 8;
    public int ZeroPointBytesPerRow => (KBlocks * Bits + 7) / 8;
}

/// <summary>
/// Round-to-nearest block quantization as ONNX Runtime's MLAS quantizer does it for the model builder
/// (MlasQuantizeBlockwise): symmetric scale = m / −2^(bits−1) with m the block's value of largest magnitude (sign kept),
/// so that value maps to 0 and the range [−2^(bits−1), 2^(bits−1)−1] is used; asymmetric scale = (max − min) / (2^bits − 1)
/// over a range that includes 0, zero point = round(−min / scale); q = clamp(round(w / scale + zero point), 0, 2^bits − 1)
/// with round half away from zero. The last block of a row is padded with zeros.
/// </summary>
static class BlockQuantizer
{
    /// <summary>Quantizes <paramref name="w"/>, row-major [n, k] (Hugging Face's [out, in] layout, which is B's layout).</summary>
    public static QuantizedMatrix Quantize(ReadOnlySpan<float> w, int n, int k, WeightQuantization q)
    {
        if (w.Length != (long)n * k) throw new ArgumentException($"expected {n}×{k} values, got {w.Length}", nameof(w));
        int bits = q.Bits, bs = q.BlockSize;
        int kBlocks = (k + bs - 1) / bs, blob = bs * bits / 8;
        int maxQ = (1 << bits) - 1, mid = 1 << (bits - 1);
        var packed = new byte[checked((long)n * kBlocks * blob)];
        var scales = new float[(long)n * kBlocks];
        byte[]? zeros = q.Symmetric ? null : new byte[(long)n * ((kBlocks * bits + 7) / 8)];
        int zpRow = (kBlocks * bits + 7) / 8;
        Span<byte> codes = stackalloc byte[bs];

        for (int r = 0; r < n; r++)
        {
            var row = w.Slice(r * k, k);
            for (int j = 0; j < kBlocks; j++)
            {
                int start = j * bs, len = Math.Min(bs, k - start);
                var block = row.Slice(start, len);
                float min = 0, max = 0;
                if (len > 0) { min = block[0]; max = block[0]; }
                foreach (var v in block) { if (v < min) min = v; if (v > max) max = v; }
                if (len < bs) { min = Math.Min(min, 0f); max = Math.Max(max, 0f); }  // zero padding takes part, as in MLAS

                float scale, zp;
                if (q.Symmetric)
                {
                    float m = MathF.Abs(max) > MathF.Abs(min) ? max : min;
                    scale = m / -mid;
                    zp = mid;
                }
                else
                {
                    min = Math.Min(min, 0f);
                    max = Math.Max(max, 0f);
                    scale = (max - min) / maxQ;
                    float zpf = scale != 0 ? -min / scale : min;
                    zp = zpf < 0 ? 0 : zpf > maxQ ? maxQ : MathF.Round(zpf, MidpointRounding.AwayFromZero);
                    zeros![(long)r * zpRow + (bits == 4 ? j / 2 : j)] |= (byte)(bits == 4 && (j & 1) == 1 ? (int)zp << 4 : (int)zp);
                }
                float inv = scale != 0 ? 1f / scale : 0f;
                for (int i = 0; i < bs; i++)
                {
                    float v = i < len ? block[i] : 0f;
                    float c = MathF.Round(v * inv + zp, MidpointRounding.AwayFromZero);
                    codes[i] = (byte)Math.Clamp(c, 0f, maxQ);
                }
                scales[(long)r * kBlocks + j] = scale;
                var dst = packed.AsSpan(checked((int)(((long)r * kBlocks + j) * blob)), blob);
                if (bits == 8) codes.CopyTo(dst);
                else for (int i = 0; i < blob; i++) dst[i] = (byte)(codes[2 * i] | (codes[2 * i + 1] << 4));
            }
        }
        return new QuantizedMatrix(n, k, bits, bs, packed, scales, zeros);
    }

    /// <summary>
    /// The weight MatMulNBits computes with, row-major [N, K]: (q − zero point) · scale per the contrib-op spec (see
    /// <see cref="QuantizedMatrix"/>), in fp32; padding past K in the last block is dropped.
    /// </summary>
    public static float[] Dequantize(QuantizedMatrix m)
    {
        if (m.Bits is not (4 or 8)) throw new ArgumentException($"bits must be 4 or 8, got {m.Bits}", nameof(m));
        int kBlocks = m.KBlocks, blob = m.BlobSize, zpRow = m.ZeroPointBytesPerRow, bits = m.Bits;
        if (m.Packed.LongLength != (long)m.N * kBlocks * blob) throw new ArgumentException($"packed weights hold {m.Packed.LongLength} bytes, expected {(long)m.N * kBlocks * blob}", nameof(m));
        if (m.Scales.LongLength != (long)m.N * kBlocks) throw new ArgumentException($"scales hold {m.Scales.LongLength} values, expected {(long)m.N * kBlocks}", nameof(m));
        if (m.ZeroPoints is { } zs && zs.LongLength != (long)m.N * zpRow) throw new ArgumentException($"zero points hold {zs.LongLength} bytes, expected {(long)m.N * zpRow}", nameof(m));
        var w = new float[checked((long)m.N * m.K)];
        for (int r = 0; r < m.N; r++)
            for (int j = 0; j < kBlocks; j++)
            {
                int zp = 1 << (bits - 1);
                if (m.ZeroPoints is { } z)
                {
                    byte zb = z[(long)r * zpRow + (bits == 4 ? j / 2 : j)];
                    zp = bits == 8 ? zb : (j & 1) == 0 ? zb & 0xF : zb >> 4;
                }
                float scale = m.Scales[(long)r * kBlocks + j];
                long blobStart = ((long)r * kBlocks + j) * blob;
                int start = j * m.BlockSize, len = Math.Min(m.BlockSize, m.K - start);
                for (int i = 0; i < len; i++)
                {
                    byte b = m.Packed[blobStart + (bits == 8 ? i : i / 2)];
                    int q = bits == 8 ? b : (i & 1) == 0 ? b & 0xF : b >> 4;
                    w[(long)r * m.K + start + i] = (q - zp) * scale;
                }
            }
        return w;
    }
}

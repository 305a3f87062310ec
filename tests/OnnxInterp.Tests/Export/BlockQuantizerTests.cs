using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using OnnxInterp.Export;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// The MatMulNBits packing against a naive reading of the contrib-op spec, and against ONNX Runtime's own kernel.
/// K = 200 is not a multiple of either block size, so the padded last block is covered.
/// </summary>
public class BlockQuantizerTests
{
    const int N = 24, K = 200;

    public static IEnumerable<TestCaseData> Formats()
    {
        foreach (int bits in new[] { 4, 8 })
            foreach (int block in new[] { 32, 128 })
                foreach (bool symmetric in new[] { true, false })
                    yield return new TestCaseData(bits, block, symmetric).SetName($"Int{bits}_Block{block}_{(symmetric ? "Symmetric" : "ZeroPoints")}");
    }

    static float[] RandomWeights(int seed)
    {
        var rng = new Random(seed);
        // Rows of different scales, and one block of a row all zero, as trained weights have.
        var w = new float[N * K];
        for (int r = 0; r < N; r++)
        {
            double scale = 0.01 * (1 + r);
            for (int c = 0; c < K; c++) w[r * K + c] = (float)(scale * (rng.NextDouble() * 2 - 1) + (r % 3 == 0 ? 0.3 * scale : 0));
        }
        for (int c = 0; c < 32; c++) w[5 * K + c] = 0;
        return w;
    }

    /// <summary>The spec, read independently: (q − zero point) · scale, nibbles low first, default zero point 2^(bits−1).</summary>
    internal static double[] NaiveDequantize(QuantizedMatrix m, int bits, int block) =>
        NaiveDequantize(m.Packed, m.Scales, m.ZeroPoints, bits, block, m.N, m.K);

    static double[] NaiveDequantize(byte[] packed, float[] scales, byte[]? zeros, int bits, int block, int N = N, int K = K)
    {
        int kBlocks = (K + block - 1) / block, blob = block * bits / 8, zpRow = (kBlocks * bits + 7) / 8;
        var w = new double[N * K];
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
            {
                int j = k / block, i = k % block;
                byte b = packed[(n * kBlocks + j) * blob + (bits == 8 ? i : i / 2)];
                int q = bits == 8 ? b : (i % 2 == 0 ? b & 0xF : b >> 4);
                int zp = zeros is null ? 1 << (bits - 1)
                    : bits == 8 ? zeros[n * zpRow + j] : ((j % 2 == 0 ? zeros[n * zpRow + j / 2] & 0xF : zeros[n * zpRow + j / 2] >> 4));
                w[n * K + k] = (q - zp) * (double)scales[n * kBlocks + j];
            }
        return w;
    }

    /// <summary>The library's dequantizer (what the analyses read from quantized exports) against the naive spec reading, exactly.</summary>
    [TestCaseSource(nameof(Formats))]
    public void Dequantize_QuantizerOutput_EqualsNaiveSpecReading(int bits, int block, bool symmetric)
    {
        var m = BlockQuantizer.Quantize(RandomWeights(bits * 7 + block), N, K, new WeightQuantization { Bits = bits, BlockSize = block, Symmetric = symmetric });
        var expected = NaiveDequantize(m, bits, block).Select(x => (float)x).ToArray();
        Assert.That(BlockQuantizer.Dequantize(m), Is.EqualTo(expected));
        Assert.Throws<ArgumentException>(() => BlockQuantizer.Dequantize(m with { Scales = m.Scales[1..] }));
    }

    [TestCaseSource(nameof(Formats))]
    public void Quantize_RandomMatrix_DequantizesWithinOneStep(int bits, int block, bool symmetric)
    {
        var w = RandomWeights(bits * 1000 + block + (symmetric ? 1 : 0));
        var m = BlockQuantizer.Quantize(w, N, K, new WeightQuantization { Bits = bits, BlockSize = block, Symmetric = symmetric });
        int kBlocks = (K + block - 1) / block;
        Assert.That(m.Packed, Has.Length.EqualTo(N * kBlocks * block * bits / 8));
        Assert.That(m.Scales, Has.Length.EqualTo(N * kBlocks));
        Assert.That(m.ZeroPoints?.Length, Is.EqualTo(symmetric ? null : N * ((kBlocks * bits + 7) / 8)));

        var d = NaiveDequantize(m.Packed, m.Scales, m.ZeroPoints, bits, block);
        double worstSteps = 0, sumSq = 0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++)
            {
                double step = Math.Abs(m.Scales[n * kBlocks + k / block]);
                double err = Math.Abs(d[n * K + k] - w[n * K + k]);
                if (step == 0) { Assert.That(err, Is.Zero, $"all-zero block at ({n},{k})"); continue; }
                worstSteps = Math.Max(worstSteps, err / step);
                sumSq += (err / step) * (err / step);
            }
        double rmsSteps = Math.Sqrt(sumSq / (N * K));
        TestContext.Out.WriteLine($"worst error {worstSteps:F3} steps, rms {rmsSteps:F3} steps");
        // Round to nearest: half a step, except values clamped at the end of the range (one step at most).
        Assert.That(worstSteps, Is.LessThanOrEqualTo(1.0 + 1e-4));
        Assert.That(rmsSteps, Is.LessThanOrEqualTo(0.35), "uniform rounding error is 0.29 steps rms");
    }

    [TestCase(4)]
    [TestCase(8)]
    public void Quantize_SymmetricBlock_LargestMagnitudeMapsToLowestCode(int bits)
    {
        var w = new float[K];
        for (int k = 0; k < K; k++) w[k] = 0.001f * (k % 7);
        w[3] = 0.5f;  // largest magnitude, positive: maps to code 0, i.e. −2^(bits−1) · scale with a negative scale
        var m = BlockQuantizer.Quantize(w, 1, K, new WeightQuantization { Bits = bits, BlockSize = 32 });
        Assert.That(m.Scales[0], Is.EqualTo(0.5f / -(1 << (bits - 1))).Within(1e-9));
        int code = bits == 8 ? m.Packed[3] : m.Packed[1] >> 4;
        Assert.That(code, Is.Zero);
    }

    /// <summary>ONNX Runtime's MatMulNBits (accuracy level 0: fp32 compute) on our bytes equals A · dequantize(W)ᵀ.</summary>
    [TestCaseSource(nameof(Formats))]
    public void MatMulNBits_OnOurPacking_MatchesNaiveProduct(int bits, int block, bool symmetric)
    {
        var w = RandomWeights(7 + bits + block);
        var m = BlockQuantizer.Quantize(w, N, K, new WeightQuantization { Bits = bits, BlockSize = block, Symmetric = symmetric });
        var deq = NaiveDequantize(m.Packed, m.Scales, m.ZeroPoints, bits, block);
        const int M = 5;
        var rng = new Random(3);
        var a = Enumerable.Range(0, M * K).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

        var graph = new GraphProto { Name = "q" };
        graph.Input.Add(Value("A", TensorProto.Types.DataType.Float, M, K));
        graph.Output.Add(Value("Y", TensorProto.Types.DataType.Float, M, N));
        graph.Initializer.Add(Raw("B", TensorProto.Types.DataType.Uint8, m.Packed, N, m.KBlocks, m.BlobSize));
        graph.Initializer.Add(Raw("S", TensorProto.Types.DataType.Float, m.Scales.SelectMany(BitConverter.GetBytes).ToArray(), N * m.KBlocks));
        var node = new NodeProto { OpType = "MatMulNBits", Domain = "com.microsoft", Name = "mm" };
        node.Input.AddRange(["A", "B", "S"]);
        if (m.ZeroPoints is { } z)
        {
            graph.Initializer.Add(Raw("Z", TensorProto.Types.DataType.Uint8, z, z.Length));
            node.Input.Add("Z");
        }
        node.Output.Add("Y");
        foreach (var (name, v) in new[] { ("K", (long)K), ("N", N), ("bits", bits), ("block_size", block) })
            node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v });
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 10, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });

        using var session = new InferenceSession(model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(a, [M, K]);
        using var results = session.Run(new RunOptions(), ["A"], [input], ["Y"]);
        var y = results[0].GetTensorDataAsSpan<float>().ToArray();
        double worst = 0;
        for (int i = 0; i < M; i++)
            for (int n = 0; n < N; n++)
            {
                double e = 0;
                for (int k = 0; k < K; k++) e += a[i * K + k] * deq[n * K + k];
                worst = Math.Max(worst, Math.Abs(y[i * N + n] - e) / Math.Max(1, Math.Abs(e)));
            }
        TestContext.Out.WriteLine($"max relative error vs naive product: {worst:E2}");
        Assert.That(worst, Is.LessThanOrEqualTo(1e-5));
    }

    static ValueInfoProto Value(string name, TensorProto.Types.DataType type, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    static TensorProto Raw(string name, TensorProto.Types.DataType type, byte[] bytes, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        return t;
    }
}

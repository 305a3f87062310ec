using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// The machine's practical ceiling: one large fp32 MatMul Y[M,N] = A[M,K] · B[K,N] in ONNX Runtime, with B an
/// initializer (so ORT prepacks it, as it does the model's weights) and A, Y bound once through IOBinding.
/// </summary>
sealed class MatMulReference : IDisposable
{
    readonly InferenceSession _session;
    readonly OrtValue _a, _y;
    readonly OrtIoBinding _binding;
    readonly RunOptions _run = new();

    public MatMulReference(int m, int k, int n, SessionOptions options, ulong seed)
    {
        M = m; K = k; N = n;
        var rng = new SplitMix64(seed);
        var b = new float[(long)k * n];
        for (long i = 0; i < b.LongLength; i++) b[i] = 0.02f * rng.NextSigned();
        var graph = new GraphProto { Name = "matmul" };
        var init = new TensorProto { Name = "B", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(b.AsSpan())) };
        init.Dims.AddRange([k, n]);
        graph.Initializer.Add(init);
        graph.Input.Add(ValueInfo("A", m, k));
        graph.Output.Add(ValueInfo("Y", m, n));
        var node = new NodeProto { OpType = "MatMul", Name = "matmul" };
        node.Input.AddRange(["A", "B"]);
        node.Output.Add("Y");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 10, ProducerName = "OnnxInterp.Benchmarks", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 21 });
        _session = new InferenceSession(model.ToByteArray(), options);

        var a = new float[(long)m * k];
        for (long i = 0; i < a.LongLength; i++) a[i] = rng.NextSigned();
        _a = OrtValue.CreateTensorValueFromMemory(a, [m, k]);
        _y = OrtValue.CreateTensorValueFromMemory(new float[(long)m * n], [m, n]);
        _binding = _session.CreateIoBinding();
        _binding.BindInput("A", _a);
        _binding.BindOutput("Y", _y);
    }

    public int M { get; }
    public int K { get; }
    public int N { get; }
    public double Flops => 2.0 * M * K * N;

    /// <summary>One MatMul, in milliseconds.</summary>
    public double RunMs()
    {
        var sw = Stopwatch.StartNew();
        _session.RunWithBinding(_run, _binding);
        return sw.Elapsed.TotalMilliseconds;
    }

    static ValueInfoProto ValueInfo(string name, long d0, long d1)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d0 });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d1 });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    public void Dispose()
    {
        _binding.Dispose();
        _a.Dispose();
        _y.Dispose();
        _run.Dispose();
        _session.Dispose();
    }
}

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// One run through an <see cref="OrtIoBinding"/>: inputs and outputs bound before the run, outputs written by ONNX
/// Runtime straight into managed arrays of their known shape (which results then wrap without a copy) or left in ORT's
/// memory on the session's device. Owns what it created; disposing it releases the OrtValues (never the arrays).
/// </summary>
sealed class BoundRun : IDisposable
{
    readonly InferenceSession _session;
    readonly OrtIoBinding _binding;
    readonly OrtMemoryInfo _device;
    readonly bool _fp16, _synchronize;
    readonly List<IDisposable> _owned = [];
    int _outputs;
    IDisposableReadOnlyCollection<OrtValue>? _allocated;

    public BoundRun(InferenceSession session, OrtMemoryInfo device, bool fp16, bool synchronize)
    {
        _session = session;
        _device = device;
        _fp16 = fp16;
        _synchronize = synchronize;
        _binding = session.CreateIoBinding();
    }

    /// <summary>Binds an input this run owns (disposed with it).</summary>
    public void Input(string name, OrtValue value)
    {
        _owned.Add(value);
        _binding.BindInput(name, value);
    }

    /// <summary>Binds an input someone else owns (a device cache, a shared empty past).</summary>
    public void Shared(string name, OrtValue value) => _binding.BindInput(name, value);

    public void Input(string name, long[] data, long[] shape) => Input(name, OrtValue.CreateTensorValueFromMemory(data, shape));

    /// <summary>
    /// Binds an output to a new managed array of <paramref name="shape"/> (or to <paramref name="into"/> when it has that
    /// many elements: a caller's buffer reused across runs). fp16 tensors of an fp16 export (read as fp32)
    /// are left to ORT's host allocator and converted after the run, unless <paramref name="float32"/> says the graph
    /// writes fp32 (logits are always fp32).
    /// </summary>
    public Output Host(string name, int[] shape, bool float32 = false, float[]? into = null)
    {
        if (_fp16 && !float32) return Bind(name, OrtMemoryInfo.DefaultInstance);
        long n = 1;
        foreach (var d in shape) n *= d;
        // Uninitialised: ORT writes every element, and zeroing a large logits array costs about as much as copying it.
        var data = into is not null && into.Length == n ? into : GC.AllocateUninitializedArray<float>(checked((int)n));
        var value = OrtValue.CreateTensorValueFromMemory(data, shape.Select(d => (long)d).ToArray());
        _owned.Add(value);
        _binding.BindOutput(name, value);
        return new Output(data, shape, _outputs++);
    }

    /// <summary>Binds an output to the session's device memory (CUDA memory under the CUDA provider; host memory on CPU).</summary>
    public Output Device(string name) => Bind(name, _device);

    Output Bind(string name, OrtMemoryInfo memory)
    {
        _binding.BindOutputToDevice(name, memory);
        return new Output(null, null, _outputs++);
    }

    /// <summary>Runs; every ORT failure becomes a typed error naming <paramref name="file"/> (cancellation: OperationCanceledException).</summary>
    public void Run(string file, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        using var runOptions = new RunOptions();
        using var registration = cancellation.Register(() => runOptions.Terminate = true);
        try
        {
            _session.RunWithBinding(runOptions, _binding);
            if (_synchronize) _binding.SynchronizeBoundOutputs();
        }
        catch (OnnxRuntimeException) when (cancellation.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellation);
        }
        catch (OnnxRuntimeException e)
        {
            // Inputs were checked before: a graph that loads but cannot run is a broken file.
            throw new InvalidFileException($"ONNX Runtime could not run the graph: {e.Message}", file, inner: e);
        }
    }

    /// <summary>The output as a host tensor: the bound array itself, or a converted copy of what ORT allocated.</summary>
    public FloatTensor ToHost(Output o) => o.Data is { } data ? new FloatTensor(data, o.Shape!) : Convert(Allocated(o.Index));

    /// <summary>Takes an output ORT allocated out of this run: the caller owns (and disposes) it.</summary>
    public OrtValue Take(Output o)
    {
        if (o.Data is not null) throw new InvalidOperationException("a host-bound output is not an ORT allocation");
        var all = AllocatedValues();
        var v = all[o.Index];
        _taken.Add(o.Index);
        return v;
    }

    readonly HashSet<int> _taken = [];

    OrtValue Allocated(int index) => AllocatedValues()[index];

    IReadOnlyList<OrtValue> AllocatedValues() => (_allocated ??= _binding.GetOutputValues()).ToList();

    /// <summary>Copies an ORT tensor (fp32 or fp16, host memory) into a new fp32 tensor.</summary>
    internal static FloatTensor Convert(OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        int[] shape = info.Shape.Select(d => checked((int)d)).ToArray();
        var data = GC.AllocateUninitializedArray<float>(checked((int)info.ElementCount));
        if (info.ElementDataType == TensorElementType.Float16)
        {
            var src = v.GetTensorDataAsSpan<Float16>();
            for (int i = 0; i < data.Length; i++) data[i] = (float)src[i];
        }
        else
        {
            v.GetTensorDataAsSpan<float>().CopyTo(data);
        }
        return new FloatTensor(data, shape);
    }

    public void Dispose()
    {
        if (_allocated is { } all)
        {
            int i = 0;
            foreach (var v in all) if (!_taken.Contains(i++)) v.Dispose();
        }
        foreach (var v in _owned) v.Dispose();
        _binding.Dispose();
    }

    /// <summary>An output bound before the run: a host array ORT writes into, or the index of a value ORT allocates.</summary>
    public readonly record struct Output(float[]? Data, int[]? Shape, int Index);
}

using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// A tensor left in ONNX Runtime's memory by a run with <see cref="ForwardRequest.DeviceOutputs"/>: GPU memory when the
/// session runs on CUDA, ORT's host allocator on CPU (the same code path). Nothing is copied until <see cref="ToHost"/>.
/// It can be fed back to the session that made it (a <see cref="DeviceKvCache"/> as the next step's past). Dispose it
/// to free the memory; <see cref="ForwardResult.Dispose"/> disposes those of a result.
/// </summary>
public sealed class DeviceTensor : IDisposable
{
    readonly int[]? _rows;
    OrtValue? _value;

    internal DeviceTensor(ModelSession owner, OrtValue value, int[]? rows = null)
    {
        Owner = owner;
        _value = value;
        _rows = rows;
        var info = value.GetTensorTypeAndShape();
        Shape = info.Shape.Select(d => checked((int)d)).ToArray();
        IsHalf = info.ElementDataType == TensorElementType.Float16;
    }

    /// <summary>The session whose run made it.</summary>
    public ModelSession Owner { get; }

    /// <summary>The shape in device memory (for a hook captured at some positions: every position; <see cref="ToHost"/> keeps those).</summary>
    public int[] Shape { get; }

    /// <summary>True for an fp16 export's tensors (converted to fp32 by <see cref="ToHost"/>).</summary>
    public bool IsHalf { get; }

    /// <summary>True when the tensor lives in GPU memory.</summary>
    public bool OnDevice => Owner.OnCuda;

    internal OrtValue Value => _value ?? throw new ObjectDisposedException(nameof(DeviceTensor));

    /// <summary>Copies the tensor to the host as fp32 (for a captured hook, only the positions the request kept).</summary>
    public FloatTensor ToHost()
    {
        var value = Value;
        FloatTensor full;
        if (!OnDevice)
        {
            full = BoundRun.Convert(value);
        }
        else
        {
            // Device to host through ORT's data transfer, into ORT host memory of the same type, then converted.
            var type = IsHalf ? TensorElementType.Float16 : TensorElementType.Float;
            using var host = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, Shape.Select(d => (long)d).ToArray());
            try { OrtEnv.Instance().CopyTensors([value], [host], null); }
            catch (OnnxRuntimeException e) { throw new ExecutionProviderException("copying a tensor from the GPU failed: " + e.Message, e); }
            full = BoundRun.Convert(host);
        }
        return _rows is null ? full : ModelSession.SliceRows(full, _rows);
    }

    public void Dispose()
    {
        _value?.Dispose();
        _value = null;
    }
}

/// <summary>Per-layer keys and values, each [B, kvHeads, T, headDim], in ORT memory of the session that made them.</summary>
public sealed class DeviceKvCache : IDisposable
{
    internal DeviceKvCache(ModelSession owner, IReadOnlyList<DeviceTensor> keys, IReadOnlyList<DeviceTensor> values)
    {
        Owner = owner;
        Keys = keys;
        Values = values;
    }

    public ModelSession Owner { get; }
    public IReadOnlyList<DeviceTensor> Keys { get; }
    public IReadOnlyList<DeviceTensor> Values { get; }
    public int Length => Keys.Count == 0 ? 0 : Keys[0].Shape[2];
    public int Batch => Keys.Count == 0 ? 0 : Keys[0].Shape[0];

    /// <summary>Copies the cache to the host.</summary>
    public KvCache ToHost() => new(Keys.Select(k => k.ToHost()).ToList(), Values.Select(v => v.ToHost()).ToList());

    public void Dispose()
    {
        foreach (var k in Keys) k.Dispose();
        foreach (var v in Values) v.Dispose();
    }
}

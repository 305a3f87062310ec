namespace OnnxInterp;

/// <summary>
/// A dense row-major fp32 tensor: the currency between the session layer and the analyses (which never see
/// ONNX Runtime types). It owns its array; spans it hands out stay valid as long as the tensor is referenced.
/// </summary>
public sealed class FloatTensor
{
    public FloatTensor(float[] data, params int[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"negative dimension in [{string.Join(",", shape)}]");
            n *= d;
        }
        if (n != data.Length) throw new ArgumentException($"shape [{string.Join(",", shape)}] holds {n} elements, data has {data.Length}", nameof(data));
        Data = data;
        Shape = shape;
    }

    public static FloatTensor Zeros(params int[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return new FloatTensor(new float[checked((int)n)], shape);
    }

    public float[] Data { get; }
    public int[] Shape { get; }
    public int Rank => Shape.Length;
    public int Length => Data.Length;

    /// <summary>The contiguous last-axis vector at the given leading indices, e.g. [b, s] of a [B, S, D] tensor.</summary>
    public Span<float> Vector(params int[] leading)
    {
        if (leading.Length != Shape.Length - 1) throw new ArgumentException($"expected {Shape.Length - 1} indices", nameof(leading));
        int offset = 0;
        for (int i = 0; i < leading.Length; i++)
        {
            if ((uint)leading[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {leading[i]} outside dimension {i} of size {Shape[i]}");
            offset = offset * Shape[i] + leading[i];
        }
        int last = Shape[^1];
        return Data.AsSpan(offset * last, last);
    }

    public float this[params int[] index]
    {
        get => Data[Offset(index)];
        set => Data[Offset(index)] = value;
    }

    int Offset(int[] index)
    {
        if (index.Length != Shape.Length) throw new ArgumentException($"expected {Shape.Length} indices", nameof(index));
        int offset = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new IndexOutOfRangeException($"index {index[i]} outside dimension {i} of size {Shape[i]}");
            offset = offset * Shape[i] + index[i];
        }
        return offset;
    }

    public override string ToString() => $"FloatTensor[{string.Join(",", Shape)}]";
}

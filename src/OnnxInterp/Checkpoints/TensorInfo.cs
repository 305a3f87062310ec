namespace OnnxInterp.Checkpoints;

/// <summary>Where one tensor lives in a safetensors file: offsets are relative to the start of the data section.</summary>
public sealed record TensorInfo(string Name, TensorDType DType, long[] Shape, long DataBegin, long DataEnd)
{
    public long ByteLength => DataEnd - DataBegin;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

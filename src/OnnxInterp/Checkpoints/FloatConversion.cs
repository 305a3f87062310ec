using System.Runtime.InteropServices;
using System.Numerics.Tensors;

namespace OnnxInterp.Checkpoints;

/// <summary>Span kernels that turn raw checkpoint bytes into fp32 (and fp32 into fp16/bf16). They allocate nothing.</summary>
public static class FloatConversion
{
    /// <summary>Converts <paramref name="source"/> (little-endian elements of <paramref name="dtype"/>) into <paramref name="destination"/>.</summary>
    public static void ToFloat32(ReadOnlySpan<byte> source, TensorDType dtype, Span<float> destination)
    {
        int n = source.Length / dtype.Size();
        if (destination.Length < n)
            throw new ArgumentException($"destination holds {destination.Length} elements, {n} needed", nameof(destination));
        switch (dtype)
        {
            case TensorDType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case TensorDType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination[..n]);
                break;
            case TensorDType.BF16:
                {
                    var src = MemoryMarshal.Cast<byte, ushort>(source);
                    var dst = MemoryMarshal.Cast<float, uint>(destination);
                    for (int i = 0; i < n; i++) dst[i] = (uint)src[i] << 16;
                    break;
                }
            case TensorDType.F64:
                {
                    var src = MemoryMarshal.Cast<byte, double>(source);
                    for (int i = 0; i < n; i++) destination[i] = (float)src[i];
                    break;
                }
            default:
                throw new ArgumentException($"dtype {dtype} is not a floating type", nameof(dtype));
        }
    }

    /// <summary>fp32 to IEEE half, round to nearest even.</summary>
    public static void ToFloat16(ReadOnlySpan<float> source, Span<Half> destination) =>
        TensorPrimitives.ConvertToHalf(source, destination);

    /// <summary>fp32 to bfloat16, round to nearest even; NaN stays NaN.</summary>
    public static void ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        var bits = MemoryMarshal.Cast<float, uint>(source);
        for (int i = 0; i < bits.Length; i++)
        {
            uint b = bits[i];
            if ((b & 0x7FFFFFFF) > 0x7F800000) { destination[i] = (ushort)((b >> 16) | 0x40); continue; }
            uint rounding = 0x7FFF + ((b >> 16) & 1);
            destination[i] = (ushort)((b + rounding) >> 16);
        }
    }
}

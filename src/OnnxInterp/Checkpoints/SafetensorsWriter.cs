using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints;

/// <summary>One tensor to write: its bytes come from <see cref="WriteData"/>, which must write exactly the declared length.</summary>
public sealed record SafetensorsEntry(string Name, TensorDType DType, long[] Shape, Action<Stream> WriteData)
{
    public long ByteLength
    {
        get
        {
            long n = DType.Size();
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>An fp32 array stored as <paramref name="dtype"/> (F32, F16 or BF16).</summary>
    public static SafetensorsEntry FromFloat32(string name, long[] shape, float[] data, TensorDType dtype = TensorDType.F32)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        if (count != data.Length) Throw.Argument($"shape {string.Join("x", shape)} holds {count} elements, data has {data.Length}", name, data.Length);
        return new SafetensorsEntry(name, dtype, shape, s => WriteFloat32As(s, data, dtype));
    }

    /// <summary>Raw bytes already in <paramref name="dtype"/>.</summary>
    public static SafetensorsEntry FromBytes(string name, TensorDType dtype, long[] shape, ReadOnlyMemory<byte> data) =>
        new(name, dtype, shape, s => s.Write(data.Span));

    static void WriteFloat32As(Stream s, float[] data, TensorDType dtype)
    {
        const int chunk = 1 << 16;
        for (int i = 0; i < data.Length; i += chunk)
        {
            var src = data.AsSpan(i, Math.Min(chunk, data.Length - i));
            switch (dtype)
            {
                case TensorDType.F32:
                    s.Write(MemoryMarshal.AsBytes(src));
                    break;
                case TensorDType.F16:
                    {
                        var tmp = new Half[src.Length];
                        FloatConversion.ToFloat16(src, tmp);
                        s.Write(MemoryMarshal.AsBytes(tmp.AsSpan()));
                        break;
                    }
                case TensorDType.BF16:
                    {
                        var tmp = new ushort[src.Length];
                        FloatConversion.ToBFloat16(src, tmp);
                        s.Write(MemoryMarshal.AsBytes(tmp.AsSpan()));
                        break;
                    }
                default:
                    Throw.Argument("fp32 data can be stored as F32, F16 or BF16 only", "dtype", dtype);
                    break;
            }
        }
    }
}

/// <summary>Writes safetensors files atomically: the data goes to a temporary file beside the target, which is then renamed.</summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<SafetensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            if (e.Name == "__metadata__" || !names.Add(e.Name)) Throw.Argument("tensor names must be unique and not __metadata__", "name", e.Name);
            foreach (var d in e.Shape) if (d < 0) Throw.Argument("negative dimension", e.Name, string.Join(",", e.Shape));
        }

        var header = BuildHeader(entries.Select(e => (e.Name, e.DType, e.Shape)).ToList(), metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            foreach (var e in entries)
            {
                long before = stream.Position;
                e.WriteData(stream);
                long written = stream.Position - before;
                if (written != e.ByteLength)
                    Throw.Argument($"tensor data callback wrote {written} bytes, {e.ByteLength} declared", e.Name, written);
            }
        });
    }

    /// <summary>
    /// The JSON header for tensors laid out back to back in the given order, padded with spaces so the data section
    /// starts 8-byte aligned, as the reference writer does. Shared by every writer of safetensors files.
    /// </summary>
    internal static byte[] BuildHeader(IReadOnlyList<(string Name, TensorDType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, dtype, shape) in tensors)
            {
                long bytes = dtype.Size();
                foreach (var d in shape) bytes *= d;
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype.ToSafetensorsName());
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + bytes);
                w.WriteEndArray();
                w.WriteEndObject();
                offset += bytes;
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }
}

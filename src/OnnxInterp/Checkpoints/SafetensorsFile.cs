using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints;

/// <summary>
/// One .safetensors file, validated on open. Tensor data is read on demand: <see cref="GetSpan"/> views the
/// file through a read-only memory map (valid until this object is disposed), <see cref="CopyTo"/> reads
/// with positioned I/O and keeps nothing resident, which is what streaming export uses.
/// This object owns the file handle and the map and releases both on <see cref="Dispose"/>.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    /// <summary>The header may not exceed this (the safetensors reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly SafeFileHandle _handle;
    readonly Dictionary<string, TensorInfo> _tensors;
    MemoryMappedFile? _map;
    MemoryMappedViewAccessor? _view;
    byte* _base;
    bool _disposed;

    SafetensorsFile(string path, SafeFileHandle handle, long fileLength, long dataStart,
        Dictionary<string, TensorInfo> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        FileLength = fileLength;
        DataStart = dataStart;
        _tensors = tensors;
        Metadata = metadata;
        Tensors = tensors.Values.OrderBy(t => t.DataBegin).ToArray();
    }

    public string Path { get; }
    public long FileLength { get; }

    /// <summary>Absolute file offset of the data section (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>All tensors, in file order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The optional "__metadata__" string map.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo this[string name] =>
        _tensors.TryGetValue(name, out var t) ? t
        : throw new ModelMismatchException("tensor not found", Path, name);

    public bool TryGet(string name, out TensorInfo info) => _tensors.TryGetValue(name, out info!);

    /// <summary>Opens and validates a file: header bounds, JSON shape, dtypes, and that offsets tile the data section exactly.</summary>
    public static SafetensorsFile Open(string path)
    {
        var handle = UntrustedFile.OpenRead(path, "safetensors");
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8) Throw.InvalidFile("file too short for a safetensors header", path, "header_length", length);
            Span<byte> lenBytes = stackalloc byte[8];
            UntrustedFile.ReadExactly(handle, lenBytes, 0, path);
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLen > MaxHeaderBytes)
                Throw.InvalidFile($"header length exceeds the {MaxHeaderBytes}-byte limit", path, "header_length", headerLen);
            if ((long)headerLen > length - 8)
                Throw.InvalidFile($"header length runs past the end of the {length}-byte file", path, "header_length", headerLen);
            var header = new byte[(int)headerLen];
            UntrustedFile.ReadExactly(handle, header, 8, path);
            long dataStart = 8 + (long)headerLen;
            var (tensors, metadata) = ParseHeader(header, length - dataStart, path);
            return new SafetensorsFile(path, handle, length, dataStart, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    static (Dictionary<string, TensorInfo>, IReadOnlyDictionary<string, string>) ParseHeader(byte[] header, long dataLength, string path)
    {
        // Found by the fuzz test: JSON strings with invalid UTF-8 parse but throw on GetString().
        if (!System.Text.Unicode.Utf8.IsValid(header)) Throw.InvalidFile("header is not valid UTF-8", path, "header");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            return Throw.InvalidFile<(Dictionary<string, TensorInfo>, IReadOnlyDictionary<string, string>)>(
                $"header is not valid JSON: {e.Message}", path, "header", null, e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                Throw.InvalidFile("header is not a JSON object", path, "header", doc.RootElement.ValueKind);
            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        Throw.InvalidFile("__metadata__ is not an object", path, "__metadata__", prop.Value.ValueKind);
                    foreach (var m in prop.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String)
                            Throw.InvalidFile("__metadata__ values must be strings", path, "__metadata__." + m.Name, m.Value.ValueKind);
                        metadata[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                if (tensors.ContainsKey(prop.Name)) Throw.InvalidFile("duplicate tensor name", path, prop.Name);
                tensors[prop.Name] = ParseEntry(prop.Name, prop.Value, path);
            }

            // Offsets must tile [0, dataLength) with neither holes nor overlaps, as the reference implementation requires.
            long cursor = 0;
            foreach (var t in tensors.Values.OrderBy(t => t.DataBegin).ThenBy(t => t.DataEnd))
            {
                if (t.DataBegin != cursor)
                    Throw.InvalidFile(t.DataBegin < cursor ? "tensor data overlaps the previous tensor" : "gap before tensor data",
                        path, t.Name + ".data_offsets", $"[{t.DataBegin},{t.DataEnd}] expected start {cursor}");
                cursor = t.DataEnd;
            }
            if (cursor != dataLength)
                Throw.InvalidFile(cursor > dataLength ? "tensor data runs past the end of the file" : "trailing bytes after the last tensor",
                    path, "data_offsets", $"data ends at {cursor}, file holds {dataLength}");
            return (tensors, metadata);
        }
    }

    static bool TryNonNegative(JsonElement e, out long v)
    {
        v = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out v) && v >= 0;
    }

    static TensorInfo ParseEntry(string name, JsonElement e, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) Throw.InvalidFile("tensor entry is not an object", path, name, e.ValueKind);
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            Throw.InvalidFile("tensor entry lacks a string dtype", path, name + ".dtype");
        if (!TensorDTypes.TryParseSafetensorsName(dt.GetString()!, out var dtype))
            Throw.InvalidFile("unknown dtype", path, name + ".dtype", dt.GetString());
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            Throw.InvalidFile("tensor entry lacks a shape array", path, name + ".shape");
        if (sh.GetArrayLength() > 8) Throw.InvalidFile("tensor rank above 8", path, name + ".shape", sh.GetArrayLength());
        var shape = new long[sh.GetArrayLength()];
        long elements = 1;
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (!TryNonNegative(d, out long v))
                Throw.InvalidFile("shape entries must be non-negative integers", path, name + ".shape", d.GetRawText());
            shape[i++] = v;
            if (v != 0 && elements > long.MaxValue / 16 / v)
                Throw.InvalidFile("shape overflows", path, name + ".shape", sh.GetRawText());
            elements *= v;
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            Throw.InvalidFile("tensor entry lacks data_offsets [begin, end]", path, name + ".data_offsets");
        long begin = 0, end = 0;
        int k = 0;
        foreach (var o in off.EnumerateArray())
        {
            if (!TryNonNegative(o, out long v))
                Throw.InvalidFile("data_offsets must be non-negative integers", path, name + ".data_offsets", off.GetRawText());
            if (k++ == 0) begin = v; else end = v;
        }
        if (end < begin) Throw.InvalidFile("data_offsets end before begin", path, name + ".data_offsets", off.GetRawText());
        long expected = elements * dtype.Size();
        if (end - begin != expected)
            Throw.InvalidFile($"data_offsets span {end - begin} bytes but dtype {dtype} and shape {sh.GetRawText()} need {expected}",
                path, name + ".data_offsets", off.GetRawText());
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>
    /// A view of a tensor's bytes through the memory map. Valid until <see cref="Dispose"/>; the tensor must be under 2 GiB
    /// (use <see cref="CopyTo"/> in chunks for larger ones).
    /// </summary>
    public ReadOnlySpan<byte> GetSpan(TensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (tensor.ByteLength > int.MaxValue)
            Throw.Argument("tensor too large for one span; read it in chunks with CopyTo", tensor.Name, tensor.ByteLength);
        EnsureMapped();
        return new ReadOnlySpan<byte>(_base + DataStart + tensor.DataBegin, (int)tensor.ByteLength);
    }

    /// <summary>Reads bytes [offset, offset + destination.Length) of a tensor's data with positioned I/O.</summary>
    public void CopyTo(TensorInfo tensor, long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (offset < 0 || offset + destination.Length > tensor.ByteLength)
            Throw.Argument("range outside the tensor", tensor.Name, $"{offset}+{destination.Length} of {tensor.ByteLength}");
        UntrustedFile.ReadExactly(_handle, destination, DataStart + tensor.DataBegin + offset, Path);
    }

    /// <summary>Reads a whole floating tensor as fp32.</summary>
    public float[] ReadFloat32(string name)
    {
        var t = this[name];
        if (!t.DType.IsFloating()) Throw.Mismatch("tensor is not floating point", Path, name, t.DType);
        var result = new float[checked((int)t.ElementCount)];
        ReadFloat32(t, 0, result);
        return result;
    }

    /// <summary>Reads elements [firstElement, firstElement + destination.Length) of a floating tensor as fp32, in bounded chunks.</summary>
    public void ReadFloat32(TensorInfo t, long firstElement, Span<float> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (firstElement < 0 || (firstElement + destination.Length) * t.DType.Size() > t.ByteLength)
            Throw.Argument("range outside the tensor", t.Name, $"{firstElement}+{destination.Length} of {t.ElementCount}");
        UntrustedFile.ReadFloat32(_handle, Path, t.DType, DataStart + t.DataBegin + firstElement * t.DType.Size(), destination);
    }

    void EnsureMapped()
    {
        if (_view is not null) return;
        _map = MemoryMappedFile.CreateFromFile(_handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map!.Dispose();
        }
        _handle.Dispose();
    }
}

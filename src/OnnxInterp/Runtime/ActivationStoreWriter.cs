using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// Streams captured activations to disk batch by batch with flat memory: every tensor's full size ([rows, positions, dim])
/// is declared up front, the file(s) are laid out and preallocated at <see cref="Create"/>, and each
/// <see cref="Append"/> writes its rows straight to their final offsets with positioned writes (nothing is buffered
/// beyond a fixed 128 KiB conversion buffer for F16).
/// <para>
/// Everything is written to a temporary sibling (a hidden <c>.name.PID-GUID.tmp</c> file, or a <c>.name.PID-GUID.partial</c>
/// folder for <see cref="ActivationStoreFormat.Npy"/>) and moved into place by <see cref="Complete"/> (a folder by an
/// atomic exchange, see <c>AtomicFile.SwapDirectory</c>). Disposing without completing deletes the temporary data, so an
/// interrupted capture leaves nothing half-written and any previous store at the path untouched; a process killed
/// mid-capture leaves its hidden sibling, which the next <see cref="Create"/> for the same path removes. Not thread-safe:
/// append from one thread.
/// </para>
/// </summary>
public sealed class ActivationStoreWriter : IDisposable
{
    const int ConvertChunk = 1 << 16;
    const int WriteChunk = 1 << 26;

    sealed class Slot(ActivationStoreTensor tensor, SafeFileHandle handle, long dataOffset)
    {
        public ActivationStoreTensor Tensor { get; } = tensor;
        public SafeFileHandle Handle { get; } = handle;

        /// <summary>Absolute file offset of row 0.</summary>
        public long DataOffset { get; } = dataOffset;

        public long RowElements => (long)Tensor.Positions * Tensor.Dim;
    }

    readonly string _finalPath;
    readonly string _tempPath;
    readonly Slot[] _slots;
    readonly Dictionary<string, Slot> _byName;
    readonly IReadOnlyDictionary<string, string>? _metadata;
    Half[]? _halfBuffer;
    bool _completed;
    bool _disposed;

    ActivationStoreWriter(string finalPath, string tempPath, ActivationStoreFormat format, long rows, ActivationStoreDType dtype,
        Slot[] slots, IReadOnlyDictionary<string, string>? metadata)
    {
        _finalPath = finalPath;
        _tempPath = tempPath;
        Format = format;
        Rows = rows;
        DType = dtype;
        _slots = slots;
        _byName = slots.ToDictionary(s => s.Tensor.Name, StringComparer.Ordinal);
        _metadata = metadata;
    }

    /// <summary>The full path the store will have after <see cref="Complete"/>.</summary>
    public string Path => _finalPath;

    public ActivationStoreFormat Format { get; }
    public ActivationStoreDType DType { get; }

    /// <summary>Rows declared at creation; <see cref="Complete"/> requires exactly this many.</summary>
    public long Rows { get; }

    public long RowsWritten { get; private set; }

    public IReadOnlyList<ActivationStoreTensor> Tensors => _slots.Select(s => s.Tensor).ToArray();

    /// <summary>
    /// Lays out a store of <paramref name="rows"/> rows for the given tensors (each [rows, Positions, Dim]) in a temporary
    /// sibling of <paramref name="path"/>. For <see cref="ActivationStoreFormat.Safetensors"/> <paramref name="path"/> is the
    /// file; for <see cref="ActivationStoreFormat.Npy"/> it is the folder that will hold one <c>&lt;name&gt;.npy</c> per tensor.
    /// </summary>
    public static ActivationStoreWriter Create(string path, ActivationStoreFormat format, int rows,
        IReadOnlyList<(string Name, int Positions, int Dim)> tensors, IReadOnlyDictionary<string, string>? metadata = null,
        ActivationStoreDType dtype = ActivationStoreDType.F32)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        if (path.Length == 0) Throw.Argument("path is empty", "path", path);
        if (rows < 0) Throw.Argument("rows must be non-negative", "rows", rows);
        if (tensors.Count == 0) Throw.Argument("a store needs at least one tensor", "tensors", 0);
        if (!Enum.IsDefined(format)) Throw.Argument("unknown format", "format", format);
        if (!Enum.IsDefined(dtype)) Throw.Argument("unknown dtype", "dtype", dtype);
        int elementSize = dtype == ActivationStoreDType.F16 ? 2 : 4;

        var names = new HashSet<string>(format == ActivationStoreFormat.Npy ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);
        var infos = new ActivationStoreTensor[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, positions, dim) = tensors[i];
            if (string.IsNullOrEmpty(name)) Throw.Argument("tensor names must be non-empty", "name", name);
            if (!names.Add(name))
                Throw.Argument(format == ActivationStoreFormat.Npy ? "tensor names must be unique (ignoring case, as they become file names)" : "tensor names must be unique",
                    name, name);
            if (format == ActivationStoreFormat.Safetensors && name == "__metadata__") Throw.Argument("__metadata__ is reserved", name, name);
            if (format == ActivationStoreFormat.Npy) ValidateFileName(name);
            if (positions < 1) Throw.Argument("positions must be at least 1", name, positions);
            if (dim < 1) Throw.Argument("dim must be at least 1", name, dim);
            infos[i] = new ActivationStoreTensor(name, rows, positions, dim, dtype);
            // rows, positions and dim are ints, so rows*positions*dim*4 fits a long; check it stays addressable per row.
            if ((long)positions * dim > int.MaxValue / elementSize) Throw.Argument("one row of this tensor exceeds 2 GiB", name, $"{positions}x{dim}");
        }

        var full = System.IO.Path.GetFullPath(path).TrimEnd(System.IO.Path.DirectorySeparatorChar);
        var parent = System.IO.Path.GetDirectoryName(full);
        var leaf = System.IO.Path.GetFileName(full);
        if (parent is null || leaf.Length == 0) Throw.Argument("path must name a file or folder inside a folder", "path", path);
        var meta = metadata is null ? null : new Dictionary<string, string>(metadata, StringComparer.Ordinal);
        var td = dtype == ActivationStoreDType.F16 ? TensorDType.F16 : TensorDType.F32;

        var slots = new List<Slot>();
        string temp;
        if (format == ActivationStoreFormat.Safetensors)
        {
            if (Directory.Exists(full)) Throw.Argument("a folder exists at the safetensors path", "path", full);
            Directory.CreateDirectory(parent);
            AtomicFile.CleanStale(full);
            temp = AtomicFile.TempSibling(full, "tmp");
            try
            {
                var header = SafetensorsWriter.BuildHeader(infos.Select(t => (t.Name, td, new long[] { t.Rows, t.Positions, t.Dim })).ToList(), meta);
                long dataStart = 8 + header.Length;
                long total = dataStart;
                foreach (var t in infos) total += t.Rows * t.Positions * t.Dim * elementSize;
                var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.None, total);
                slots.Add(new Slot(infos[0], handle, dataStart));
                long offset = dataStart;
                for (int i = 0; i < infos.Length; i++)
                {
                    if (i > 0) slots.Add(new Slot(infos[i], handle, offset));
                    offset += infos[i].Rows * infos[i].Positions * infos[i].Dim * elementSize;
                }
                RandomAccess.SetLength(handle, total);
                var prefix = new byte[dataStart];
                BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
                header.CopyTo(prefix, 8);
                RandomAccess.Write(handle, prefix, 0);
            }
            catch
            {
                Release(slots);
                TryDeleteFile(temp);
                throw;
            }
        }
        else
        {
            if (File.Exists(full)) Throw.Argument("a file exists at the npy folder path", "path", full);
            Directory.CreateDirectory(parent);
            AtomicFile.CleanStale(full);
            temp = AtomicFile.TempSibling(full, "partial");
            Directory.CreateDirectory(temp);
            try
            {
                foreach (var t in infos)
                {
                    var header = NpyFile.EncodeHeader(td, [t.Rows, t.Positions, t.Dim]);
                    long total = header.Length + t.Rows * t.Positions * t.Dim * elementSize;
                    var handle = File.OpenHandle(System.IO.Path.Combine(temp, t.Name + ".npy"), FileMode.CreateNew, FileAccess.ReadWrite,
                        FileShare.None, FileOptions.None, total);
                    slots.Add(new Slot(t, handle, header.Length));
                    RandomAccess.SetLength(handle, total);
                    RandomAccess.Write(handle, header, 0);
                }
            }
            catch
            {
                Release(slots);
                TryDeleteDirectory(temp);
                throw;
            }
        }
        return new ActivationStoreWriter(full, temp, format, rows, dtype, slots.ToArray(), meta);
    }

    static void ValidateFileName(string name)
    {
        if (name.Contains('/') || name.Contains('\\') || name.Contains("..") || name == "." || name.Contains('\0'))
            Throw.Argument("npy tensor names become file names: '/', '\\', '..' and NUL are not allowed", name, name);
        if (name.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) >= 0)
            Throw.Argument("tensor name holds a character not allowed in file names", name, name);
    }

    /// <summary>
    /// Writes the next b rows: every declared tensor must be present, shaped [b, Positions, Dim] with the same b.
    /// The whole batch is validated before anything is written.
    /// </summary>
    public void Append(IReadOnlyDictionary<string, FloatTensor> batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(batch);
        if (_completed) throw new InvalidOperationException("the store is already complete");

        foreach (var (name, tensor) in batch)
            if (!_byName.ContainsKey(name))
                Throw.Argument("batch holds a tensor the store does not declare", name, tensor is null ? "null" : ShapeText(tensor.Shape));
        int b = -1;
        string? first = null;
        foreach (var slot in _slots)
        {
            var t = slot.Tensor;
            if (!batch.TryGetValue(t.Name, out var tensor) || tensor is null)
                Throw.Argument("batch lacks a declared tensor", t.Name, null);
            var shape = tensor.Shape;
            if (shape.Length != 3 || shape[1] != t.Positions || shape[2] != t.Dim)
                Throw.Argument($"tensor must be [b,{t.Positions},{t.Dim}]", t.Name, ShapeText(shape));
            if (b < 0)
            {
                b = shape[0];
                first = t.Name;
            }
            else if (shape[0] != b)
            {
                Throw.Argument($"batch sizes disagree: '{first}' has {b} rows", t.Name, ShapeText(shape));
            }
        }
        if (RowsWritten + b > Rows)
            Throw.Argument($"batch of {b} rows after {RowsWritten} written exceeds the {Rows} rows declared", "rows", RowsWritten + b);

        foreach (var slot in _slots)
        {
            var data = batch[slot.Tensor.Name].Data;
            long offset = slot.DataOffset + RowsWritten * slot.RowElements * ElementSize;
            if (DType == ActivationStoreDType.F32)
            {
                // Chunked so a span of bytes never exceeds int.MaxValue, however large the batch.
                for (int i = 0; i < data.Length; i += WriteChunk)
                {
                    int n = Math.Min(WriteChunk, data.Length - i);
                    RandomAccess.Write(slot.Handle, MemoryMarshal.AsBytes(data.AsSpan(i, n)), offset + (long)i * 4);
                }
                continue;
            }
            _halfBuffer ??= new Half[ConvertChunk];
            for (int i = 0; i < data.Length; i += ConvertChunk)
            {
                int n = Math.Min(ConvertChunk, data.Length - i);
                var half = _halfBuffer.AsSpan(0, n);
                FloatConversion.ToFloat16(data.AsSpan(i, n), half);
                RandomAccess.Write(slot.Handle, MemoryMarshal.AsBytes(half), offset + (long)i * 2);
            }
        }
        RowsWritten += b;
    }

    int ElementSize => DType == ActivationStoreDType.F16 ? 2 : 4;

    /// <summary>
    /// Checks that every declared row was written, flushes to disk, and moves the store into place (replacing any
    /// previous file or folder at the path). Calling it again after success does nothing.
    /// </summary>
    public void Complete()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) return;
        if (RowsWritten != Rows)
            Throw.Argument($"only {RowsWritten} of the {Rows} declared rows were written", "rows", RowsWritten);

        foreach (var h in _slots.Select(s => s.Handle).Distinct()) RandomAccess.FlushToDisk(h);
        Release(_slots);

        if (Format == ActivationStoreFormat.Safetensors)
        {
            File.Move(_tempPath, _finalPath, overwrite: true);
        }
        else
        {
            if (_metadata is { Count: > 0 })
                AtomicFile.WriteAllText(System.IO.Path.Combine(_tempPath, ActivationStoreReader.NpyMetadataFile),
                    JsonSerializer.Serialize(_metadata, new JsonSerializerOptions { WriteIndented = true }));
            AtomicFile.SwapDirectory(_tempPath, _finalPath);
        }
        _completed = true;
    }

    /// <summary>Closes the files; without a successful <see cref="Complete"/> the temporary file or folder is deleted.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_completed) return;
        Release(_slots);
        if (Format == ActivationStoreFormat.Safetensors) TryDeleteFile(_tempPath);
        else TryDeleteDirectory(_tempPath);
    }

    static void Release(IEnumerable<Slot> slots)
    {
        foreach (var s in slots) s.Handle.Dispose();
    }

    static string ShapeText(int[] shape) => "[" + string.Join(",", shape) + "]";

    static void TryDeleteFile(string p)
    {
        try { File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    static void TryDeleteDirectory(string p)
    {
        try { Directory.Delete(p, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

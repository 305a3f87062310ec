using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// Reads an activation store written by <see cref="ActivationStoreWriter"/> (or any safetensors file or folder of .npy
/// files of the same shape: rank-3 F32/F16 tensors [rows, positions, dim] that all share the row count). Row ranges
/// are read with positioned I/O, so only the requested rows are ever resident. Owns open file handles; dispose it.
/// </summary>
public sealed class ActivationStoreReader : IDisposable
{
    /// <summary>The metadata file beside the .npy files (a JSON object of strings); absent when there is no metadata.</summary>
    public const string NpyMetadataFile = "metadata.json";

    readonly SafetensorsFile? _safetensors;
    readonly Dictionary<string, NpyFile>? _npy;
    readonly Dictionary<string, ActivationStoreTensor> _tensors;
    bool _disposed;

    ActivationStoreReader(string path, ActivationStoreFormat format, SafetensorsFile? safetensors, Dictionary<string, NpyFile>? npy,
        IReadOnlyList<ActivationStoreTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        Format = format;
        _safetensors = safetensors;
        _npy = npy;
        Tensors = tensors;
        _tensors = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
        Rows = tensors.Count == 0 ? 0 : tensors[0].Rows;
    }

    public string Path { get; }
    public ActivationStoreFormat Format { get; }

    /// <summary>Rows shared by every tensor.</summary>
    public long Rows { get; }

    /// <summary>Tensors in file order (safetensors) or file-name order (npy).</summary>
    public IReadOnlyList<ActivationStoreTensor> Tensors { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    public ActivationStoreTensor this[string name] =>
        _tensors.TryGetValue(name, out var t) ? t : throw new InvalidArgumentException("the store has no such tensor", "name", name);

    /// <summary>Opens a store: a folder is read as <see cref="ActivationStoreFormat.Npy"/>, a file as <see cref="ActivationStoreFormat.Safetensors"/>.</summary>
    public static ActivationStoreReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path)) return OpenNpy(path);
        if (File.Exists(path)) return OpenSafetensors(path);
        return Throw.InvalidFile<ActivationStoreReader>("no activation store (file or folder) at this path", path);
    }

    static ActivationStoreReader OpenSafetensors(string path)
    {
        var file = SafetensorsFile.Open(path);
        try
        {
            var tensors = new List<ActivationStoreTensor>();
            foreach (var t in file.Tensors)
                tensors.Add(Describe(path, t.Name, t.DType, t.Shape));
            CheckRows(path, tensors);
            return new ActivationStoreReader(path, ActivationStoreFormat.Safetensors, file, null, tensors, file.Metadata);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    static ActivationStoreReader OpenNpy(string folder)
    {
        var files = new Dictionary<string, NpyFile>(StringComparer.Ordinal);
        try
        {
            var tensors = new List<ActivationStoreTensor>();
            foreach (var f in Directory.EnumerateFiles(folder, "*.npy").Order(StringComparer.Ordinal))
            {
                var name = System.IO.Path.GetFileNameWithoutExtension(f);
                var npy = NpyFile.Open(f);
                files[name] = npy;
                tensors.Add(Describe(f, name, npy.DType, npy.Shape));
            }
            if (tensors.Count == 0) Throw.InvalidFile("folder holds no .npy files", folder);
            CheckRows(folder, tensors);
            var metadata = ReadMetadata(System.IO.Path.Combine(folder, NpyMetadataFile));
            return new ActivationStoreReader(folder, ActivationStoreFormat.Npy, null, files, tensors, metadata);
        }
        catch
        {
            foreach (var f in files.Values) f.Dispose();
            throw;
        }
    }

    static IReadOnlyDictionary<string, string> ReadMetadata(string path)
    {
        if (!File.Exists(path)) return new Dictionary<string, string>();
        try
        {
            var m = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllBytes(path))
                ?? Throw.InvalidFile<Dictionary<string, string>>("metadata is null", path);
            foreach (var (k, v) in m)
                if (v is null) Throw.InvalidFile("metadata values must be strings", path, k, "null");
            return m;
        }
        catch (JsonException e)
        {
            return Throw.InvalidFile<Dictionary<string, string>>($"metadata is not a JSON object of strings: {e.Message}", path, inner: e);
        }
    }

    static ActivationStoreTensor Describe(string file, string name, TensorDType dtype, long[] shape)
    {
        if (shape.Length != 3)
            Throw.InvalidFile("activation tensors must be [rows, positions, dim]", file, name, "[" + string.Join(",", shape) + "]");
        if (shape[1] > int.MaxValue || shape[2] > int.MaxValue)
            Throw.InvalidFile("positions and dim must fit in an int", file, name, "[" + string.Join(",", shape) + "]");
        var d = dtype switch
        {
            TensorDType.F32 => ActivationStoreDType.F32,
            TensorDType.F16 => ActivationStoreDType.F16,
            _ => Throw.InvalidFile<ActivationStoreDType>("activation tensors must be F32 or F16", file, name, dtype),
        };
        return new ActivationStoreTensor(name, shape[0], (int)shape[1], (int)shape[2], d);
    }

    static void CheckRows(string path, List<ActivationStoreTensor> tensors)
    {
        foreach (var t in tensors)
            if (t.Rows != tensors[0].Rows)
                Throw.InvalidFile($"tensors disagree on the row count: '{tensors[0].Name}' has {tensors[0].Rows}", path, t.Name, t.Rows);
    }

    /// <summary>Rows [start, start + count) of a tensor as a [count, positions, dim] fp32 tensor; reads only those bytes.</summary>
    public FloatTensor ReadRows(string name, long start, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var t = this[name];
        if (start < 0 || count < 0 || start + count > t.Rows)
            Throw.Argument($"row range outside the {t.Rows} rows of the store", name, $"[{start}, {start + count})");
        long rowElements = (long)t.Positions * t.Dim;
        long n = rowElements * count;
        if (n > Array.MaxLength) Throw.Argument("row range too large for one tensor; read fewer rows", name, count);
        var result = new float[n];
        long first = start * rowElements;
        if (_safetensors is not null) _safetensors.ReadFloat32(_safetensors[name], first, result);
        else _npy![name].ReadFloat32(first, result);
        return new FloatTensor(result, count, t.Positions, t.Dim);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _safetensors?.Dispose();
        if (_npy is not null)
            foreach (var f in _npy.Values) f.Dispose();
    }
}

using System.IO.MemoryMappedFiles;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// One copy of an export's weights for every graph of the model (model.onnx, decode.onnx, the per-layer and head
/// graphs): the data file is memory-mapped once, each external initializer becomes one OrtValue over that mapping,
/// given to every session with SessionOptions.AddInitializer, and the sessions share one PrePackedWeightsContainer, so
/// ONNX Runtime packs each MatMul weight once instead of once per session (ORT-NOTES: both are needed).
/// </summary>
sealed class MappedWeights : IDisposable
{
    readonly string _dataPath;
    readonly MemoryMappedFile _file;
    readonly MemoryMappedViewAccessor _view;
    readonly IntPtr _base;
    readonly long _length;
    readonly Dictionary<string, OrtValue> _values = new(StringComparer.Ordinal);
    bool _pointerAcquired;

    MappedWeights(string dataPath)
    {
        _dataPath = dataPath;
        _length = new FileInfo(dataPath).Length;
        _file = MemoryMappedFile.CreateFromFile(dataPath, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _file.CreateViewAccessor(0, _length, MemoryMappedFileAccess.Read);
            bool ok = false;
            _view.SafeMemoryMappedViewHandle.DangerousAddRef(ref ok);
            _pointerAcquired = ok;
            _base = _view.SafeMemoryMappedViewHandle.DangerousGetHandle() + (nint)_view.PointerOffset;
        }
        catch
        {
            _view?.Dispose();
            _file.Dispose();
            throw;
        }
    }

    /// <summary>Maps the data file; null when it is empty or missing (nothing to share; the graphs then load it themselves).</summary>
    public static MappedWeights? Open(string dataPath) =>
        File.Exists(dataPath) && new FileInfo(dataPath).Length > 0 ? new MappedWeights(dataPath) : null;

    /// <summary>
    /// Drops the mapping's resident pages (Linux madvise MADV_DONTNEED on the read-only file mapping; elsewhere
    /// nothing). Pages read later (the embedding rows a batch gathers, the norm gains, a weight being packed) fault back
    /// in from the file with the same bytes. Without this, the mapping, fully read while packing, would stay resident
    /// beside the packed copy and double the model's resident memory (measured: 18.8 GB against 10.8 GB for two
    /// 1.1B-parameter models in `compare --only truth`).
    /// </summary>
    public void ReleaseResidentPages()
    {
        if (!OperatingSystem.IsLinux()) return;
        var start = _view.SafeMemoryMappedViewHandle.DangerousGetHandle();
        // The view starts page-aligned at file offset 0; PointerOffset is 0 there, but count it in to cover the whole view.
        _ = Madvise(start, (nuint)(_length + _view.PointerOffset), MadvDontNeed);
    }

    /// <summary>
    /// Releases the resident pages every 50 ms until disposed, and once more then: around a session's creation, while
    /// ONNX Runtime reads each weight once to pack it, so the pages already read do not stay resident.
    /// </summary>
    public IDisposable ReleaseWhile() => new Releaser(this);

    sealed class Releaser : IDisposable
    {
        readonly MappedWeights _owner;
        readonly CancellationTokenSource _stop = new();
        readonly Task _loop;

        public Releaser(MappedWeights owner)
        {
            _owner = owner;
            _loop = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        await Task.Delay(50, _stop.Token).ConfigureAwait(false);
                        _owner.ReleaseResidentPages();
                    }
                }
                catch (OperationCanceledException) { }
            });
        }

        public void Dispose()
        {
            _stop.Cancel();
            _loop.Wait();
            _stop.Dispose();
            _owner.ReleaseResidentPages();
        }
    }

    const int MadvDontNeed = 4;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
    static extern int Madvise(IntPtr address, nuint length, int advice);

    /// <summary>Packed weights, shared by every session made with <see cref="AddTo"/>'s options.</summary>
    public PrePackedWeightsContainer Container { get; } = new();

    /// <summary>Adds the graph's initializers stored in the data file to <paramref name="options"/>, as OrtValues over the mapping.</summary>
    public void AddTo(SessionOptions options, string graphPath)
    {
        ModelProto model;
        try
        {
            using var fs = File.OpenRead(graphPath);
            model = ModelProto.Parser.ParseFrom(fs);
        }
        catch (Exception e) when (e is IOException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new InvalidFileException($"cannot read the graph: {e.Message}", graphPath, inner: e);
        }
        string dataName = Path.GetFileName(_dataPath);
        foreach (var t in model.Graph.Initializer)
        {
            if (t.DataLocation != TensorProto.Types.DataLocation.External) continue;
            string? location = null;
            long offset = 0, length = -1;
            foreach (var e in t.ExternalData)
            {
                if (e.Key == "location") location = e.Value;
                else if (e.Key is "offset" or "length")
                {
                    if (!long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long v))
                        Throw.InvalidFile("external data offset and length must be non-negative integers", graphPath, $"{t.Name}.{e.Key}", e.Value);
                    if (e.Key == "offset") offset = v;
                    else length = v;
                }
            }
            if (location != dataName) continue;
            lock (_values)
            {
                if (!_values.TryGetValue(t.Name, out var value))
                {
                    if (offset < 0 || length < 0 || offset + length > _length)
                        Throw.InvalidFile($"initializer {t.Name} lies outside the data file ({offset} + {length} > {_length})", graphPath, "external_data", t.Name);
                    try
                    {
                        value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)t.DataType, t.Dims.ToArray(),
                            _base + (nint)offset, length);
                    }
                    catch (OnnxRuntimeException e)
                    {
                        // An unknown type, a negative dimension, a length that does not match the shape.
                        throw new InvalidFileException($"initializer {t.Name} cannot be read from the data file: {e.Message}", graphPath, "initializer", t.Name, inner: e);
                    }
                    _values[t.Name] = value;
                }
                options.AddInitializer(t.Name, value);
            }
        }
    }

    public void Dispose()
    {
        lock (_values)
        {
            foreach (var v in _values.Values) v.Dispose();
            _values.Clear();
        }
        Container.Dispose();
        if (_pointerAcquired) { _view.SafeMemoryMappedViewHandle.DangerousRelease(); _pointerAcquired = false; }
        _view.Dispose();
        _file.Dispose();
    }
}

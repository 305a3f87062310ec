using System.Runtime.InteropServices;
using OnnxInterp.Checkpoints;

namespace OnnxInterp.Export;

/// <summary>
/// Writes each weight into the external data file as the graph asks for it, one tensor at a time, so peak
/// memory stays near the largest tensor: the embedding and the head are streamed in row chunks; projection
/// matrices are read, transposed (and fused) in one buffer. Offsets are 4096-aligned so ORT can map them.
/// Owns the data file stream.
/// </summary>
/// <summary>An initializer already in the data file.</summary>
sealed record WeightRecord(OnnxType Type, long[] Dims, long Offset, long Length);

/// <summary>Registers initializers that point at bytes another graph already wrote: layer graphs share the model's data file.</summary>
sealed class SharedWeights(GraphBuilder g, IReadOnlyDictionary<string, WeightRecord> records, string location) : IWeightSink
{
    readonly HashSet<string> _added = new(StringComparer.Ordinal);

    public string Weight(string name, WeightLayout layout, params string[] sources)
    {
        if (!records.TryGetValue(name, out var r)) throw new InvalidOperationException($"weight {name} was not written by the main graph");
        if (_added.Add(name)) g.ExternalInitializer(name, r.Type, r.Dims, location, r.Offset, r.Length);
        return name;
    }

    public QuantizedWeightNames Quantized(string name, WeightQuantization q, params string[] sources)
    {
        var names = WeightStreamer.QuantizedNames(name, q);
        Weight(names.Packed, WeightLayout.AsIs);
        Weight(names.Scales, WeightLayout.AsIs);
        if (names.ZeroPoints is { } z) Weight(z, WeightLayout.AsIs);
        return names;
    }

    public string Computed(string name, float[] values, long[] dims) => Weight(name, WeightLayout.AsIs);
}

sealed class WeightStreamer : IWeightSink, IDisposable
{
    const int Alignment = 4096;
    const int ChunkElements = 1 << 20;

    readonly HfCheckpoint _ckpt;
    readonly GraphBuilder _g;
    readonly FileStream _data;
    readonly string _location;
    readonly bool _fp16;
    readonly HashSet<string> _written = new(StringComparer.Ordinal);
    readonly Dictionary<string, WeightRecord> _records = new(StringComparer.Ordinal);

    /// <summary>Where each written initializer lives in the data file, so other graphs can point at the same bytes.</summary>
    public IReadOnlyDictionary<string, WeightRecord> Records => _records;
    public string Location => _location;

    // Buffers reused for every tensor, so peak memory is one fused matrix and one source matrix, not the
    // garbage of every layer (measured: without reuse the 1B export's peak varied with GC timing, 1.07–1.42×).
    float[] _fused = [];
    float[] _source = [];

    static float[] Grow(ref float[] buffer, int length)
    {
        if (buffer.Length < length) buffer = new float[length];
        return buffer;
    }

    // One chunk buffer each for reading and for fp16 conversion, reused for every tensor.
    readonly float[] _chunk = new float[ChunkElements];
    readonly Half[] _half = new Half[ChunkElements];

    public WeightStreamer(HfCheckpoint ckpt, GraphBuilder g, string dataPath, ExportDType dtype)
    {
        _ckpt = ckpt;
        _g = g;
        _location = Path.GetFileName(dataPath);
        _fp16 = dtype == ExportDType.Fp16;
        _data = new FileStream(dataPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
    }

    public long BytesWritten => _data.Length;

    internal static QuantizedWeightNames QuantizedNames(string name, WeightQuantization q) =>
        new($"{name}_Q{q.Bits}", $"{name}_scales", q.Symmetric ? null : $"{name}_zero_points");

    public QuantizedWeightNames Quantized(string name, WeightQuantization q, params string[] sources)
    {
        var names = QuantizedNames(name, q);
        if (_records.ContainsKey(names.Packed)) return names;
        var infos = sources.Select(_ckpt.Info).ToArray();
        int k = checked((int)infos[0].Shape[1]);
        int n = checked((int)infos.Sum(i => i.Shape[0]));
        foreach (var info in infos)
            if (info.Shape.Length != 2 || info.Shape[1] != k) throw new InvalidOperationException($"{info.Name} is not [out, {k}]");
        var rows = Grow(ref _fused, checked(n * k));
        int row = 0;
        foreach (var info in infos)
        {
            int count = checked((int)info.ElementCount);
            _ckpt.ReadFloat32(info.Name, 0, rows.AsSpan(row * k, count));
            row += (int)info.Shape[0];
        }
        var m = BlockQuantizer.Quantize(rows.AsSpan(0, n * k), n, k, q);
        Bytes(names.Packed, m.Packed, [n, m.KBlocks, m.BlobSize]);
        Floats32(names.Scales, m.Scales, [(long)n * m.KBlocks]);
        if (names.ZeroPoints is { } z) Bytes(z, m.ZeroPoints!, [m.ZeroPoints!.Length]);
        return names;
    }

    public string Computed(string name, float[] values, long[] dims)
    {
        if (!_written.Add(name)) return name;
        Pad();
        long offset = _data.Position;
        Emit(values);
        Register(name, _fp16 ? OnnxType.Float16 : OnnxType.Float, dims, offset);
        return name;
    }

    void Bytes(string name, byte[] bytes, long[] dims)
    {
        _written.Add(name);
        Pad();
        long offset = _data.Position;
        _data.Write(bytes);
        Register(name, OnnxType.UInt8, dims, offset);
    }

    /// <summary>Scales stay fp32 whatever the export type: quantized exports are fp32 only.</summary>
    void Floats32(string name, float[] values, long[] dims)
    {
        _written.Add(name);
        Pad();
        long offset = _data.Position;
        _data.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        Register(name, OnnxType.Float, dims, offset);
    }

    void Register(string name, OnnxType type, long[] dims, long offset)
    {
        _g.ExternalInitializer(name, type, dims, _location, offset, _data.Position - offset);
        _records[name] = new WeightRecord(type, dims, offset, _data.Position - offset);
    }

    public string Weight(string name, WeightLayout layout, params string[] sources)
    {
        if (!_written.Add(name)) return name;
        Pad();
        long offset = _data.Position;
        long[] dims = layout switch
        {
            WeightLayout.AsIs => WriteAsIs(sources),
            WeightLayout.TransposedConcat => WriteTransposed(sources),
            _ => throw new ArgumentOutOfRangeException(nameof(layout)),
        };
        var type = _fp16 ? OnnxType.Float16 : OnnxType.Float;
        _g.ExternalInitializer(name, type, dims, _location, offset, _data.Position - offset);
        _records[name] = new WeightRecord(type, dims, offset, _data.Position - offset);
        return name;
    }

    long[] WriteAsIs(string[] sources)
    {
        // One source: keep its shape. Several (fused biases): concatenate 1-D tensors.
        long total = 0;
        foreach (var s in sources)
        {
            var info = _ckpt.Info(s);
            for (long done = 0; done < info.ElementCount; done += ChunkElements)
            {
                int n = (int)Math.Min(ChunkElements, info.ElementCount - done);
                _ckpt.ReadFloat32(s, done, _chunk.AsSpan(0, n));
                Emit(_chunk.AsSpan(0, n));
            }
            total += info.ElementCount;
        }
        return sources.Length == 1 ? _ckpt.Info(sources[0]).Shape.ToArray() : [total];
    }

    long[] WriteTransposed(string[] sources)
    {
        var infos = sources.Select(_ckpt.Info).ToArray();
        long inDim = infos[0].Shape[1];
        long outTotal = infos.Sum(i => i.Shape[0]);
        int fusedLength = checked((int)(inDim * outTotal));
        var fused = Grow(ref _fused, fusedLength);
        long col = 0;
        foreach (var info in infos)
        {
            int rows = (int)info.Shape[0], cols = (int)info.Shape[1];
            var src = Grow(ref _source, checked(rows * cols));
            _ckpt.ReadFloat32(info.Name, 0, src.AsSpan(0, rows * cols));
            TransposeInto(src, rows, cols, fused, (int)outTotal, (int)col);
            col += rows;
        }
        for (int i = 0; i < fusedLength; i += ChunkElements)
            Emit(fused.AsSpan(i, Math.Min(ChunkElements, fusedLength - i)));
        return [inDim, outTotal];
    }

    /// <summary>dst[c, colOffset + r] = src[r, c], blocked for cache locality.</summary>
    static void TransposeInto(float[] src, int rows, int cols, float[] dst, int dstCols, int colOffset)
    {
        const int B = 32;
        for (int r0 = 0; r0 < rows; r0 += B)
        {
            int r1 = Math.Min(rows, r0 + B);
            for (int c0 = 0; c0 < cols; c0 += B)
            {
                int c1 = Math.Min(cols, c0 + B);
                for (int r = r0; r < r1; r++)
                {
                    long srcRow = (long)r * cols;
                    for (int c = c0; c < c1; c++) dst[(long)c * dstCols + colOffset + r] = src[srcRow + c];
                }
            }
        }
    }

    void Emit(ReadOnlySpan<float> values)
    {
        if (!_fp16)
        {
            _data.Write(MemoryMarshal.AsBytes(values));
            return;
        }
        for (int i = 0; i < values.Length; i += ChunkElements)
        {
            int n = Math.Min(ChunkElements, values.Length - i);
            FloatConversion.ToFloat16(values.Slice(i, n), _half.AsSpan(0, n));
            _data.Write(MemoryMarshal.AsBytes(_half.AsSpan(0, n)));
        }
    }

    void Pad()
    {
        long pad = (Alignment - _data.Position % Alignment) % Alignment;
        if (pad > 0) _data.Write(new byte[pad]);
    }

    public void Flush() => _data.Flush(flushToDisk: true);

    public void Dispose() => _data.Dispose();
}

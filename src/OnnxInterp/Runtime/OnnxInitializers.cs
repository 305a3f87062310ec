using Google.Protobuf;
using Onnx;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// Reads float initializers of an ONNX file as fp32: inline (float_data or raw_data) or in an external data file
/// next to it (location, offset, length), as the exporter writes them. Parses only the graph protobuf; tensor bytes
/// are read on request, so a model with gigabytes of external data costs one small parse.
/// </summary>
sealed class OnnxInitializers
{
    readonly string _path;
    readonly string _directory;
    readonly Dictionary<string, TensorProto> _byName;

    OnnxInitializers(string path, Dictionary<string, TensorProto> byName)
    {
        _path = path;
        _directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        _byName = byName;
    }

    public static OnnxInitializers Open(string modelPath)
    {
        if (!File.Exists(modelPath)) Throw.InvalidFile("ONNX model file does not exist", modelPath);
        ModelProto model;
        try
        {
            using var fs = File.OpenRead(modelPath);
            model = ModelProto.Parser.ParseFrom(fs);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidFileException($"not a valid ONNX protobuf: {e.Message}", modelPath, inner: e);
        }
        var byName = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in model.Graph?.Initializer ?? [])
            if (!byName.TryAdd(t.Name, t)) Throw.InvalidFile("initializer appears twice", modelPath, t.Name);
        return new OnnxInitializers(modelPath, byName);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public long[] Dims(string name) => Get(name).Dims.ToArray();

    TensorProto Get(string name) =>
        _byName.TryGetValue(name, out var t) ? t : throw new ModelMismatchException("the ONNX file has no such initializer", _path, name);

    /// <summary>The whole initializer as fp32 (float, float16 or bfloat16 storage).</summary>
    public float[] ReadFloat32(string name)
    {
        var t = Get(name);
        long count = 1;
        foreach (var d in t.Dims)
        {
            if (d < 0) Throw.InvalidFile("initializer has a negative dimension", _path, name, d);
            count *= d;
        }
        if (count > Array.MaxLength) Throw.Unsupported("initializer too large for one array", _path, name, count);
        var dtype = (TensorProto.Types.DataType)t.DataType switch
        {
            TensorProto.Types.DataType.Float => TensorDType.F32,
            TensorProto.Types.DataType.Float16 => TensorDType.F16,
            TensorProto.Types.DataType.Bfloat16 => TensorDType.BF16,
            _ => Throw.InvalidFile<TensorDType>("initializer is not floating point", _path, name, (TensorProto.Types.DataType)t.DataType),
        };
        var result = new float[count];
        long bytes = count * dtype.Size();
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            ReadExternal(t, dtype, bytes, result);
        }
        else if (!t.RawData.IsEmpty)
        {
            if (t.RawData.Length != bytes) Throw.InvalidFile($"raw_data holds {t.RawData.Length} bytes, the shape needs {bytes}", _path, name);
            FloatConversion.ToFloat32(t.RawData.Span, dtype, result);
        }
        else if (dtype == TensorDType.F32)
        {
            if (t.FloatData.Count != count) Throw.InvalidFile($"float_data holds {t.FloatData.Count} values, the shape needs {count}", _path, name);
            t.FloatData.CopyTo(result, 0);
        }
        else
        {
            // float16/bfloat16 in int32_data: one element per int32, low 16 bits.
            if (t.Int32Data.Count != count) Throw.InvalidFile($"int32_data holds {t.Int32Data.Count} values, the shape needs {count}", _path, name);
            var raw = new byte[bytes];
            for (int i = 0; i < count; i++) BitConverter.TryWriteBytes(raw.AsSpan(2 * i), (ushort)t.Int32Data[i]);
            FloatConversion.ToFloat32(raw, dtype, result);
        }
        return result;
    }

    /// <summary>A uint8 initializer's bytes (MatMulNBits' packed weights and zero points).</summary>
    public byte[] ReadUInt8(string name)
    {
        var t = Get(name);
        if ((TensorProto.Types.DataType)t.DataType != TensorProto.Types.DataType.Uint8)
            Throw.InvalidFile("initializer is not uint8", _path, name, (TensorProto.Types.DataType)t.DataType);
        long count = 1;
        foreach (var d in t.Dims)
        {
            if (d < 0) Throw.InvalidFile("initializer has a negative dimension", _path, name, d);
            count *= d;
        }
        if (count > Array.MaxLength) Throw.Unsupported("initializer too large for one array", _path, name, count);
        var result = new byte[count];
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            var (dataPath, offset) = ExternalLocation(t, count);
            using var handle = UntrustedFile.OpenRead(dataPath, "ONNX external data");
            UntrustedFile.ReadExactly(handle, result, offset, dataPath);
        }
        else if (!t.RawData.IsEmpty)
        {
            if (t.RawData.Length != count) Throw.InvalidFile($"raw_data holds {t.RawData.Length} bytes, the shape needs {count}", _path, name);
            t.RawData.Span.CopyTo(result);
        }
        else
        {
            // uint8 in int32_data: one element per int32.
            if (t.Int32Data.Count != count) Throw.InvalidFile($"int32_data holds {t.Int32Data.Count} values, the shape needs {count}", _path, name);
            for (int i = 0; i < count; i++) result[i] = (byte)t.Int32Data[i];
        }
        return result;
    }

    void ReadExternal(TensorProto t, TensorDType dtype, long bytes, float[] destination)
    {
        var (dataPath, offset) = ExternalLocation(t, bytes);
        using var handle = UntrustedFile.OpenRead(dataPath, "ONNX external data");
        UntrustedFile.ReadFloat32(handle, dataPath, dtype, offset, destination);
    }

    (string DataPath, long Offset) ExternalLocation(TensorProto t, long bytes)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var e in t.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offset = ParseLong(t.Name, e); break;
                case "length": length = ParseLong(t.Name, e); break;
            }
        }
        if (string.IsNullOrEmpty(location) || Path.IsPathRooted(location) || location.Contains("..") || location.Contains('/') || location.Contains('\\'))
            Throw.InvalidFile("external data location must be a plain file name beside the model", _path, t.Name + ".location", location);
        if (length >= 0 && length != bytes) Throw.InvalidFile($"external data length is {length} bytes, the shape needs {bytes}", _path, t.Name + ".length", length);
        var dataPath = Path.Combine(_directory, location);
        if (!File.Exists(dataPath)) Throw.InvalidFile("external data file named by the model is missing", dataPath, t.Name);
        long size = new FileInfo(dataPath).Length;
        if (offset < 0 || offset > size - bytes) Throw.InvalidFile($"external data [{offset}, {offset + bytes}) lies outside the file of {size} bytes", dataPath, t.Name, offset);
        return (dataPath, offset);
    }

    long ParseLong(string name, StringStringEntryProto e) =>
        long.TryParse(e.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
        : Throw.InvalidFile<long>("external data field is not a non-negative integer", _path, name + "." + e.Key, e.Value);
}

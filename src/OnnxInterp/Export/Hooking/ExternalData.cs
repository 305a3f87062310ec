using System.Globalization;
using System.Security.Cryptography;
using Onnx;
using OnnxInterp.Internals;

namespace OnnxInterp.Export.Hooking;

/// <summary>
/// Tensors an ONNX file keeps in external files: validated (a plain location inside the folder, a range inside the
/// file, the size the type and shape need), then copied into one new data file, 4096-aligned, as our exports lay it out.
/// </summary>
static class ExternalData
{
    const int Alignment = 4096;

    public static bool IsExternal(TensorProto t) => t.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Checks every external tensor of the graph; returns the full paths it reads, by location.</summary>
    public static Dictionary<string, string> Validate(GraphProto graph, string directory, string modelFile)
    {
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var t in Tensors(graph).Where(IsExternal))
        {
            var (location, offset, length) = Entry(t, modelFile);
            if (!files.TryGetValue(location, out var full))
            {
                full = ExternalDataPath.Resolve(directory, location, modelFile);
                if (!File.Exists(full)) Throw.InvalidFile("external data file is missing", modelFile, "external_data.location", location);
                files[location] = full;
            }
            long size = new FileInfo(full).Length;
            if (offset < 0 || length < 0 || offset + length > size)
                Throw.InvalidFile($"external data of '{t.Name}' lies outside its file of {size} bytes", modelFile, "external_data.offset", $"{offset}+{length}");
            if (ElementSize(t.DataType) is int es && t.Dims.Aggregate(1L, (a, b) => a * b) * es != length)
                Throw.InvalidFile($"external data of '{t.Name}' has {length} bytes, its type and shape need {t.Dims.Aggregate(1L, (a, b) => a * b) * es}", modelFile, "external_data.length", length);
        }
        return files;
    }

    /// <summary>Copies every external tensor into <paramref name="dataPath"/> and points the tensors there; hashes what it reads.</summary>
    public static long Copy(GraphProto graph, IReadOnlyDictionary<string, string> files, string dataPath, IncrementalHash? hash, string modelFile)
    {
        var sources = new Dictionary<string, FileStream>(StringComparer.Ordinal);
        var buffer = new byte[1 << 20];
        try
        {
            using var output = new FileStream(dataPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            foreach (var t in Tensors(graph).Where(IsExternal))
            {
                var (location, offset, length) = Entry(t, modelFile);
                if (!sources.TryGetValue(location, out var src))
                    sources[location] = src = new FileStream(files[location], FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
                long pad = (Alignment - output.Position % Alignment) % Alignment;
                if (pad > 0) output.Write(new byte[pad]);
                long start = output.Position;
                src.Position = offset;
                for (long done = 0; done < length;)
                {
                    int n = src.Read(buffer, 0, (int)Math.Min(buffer.Length, length - done));
                    if (n <= 0) Throw.InvalidFile("unexpected end of external data", files[location], "offset", offset + done);
                    output.Write(buffer, 0, n);
                    hash?.AppendData(buffer, 0, n);
                    done += n;
                }
                t.ExternalData.Clear();
                t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(dataPath) });
                t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = start.ToString(CultureInfo.InvariantCulture) });
                t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(CultureInfo.InvariantCulture) });
            }
            output.Flush(flushToDisk: true);
            return output.Length;
        }
        finally
        {
            foreach (var s in sources.Values) s.Dispose();
        }
    }

    /// <summary>Initializers and the tensors of Constant nodes.</summary>
    static IEnumerable<TensorProto> Tensors(GraphProto graph) =>
        graph.Initializer.Concat(graph.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T));

    static (string Location, long Offset, long Length) Entry(TensorProto t, string modelFile)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var e in t.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offset = Number(e.Value, t.Name, "offset", modelFile); break;
                case "length": length = Number(e.Value, t.Name, "length", modelFile); break;
            }
        }
        if (location is null) Throw.InvalidFile($"external tensor '{t.Name}' has no location", modelFile, "external_data.location");
        if (length < 0)
        {
            // No length: the tensor's byte size.
            if (ElementSize(t.DataType) is not int es) return Throw.InvalidFile<(string, long, long)>($"external tensor '{t.Name}' has no length", modelFile, "external_data.length");
            length = t.Dims.Aggregate(1L, (a, b) => a * b) * es;
        }
        return (location, offset, length);
    }

    static long Number(string text, string tensor, string key, string file) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v
        : Throw.InvalidFile<long>($"external data {key} of '{tensor}' is not a number", file, "external_data." + key, text);

    /// <summary>Bytes per element for the types whose size is fixed; null for packed 4-bit and strings.</summary>
    static int? ElementSize(int type) => (TensorProto.Types.DataType)type switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Float16 or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Uint16 => 2,
        TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Bool => 1,
        TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Double or TensorProto.Types.DataType.Uint64 => 8,
        _ => null,
    };
}

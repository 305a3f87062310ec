using System.Globalization;
using System.IO.MemoryMappedFiles;
using System.Text;
using Onnx;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// Checks an ONNX file we did not write before ONNX Runtime opens it: a bounded walk over the protobuf (no message is
/// materialised, raw weights are skipped) that finds every tensor with external data (initializers, Constant and
/// subgraph attributes, sparse tensors, functions, training info) and requires its <c>location</c> to be a relative
/// path that stays inside the model folder once symbolic links are resolved, and its <c>offset</c> and <c>length</c>
/// to lie within that file. ORT would otherwise read any file the process can (<c>../../secret</c>, <c>/dev/zero</c>).
/// </summary>
static unsafe class OnnxFileCheck
{
    /// <summary>Nesting limit for messages (protobuf's own default recursion limit).</summary>
    public const int MaxDepth = 100;

    enum Kind { Model, Graph, Node, Attribute, Function, TrainingInfo, SparseTensor, Tensor, Entry }

    public static void Validate(string modelPath)
    {
        var handle = UntrustedFile.OpenRead(modelPath, "ONNX");
        using (handle)
        {
            long length = RandomAccess.GetLength(handle);
            if (length == 0) Throw.InvalidFile("the ONNX file is empty", modelPath);
            // Protobuf messages cannot exceed 2 GiB; ORT refuses larger files too.
            if (length > int.MaxValue) Throw.InvalidFile("an ONNX protobuf cannot exceed 2 GiB (keep weights in external data)", modelPath, "length", length);
            using var map = MemoryMappedFile.CreateFromFile(handle, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            try
            {
                var walker = new Walker(modelPath);
                walker.Message(new ReadOnlySpan<byte>(p + view.PointerOffset, (int)length), 0, Kind.Model, 0);
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
    }

    sealed class Walker(string path)
    {
        readonly string _folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        readonly Dictionary<string, long> _sizes = new(StringComparer.Ordinal);
        string? _realFolder;

        [System.Diagnostics.CodeAnalysis.DoesNotReturn]
        void Malformed(string what, long at) =>
            Throw.InvalidFile($"not a valid ONNX protobuf: {what}", path, "offset", at);

        static Kind? Child(Kind parent, int field) => parent switch
        {
            Kind.Model => field switch
            {
                ModelProto.GraphFieldNumber => Kind.Graph,
                ModelProto.TrainingInfoFieldNumber => Kind.TrainingInfo,
                ModelProto.FunctionsFieldNumber => Kind.Function,
                _ => null,
            },
            Kind.Graph => field switch
            {
                GraphProto.NodeFieldNumber => Kind.Node,
                GraphProto.InitializerFieldNumber => Kind.Tensor,
                GraphProto.SparseInitializerFieldNumber => Kind.SparseTensor,
                _ => null,
            },
            Kind.Node => field == NodeProto.AttributeFieldNumber ? Kind.Attribute : null,
            Kind.Attribute => field switch
            {
                AttributeProto.TFieldNumber or AttributeProto.TensorsFieldNumber => Kind.Tensor,
                AttributeProto.GFieldNumber or AttributeProto.GraphsFieldNumber => Kind.Graph,
                AttributeProto.SparseTensorFieldNumber or AttributeProto.SparseTensorsFieldNumber => Kind.SparseTensor,
                _ => null,
            },
            Kind.Function => field == FunctionProto.NodeFieldNumber ? Kind.Node : null,
            Kind.TrainingInfo => field is TrainingInfoProto.InitializationFieldNumber or TrainingInfoProto.AlgorithmFieldNumber ? Kind.Graph : null,
            Kind.SparseTensor => field is SparseTensorProto.ValuesFieldNumber or SparseTensorProto.IndicesFieldNumber ? Kind.Tensor : null,
            _ => null,
        };

        /// <summary>Walks one message; <paramref name="start"/> is its file offset, for error messages.</summary>
        public void Message(ReadOnlySpan<byte> m, long start, Kind kind, int depth)
        {
            if (depth > MaxDepth) Malformed($"messages nested deeper than {MaxDepth}", start);
            if (kind == Kind.Tensor) { Tensor(m, start); return; }
            int i = 0;
            while (i < m.Length)
            {
                var (field, wire) = Tag(m, ref i, start);
                if (wire == 2)
                {
                    var body = Bytes(m, ref i, start);
                    if (Child(kind, field) is { } child) Message(body, start + i - body.Length, child, depth + 1);
                }
                else Skip(m, ref i, wire, start);
            }
        }

        void Tensor(ReadOnlySpan<byte> m, long start)
        {
            string name = "";
            long dataType = 0;
            var dims = new List<long>();
            bool external = false;
            var entries = new List<(string Key, string Value)>();
            int i = 0;
            while (i < m.Length)
            {
                var (field, wire) = Tag(m, ref i, start);
                switch (field, wire)
                {
                    case (TensorProto.NameFieldNumber, 2): name = Utf8(Bytes(m, ref i, start)); break;
                    case (TensorProto.DataTypeFieldNumber, 0): dataType = (long)Varint(m, ref i, start); break;
                    case (TensorProto.DataLocationFieldNumber, 0): external = Varint(m, ref i, start) == (ulong)TensorProto.Types.DataLocation.External; break;
                    case (TensorProto.DimsFieldNumber, 0): dims.Add((long)Varint(m, ref i, start)); break;
                    case (TensorProto.DimsFieldNumber, 2):
                    {
                        var packed = Bytes(m, ref i, start);
                        for (int k = 0; k < packed.Length;) dims.Add((long)Varint(packed, ref k, start));
                        break;
                    }
                    case (TensorProto.ExternalDataFieldNumber, 2): entries.Add(Entry(Bytes(m, ref i, start), start)); break;
                    default:
                        if (wire == 2) Bytes(m, ref i, start);
                        else Skip(m, ref i, wire, start);
                        break;
                }
            }
            if (external || entries.Count > 0) CheckExternal(name, dataType, dims, entries);
        }

        (string, string) Entry(ReadOnlySpan<byte> m, long start)
        {
            string key = "", value = "";
            int i = 0;
            while (i < m.Length)
            {
                var (field, wire) = Tag(m, ref i, start);
                if (wire == 2 && field is 1 or 2)
                {
                    var s = Utf8(Bytes(m, ref i, start));
                    if (field == 1) key = s; else value = s;
                }
                else if (wire == 2) Bytes(m, ref i, start);
                else Skip(m, ref i, wire, start);
            }
            return (key, value);
        }

        void CheckExternal(string tensor, long dataType, List<long> dims, List<(string Key, string Value)> entries)
        {
            string field = $"{tensor}.external_data";
            string? location = null;
            long offset = 0;
            long? length = null;
            foreach (var (key, value) in entries)
            {
                switch (key)
                {
                    case "location": location = value; break;
                    case "offset": offset = Number(value, $"{field}.offset"); break;
                    case "length": length = Number(value, $"{field}.length"); break;
                }
            }
            if (location is null) Throw.InvalidFile("a tensor with external data has no location", path, $"{field}.location");
            long size = FileSize(location, $"{field}.location");
            if (offset > size)
                Throw.InvalidFile($"external data offset lies past the end of the {size}-byte file '{location}'", path, $"{field}.offset", offset);
            if (length is { } n && n > size - offset)
                Throw.InvalidFile($"external data runs past the end of the {size}-byte file '{location}' (offset {offset})", path, $"{field}.length", n);
            // The bytes the tensor needs, when its type and shape say; ORT checks length against it too.
            long element = ElementSize(dataType);
            if (element > 0)
            {
                long need = element;
                foreach (var d in dims)
                {
                    if (d < 0 || (d > 0 && need > long.MaxValue / d))
                        Throw.InvalidFile("tensor dimensions overflow", path, $"{tensor}.dims", string.Join(",", dims));
                    need *= d;
                }
                if (need > size - offset)
                    Throw.InvalidFile($"the tensor needs {need} bytes from offset {offset}, the {size}-byte file '{location}' is shorter", path, $"{field}.length", need);
            }
        }

        long Number(string value, string field) =>
            long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v
            : Throw.InvalidFile<long>("external data offset and length must be non-negative integers", path, field, value);

        /// <summary>Validates a location and returns its file's size; a location already seen is looked up.</summary>
        long FileSize(string location, string field)
        {
            if (_sizes.TryGetValue(location, out long known)) return known;
            if (location.Length == 0 || location.Contains('\0'))
                Throw.InvalidFile("external data location is empty or holds NUL", path, field, location);
            if (Path.IsPathRooted(location) || location[0] is '/' or '\\' || (location.Length >= 2 && location[1] == ':'))
                Throw.InvalidFile("external data location must be relative to the model folder", path, field, location);
            if (location.Split('/', '\\').Any(s => s == ".."))
                Throw.InvalidFile("external data location may not contain '..'", path, field, location);
            var full = Path.GetFullPath(Path.Combine(_folder, location));
            if (!File.Exists(full)) Throw.InvalidFile("external data file does not exist", path, field, location);
            _realFolder ??= SafePath.Resolve(_folder);
            var real = SafePath.Resolve(full);
            if (!SafePath.IsInside(real, _realFolder))
                Throw.InvalidFile($"external data location resolves outside the model folder (to '{real}')", path, field, location);
            long size = new FileInfo(real).Length;
            _sizes[location] = size;
            return size;
        }

        static long ElementSize(long dataType) => dataType switch
        {
            (long)TensorProto.Types.DataType.Float or (long)TensorProto.Types.DataType.Int32 or (long)TensorProto.Types.DataType.Uint32 => 4,
            (long)TensorProto.Types.DataType.Double or (long)TensorProto.Types.DataType.Int64 or (long)TensorProto.Types.DataType.Uint64
                or (long)TensorProto.Types.DataType.Complex64 => 8,
            (long)TensorProto.Types.DataType.Float16 or (long)TensorProto.Types.DataType.Bfloat16
                or (long)TensorProto.Types.DataType.Int16 or (long)TensorProto.Types.DataType.Uint16 => 2,
            (long)TensorProto.Types.DataType.Int8 or (long)TensorProto.Types.DataType.Uint8 or (long)TensorProto.Types.DataType.Bool => 1,
            (long)TensorProto.Types.DataType.Complex128 => 16,
            _ => 0, // strings, 4-bit and 8-bit float types: leave the size check to ORT
        };

        string Utf8(ReadOnlySpan<byte> s)
        {
            try { return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(s); }
            catch (DecoderFallbackException) { return Throw.InvalidFile<string>("a string is not valid UTF-8", path, "string", Convert.ToHexString(s[..Math.Min(s.Length, 32)])); }
        }

        (int Field, int Wire) Tag(ReadOnlySpan<byte> m, ref int i, long start)
        {
            int at = i;
            ulong tag = Varint(m, ref i, start);
            int wire = (int)(tag & 7);
            ulong field = tag >> 3;
            if (field == 0 || field > 536_870_911) Malformed("field number out of range", start + at);
            if (wire is 3 or 4 or 6 or 7) Malformed($"unsupported wire type {wire}", start + at);
            return ((int)field, wire);
        }

        ulong Varint(ReadOnlySpan<byte> m, ref int i, long start)
        {
            ulong v = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (i >= m.Length) Malformed("truncated varint", start + i);
                byte b = m[i++];
                v |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return v;
            }
            Malformed("varint longer than 10 bytes", start + i);
            return 0;
        }

        ReadOnlySpan<byte> Bytes(ReadOnlySpan<byte> m, ref int i, long start)
        {
            ulong n = Varint(m, ref i, start);
            if (n > (ulong)(m.Length - i)) Malformed($"a length of {n} bytes runs past the end of its message", start + i);
            var s = m.Slice(i, (int)n);
            i += (int)n;
            return s;
        }

        void Skip(ReadOnlySpan<byte> m, ref int i, int wire, long start)
        {
            switch (wire)
            {
                case 0: Varint(m, ref i, start); break;
                case 1: if (m.Length - i < 8) Malformed("truncated fixed64", start + i); i += 8; break;
                case 5: if (m.Length - i < 4) Malformed("truncated fixed32", start + i); i += 4; break;
                default: Malformed($"unsupported wire type {wire}", start + i); break;
            }
        }
    }
}

using System.Globalization;
using CsCheck;
using Google.Protobuf;
using Onnx;

namespace OnnxInterp.Fuzz;

/// <summary>
/// Structure-aware edits of an exported model.onnx, through the ONNX protobuf types: external-data references of one
/// initializer (location, offset, length; paths that escape the folder, also through symbolic links), tensor types and
/// shapes, nodes removed, inputs and outputs renamed, and an external tensor hidden in a Constant node's attribute.
/// </summary>
public static class OnnxMutations
{
    /// <summary>Locations that name a file outside the model folder: a reader must refuse every one.</summary>
    static readonly string[] Escaping =
    [
        "../model.onnx.data", "/etc/passwd", "/dev/zero", "sub/../../model.onnx.data", "./../x", "..", "..\\model.onnx.data",
        "link-out", "dir-link/passwd", "dir-up/outside.bin",
    ];

    /// <summary>Locations that are wrong in other ways (missing, empty, odd characters); refusing or loading are both fine.</summary>
    static readonly string[] Odd =
    [
        "", "missing.bin", "model.onnx.data\0.txt", "C:\\x", "\\\\host\\share\\x", "%2e%2e/x", "model.onnx", "./model.onnx.data",
        "link-in", "manifest.json", " model.onnx.data", "model.onnx.data/",
    ];

    static readonly string[] Numbers =
    [
        "-1", "abc", "", "9223372036854775807", "9223372036854775808", "1e3", " 4", "0x10", "+0", "4294967296", "0",
    ];

    public static Gen<Mutant> Of(int seed, string folder)
    {
        var bytes = File.ReadAllBytes(Path.Combine(folder, "model.onnx"));
        long dataSize = new FileInfo(Path.Combine(folder, "model.onnx.data")).Length;
        var model = ModelProto.Parser.ParseFrom(bytes);
        return Gen.Int.Select(i => Mutate(seed, model, dataSize, new Random(i)));
    }

    static Mutant Mutate(int seed, ModelProto original, long dataSize, Random rng)
    {
        var m = original.Clone();
        var g = m.Graph;
        var external = g.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToList();
        var t = external[rng.Next(external.Count)];
        Action<string>? extra = null;
        bool mustReject = false;
        string kind;
        string Entry(string key) => t.ExternalData.FirstOrDefault(e => e.Key == key)?.Value ?? "";
        void Set(string key, string value)
        {
            var e = t.ExternalData.FirstOrDefault(x => x.Key == key);
            if (e is null) t.ExternalData.Add(new StringStringEntryProto { Key = key, Value = value });
            else e.Value = value;
        }
        string Size(string key)
        {
            long offset = long.Parse(Entry("offset"), CultureInfo.InvariantCulture), length = long.Parse(Entry("length"), CultureInfo.InvariantCulture);
            long v = rng.Next(5) switch
            {
                0 => dataSize,
                1 => dataSize + 1,
                2 => key == "offset" ? dataSize - length + 1 : dataSize - offset + 1,
                3 => key == "offset" ? offset + 1 : length + 1,
                _ => key == "offset" ? offset - 1 : length - 1,
            };
            return v.ToString(CultureInfo.InvariantCulture);
        }
        switch (rng.Next(12))
        {
            case 0:
            case 1:
            {
                var loc = Escaping[rng.Next(Escaping.Length)];
                Set("location", loc);
                extra = Links;
                mustReject = true;
                kind = $"{t.Name}.location = {loc}";
                break;
            }
            case 2:
            {
                var loc = Odd[rng.Next(Odd.Length)];
                Set("location", loc);
                extra = Links;
                kind = $"{t.Name}.location = {loc}";
                break;
            }
            case 3:
            case 4:
            {
                string key = rng.Next(2) == 0 ? "offset" : "length";
                string v = rng.Next(2) == 0 ? Numbers[rng.Next(Numbers.Length)] : Size(key);
                Set(key, v);
                kind = $"{t.Name}.{key} = '{v}'";
                break;
            }
            case 5:
            {
                int op = rng.Next(4);
                if (op == 0) { var e = t.ExternalData.First(x => x.Key == "location"); t.ExternalData.Remove(e); }
                else if (op == 1) t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../escape" });
                else if (op == 2) t.DataLocation = TensorProto.Types.DataLocation.Default;
                else t.ExternalData.Add(new StringStringEntryProto { Key = "checksum", Value = "x" });
                kind = $"{t.Name}: " + new[] { "no location", "second location ../escape", "data_location DEFAULT", "unknown key checksum" }[op];
                break;
            }
            case 6:
            {
                int op = rng.Next(4);
                if (op == 0 && t.Dims.Count > 0) { int d = rng.Next(t.Dims.Count); t.Dims[d] *= 1L << rng.Next(1, 40); }
                else if (op == 1) t.Dims.Add(1L << rng.Next(0, 62));
                else if (op == 2 && t.Dims.Count > 0) t.Dims[rng.Next(t.Dims.Count)] = -1;
                else t.DataType = rng.Next(0, 25);
                kind = $"{t.Name}: dims [{string.Join(",", t.Dims)}] type {t.DataType}";
                break;
            }
            case 7:
            {
                int i = rng.Next(g.Node.Count);
                kind = $"remove node {g.Node[i].Name} ({g.Node[i].OpType})";
                g.Node.RemoveAt(i);
                break;
            }
            case 8:
            {
                bool input = rng.Next(2) == 0;
                var list = input ? g.Input : g.Output;
                var v = list[rng.Next(list.Count)];
                kind = $"rename graph {(input ? "input" : "output")} {v.Name}";
                v.Name += "_x";
                break;
            }
            case 9:
            {
                // An external tensor inside a Constant node's attribute: the check must walk node attributes too.
                var c = new TensorProto { Name = "hidden_const", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
                c.Dims.Add(1);
                c.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/hostname" });
                var node = new NodeProto { OpType = "Constant", Name = "fuzz_const" };
                node.Output.Add("fuzz_const_out");
                node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = c });
                g.Node.Insert(0, node);
                mustReject = true;
                kind = "Constant node with an external tensor at ../../etc/hostname";
                break;
            }
            case 10:
            {
                t.RawData = ByteString.CopyFrom(new byte[rng.Next(1, 64)]);
                kind = $"{t.Name}: raw_data as well as external data";
                break;
            }
            default:
            {
                var data = m.ToByteArray();
                var (rk, rb) = Mutations.Raw(data, rng);
                return new Mutant(seed, "model.onnx", rk, rb);
            }
        }
        return new Mutant(seed, "model.onnx", "onnx: " + kind, m.ToByteArray(), extra, mustReject);
    }

    /// <summary>Links the escaping and odd locations use: to a file outside, to the data inside, to the parent folder.</summary>
    static void Links(string dir)
    {
        var outside = Path.Combine(Path.GetDirectoryName(dir)!, "outside.bin");
        if (!File.Exists(outside)) File.WriteAllBytes(outside, new byte[1 << 20]);
        File.CreateSymbolicLink(Path.Combine(dir, "link-out"), outside);
        File.CreateSymbolicLink(Path.Combine(dir, "link-in"), "model.onnx.data");
        Directory.CreateSymbolicLink(Path.Combine(dir, "dir-link"), "/etc");
        Directory.CreateSymbolicLink(Path.Combine(dir, "dir-up"), "..");
    }
}

using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;

namespace OnnxInterp.Fuzz;

/// <summary>A mutation drawn from a seeded RNG: it describes itself in <c>Kind</c> so a failure can be replayed by hand.</summary>
public delegate (string Kind, byte[] Bytes) Mutator(byte[] seed, Random rng);

/// <summary>The mutators every target combines: raw byte damage and structure-aware edits of JSON, CSV and .npy headers.</summary>
public static partial class Mutations
{
    static readonly UTF8Encoding Utf8 = new(false);

    /// <summary>Mutants of one file of one seed: the CsCheck generator draws the RNG seed each mutator runs on, weighted.</summary>
    public static Gen<Mutant> Of(int seed, string folder, string file, params (int Weight, Mutator Mutator)[] mutators)
    {
        var bytes = File.ReadAllBytes(Path.Combine(folder, file));
        return Gen.Frequency(mutators.Select(m => (m.Weight, (IGen<Mutant>)Gen.Int.Select(i =>
        {
            var (kind, result) = m.Mutator(bytes, new Random(i));
            return new Mutant(seed, file, kind, result);
        }))).ToArray());
    }

    // ---- raw bytes ----

    static readonly ulong[] InterestingIntegers =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue,
    ];

    /// <summary>One to three stacked byte-level edits: set, flip, truncate, delete, insert, duplicate, an interesting integer, a digit run.</summary>
    public static (string, byte[]) Raw(byte[] seed, Random rng)
    {
        var b = new List<byte>(seed);
        var kinds = new List<string>();
        int count = 1 + rng.Next(3);
        for (int k = 0; k < count; k++)
        {
            int n = b.Count;
            int pos = n == 0 ? 0 : rng.Next(n);
            switch (rng.Next(8))
            {
                case 0 when n > 0:
                    byte v = (byte)rng.Next(256);
                    b[pos] = v;
                    kinds.Add($"byte[{pos}]={v}");
                    break;
                case 1 when n > 0:
                    int bit = rng.Next(8);
                    b[pos] ^= (byte)(1 << bit);
                    kinds.Add($"flip byte {pos} bit {bit}");
                    break;
                case 2:
                    b.RemoveRange(pos, n - pos);
                    kinds.Add($"truncate at {pos}");
                    break;
                case 3 when n > 0:
                    int len = Math.Min(1 + rng.Next(16), n - pos);
                    b.RemoveRange(pos, len);
                    kinds.Add($"delete {len} at {pos}");
                    break;
                case 4:
                    var ins = new byte[1 + rng.Next(8)];
                    rng.NextBytes(ins);
                    b.InsertRange(pos, ins);
                    kinds.Add($"insert {Convert.ToHexString(ins)} at {pos}");
                    break;
                case 5 when n > 0:
                    int dl = Math.Min(1 + rng.Next(64), n - pos);
                    int at = rng.Next(n + 1);
                    b.InsertRange(at, b.GetRange(pos, dl));
                    kinds.Add($"copy {dl} from {pos} to {at}");
                    break;
                case 6 when n > 0:
                    ulong x = InterestingIntegers[rng.Next(InterestingIntegers.Length)];
                    int width = new[] { 1, 2, 4, 8 }[rng.Next(4)];
                    var le = new byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(le, x);
                    for (int i = 0; i < width && pos + i < b.Count; i++) b[pos + i] = le[i];
                    kinds.Add($"u{width * 8}@{pos}=0x{x:X}");
                    break;
                default:
                    var digits = Encoding.ASCII.GetBytes(new string('9', 1 + rng.Next(24)));
                    b.InsertRange(pos, digits);
                    kinds.Add($"insert {digits.Length} nines at {pos}");
                    break;
            }
        }
        return ("raw: " + string.Join("; ", kinds), b.ToArray());
    }

    // ---- JSON ----

    static readonly string[] InterestingJson =
    [
        "null", "true", "false", "0", "-1", "1", "2", "255", "256", "65535", "2147483647", "2147483648", "-2147483648", "-2147483649",
        "4294967296", "9007199254740993", "9223372036854775807", "18446744073709551615", "1e308", "-1e308", "1e999", "0.5", "-0.0", "1e-320",
        "\"\"", "\"x\"", "\"../../../../etc/passwd\"", "\"/etc/passwd\"", "\"C:\\\\x\"", "\"a\\u0000b\"", "\"(a+)+$\"", "\"[\"", "\"\\\\\"",
        "\"<s>\"", "\"</s>\"", "\"Sequence\"", "\"BPE\"", "\"ByteLevel\"", "\"Split\"", "\"Metaspace\"", "\"Replace\"",
        "\"TemplateProcessing\"", "\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"", "\"Fp16\"", "\"ResidPost\"", "\"A\"", "\"B\"", "\"\\u2581\"",
        "[]", "{}", "[null]", "[[]]", "[0]", "[-1]", "[2147483648]", "[\"a\",\"b\"]", "[\"a b\"]", "{\"type\":\"Sequence\"}",
        "{\"type\":\"Sequence\",\"pretokenizers\":[]}", "{\"content\":1}", "{\"String\":\"\"}", "{\"Regex\":\"(\"}", "{\"Regex\":\"\"}",
    ];

    static readonly string[] InterestingKeys =
    [
        "", "type", "model", "vocab", "merges", "added_tokens", "id", "content", "special", "normalizer", "pre_tokenizer", "decoder",
        "post_processor", "dtype", "shape", "data_offsets", "__metadata__", "config", "hooks", "layerFiles", "numLayers", "format",
        "bos_token", "eos_token", "pad_token", "added_tokens_decoder", "2147483648", "-1", "a\u0000",
    ];

    static readonly JsonDocumentOptions Lenient = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 1000 };
    static readonly JsonSerializerOptions Out = new() { MaxDepth = 1000 };

    /// <summary>Edits one node of a valid JSON document (replace, tweak, delete, copy, rename, wrap, reshape) and re-serializes it.</summary>
    public static (string, byte[]) Json(byte[] seed, Random rng)
    {
        var root = JsonNode.Parse(Utf8.GetString(seed), null, Lenient);
        var nodes = new List<JsonNode>();
        Collect(root, nodes);
        if (nodes.Count == 0) return Raw(seed, rng);
        var node = nodes[rng.Next(nodes.Count)];
        string path = node.GetPath();
        string kind;
        switch (rng.Next(10))
        {
            case 0:
            case 1:
            {
                var v = Interesting(rng);
                kind = $"{path} = {Show(v)}";
                root = Replace(root!, node, v);
                break;
            }
            case 2 when node is JsonValue jv && jv.GetValueKind() == JsonValueKind.Number:
            {
                double d = jv.GetValue<JsonElement>().GetDouble();
                string t = rng.Next(8) switch
                {
                    0 => (d + 1).ToString("R", CultureInfo.InvariantCulture),
                    1 => (d - 1).ToString("R", CultureInfo.InvariantCulture),
                    2 => (-d).ToString("R", CultureInfo.InvariantCulture),
                    3 => (d * 2).ToString("R", CultureInfo.InvariantCulture),
                    4 => (d * 65536).ToString("R", CultureInfo.InvariantCulture),
                    5 => (d * 1e10).ToString("R", CultureInfo.InvariantCulture),
                    6 => (d + 0.5).ToString("R", CultureInfo.InvariantCulture),
                    _ => "0",
                };
                kind = $"{path} = {t} (was {d})";
                root = Replace(root!, node, JsonNode.Parse(t));
                break;
            }
            case 3 when node is JsonValue sv && sv.GetValueKind() == JsonValueKind.String:
            {
                string s = sv.GetValue<string>();
                string t = rng.Next(8) switch
                {
                    0 => "",
                    1 => s + s,
                    2 => s.Length > 0 ? s[..^1] : "x",
                    3 => "../" + s,
                    4 => "/" + s,
                    5 => s + "\u0000",
                    6 => s.ToUpperInvariant(),
                    _ => s.Insert(rng.Next(s.Length + 1), ((char)rng.Next(0x20, 0x3000)).ToString()),
                };
                kind = $"{path} = {Show(JsonValue.Create(t))}";
                root = Replace(root!, node, JsonValue.Create(t));
                break;
            }
            case 4 when node.Parent is not null:
                kind = $"delete {path}";
                if (node.Parent is JsonObject po) po.Remove(node.GetPropertyName());
                else ((JsonArray)node.Parent).Remove(node);
                break;
            case 5:
            {
                var other = nodes[rng.Next(nodes.Count)];
                kind = $"{path} = copy of {other.GetPath()}";
                root = Replace(root!, node, other.DeepClone());
                break;
            }
            case 6 when node.Parent is JsonObject parent:
            {
                string key = rng.Next(2) == 0 ? InterestingKeys[rng.Next(InterestingKeys.Length)] : node.GetPropertyName() + "x";
                if (parent.ContainsKey(key)) goto default;
                kind = $"rename {path} to '{key}'";
                string old = node.GetPropertyName();
                parent.Remove(old);
                parent[key] = node;
                break;
            }
            case 7 when node is JsonArray arr && arr.Count > 0:
            {
                int op = rng.Next(3);
                kind = $"{path}: {(op == 0 ? "clear" : op == 1 ? "reverse" : "drop second half")}";
                var items = arr.ToList();
                arr.Clear();
                if (op == 1) items.Reverse();
                foreach (var it in op == 0 ? [] : op == 1 ? items : items.Take(items.Count / 2)) arr.Add(it);
                break;
            }
            case 8:
            {
                // Size lies: a long string, a large array, deep nesting.
                JsonNode big = rng.Next(3) switch
                {
                    0 => JsonValue.Create(new string('a', 1000 + rng.Next(100_000))),
                    1 => new JsonArray(Enumerable.Range(0, 1000 + rng.Next(20_000)).Select(i => (JsonNode?)JsonValue.Create(i)).ToArray()),
                    _ => Deep(50 + rng.Next(300)),
                };
                kind = $"{path} = {Describe(big)}";
                root = Replace(root!, node, big);
                break;
            }
            default:
            {
                var v = Interesting(rng);
                kind = $"{path} = {Show(v)}";
                root = Replace(root!, node, v);
                break;
            }
        }
        string text = root is null ? "" : root.ToJsonString(Out);
        return ("json: " + kind, Utf8.GetBytes(text));
    }

    static JsonNode Deep(int depth)
    {
        JsonNode n = new JsonArray();
        for (int i = 1; i < depth; i++) n = new JsonArray(n);
        return n;
    }

    static JsonNode? Interesting(Random rng) => JsonNode.Parse(InterestingJson[rng.Next(InterestingJson.Length)], null, Lenient);

    static string Show(JsonNode? v)
    {
        var s = v?.ToJsonString() ?? "null";
        return s.Length <= 60 ? s : s[..60] + $"... ({s.Length} chars)";
    }

    static string Describe(JsonNode n) => n switch
    {
        JsonArray a => $"array of {a.Count}",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => $"string of {v.GetValue<string>().Length} chars",
        _ => Show(n),
    };

    static void Collect(JsonNode? n, List<JsonNode> into)
    {
        if (n is null) return;
        into.Add(n);
        if (n is JsonObject o) foreach (var (_, v) in o) Collect(v, into);
        else if (n is JsonArray a) foreach (var v in a) Collect(v, into);
    }

    /// <summary>Puts <paramref name="value"/> where <paramref name="node"/> is; returns the new root.</summary>
    static JsonNode? Replace(JsonNode root, JsonNode node, JsonNode? value)
    {
        if (node.Parent is null) return value;
        if (node.Parent is JsonObject o) o[node.GetPropertyName()] = value;
        else
        {
            var a = (JsonArray)node.Parent;
            a[a.IndexOf(node)] = value;
        }
        return root;
    }
}

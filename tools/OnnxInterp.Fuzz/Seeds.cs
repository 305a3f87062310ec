using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Fuzz;

/// <summary>Small valid inputs of every kind the readers take, each exercising many of its reader's code paths.</summary>
public static class Seeds
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    static void Json(string path, JsonNode node) => File.WriteAllText(path, node.ToJsonString(Indented));

    /// <summary>GPT-2's byte-to-character table (printable bytes map to themselves, the rest to U+0100 onwards).</summary>
    static char[] ByteAlphabet()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            map[b] = b is (>= 33 and <= 126) or (>= 161 and <= 172) or (>= 174 and <= 255) ? (char)b : (char)next++;
        return map;
    }

    const string Llama3Regex = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3 style: NFC, a Split regex then ByteLevel, merges in both JSON forms, ignore_merges, a template post-processor.</summary>
    public static void ByteLevelTokenizer(string dir)
    {
        var alphabet = ByteAlphabet();
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[alphabet[b].ToString()] = b;
        string[][] merges = [["Ġ", "t"], ["h", "e"], ["Ġt", "he"], ["i", "n"], ["e", "r"], ["Ġ", "a"], ["o", "n"], ["r", "e"], ["Ġ", "c"], ["Ġc", "i"]];
        foreach (var m in merges) vocab[m[0] + m[1]] = vocab.Count;
        vocab["Ġstatement"] = vocab.Count;
        int bos = vocab.Count, eot = bos + 1, user = bos + 2;
        var mergesJson = new JsonArray(merges.Select((m, i) => (JsonNode)(i % 2 == 0 ? JsonValue.Create($"{m[0]} {m[1]}") : new JsonArray(m[0], m[1]))).ToArray());
        Json(Path.Combine(dir, "tokenizer.json"), new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(bos, "<|begin_of_text|>", true), Added(eot, "<|eot_id|>", true),
                new JsonObject { ["id"] = user, ["content"] = "user", ["special"] = false, ["normalized"] = true, ["lstrip"] = true, ["rstrip"] = true }),
            ["normalizer"] = new JsonObject { ["type"] = "Sequence", ["normalizers"] = new JsonArray(new JsonObject { ["type"] = "NFC" }) },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Llama3Regex }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["processors"] = new JsonArray(
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true },
                    new JsonObject
                    {
                        ["type"] = "TemplateProcessing",
                        ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["type_id"] = 0 } },
                            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                        ["special_tokens"] = new JsonObject
                        {
                            ["<|begin_of_text|>"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["ids"] = new JsonArray(bos), ["tokens"] = new JsonArray("<|begin_of_text|>") },
                        },
                    }),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = true, ["vocab"] = vocab, ["merges"] = mergesJson,
            },
        });
        Json(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["bos_token"] = "<|begin_of_text|>",
            ["eos_token"] = new JsonObject { ["content"] = "<|eot_id|>", ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["special"] = true },
            ["pad_token"] = "<|eot_id|>",
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["added_tokens_decoder"] = new JsonObject
            {
                [bos.ToString()] = Added(null, "<|begin_of_text|>", true),
                [eot.ToString()] = Added(null, "<|eot_id|>", true),
                [(user + 1).ToString()] = Added(null, "<|extra|>", true),
            },
        });
        Json(Path.Combine(dir, "generation_config.json"), new JsonObject { ["bos_token_id"] = bos, ["eos_token_id"] = new JsonArray(eot, bos) });
    }

    static JsonObject Added(int? id, string content, bool special)
    {
        var o = new JsonObject();
        if (id is { } i) o["id"] = i;
        o["content"] = content;
        o["single_word"] = false;
        o["lstrip"] = false;
        o["rstrip"] = false;
        o["normalized"] = false;
        o["special"] = special;
        return o;
    }

    /// <summary>Llama-2 / Mistral style: Prepend and Replace normalizers, byte fallback, unk, a Replace/ByteFallback/Fuse/Strip decoder; a Llama tokenizer_config that overrides BOS/EOS.</summary>
    public static void SentencePieceTokenizer(string dir)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = vocab.Count;
        foreach (var c in "▁abcdefghijklmnopqrstuvwxyzTHECPRS.,!?0123456789") vocab[c.ToString()] = vocab.Count;
        string[] merges = ["▁ t", "h e", "▁t he", "i n", "e r", "▁ a", "o n", "r e", "▁ P", "a r", "▁P ar", "i s"];
        foreach (var m in merges) vocab[m.Replace(" ", "")] = vocab.Count;
        Json(Path.Combine(dir, "tokenizer.json"), new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(Added(0, "<unk>", true), Added(1, "<s>", true), Added(2, "</s>", true)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["special_tokens"] = new JsonObject { ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(1), ["tokens"] = new JsonArray("<s>") } },
            },
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" },
                    new JsonObject { ["type"] = "Strip", ["content"] = " ", ["start"] = 1, ["stop"] = 0 }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["fuse_unk"] = true, ["byte_fallback"] = true,
                ["ignore_merges"] = false, ["vocab"] = vocab, ["merges"] = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(m)).ToArray()),
            },
        });
        Json(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["add_bos_token"] = true, ["add_eos_token"] = true, ["bos_token"] = "<s>", ["eos_token"] = "</s>", ["unk_token"] = "<unk>",
            ["pad_token"] = null, ["tokenizer_class"] = "LlamaTokenizer",
        });
    }

    /// <summary>Other pipeline pieces: NFKC/Lowercase/Strip/StripAccents/regex Replace, Digits, Whitespace, Metaspace, a Bert post-processor and Metaspace decoder.</summary>
    public static void MetaspaceTokenizer(string dir)
    {
        var vocab = new JsonObject { ["[UNK]"] = 0, ["[CLS]"] = 1, ["[SEP]"] = 2 };
        foreach (var c in "▁abcdefghijklmnopqrstuvwxyz0123456789.,!?") vocab[c.ToString()] = vocab.Count;
        string[] merges = ["▁ t", "h e", "▁t he", "i s", "▁ c", "i t", "▁c it"];
        foreach (var m in merges) vocab[m.Replace(" ", "")] = vocab.Count;
        Json(Path.Combine(dir, "tokenizer.json"), new JsonObject
        {
            ["added_tokens"] = new JsonArray(Added(0, "[UNK]", true), Added(1, "[CLS]", true), Added(2, "[SEP]", true)),
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "NFKC" }, new JsonObject { ["type"] = "Lowercase" },
                    new JsonObject { ["type"] = "Strip", ["strip_left"] = true, ["strip_right"] = true }, new JsonObject { ["type"] = "StripAccents" },
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["Regex"] = "\\s+" }, ["content"] = " " }),
            },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Digits", ["individual_digits"] = true },
                    new JsonObject { ["type"] = "WhitespaceSplit" },
                    new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = true }),
            },
            ["post_processor"] = new JsonObject { ["type"] = "BertProcessing", ["cls"] = new JsonArray("[CLS]", 1), ["sep"] = new JsonArray("[SEP]", 2) },
            ["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "always" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "[UNK]", ["vocab"] = vocab, ["merges"] = new JsonArray(merges.Select(m => (JsonNode)JsonValue.Create(m)).ToArray()),
            },
        });
        Json(Path.Combine(dir, "tokenizer_config.json"), new JsonObject { ["bos_token"] = null, ["eos_token"] = "[SEP]", ["tokenizer_class"] = "BertTokenizerFast" });
    }

    /// <summary>The paper's CSV shape: statement, label and extra columns; quoted fields with commas, quotes and a line break.</summary>
    public static void Dataset(string dir) => File.WriteAllText(Path.Combine(dir, "cities.csv"), """
        statement,label,city,country,correct_country
        The city of Paris is in France.,1,Paris,France,France
        "The city of Rome is in Spain, Europe.",0,Rome,Spain,Italy
        "The city of ""Tokyo"" is in Japan.",1.0,Tokyo,Japan,Japan
        "The city of Lima
        is in Peru.",True,Lima,Peru,Peru
        The city of Oslo is in Chile.,0.0,Oslo,Chile,Norway

        """.Replace("\n", "\r\n"));

    /// <summary>A dataset written by <c>StatementDataset.Write</c> (Unix line ends, escaping by the writer).</summary>
    public static void WrittenDataset(string dir)
    {
        var rows = new List<Data.Statement>
        {
            new("Two plus two is four.", 1, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("n1", "2").Add("n2", "2")),
            new("Seven is, \"surely\", even.", 0, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("n1", "7").Add("n2", "")),
        };
        new Data.StatementDataset("arith", rows, ["n1", "n2"]).Write(Path.Combine(dir, "cities.csv"));
    }

    /// <summary>An npy activation store folder (F32, two tensors, metadata.json).</summary>
    public static void NpyStore(string dir) => Store(Path.Combine(dir, "store"), ActivationStoreFormat.Npy, ActivationStoreDType.F32);

    /// <summary>A safetensors activation store (F16, two tensors, metadata in the header).</summary>
    public static void SafetensorsStore(string dir) => Store(Path.Combine(dir, "store.safetensors"), ActivationStoreFormat.Safetensors, ActivationStoreDType.F16);

    static void Store(string path, ActivationStoreFormat format, ActivationStoreDType dtype)
    {
        using var w = ActivationStoreWriter.Create(path, format, 3, [("blocks.0.hook_resid_post", 2, 4), ("blocks.1.mlp.hook_post", 1, 6)],
            new Dictionary<string, string> { ["model"] = "tiny", ["prompts"] = "3" }, dtype);
        var rng = new Random(3);
        FloatTensor T(int b, int p, int d) => new(Enumerable.Range(0, b * p * d).Select(_ => (float)rng.NextDouble()).ToArray(), b, p, d);
        w.Append(new Dictionary<string, FloatTensor> { ["blocks.0.hook_resid_post"] = T(2, 2, 4), ["blocks.1.mlp.hook_post"] = T(2, 1, 6) });
        w.Append(new Dictionary<string, FloatTensor> { ["blocks.0.hook_resid_post"] = T(1, 2, 4), ["blocks.1.mlp.hook_post"] = T(1, 1, 6) });
        w.Complete();
    }

    public static readonly RandomCheckpointSpec TinyModel = new()
    {
        HiddenSize = 16, IntermediateSize = 24, Layers = 2, Heads = 2, KvHeads = 1, VocabSize = 260, Seed = 5,
    };

    /// <summary>A tiny random Hugging Face checkpoint in one safetensors file.</summary>
    public static void Checkpoint(string dir) => RandomCheckpoint.Write(dir, TinyModel);

    /// <summary>The same checkpoint in two shards with model.safetensors.index.json, bf16.</summary>
    public static void ShardedCheckpoint(string dir)
    {
        var single = dir + ".single";
        RandomCheckpoint.Write(single, TinyModel with { Family = ModelFamilies.Qwen2, DType = TensorDType.BF16, TieWordEmbeddings = true });
        File.Copy(Path.Combine(single, HfCheckpoint.ConfigFile), Path.Combine(dir, HfCheckpoint.ConfigFile));
        using (var f = SafetensorsFile.Open(Path.Combine(single, HfCheckpoint.SingleFile)))
        {
            var map = new JsonObject();
            var names = f.Tensors.Select(t => t.Name).ToList();
            for (int s = 0; s < 2; s++)
            {
                var file = $"model-{s + 1:D5}-of-00002.safetensors";
                var part = names.Where((_, i) => i % 2 == s).ToList();
                SafetensorsWriter.Write(Path.Combine(dir, file), part.Select(n =>
                {
                    var t = f[n];
                    var bytes = new byte[t.ByteLength];
                    f.CopyTo(t, 0, bytes);
                    return SafetensorsEntry.FromBytes(n, t.DType, t.Shape, bytes);
                }).ToList());
                foreach (var n in part) map[n] = file;
            }
            Json(Path.Combine(dir, HfCheckpoint.IndexFile), new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = 0 }, ["weight_map"] = map });
        }
        Directory.Delete(single, recursive: true);
    }

    /// <summary>The tiny checkpoint exported with hooks and injection inputs (no layer graphs, to keep the folder small).</summary>
    public static void Export(string dir, ExportDType dtype)
    {
        var hf = dir + ".hf";
        RandomCheckpoint.Write(hf, TinyModel);
        // The exporter swaps a whole folder into place: export beside, then move the files in.
        var onnx = dir + ".onnx";
        ModelExporter.Export(hf, onnx, new ExportOptions { DType = dtype, LayerGraphs = false, HashSource = false });
        foreach (var f in Directory.EnumerateFiles(onnx)) File.Move(f, Path.Combine(dir, Path.GetFileName(f)));
        Directory.Delete(onnx);
        Directory.Delete(hf, recursive: true);
    }
}

using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Internals;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Checkpoints;

/// <summary>Sizes of a random checkpoint. Defaults make a model of a few hundred kilobytes.</summary>
public readonly record struct RandomCheckpointSpec()
{
    readonly ModelFamily? _family;

    /// <summary><see cref="ModelFamilies.Default"/> unless set (also for <c>default</c>).</summary>
    public ModelFamily Family { get => _family ?? ModelFamilies.Default; init => _family = value; }

    public int HiddenSize { get; init; } = 64;
    public int IntermediateSize { get; init; } = 128;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;

    /// <summary>At least 258: the byte-level tokenizer's 256 bytes plus BOS and EOS.</summary>
    public int VocabSize { get; init; } = 258;
    public bool TieWordEmbeddings { get; init; }
    public TensorDType DType { get; init; } = TensorDType.F32;
    public int Seed { get; init; } = 1;

    /// <summary>
    /// A folder with a real tokenizer (tokenizer.json, and tokenizer_config.json / special_tokens_map.json when present)
    /// to copy in instead of the byte-level one; the vocabulary then grows to at least the tokenizer's size and BOS/EOS
    /// ids come from it. Null writes the byte-level tokenizer.
    /// </summary>
    public string? TokenizerDirectory { get; init; }
}

/// <summary>
/// Writes a random Hugging Face checkpoint folder (config.json, model.safetensors, a byte-level tokenizer.json and
/// tokenizer_config.json) of any registered family. Its outputs mean nothing; it exists to try the tools,
/// for benchmarks and for tests. Written atomically.
/// </summary>
public static class RandomCheckpoint
{
    public const int Bos = 256, Eos = 257;

    public static void Write(string directory, RandomCheckpointSpec spec)
    {
        HfTokenizer? tokenizer = null;
        if (spec.TokenizerDirectory is { } tokDir)
        {
            if (!File.Exists(Path.Combine(tokDir, "tokenizer.json"))) Throw.InvalidFile("no tokenizer.json in the tokenizer folder", Path.Combine(tokDir, "tokenizer.json"));
            tokenizer = HfTokenizer.FromDirectory(tokDir);
            spec = spec with { VocabSize = Math.Max(spec.VocabSize, tokenizer.VocabSize) };
        }
        if (spec.VocabSize < 258) Throw.Argument("vocabulary must hold the 256 bytes plus BOS and EOS", "vocab_size", spec.VocabSize);
        if (spec.Heads <= 0 || spec.KvHeads <= 0 || spec.Heads % spec.KvHeads != 0) Throw.Argument("heads must be a multiple of kv heads", "kv_heads", spec.KvHeads);
        if (spec.HiddenSize % spec.Heads != 0 || spec.HiddenSize / spec.Heads % 2 != 0) Throw.Argument("hidden size must split into even-sized heads", "hidden_size", spec.HiddenSize);
        var configJson = ConfigJson(spec, tokenizer?.BosTokenId, tokenizer?.EosTokenIds.FirstOrDefault());
        var config = ModelConfigReader.Parse(configJson);
        AtomicFile.WriteDirectory(directory, dir =>
        {
            File.WriteAllText(Path.Combine(dir, HfCheckpoint.ConfigFile), configJson);
            var rng = new Random(spec.Seed);
            var entries = WeightNames.Expected(config).Select(w => Entry(w.Name, w.Shape, rng.Next(), w.Name == config.Family.Tensors.Embed, spec.DType)).ToList();
            SafetensorsWriter.Write(Path.Combine(dir, HfCheckpoint.SingleFile), entries, new Dictionary<string, string> { ["format"] = "pt" });
            if (spec.TokenizerDirectory is { } from)
            {
                foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
                    if (File.Exists(Path.Combine(from, file))) File.Copy(Path.Combine(from, file), Path.Combine(dir, file));
                return;
            }
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), TokenizerJson());
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
                """{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "tokenizer_class": "PreTrainedTokenizerFast"}""");
        });
    }

    /// <summary>Norm weights near 1, other matrices N(0, 1/fan_in), embeddings N(0, 1): activations stay O(1).</summary>
    static SafetensorsEntry Entry(string name, long[] shape, int seed, bool embedding, TensorDType dtype) => new(name, dtype, shape, stream =>
    {
        var rng = new Random(seed);
        long n = shape.Aggregate(1L, (a, b) => a * b);
        // The one-dimensional tensors are the norm weights and the biases ({module}.bias in every family).
        bool bias = name.EndsWith(".bias", StringComparison.Ordinal), norm = shape.Length == 1 && !bias;
        double std = embedding ? 1.0 : bias ? 0.02 : 1.0 / Math.Sqrt(shape[^1]);
        const int chunk = 1 << 16;
        var buf = new float[chunk];
        for (long done = 0; done < n; done += chunk)
        {
            int k = (int)Math.Min(chunk, n - done);
            for (int i = 0; i < k; i++) buf[i] = (float)((norm ? 1.0 : 0.0) + (norm ? 0.1 : std) * Gaussian(rng));
            SafetensorsEntry.FromFloat32(name, [k], buf[..k], dtype).WriteData(stream);
        }
    });

    static double Gaussian(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    static string ConfigJson(RandomCheckpointSpec s, int? bos, int? eos)
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(s.Family.Architectures[0]),
            ["model_type"] = s.Family.ModelType,
            ["hidden_size"] = s.HiddenSize,
            ["intermediate_size"] = s.IntermediateSize,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["vocab_size"] = s.VocabSize,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["max_position_embeddings"] = 2048,
            ["tie_word_embeddings"] = s.TieWordEmbeddings,
            ["bos_token_id"] = bos ?? Bos,
            ["eos_token_id"] = eos is > 0 ? eos : Eos,
            ["torch_dtype"] = s.DType switch { TensorDType.BF16 => "bfloat16", TensorDType.F16 => "float16", _ => "float32" },
        };
        // Full attention: a window that is on unless the config turns it off is turned off.
        if (s.Family.SlidingWindow is { EnabledBy: null } window) o[window.Field] = null;
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>A GPT-2 style byte-level BPE with no merges: every byte is a token, BOS is prepended.</summary>
    static string TokenizerJson()
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar((byte)b).ToString()] = b;
        var added = new JsonArray(
            new JsonObject { ["id"] = Bos, ["content"] = "<s>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true },
            new JsonObject { ["id"] = Eos, ["content"] = "</s>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true });
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                ["pair"] = new JsonArray(new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "B", ["type_id"] = 1 } }),
                ["special_tokens"] = new JsonObject { ["<s>"] = new JsonObject { ["id"] = "<s>", ["ids"] = new JsonArray(Bos), ["tokens"] = new JsonArray("<s>") } },
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false,
                ["byte_fallback"] = false,
                ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(),
            },
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }
}

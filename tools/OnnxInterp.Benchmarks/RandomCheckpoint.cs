using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;

namespace OnnxInterp.Benchmarks;

/// <summary>The architecture of a random Llama checkpoint.</summary>
sealed record LlamaShape(int Hidden, int Layers, int Heads, int KvHeads, int HeadDim, int Mlp, int Vocab, bool Tied)
{
    public string ConfigJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["hidden_act"] = "silu",
            ["hidden_size"] = Hidden,
            ["intermediate_size"] = Mlp,
            ["num_hidden_layers"] = Layers,
            ["num_attention_heads"] = Heads,
            ["num_key_value_heads"] = KvHeads,
            ["head_dim"] = HeadDim,
            ["vocab_size"] = Vocab,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 500000.0,
            ["max_position_embeddings"] = 8192,
            ["tie_word_embeddings"] = Tied,
            ["torch_dtype"] = "float32",
        };
        return o.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    public override string ToString() =>
        $"hidden {Hidden}, {Layers} layers, {Heads}/{KvHeads} heads x {HeadDim}, MLP {Mlp}, vocab {Vocab}{(Tied ? ", tied head" : "")}";
}

/// <summary>
/// Writes a seeded random Llama checkpoint (config.json + model.safetensors) without holding it in memory: each
/// tensor is generated in 1M-element chunks inside the <see cref="SafetensorsEntry.WriteData"/> callback.
/// Weights are uniform in ±0.02·√3 (std 0.02); norm weights are 1 ± 0.05. Each tensor's stream is seeded from
/// (seed, tensor name), so the bytes depend on nothing else.
/// </summary>
static class RandomCheckpoint
{
    const int Chunk = 1 << 20;

    public static (ModelConfig Config, long Bytes) Write(string dir, LlamaShape shape, ulong seed, TensorDType dtype)
    {
        Directory.CreateDirectory(dir);
        var configJson = shape.ConfigJson();
        File.WriteAllText(Path.Combine(dir, HfCheckpoint.ConfigFile), configJson);
        var config = ModelConfigReader.Parse(configJson);
        var entries = WeightNames.Expected(config)
            .Select(t => new SafetensorsEntry(t.Name, dtype, t.Shape, s => Generate(s, t.Name, t.Shape, seed, dtype)))
            .ToList();
        var path = Path.Combine(dir, HfCheckpoint.SingleFile);
        SafetensorsWriter.Write(path, entries);
        return (config, new FileInfo(path).Length);
    }

    static void Generate(Stream s, string name, long[] shape, ulong seed, TensorDType dtype)
    {
        long count = 1;
        foreach (var d in shape) count *= d;
        bool norm = name.EndsWith("norm.weight", StringComparison.Ordinal);
        float center = norm ? 1f : 0f, half = norm ? 0.05f : 0.02f * MathF.Sqrt(3f);
        var rng = new SplitMix64(seed ^ Fnv1a(name));
        var f = ArrayPool<float>.Shared.Rent((int)Math.Min(Chunk, count));
        var bf = dtype == TensorDType.BF16 ? ArrayPool<ushort>.Shared.Rent(f.Length) : null;
        try
        {
            for (long done = 0; done < count; done += Chunk)
            {
                int n = (int)Math.Min(Chunk, count - done);
                var span = f.AsSpan(0, n);
                for (int i = 0; i < n; i++) span[i] = center + half * rng.NextSigned();
                switch (dtype)
                {
                    case TensorDType.F32:
                        s.Write(MemoryMarshal.AsBytes(span));
                        break;
                    case TensorDType.BF16:
                        FloatConversion.ToBFloat16(span, bf.AsSpan(0, n));
                        s.Write(MemoryMarshal.AsBytes(bf.AsSpan(0, n)));
                        break;
                    default:
                        throw new ArgumentException($"source dtype {dtype} not supported here (F32 or BF16)");
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(f);
            if (bf is not null) ArrayPool<ushort>.Shared.Return(bf);
        }
    }

    static ulong Fnv1a(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) { h ^= c; h *= 1099511628211UL; }
        return h;
    }

    public static string Describe(long bytes) =>
        bytes >= 1L << 30 ? (bytes / (double)(1L << 30)).ToString("F2", CultureInfo.InvariantCulture) + " GiB"
        : (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB";

    /// <summary>
    /// A seeded random fp32 checkpoint under root/hf, exported with the default options (hook outputs, injection inputs,
    /// decode.onnx, genai_config.json: the folder a library user gets) to root/onnx, which it returns; says what it did.
    /// </summary>
    public static string WriteExported(string root, LlamaShape shape, ulong seed)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var (_, bytes) = Write(Path.Combine(root, "hf"), shape, seed, OnnxInterp.Checkpoints.TensorDType.F32);
        Console.WriteLine($"checkpoint written: {Describe(bytes)} in {Stats.F(sw.Elapsed.TotalSeconds)} s");
        sw.Restart();
        var dir = Path.Combine(root, "onnx");
        OnnxInterp.Export.ModelExporter.Export(Path.Combine(root, "hf"), dir, new OnnxInterp.Export.ExportOptions { HashSource = false });
        Console.WriteLine($"exported in {Stats.F(sw.Elapsed.TotalSeconds)} s");
        return dir;
    }
}

/// <summary>SplitMix64: fast, seedable, good enough for random weights.</summary>
struct SplitMix64(ulong state)
{
    ulong _s = state;

    public ulong Next()
    {
        ulong z = _s += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [−1, 1).</summary>
    public float NextSigned() => (Next() >> 40) * (2f / (1 << 24)) - 1f;
}

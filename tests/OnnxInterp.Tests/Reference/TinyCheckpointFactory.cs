using System.Text.Json;
using System.Text.Json.Nodes;

namespace OnnxInterp.Tests.Reference;

/// <summary>
/// What tiny random checkpoint to make. Family is "llama", "mistral" or "qwen2".
/// SlidingWindow: Mistral's sliding_window (all layers), or Qwen2's sliding_window, which only takes effect with
/// <see cref="UseSlidingWindow"/> and then only on layers i &gt;= <see cref="MaxWindowLayers"/>.
/// AttentionBias / MlpBias are Llama's attention_bias / mlp_bias (ignored by the other families, as in HF).
/// </summary>
public sealed record TinyCheckpointSpec(string Family = "llama")
{
    public int HiddenSize { get; init; } = 64;
    public int IntermediateSize { get; init; } = 96;
    public int NumLayers { get; init; } = 3;
    public int NumHeads { get; init; } = 4;
    public int NumKvHeads { get; init; } = 2;
    public int HeadDim { get; init; } = 16;
    public int VocabSize { get; init; } = 97;
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public bool Tied { get; init; }
    public RopeScalingSpec? RopeScaling { get; init; }
    public int? SlidingWindow { get; init; }
    public bool UseSlidingWindow { get; init; }
    public int MaxWindowLayers { get; init; }
    public bool AttentionBias { get; init; }
    public bool MlpBias { get; init; }
    public int Seed { get; init; } = 1234;

    /// <summary>Llama-3 style scaling that bites at short positions (original context 16).</summary>
    public static RopeScalingSpec Llama3Scaling { get; } = new("llama3", 8.0, 1.0, 4.0, 16);
}

/// <summary>A tiny random checkpoint: HF-named float weights, their shapes, the config and a config.json.</summary>
public sealed record TinyCheckpoint(
    ReferenceConfig Config,
    Dictionary<string, float[]> Weights,
    Dictionary<string, int[]> Shapes,
    string ConfigJson);

public static class TinyCheckpointFactory
{
    public static TinyCheckpoint Create(TinyCheckpointSpec spec)
    {
        string family = spec.Family;
        if (family is not ("llama" or "mistral" or "qwen2"))
            throw new ArgumentException($"Unknown family '{family}'", nameof(spec));
        if (spec.NumHeads % spec.NumKvHeads != 0)
            throw new ArgumentException("NumHeads must be a multiple of NumKvHeads", nameof(spec));

        RopeScalingSpec? scaling = spec.RopeScaling switch
        {
            null => null,
            { Type: "linear" } s => new RopeScalingSpec("linear", s.Factor, 0, 0, 0),
            { Type: "llama3" } s => s,
            var s => throw new ArgumentException($"Unsupported rope scaling '{s.Type}'", nameof(spec)),
        };

        bool qkvBias = family == "qwen2" || (family == "llama" && spec.AttentionBias);
        bool oBias = family == "llama" && spec.AttentionBias;
        bool mlpBias = family == "llama" && spec.MlpBias;
        int? window = null;
        bool[]? slidingLayers = null;
        if (family == "mistral")
        {
            window = spec.SlidingWindow;
        }
        else if (family == "qwen2" && spec.UseSlidingWindow && spec.SlidingWindow is not null)
        {
            window = spec.SlidingWindow;
            slidingLayers = new bool[spec.NumLayers];
            for (int i = 0; i < spec.NumLayers; i++) slidingLayers[i] = i >= spec.MaxWindowLayers;
        }

        var config = new ReferenceConfig
        {
            HiddenSize = spec.HiddenSize,
            IntermediateSize = spec.IntermediateSize,
            NumLayers = spec.NumLayers,
            NumHeads = spec.NumHeads,
            NumKvHeads = spec.NumKvHeads,
            HeadDim = spec.HeadDim,
            VocabSize = spec.VocabSize,
            RmsNormEps = spec.RmsNormEps,
            RopeTheta = spec.RopeTheta,
            RopeScaling = scaling,
            TieWordEmbeddings = spec.Tied,
            QkvBias = qkvBias,
            OProjBias = oBias,
            MlpBias = mlpBias,
            SlidingWindow = window,
            SlidingLayers = slidingLayers,
        };

        var weights = new Dictionary<string, float[]>();
        var shapes = new Dictionary<string, int[]>();
        var rng = new Random(spec.Seed);
        int d = spec.HiddenSize, im = spec.IntermediateSize, v = spec.VocabSize;
        int qDim = spec.NumHeads * spec.HeadDim, kvDim = spec.NumKvHeads * spec.HeadDim;

        void Matrix(string name, int rows, int cols, double std)
        {
            var w = new float[rows * cols];
            for (int i = 0; i < w.Length; i++) w[i] = (float)(std * Normal(rng));
            weights[name] = w;
            shapes[name] = [rows, cols];
        }
        void Vector(string name, int n, double mean, double std)
        {
            var w = new float[n];
            for (int i = 0; i < n; i++) w[i] = (float)(mean + std * Normal(rng));
            weights[name] = w;
            shapes[name] = [n];
        }

        Matrix("model.embed_tokens.weight", v, d, 1.0);
        for (int l = 0; l < spec.NumLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Vector(p + "input_layernorm.weight", d, 1.0, 0.1);
            Matrix(p + "self_attn.q_proj.weight", qDim, d, 1.0 / Math.Sqrt(d));
            Matrix(p + "self_attn.k_proj.weight", kvDim, d, 1.0 / Math.Sqrt(d));
            Matrix(p + "self_attn.v_proj.weight", kvDim, d, 1.0 / Math.Sqrt(d));
            if (qkvBias)
            {
                Vector(p + "self_attn.q_proj.bias", qDim, 0.0, 0.2);
                Vector(p + "self_attn.k_proj.bias", kvDim, 0.0, 0.2);
                Vector(p + "self_attn.v_proj.bias", kvDim, 0.0, 0.2);
            }
            Matrix(p + "self_attn.o_proj.weight", d, qDim, 1.0 / Math.Sqrt(qDim));
            if (oBias) Vector(p + "self_attn.o_proj.bias", d, 0.0, 0.2);
            Vector(p + "post_attention_layernorm.weight", d, 1.0, 0.1);
            Matrix(p + "mlp.gate_proj.weight", im, d, 1.0 / Math.Sqrt(d));
            Matrix(p + "mlp.up_proj.weight", im, d, 1.0 / Math.Sqrt(d));
            Matrix(p + "mlp.down_proj.weight", d, im, 1.0 / Math.Sqrt(im));
            if (mlpBias)
            {
                Vector(p + "mlp.gate_proj.bias", im, 0.0, 0.2);
                Vector(p + "mlp.up_proj.bias", im, 0.0, 0.2);
                Vector(p + "mlp.down_proj.bias", d, 0.0, 0.2);
            }
        }
        Vector("model.norm.weight", d, 1.0, 0.1);
        if (!spec.Tied) Matrix("lm_head.weight", v, d, 1.0 / Math.Sqrt(d));

        return new TinyCheckpoint(config, weights, shapes, BuildConfigJson(spec, scaling));
    }

    /// <summary>Standard normal by Box-Muller from the seeded generator.</summary>
    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(); // (0, 1]
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static string BuildConfigJson(TinyCheckpointSpec spec, RopeScalingSpec? scaling)
    {
        string arch = spec.Family switch
        {
            "llama" => "LlamaForCausalLM",
            "mistral" => "MistralForCausalLM",
            _ => "Qwen2ForCausalLM",
        };
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(arch),
            ["attention_bias"] = spec.Family == "llama" && spec.AttentionBias,
            ["attention_dropout"] = 0.0,
            ["bos_token_id"] = 1,
            ["eos_token_id"] = 2,
            ["hidden_act"] = "silu",
            ["hidden_size"] = spec.HiddenSize,
            ["initializer_range"] = 0.02,
            ["intermediate_size"] = spec.IntermediateSize,
            ["max_position_embeddings"] = 256,
            ["model_type"] = spec.Family,
            ["num_attention_heads"] = spec.NumHeads,
            ["num_hidden_layers"] = spec.NumLayers,
            ["num_key_value_heads"] = spec.NumKvHeads,
            ["rms_norm_eps"] = spec.RmsNormEps,
            ["rope_theta"] = spec.RopeTheta,
        };
        if (spec.Family != "qwen2") o["head_dim"] = spec.HeadDim;
        else if (spec.HeadDim != spec.HiddenSize / spec.NumHeads) o["head_dim"] = spec.HeadDim;
        if (spec.Family == "llama")
        {
            o["mlp_bias"] = spec.MlpBias;
            o["pretraining_tp"] = 1;
        }
        o["rope_scaling"] = scaling switch
        {
            null => null,
            { Type: "linear" } => new JsonObject { ["factor"] = scaling.Factor, ["rope_type"] = "linear" },
            _ => new JsonObject
            {
                ["factor"] = scaling.Factor,
                ["high_freq_factor"] = scaling.HighFreqFactor,
                ["low_freq_factor"] = scaling.LowFreqFactor,
                ["original_max_position_embeddings"] = scaling.OriginalMaxPositionEmbeddings,
                ["rope_type"] = "llama3",
            },
        };
        if (spec.Family == "mistral")
            o["sliding_window"] = spec.SlidingWindow;
        if (spec.Family == "qwen2")
        {
            o["max_window_layers"] = spec.MaxWindowLayers;
            o["sliding_window"] = spec.SlidingWindow;
            o["use_sliding_window"] = spec.UseSlidingWindow;
        }
        o["tie_word_embeddings"] = spec.Tied;
        o["torch_dtype"] = "float32";
        o["transformers_version"] = "4.46.0";
        o["use_cache"] = true;
        o["vocab_size"] = spec.VocabSize;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

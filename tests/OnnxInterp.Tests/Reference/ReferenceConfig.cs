using System.Globalization;
using System.Text.Json;

namespace OnnxInterp.Tests.Reference;

/// <summary>RoPE scaling as transformers' <c>rope_scaling</c> describes it. Type is "llama3" or "linear";
/// for "linear" only <see cref="Factor"/> matters and the other fields are 0.</summary>
public sealed record RopeScalingSpec(
    string Type,
    double Factor,
    double LowFreqFactor,
    double HighFreqFactor,
    int OriginalMaxPositionEmbeddings);

/// <summary>
/// Everything the plain reference forward pass needs to know about a Llama / Mistral / Qwen2 checkpoint.
/// Independent of the OnnxInterp library on purpose: this is the oracle.
/// Equality compares <see cref="SlidingLayers"/> element-wise (not by reference).
/// </summary>
public sealed record ReferenceConfig
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public required int NumKvHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public RopeScalingSpec? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }

    /// <summary>q_proj, k_proj and v_proj carry a bias (Qwen2 always; Llama when attention_bias).</summary>
    public bool QkvBias { get; init; }

    /// <summary>o_proj carries a bias (Llama when attention_bias).</summary>
    public bool OProjBias { get; init; }

    /// <summary>gate_proj, up_proj and down_proj carry a bias (Llama when mlp_bias).</summary>
    public bool MlpBias { get; init; }

    /// <summary>Sliding window size W: on a sliding layer key j is visible to query i only if i - j &lt; W.</summary>
    public int? SlidingWindow { get; init; }

    /// <summary>Which layers use the window; null means all layers (when <see cref="SlidingWindow"/> is set).</summary>
    public bool[]? SlidingLayers { get; init; }

    public bool IsSlidingLayer(int layer) =>
        SlidingWindow is not null && (SlidingLayers is null || SlidingLayers[layer]);

    public bool Equals(ReferenceConfig? other)
    {
        if (other is null) return false;
        if (ReferenceEquals(this, other)) return true;
        bool layersEqual = SlidingLayers is null
            ? other.SlidingLayers is null
            : other.SlidingLayers is not null && SlidingLayers.SequenceEqual(other.SlidingLayers);
        return HiddenSize == other.HiddenSize
            && IntermediateSize == other.IntermediateSize
            && NumLayers == other.NumLayers
            && NumHeads == other.NumHeads
            && NumKvHeads == other.NumKvHeads
            && HeadDim == other.HeadDim
            && VocabSize == other.VocabSize
            && RmsNormEps.Equals(other.RmsNormEps)
            && RopeTheta.Equals(other.RopeTheta)
            && Equals(RopeScaling, other.RopeScaling)
            && TieWordEmbeddings == other.TieWordEmbeddings
            && QkvBias == other.QkvBias
            && OProjBias == other.OProjBias
            && MlpBias == other.MlpBias
            && SlidingWindow == other.SlidingWindow
            && layersEqual;
    }

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(HiddenSize);
        h.Add(IntermediateSize);
        h.Add(NumLayers);
        h.Add(NumHeads);
        h.Add(NumKvHeads);
        h.Add(HeadDim);
        h.Add(VocabSize);
        h.Add(RmsNormEps);
        h.Add(RopeTheta);
        h.Add(RopeScaling);
        h.Add(TieWordEmbeddings);
        h.Add(QkvBias);
        h.Add(OProjBias);
        h.Add(MlpBias);
        h.Add(SlidingWindow);
        if (SlidingLayers is not null)
            foreach (bool b in SlidingLayers) h.Add(b);
        return h.ToHashCode();
    }

    /// <summary>
    /// Parses a Hugging Face config.json of a LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM checkpoint,
    /// applying the same defaults and per-family rules as transformers' LlamaConfig / MistralConfig / Qwen2Config
    /// and the corresponding attention modules:
    /// Llama: attention_bias gives q,k,v,o biases, mlp_bias gives gate/up/down biases, no sliding window.
    /// Mistral: no biases; sliding_window (when non-null) applies to every layer.
    /// Qwen2: q,k,v biases always, o_proj and MLP never; the window applies to layer i iff
    /// use_sliding_window and i &gt;= max_window_layers (or per explicit layer_types when present).
    /// </summary>
    public static ReferenceConfig FromHfConfigJson(string json)
    {
        using var doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        string family = DetectFamily(root);

        int hidden = GetInt(root, "hidden_size") ?? throw Missing("hidden_size");
        int heads = GetInt(root, "num_attention_heads") ?? throw Missing("num_attention_heads");
        int layers = GetInt(root, "num_hidden_layers") ?? throw Missing("num_hidden_layers");
        int kvHeads = GetInt(root, "num_key_value_heads") ?? heads;
        int headDim = GetInt(root, "head_dim") ?? hidden / heads;

        // transformers v5 moves rope_theta / rope_scaling into "rope_parameters"; accept both layouts.
        JsonElement? ropeParams = GetObject(root, "rope_parameters");
        double ropeTheta = GetDouble(root, "rope_theta")
            ?? (ropeParams is { } rp ? GetDouble(rp, "rope_theta") : null)
            ?? 10000.0;
        RopeScalingSpec? scaling = ParseRopeScaling(GetObject(root, "rope_scaling") ?? ropeParams);

        bool attentionBias = GetBool(root, "attention_bias") ?? false;
        bool mlpBias = GetBool(root, "mlp_bias") ?? false;

        bool qkvBias, oBias, mlpB;
        int? window = null;
        bool[]? slidingLayers = null;
        switch (family)
        {
            case "llama":
                qkvBias = attentionBias;
                oBias = attentionBias;
                mlpB = mlpBias;
                break;
            case "mistral":
                qkvBias = oBias = mlpB = false;
                window = SlidingWindowOrHfDefault(root);
                break;
            default: // qwen2
                qkvBias = true;
                oBias = mlpB = false;
                bool useWindow = GetBool(root, "use_sliding_window") ?? false;
                int? w = SlidingWindowOrHfDefault(root);
                if (useWindow && w is not null)
                {
                    window = w;
                    int maxWindowLayers = GetInt(root, "max_window_layers") ?? 28;
                    slidingLayers = new bool[layers];
                    if (root.TryGetProperty("layer_types", out JsonElement lt) && lt.ValueKind == JsonValueKind.Array)
                    {
                        if (lt.GetArrayLength() != layers)
                            throw new FormatException("layer_types length differs from num_hidden_layers");
                        int i = 0;
                        foreach (JsonElement t in lt.EnumerateArray())
                            slidingLayers[i++] = t.GetString() == "sliding_attention";
                    }
                    else
                    {
                        for (int i = 0; i < layers; i++) slidingLayers[i] = i >= maxWindowLayers;
                    }
                }
                break;
        }

        return new ReferenceConfig
        {
            HiddenSize = hidden,
            IntermediateSize = GetInt(root, "intermediate_size") ?? throw Missing("intermediate_size"),
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = GetInt(root, "vocab_size") ?? throw Missing("vocab_size"),
            RmsNormEps = GetDouble(root, "rms_norm_eps") ?? 1e-6,
            RopeTheta = ropeTheta,
            RopeScaling = scaling,
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings") ?? false,
            QkvBias = qkvBias,
            OProjBias = oBias,
            MlpBias = mlpB,
            SlidingWindow = window,
            SlidingLayers = slidingLayers,
        };
    }

    private static string DetectFamily(JsonElement root)
    {
        if (root.TryGetProperty("architectures", out JsonElement archs) && archs.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement a in archs.EnumerateArray())
            {
                switch (a.GetString())
                {
                    case "LlamaForCausalLM": return "llama";
                    case "MistralForCausalLM": return "mistral";
                    case "Qwen2ForCausalLM": return "qwen2";
                }
            }
        }
        string? modelType = root.TryGetProperty("model_type", out JsonElement mt) && mt.ValueKind == JsonValueKind.String
            ? mt.GetString()
            : null;
        return modelType switch
        {
            "llama" or "mistral" or "qwen2" => modelType,
            _ => throw new NotSupportedException($"Unsupported architecture / model_type '{modelType}'"),
        };
    }

    private static RopeScalingSpec? ParseRopeScaling(JsonElement? element)
    {
        if (element is not { } e) return null;
        string? type = null;
        if (e.TryGetProperty("rope_type", out JsonElement rt) && rt.ValueKind == JsonValueKind.String)
            type = rt.GetString();
        else if (e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String)
            type = t.GetString();
        switch (type)
        {
            case null:
            case "default":
                return null;
            case "linear":
                return new RopeScalingSpec("linear", GetDouble(e, "factor") ?? throw Missing("rope_scaling.factor"), 0, 0, 0);
            case "llama3":
                return new RopeScalingSpec(
                    "llama3",
                    GetDouble(e, "factor") ?? throw Missing("rope_scaling.factor"),
                    GetDouble(e, "low_freq_factor") ?? throw Missing("rope_scaling.low_freq_factor"),
                    GetDouble(e, "high_freq_factor") ?? throw Missing("rope_scaling.high_freq_factor"),
                    GetInt(e, "original_max_position_embeddings")
                        ?? throw Missing("rope_scaling.original_max_position_embeddings"));
            default:
                throw new NotSupportedException($"Unsupported rope_scaling type '{type}'");
        }
    }

    /// <summary>MistralConfig and Qwen2Config default sliding_window to 4096 when the key is absent; explicit null is none.</summary>
    private static int? SlidingWindowOrHfDefault(JsonElement root) =>
        root.TryGetProperty("sliding_window", out _) ? GetInt(root, "sliding_window") : 4096;

    private static FormatException Missing(string name) => new($"config.json lacks '{name}'");

    private static JsonElement? GetObject(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.Object ? v : null;

    private static int? GetInt(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number)
            throw new FormatException($"'{name}' is not a number");
        return v.TryGetInt32(out int i) ? i : checked((int)v.GetDouble());
    }

    private static double? GetDouble(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number)
            throw new FormatException($"'{name}' is not a number: {v.GetRawText()}");
        return double.Parse(v.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    private static bool? GetBool(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new FormatException($"'{name}' is not a boolean"),
        };
    }
}

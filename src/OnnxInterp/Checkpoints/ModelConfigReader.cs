using System.Collections.Immutable;
using System.Text.Json;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Internals;

namespace OnnxInterp.Checkpoints;

/// <summary>Parses and validates a Hugging Face config.json into a <see cref="ModelConfig"/>.</summary>
public static class ModelConfigReader
{
    /// <summary>
    /// Upper bound on num_hidden_layers, far above any published decoder (Llama 3.1 405B has 126): per-layer tables are
    /// sized by it before any tensor is checked, so a lying config must not reach them.
    /// </summary>
    public const int MaxLayers = 1024;

    /// <summary>The rotary types (rope_type) this reader parses; a family accepts a subset (<see cref="ModelFamily.RopeTypes"/>).</summary>
    public static IReadOnlyList<string> ImplementedRopeTypes { get; } = ["default", "linear", "llama3"];

    public static ModelConfig ReadFile(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"cannot read config: {e.Message}", path, inner: e);
        }
        return Parse(text, path);
    }

    /// <param name="json">config.json text.</param>
    /// <param name="file">The path named in errors.</param>
    public static ModelConfig Parse(string json, string file = "config.json")
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32, AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InvalidFileException($"config is not valid JSON: {e.Message}", file, inner: e); }
        using (doc)
        {
            var r = new Fields(doc.RootElement, file);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) Throw.InvalidFile("config is not a JSON object", file, "$");

            string arch = r.ArchitectureName();
            var family = ModelFamilies.FromArchitecture(arch, file);

            string act = r.String("hidden_act") ?? "silu";
            if (act != "silu") Throw.Unsupported("only the silu activation is implemented", file, "hidden_act", act);

            int hidden = r.PositiveInt("hidden_size");
            int heads = r.PositiveInt("num_attention_heads");
            int kvHeads = r.OptionalInt("num_key_value_heads") ?? heads;
            if (kvHeads <= 0 || heads % kvHeads != 0)
                Throw.InvalidFile($"num_key_value_heads must divide num_attention_heads ({heads})", file, "num_key_value_heads", kvHeads);
            int? headDimField = r.OptionalInt("head_dim");
            if (headDimField is null && hidden % heads != 0)
                Throw.InvalidFile($"hidden_size is not a multiple of num_attention_heads ({heads}) and head_dim is absent", file, "hidden_size", hidden);
            int headDim = headDimField ?? hidden / heads;
            if (headDim <= 0 || headDim % 2 != 0) Throw.InvalidFile("head_dim must be a positive even number", file, "head_dim", headDim);
            int layers = r.PositiveInt("num_hidden_layers");
            if (layers > MaxLayers) Throw.InvalidFile($"num_hidden_layers above {MaxLayers}", file, "num_hidden_layers", layers);
            int inter = r.PositiveInt("intermediate_size");
            int vocab = r.PositiveInt("vocab_size");
            double eps = r.OptionalDouble("rms_norm_eps") ?? 1e-6;
            if (!(eps > 0 && eps < 1)) Throw.InvalidFile("rms_norm_eps must lie in (0, 1)", file, "rms_norm_eps", eps);
            int maxPos = r.OptionalInt("max_position_embeddings") ?? 4096;
            if (maxPos <= 0) Throw.InvalidFile("max_position_embeddings must be positive", file, "max_position_embeddings", maxPos);

            // Rotary settings in either layout, read as transformers 5 reads them (RotaryEmbeddingConfigMixin
            // .convert_rope_params_to_dict): the dict is rope_scaling (transformers 4) if non-empty, else rope_parameters
            // (what v5 writes, rope_theta inside); rope_theta inside the dict wins over a top-level one.
            var (ropeDict, ropeKey) = RopeDict(doc.RootElement, file);
            var rf = ropeDict is { } rd ? new Fields(rd, file, ropeKey + ".") : default(Fields?);
            double theta = rf?.OptionalDouble("rope_theta") ?? r.OptionalDouble("rope_theta") ?? 10000;
            if (!(theta > 1)) Throw.InvalidFile("rope_theta must be above 1", file, rf?.Has("rope_theta") == true ? ropeKey + ".rope_theta" : "rope_theta", theta);

            double? partial = rf?.OptionalDouble("partial_rotary_factor") ?? r.OptionalDouble("partial_rotary_factor");
            if (partial is not null && partial != 1.0)
                Throw.Unsupported("partial rotary embeddings are not implemented", file,
                    rf?.Has("partial_rotary_factor") == true ? ropeKey + ".partial_rotary_factor" : "partial_rotary_factor", partial);

            var rope = rf is { } ropeFields ? ReadRopeScaling(ropeFields, file, ropeKey, maxPos, family) : null;

            bool qkvBias = Bias(family.QkvBias, r);
            bool oBias = Bias(family.OProjBias, r);
            bool mlpBias = Bias(family.MlpBias, r);
            var (window, sliding) = family.SlidingWindow is { } rule ? ReadSlidingWindow(rule, doc.RootElement, r, file, layers) : (null, []);

            return new ModelConfig
            {
                Family = family,
                Architecture = arch,
                HiddenSize = hidden,
                IntermediateSize = inter,
                NumLayers = layers,
                NumHeads = heads,
                NumKvHeads = kvHeads,
                HeadDim = headDim,
                VocabSize = vocab,
                RmsNormEps = eps,
                RopeTheta = theta,
                RopeScaling = rope,
                MaxPositionEmbeddings = maxPos,
                TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? family.TieWordEmbeddingsDefault,
                QkvBias = qkvBias,
                OProjBias = oBias,
                MlpBias = mlpBias,
                SlidingWindow = window,
                SlidingLayers = sliding,
                BosTokenId = r.OptionalInt("bos_token_id"),
                EosTokenIds = r.IntOrIntArray("eos_token_id"),
                PadTokenId = r.OptionalInt("pad_token_id"),
                // transformers 5 writes "dtype" and keeps it when both are present.
                TorchDtype = r.String("dtype") ?? r.String("torch_dtype"),
            };
        }
    }

    static bool Bias(BiasRule rule, Fields r) => rule.Field is { } field ? r.OptionalBool(field) ?? false : rule.Always;

    /// <summary>The window and the layers it applies to, by the family's rule; (null, []) when no layer slides.</summary>
    static (int? Window, ImmutableArray<bool> Sliding) ReadSlidingWindow(SlidingWindowRule rule, JsonElement root, Fields r, string file, int layers)
    {
        if (rule.EnabledBy is { } flag && !(r.OptionalBool(flag) ?? false)) return (null, []);
        int? window = root.TryGetProperty(rule.Field, out _) ? r.OptionalInt(rule.Field) : rule.DefaultWindow;
        var sliding = ImmutableArray<bool>.Empty;
        if (rule.FromLayerField is null)
        {
            if (window is not null) sliding = Enumerable.Repeat(true, layers).ToImmutableArray();
        }
        else
        {
            int from = r.OptionalInt(rule.FromLayerField) ?? rule.FromLayerDefault;
            if (window is not null) sliding = Enumerable.Range(0, layers).Select(i => i >= from).ToImmutableArray();
        }
        if (window is not null && rule.LayerTypesField is { } typesField && root.TryGetProperty(typesField, out var lt) && lt.ValueKind == JsonValueKind.Array)
        {
            // An explicit per-layer list takes precedence over the first sliding layer, as in transformers.
            if (lt.GetArrayLength() != layers) Throw.InvalidFile($"{typesField} must list {layers} layers", file, typesField, lt.GetArrayLength());
            sliding = lt.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String && t.GetString() switch
            {
                "sliding_attention" => true,
                "full_attention" => false,
                _ => Throw.InvalidFile<bool>("layer type must be sliding_attention or full_attention", file, typesField, t.GetRawText()),
            }).ToImmutableArray();
        }
        if (!sliding.Contains(true)) return (null, []);
        if (window is <= 0) Throw.InvalidFile($"{rule.Field} must be positive", file, rule.Field, window);
        return (window, sliding);
    }

    /// <summary>
    /// The rotary dict and its key: rope_scaling when it is a non-empty object, else rope_parameters when it is one, else
    /// none. transformers 5 can also nest one dict per layer type (keys such as "full_attention"); none of our families
    /// reads that form, so it is refused rather than misread.
    /// </summary>
    static (JsonElement? Dict, string Key) RopeDict(JsonElement root, string file)
    {
        foreach (var key in (string[])["rope_scaling", "rope_parameters"])
        {
            if (!root.TryGetProperty(key, out var e) || e.ValueKind == JsonValueKind.Null) continue;
            if (e.ValueKind != JsonValueKind.Object) Throw.InvalidFile($"{key} must be an object or null", file, key, e.GetRawText());
            if (!e.EnumerateObject().Any()) continue;
            foreach (var p in e.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Object)
                    Throw.Unsupported("per-layer-type rotary parameters are not implemented", file, key + "." + p.Name, p.Value.GetRawText());
            return (e, key);
        }
        return (null, "rope_parameters");
    }

    static RopeScaling? ReadRopeScaling(Fields f, string file, string key, int maxPositions, ModelFamily family)
    {
        // transformers 5 takes a missing rope_type (and legacy "type") as "default"; a factor without a type is ambiguous.
        string type = f.String("rope_type") ?? f.String("type")
            ?? (f.Has("factor") ? Throw.InvalidFile<string>($"{key} has a factor but no rope_type", file, key + ".rope_type") : "default");
        if (!family.RopeTypes.Contains(type))
            Throw.Unsupported($"rope_scaling type not implemented; supported: {string.Join(", ", family.RopeTypes)}", file, key + ".rope_type", type);
        switch (type)
        {
            case "default":
                return null;
            case "linear":
                {
                    double factor = f.OptionalDouble("factor") ?? Throw.InvalidFile<double>("missing", file, key + ".factor");
                    if (!(factor >= 1)) Throw.InvalidFile("factor must be at least 1", file, key + ".factor", factor);
                    return new RopeScaling("linear", factor);
                }
            case "llama3":
                {
                    double factor = f.OptionalDouble("factor") ?? Throw.InvalidFile<double>("missing", file, key + ".factor");
                    double low = f.OptionalDouble("low_freq_factor") ?? Throw.InvalidFile<double>("missing", file, key + ".low_freq_factor");
                    double high = f.OptionalDouble("high_freq_factor") ?? Throw.InvalidFile<double>("missing", file, key + ".high_freq_factor");
                    // transformers 5 (standardize_rope_params) defaults it to max_position_embeddings.
                    int orig = f.OptionalInt("original_max_position_embeddings") ?? maxPositions;
                    if (!(factor >= 1)) Throw.InvalidFile("factor must be at least 1", file, key + ".factor", factor);
                    if (!(high > low && low > 0)) Throw.InvalidFile("need high_freq_factor > low_freq_factor > 0", file, key + ".high_freq_factor", high);
                    if (orig <= 0) Throw.InvalidFile("must be positive", file, key + ".original_max_position_embeddings", orig);
                    return new RopeScaling("llama3", factor, low, high, orig);
                }
            default:
                Throw.Unsupported($"rope_scaling type not implemented; supported: {string.Join(", ", ImplementedRopeTypes)}", file, key + ".rope_type", type);
                return null;
        }
    }

    /// <summary>Typed field access that names the file and field in every error.</summary>
    readonly struct Fields(JsonElement obj, string file, string prefix = "")
    {
        public bool Has(string name) => TryGet(name, out _);

        bool TryGet(string name, out JsonElement e)
        {
            if (obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out e) && e.ValueKind != JsonValueKind.Null) return true;
            e = default;
            return false;
        }

        public string ArchitectureName()
        {
            if (!TryGet("architectures", out var a) || a.ValueKind != JsonValueKind.Array || a.GetArrayLength() == 0)
            {
                // Some configs only carry model_type; map it to the family's causal-LM class.
                string? mt = String("model_type");
                return ModelFamilies.FindByModelType(mt)?.Architectures[0]
                    ?? Throw.InvalidFile<string>("config names no architectures and no known model_type", file, "architectures", mt);
            }
            var first = a[0];
            if (first.ValueKind != JsonValueKind.String) Throw.InvalidFile("architectures[0] must be a string", file, "architectures", first.GetRawText());
            return first.GetString()!;
        }

        public string? String(string name)
        {
            if (!TryGet(name, out var e)) return null;
            if (e.ValueKind != JsonValueKind.String) Throw.InvalidFile("expected a string", file, prefix + name, e.GetRawText());
            return e.GetString();
        }

        public int PositiveInt(string name)
        {
            int? v = OptionalInt(name);
            if (v is null) Throw.InvalidFile("required field missing", file, prefix + name);
            if (v <= 0) Throw.InvalidFile("must be a positive integer", file, prefix + name, v);
            return v.Value;
        }

        public int? OptionalInt(string name)
        {
            if (!TryGet(name, out var e)) return null;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
                return Throw.InvalidFile<int?>("expected a 32-bit integer", file, prefix + name, e.GetRawText());
            return v;
        }

        public double? OptionalDouble(string name)
        {
            if (!TryGet(name, out var e)) return null;
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v))
                return Throw.InvalidFile<double?>("expected a finite number", file, prefix + name, e.GetRawText());
            return v;
        }

        public bool? OptionalBool(string name)
        {
            if (!TryGet(name, out var e)) return null;
            if (e.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return Throw.InvalidFile<bool?>("expected true or false", file, prefix + name, e.GetRawText());
            return e.GetBoolean();
        }

        public ImmutableArray<int> IntOrIntArray(string name)
        {
            if (!TryGet(name, out var e)) return [];
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int one)) return [one];
            if (e.ValueKind == JsonValueKind.Array)
            {
                var b = ImmutableArray.CreateBuilder<int>();
                foreach (var x in e.EnumerateArray())
                {
                    int v = 0;
                    if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out v))
                        Throw.InvalidFile("expected integers", file, prefix + name, e.GetRawText());
                    b.Add(v);
                }
                return b.ToImmutable();
            }
            return Throw.InvalidFile<ImmutableArray<int>>("expected an integer or an array of integers", file, prefix + name, e.GetRawText());
        }
    }
}

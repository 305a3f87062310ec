using System.Collections.Immutable;
using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Internals;

namespace OnnxInterp.Export.Hooking;

/// <summary>
/// The model config of a deployed ONNX folder: a Hugging Face config.json when one is given or present, else the
/// model builder's genai_config.json completed from the graph (MLP width from the down projections, RMSNorm epsilon
/// from the norm nodes, sliding window from GroupQueryAttention, rope theta from the cos cache).
/// </summary>
static class DeployedConfig
{
    public const string FromConfigJson = "config.json", FromGenAi = "genai_config.json";

    public static (ModelConfig Config, string Source) Read(string directory, string? configPath)
    {
        var path = configPath ?? Path.Combine(directory, HfCheckpoint.ConfigFile);
        if (configPath is not null || File.Exists(path)) return (ModelConfigReader.ReadFile(path), FromConfigJson);
        var genai = Path.Combine(directory, ModelExporter.GenAiConfigFile);
        if (!File.Exists(genai))
            Throw.InvalidFile("the folder has neither config.json nor genai_config.json; pass the model's config.json", directory, "config");
        return (ParseGenAi(genai), FromGenAi);
    }

    /// <summary>The decoder's file name from genai_config.json, when the folder has one.</summary>
    public static string? DecoderFile(string directory)
    {
        var genai = Path.Combine(directory, ModelExporter.GenAiConfigFile);
        if (!File.Exists(genai)) return null;
        using var doc = Parse(genai);
        return doc.RootElement.TryGetProperty("model", out var m) && m.TryGetProperty("decoder", out var d)
            && d.TryGetProperty("filename", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : null;
    }

    static JsonDocument Parse(string path)
    {
        try { return JsonDocument.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidFileException($"not valid JSON: {e.Message}", path, inner: e); }
    }

    static ModelConfig ParseGenAi(string path)
    {
        using var doc = Parse(path);
        if (!doc.RootElement.TryGetProperty("model", out var m) || !m.TryGetProperty("decoder", out var d))
            throw new InvalidFileException("genai_config.json has no model.decoder", path, "model.decoder");
        int Int(JsonElement e, string name)
        {
            if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int i) || i <= 0)
                return Throw.InvalidFile<int>("expected a positive integer", path, name, e.TryGetProperty(name, out var x) ? x.ToString() : "missing");
            return i;
        }
        int? Optional(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i : null;
        string type = m.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";
        var (family, arch) = ModelFamilies.FromGenAiType(type, path);
        var eos = m.TryGetProperty("eos_token_id", out var e) ? e.ValueKind switch
        {
            JsonValueKind.Number => [e.GetInt32()],
            JsonValueKind.Array => e.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.Number).Select(x => x.GetInt32()).ToImmutableArray(),
            _ => ImmutableArray<int>.Empty,
        } : [];
        return new ModelConfig
        {
            Family = family,
            Architecture = arch,
            HiddenSize = Int(d, "hidden_size"),
            NumLayers = Int(d, "num_hidden_layers"),
            NumHeads = Int(d, "num_attention_heads"),
            NumKvHeads = Int(d, "num_key_value_heads"),
            HeadDim = Int(d, "head_size"),
            VocabSize = Int(m, "vocab_size"),
            MaxPositionEmbeddings = Optional(m, "context_length") ?? 4096,
            IntermediateSize = 1,  // from the graph
            RmsNormEps = 1e-6,     // from the graph
            RopeTheta = 10000,     // from the graph
            BosTokenId = Optional(m, "bos_token_id"),
            EosTokenIds = eos,
            PadTokenId = Optional(m, "pad_token_id"),
        };
    }
}

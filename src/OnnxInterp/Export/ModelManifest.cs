using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Internals;

namespace OnnxInterp.Export;

/// <summary>The hook point as the manifest lists it, with the names of its graph I/O.</summary>
public sealed record ManifestHook(HookName Name, HookKind Kind, int Layer, int Dim, string? Output, ManifestInjection? Injection);

/// <summary>Injection input names; <see cref="Proj"/> and <see cref="ProjMask"/> are null where the hook has no projection.</summary>
public sealed record ManifestInjection(string Scale, string Shift, string? Proj, string? ProjMask);

/// <summary>
/// manifest.json of an exported folder: what the graph is, every hook point and its I/O names, and where it came
/// from. The session layer reads it instead of guessing from graph names.
/// </summary>
public sealed record ModelManifest
{
    public const string FileName = "manifest.json";
    public const string CurrentFormat = "onnxinterp-model/1";

    public string Format { get; init; } = CurrentFormat;
    public required string Exporter { get; init; }
    public required string Architecture { get; init; }
    public required ModelFamily Family { get; init; }
    public required ExportDType DType { get; init; }
    public required ModelConfig Config { get; init; }
    public required string ModelFile { get; init; }
    public required string DataFile { get; init; }
    public required long Opset { get; init; }
    public required bool HookOutputs { get; init; }
    public required bool InjectionInputs { get; init; }
    public required IReadOnlyList<ManifestHook> Hooks { get; init; }
    public required IReadOnlyList<string> Inputs { get; init; }
    public required IReadOnlyList<string> Outputs { get; init; }

    /// <summary>How the linear layers' weights are quantized (MatMulNBits); null for float weights.</summary>
    public WeightQuantization? Quantization { get; init; }

    /// <summary>The graph uses ONNX Runtime's fused contrib ops (GroupQueryAttention, RotaryEmbedding, (Skip)SimplifiedLayerNormalization).</summary>
    public bool Fused { get; init; }

    /// <summary>For folders written by `onnxinterp hook`: the source graph, the pattern its stream matched and where the config came from.</summary>
    public string? HookedFrom { get; init; }

    /// <summary>Per-layer graphs (layer_{l}.onnx), when exported; they share <see cref="DataFile"/>.</summary>
    public IReadOnlyList<string>? LayerFiles { get; init; }

    /// <summary>The head graph (final norm and unembedding) when layer graphs were exported.</summary>
    public string? HeadFile { get; init; }

    /// <summary>
    /// The same model without hook outputs or injection inputs (decode.onnx, over <see cref="DataFile"/>), for runs that
    /// need neither: generation without interventions. Null for exports without hook I/O and older exports.
    /// </summary>
    public string? DecodeFile { get; init; }

    /// <summary>"sha256:…" over config.json and the safetensors files, or null when hashing was skipped.</summary>
    public string? SourceHash { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelManifest Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) Throw.InvalidFile("model folder has no manifest.json (export it with `onnxinterp export`)", path);
        ModelManifest? m;
        try { m = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidFileException($"manifest is not valid: {e.Message}", path, e.Path, inner: e); }
        if (m is null) Throw.InvalidFile("manifest is empty", path);
        if (m.Format != CurrentFormat) Throw.Unsupported($"manifest format not supported (expected {CurrentFormat})", path, "format", m.Format);
        // JSON null passes the deserializer for required members: every reference the session uses is checked here.
        if (m.Config is null) Throw.InvalidFile("manifest has no config", path, "config");
        if (m.Family is null) Throw.InvalidFile("manifest names no model family", path, "family");
        if (m.Hooks is null || m.Hooks.Any(h => h is null)) Throw.InvalidFile("hooks must be a list of hook objects with names", path, "hooks");
        if (m.Inputs is null || m.Inputs.Any(i => i is null)) Throw.InvalidFile("inputs must be a list of names", path, "inputs");
        if (m.Outputs is null || m.Outputs.Any(o => o is null)) Throw.InvalidFile("outputs must be a list of names", path, "outputs");
        CheckConfig(m.Config, path);
        foreach (var (field, file) in new (string, string?)[] { ("modelFile", m.ModelFile), ("dataFile", m.DataFile), ("headFile", m.HeadFile), ("decodeFile", m.DecodeFile) }
            .Concat((m.LayerFiles ?? []).Select((f, i) => ($"layerFiles[{i}]", (string?)f))))
        {
            if (file is null && field is "headFile" or "decodeFile") continue;
            if (file is null || file.Length == 0 || Path.IsPathRooted(file) || file.Contains("..") || file.Contains('/') || file.Contains('\\') || file.Contains('\0'))
                Throw.InvalidFile("file names in the manifest must be plain names inside the model folder", path, field, file);
        }
        if (m.LayerFiles is { } lf && lf.Count != m.Config.NumLayers)
            Throw.InvalidFile($"layerFiles must list {m.Config.NumLayers} graphs", path, "layerFiles", lf.Count);
        var names = new HashSet<HookName>();
        foreach (var h in m.Hooks)
        {
            if (!names.Add(h.Name)) Throw.InvalidFile("hook names must be unique", path, "hooks", h.Name);
            // The manifest spells kind and layer beside the name (older readers use them); they must say the same.
            if (h.Kind != h.Name.Kind || h.Layer != h.Name.Layer)
                Throw.InvalidFile($"a hook's kind and layer must be its name's ({h.Name.Kind}, {h.Name.Layer})", path, "hooks." + h.Name, $"{h.Kind}, {h.Layer}");
            if (h.Layer < 0 || h.Layer >= m.Config.NumLayers) Throw.InvalidFile("hook layer out of range", path, "hooks." + h.Name, h.Layer);
            if (h.Dim <= 0) Throw.InvalidFile("hook dimension must be positive", path, "hooks." + h.Name, h.Dim);
            if (h.Injection is { } inj && (inj.Scale is null || inj.Shift is null))
                Throw.InvalidFile("a hook's injection must name its scale and shift inputs", path, "hooks." + h.Name + ".injection");
        }
        return m;
    }

    /// <summary>The invariants <see cref="ModelConfigReader"/> establishes for config.json, which the session relies on.</summary>
    static void CheckConfig(ModelConfig c, string path)
    {
        static void Positive(int v, string field, string path)
        {
            if (v <= 0) Throw.InvalidFile("must be a positive integer", path, "config." + field, v);
        }
        if (c.Architecture is null) Throw.InvalidFile("config has no architecture", path, "config.architecture");
        if (c.Family is null) Throw.InvalidFile("unknown model family", path, "config.family");
        Positive(c.HiddenSize, "hiddenSize", path);
        Positive(c.IntermediateSize, "intermediateSize", path);
        Positive(c.NumHeads, "numHeads", path);
        Positive(c.NumKvHeads, "numKvHeads", path);
        Positive(c.HeadDim, "headDim", path);
        Positive(c.VocabSize, "vocabSize", path);
        if (c.NumLayers <= 0 || c.NumLayers > ModelConfigReader.MaxLayers)
            Throw.InvalidFile($"numLayers must lie in 1..{ModelConfigReader.MaxLayers}", path, "config.numLayers", c.NumLayers);
        if (c.NumHeads % c.NumKvHeads != 0) Throw.InvalidFile("numKvHeads must divide numHeads", path, "config.numKvHeads", c.NumKvHeads);
        if (c.SlidingWindow is not null && (c.SlidingWindow <= 0 || c.SlidingLayers.IsDefault || c.SlidingLayers.Length != c.NumLayers))
            Throw.InvalidFile("a sliding window needs a positive size and one flag per layer", path, "config.slidingWindow", c.SlidingWindow);
    }
}

using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxInterp.Checkpoints;
using OnnxInterp.Internals;

namespace OnnxInterp.Export;

/// <summary>The hook point as the manifest lists it, with the names of its graph I/O.</summary>
public sealed record ManifestHook(string Name, HookKind Kind, int Layer, int Dim, string? Output, ManifestInjection? Injection);

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
        foreach (var file in new[] { m.ModelFile, m.DataFile }.Concat(m.LayerFiles ?? []).Concat(m.HeadFile is null ? [] : [m.HeadFile]))
        {
            if (file.Length == 0 || Path.IsPathRooted(file) || file.Contains("..") || file.Contains('/') || file.Contains('\\'))
                Throw.InvalidFile("file names in the manifest must be plain names inside the model folder", path, "modelFile", file);
        }
        if (m.LayerFiles is { } lf && lf.Count != m.Config.NumLayers)
            Throw.InvalidFile($"layerFiles must list {m.Config.NumLayers} graphs", path, "layerFiles", lf.Count);
        foreach (var h in m.Hooks)
        {
            if (h.Layer < 0 || h.Layer >= m.Config.NumLayers) Throw.InvalidFile("hook layer out of range", path, "hooks." + h.Name, h.Layer);
            if (h.Dim <= 0) Throw.InvalidFile("hook dimension must be positive", path, "hooks." + h.Name, h.Dim);
        }
        return m;
    }
}

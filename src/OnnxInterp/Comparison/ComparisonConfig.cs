using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>Where sessions run; these settings do not change results, so they are not part of a step's journal key.</summary>
public sealed record ExecutionConfig
{
    /// <summary>cpu, cuda or auto (CUDA when it loads, else CPU with a warning).</summary>
    public string Provider { get; init; } = "cpu";

    /// <summary>Intra-op threads per session; 0 lets ONNX Runtime choose.</summary>
    public int Threads { get; init; }
}

/// <summary>
/// The whole configuration of a comparison. Defaults live here and in each step's options record; a JSON config file
/// overrides them (<see cref="Load"/>) and command-line settings override the file (<see cref="Set"/>).
/// The file's top-level keys are the properties below (camelCase) plus one object per analysis, named as the analysis
/// (e.g. "knowledge": { "maxPairs": 20 }), holding overrides of that analysis's options.
/// </summary>
public sealed record ComparisonConfig
{
    /// <summary>
    /// Statement datasets for the per-dataset analyses: synthetic:NAME (the built-in synthetic world, which the tiny family
    /// learned) or the path of a statement CSV in the paper's format.
    /// </summary>
    public IReadOnlyList<string> Datasets { get; init; } = ["synthetic:cities", "synthetic:animal_class", "synthetic:element_symb"];

    /// <summary>Seed of the synthetic world (the shipped family was trained on seed 1).</summary>
    public int WorldSeed { get; init; } = 1;

    /// <summary>The analyses to run, in this order; null runs every registered analysis that runs by default (all but diff), in registry order.</summary>
    public IReadOnlyList<string>? Analyses { get; init; }

    /// <summary>Export type of checkpoints exported on demand: fp32 (CPU) or fp16 (CUDA).</summary>
    public string DType { get; init; } = "fp32";

    public ExecutionConfig Execution { get; init; } = new();

    /// <summary>
    /// The protocol every analysis follows: "default" (OnnxInterp's choices) or "paper" (Du et al.'s code, setting by
    /// setting, with per-model tables; see Analysis/PaperProtocol.cs). Each analysis's defaults come from it; the
    /// analysis objects below override single settings on top.
    /// </summary>
    public string Preset { get; init; } = "default";

    /// <summary>The known presets (<see cref="AnalysisPresets.Names"/>).</summary>
    public static IReadOnlyList<string> Presets => AnalysisPresets.Names;

    /// <summary>Overrides of each analysis's options, by analysis name, as JSON objects (merged over the analysis's defaults).</summary>
    public IReadOnlyDictionary<string, JsonObject> AnalysisOptions { get; init; } = new Dictionary<string, JsonObject>();

    static readonly string[] CoreKeys = ["datasets", "worldSeed", "analyses", "dtype", "execution", "preset"];

    /// <summary>Reads a config file over <paramref name="baseConfig"/> (the defaults when null). Unknown keys are errors naming the key.</summary>
    public static ComparisonConfig Load(string path, ComparisonConfig? baseConfig = null, IReadOnlyCollection<string>? analysisNames = null)
    {
        if (!File.Exists(path)) Throw.Argument("config file does not exist", "--config", path);
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            return Throw.InvalidFile<ComparisonConfig>($"config is not valid JSON: {e.Message}", path, inner: e);
        }
        if (node is not JsonObject obj) return Throw.InvalidFile<ComparisonConfig>("config must be a JSON object", path);
        return Merge(baseConfig ?? new ComparisonConfig(), obj, path, analysisNames ?? ComparisonSteps.Names);
    }

    /// <summary>Applies a JSON object of overrides (the config file's shape) to <paramref name="config"/>.</summary>
    public static ComparisonConfig Merge(ComparisonConfig config, JsonObject overrides, string? file, IReadOnlyCollection<string> analysisNames)
    {
        var c = config;
        var options = c.AnalysisOptions.ToDictionary(kv => kv.Key, kv => (JsonObject)kv.Value.DeepClone());
        foreach (var (key, value) in overrides)
        {
            try
            {
                switch (key)
                {
                    case "datasets":
                        c = c with { Datasets = value.Deserialize<List<string>>() ?? throw new JsonException("null") };
                        if (c.Datasets.Count == 0) Bad(file, key, "[]", "at least one dataset is needed");
                        break;
                    case "worldSeed": c = c with { WorldSeed = value!.GetValue<int>() }; break;
                    case "analyses": c = c with { Analyses = value?.Deserialize<List<string>>() }; break;
                    case "dtype": c = c with { DType = value!.GetValue<string>() }; break;
                    case "preset": c = c with { Preset = value!.GetValue<string>() }; break;
                    case "execution":
                        if (value is not JsonObject e) { Bad(file, key, value, "must be an object"); break; }
                        foreach (var (k, v) in e)
                        {
                            c = k switch
                            {
                                "provider" => c with { Execution = c.Execution with { Provider = v!.GetValue<string>() } },
                                "threads" => c with { Execution = c.Execution with { Threads = v!.GetValue<int>() } },
                                _ => Bad<ComparisonConfig>(file, $"execution.{k}", v, "unknown setting; known: provider, threads"),
                            };
                        }
                        break;
                    default:
                        if (!analysisNames.Contains(key))
                            Bad(file, key, null, $"unknown key; known: {string.Join(", ", CoreKeys.Concat(analysisNames))}");
                        if (value is not JsonObject o) { Bad(file, key, value, "analysis options must be an object"); break; }
                        var merged = options.TryGetValue(key, out var prev) ? prev : new JsonObject();
                        AnalysisPresets.MergeObjects(merged, o);
                        options[key] = merged;
                        break;
                }
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
            {
                Bad(file, key, value, $"wrong type ({e.Message})");
            }
        }
        c = c with { AnalysisOptions = options };
        c.Validate(file);
        return c;
    }

    /// <summary>
    /// One command-line override, PATH=VALUE: PATH is a config key or analysis.option (e.g. knowledge.maxPairs=10,
    /// worldSeed=2, execution.threads=2); VALUE is read as JSON when it parses, else as a string.
    /// </summary>
    public ComparisonConfig Set(string assignment, IReadOnlyCollection<string>? analysisNames = null)
    {
        int eq = assignment.IndexOf('=');
        if (eq <= 0) Throw.Argument("expected PATH=VALUE, e.g. knowledge.maxPairs=10", "--set", assignment);
        var path = assignment[..eq].Split('.');
        var text = assignment[(eq + 1)..];
        JsonNode? value;
        try { value = JsonNode.Parse(text); }
        catch (JsonException) { value = JsonValue.Create(text); }
        JsonObject root = new();
        var cursor = root;
        for (int i = 0; i < path.Length - 1; i++)
        {
            var next = new JsonObject();
            cursor[path[i]] = next;
            cursor = next;
        }
        cursor[path[^1]] = value;
        return Merge(this, root, "--set", analysisNames ?? ComparisonSteps.Names);
    }

    void Validate(string? file)
    {
        if (DType is not ("fp32" or "fp16")) Bad(file, "dtype", DType, "must be fp32 or fp16");
        if (!Presets.Contains(Preset)) Bad(file, "preset", Preset, $"unknown preset; known: {string.Join(", ", Presets)}");
        if (Execution.Provider is not ("cpu" or "cuda" or "auto")) Bad(file, "execution.provider", Execution.Provider, "must be cpu, cuda or auto");
        if (Execution.Threads < 0) Bad(file, "execution.threads", Execution.Threads, "must be 0 (ONNX Runtime chooses) or positive");
        if (Datasets.Count == 0) Bad(file, "datasets", "[]", "at least one dataset is needed");
        if (Analyses is { Count: 0 }) Bad(file, "analyses", "[]", "at least one analysis is needed");
    }

    static void Bad(string? file, string field, object? value, string message) => Bad<int>(file, field, value, message);

    static T Bad<T>(string? file, string field, object? value, string message)
    {
        var text = value is JsonNode n ? n.ToJsonString() : value?.ToString();
        if (file is null or "--set") throw new InvalidArgumentException($"config: {message}", field, text);
        throw new InvalidFileException($"config: {message}", file, field, text);
    }
}

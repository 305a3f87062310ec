using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Comparison;

/// <summary>
/// One unit of work the journal records: an analysis over one part (a dataset, or the whole comparison when
/// <see cref="Id"/> is empty). <see cref="Dataset"/>, when set, is the dataset spec the part reads, so the journal key
/// covers that file's content only.
/// </summary>
public readonly record struct StepPart(string Id, string? Dataset = null)
{
    /// <summary>Other files the part reads (e.g. the Alpaca file beside AdvBench's); the journal key covers their content too.</summary>
    public IReadOnlyList<string>? Files { get; init; }
}

/// <summary>How far a step is: a fraction in [0, 1] and a short note ("traced 12/40 pairs, matrix 3/7").</summary>
public readonly record struct StepProgress(double Fraction, string? Detail = null);

/// <summary>A headline number for the report's summary table (e.g. "knowledge map corr, base vs instruct, cities").</summary>
public sealed record SummaryItem(string Label, double Value, string? Metric = null);

/// <summary>
/// What a step hands back: its section of results.json, its Markdown (headings from level 3; figures referenced as
/// figures/NAME.png), and optional headline numbers. Figures (OutputDirectory/figures/*.png) and data files (everything
/// else in OutputDirectory) are collected by the runner.
/// </summary>
public sealed record StepOutput(JsonNode Results, string Markdown)
{
    public IReadOnlyList<SummaryItem> Summary { get; init; } = [];
}

/// <summary>Everything a step may use. Sessions open on first use and are shared by the steps of one run.</summary>
public sealed class StepContext
{
    internal StepContext(ComparisonSession session, string outputDirectory, IProgress<StepProgress> progress, CancellationToken cancellation)
    {
        Session = session;
        OutputDirectory = outputDirectory;
        Progress = progress;
        Cancellation = cancellation;
    }

    internal ComparisonSession Session { get; }

    public ComparisonConfig Config => Session.Config;

    /// <summary>The models, base first (its <see cref="ComparisonModel.Name"/> is the name the user gave, "base" by default).</summary>
    public IReadOnlyList<ComparisonModel> Models => Session.Models;

    public ComparisonModel Base => Session.Models[0];

    public IReadOnlyList<ComparisonModel> Post => Session.Models.Skip(1).ToList();

    /// <summary>The base model's tokenizer (models were checked to share the vocabulary).</summary>
    public HfTokenizer Tokenizer => Session.Tokenizer;

    /// <summary>The synthetic world of <see cref="ComparisonConfig.WorldSeed"/> (generated on first use).</summary>
    public SyntheticWorld World => Session.World;

    /// <summary>Reads a dataset spec (synthetic:NAME or a CSV path) once per run.</summary>
    public ComparisonDataset Dataset(string spec) => Session.Dataset(spec);

    /// <summary>An empty folder for this part's files: data files at its top, PNG figures in figures/.</summary>
    public string OutputDirectory { get; }

    public string FiguresDirectory => Path.Combine(OutputDirectory, "figures");

    public IProgress<StepProgress> Progress { get; }

    public CancellationToken Cancellation { get; }
}

/// <summary>
/// A step whose report section opens with a table over all its parts (e.g. the paper's Table 1: one column per dataset),
/// written from the parts' results.json sections.
/// </summary>
public interface IStepOverview
{
    /// <summary>Markdown (headings from level 3) over the parts' results, by part id; null for none.</summary>
    string? Overview(IReadOnlyList<(string Part, JsonNode Results)> parts, JsonObject results);
}

/// <summary>The runner's view of an analysis; implement it through <see cref="ComparisonStep{TOptions}"/>.</summary>
public interface IComparisonStep
{
    /// <summary>Lower-case name: the results.json key, the config file key, the journal file prefix, the figure name prefix.</summary>
    string Name { get; }

    /// <summary>The report section's heading.</summary>
    string Title { get; }

    /// <summary>The analysis's defaults under <paramref name="preset"/> merged with <paramref name="overrides"/>, validated, as full JSON.</summary>
    JsonObject ResolveOptions(JsonObject? overrides, string preset = "default");

    IReadOnlyList<StepPart> Parts(ComparisonConfig config, JsonObject options);

    StepOutput Run(StepContext context, JsonObject options, StepPart part);
}

/// <summary>
/// The adapter between one analysis and the comparison: give it a name, a title, default options (an immutable
/// record; the config file's "NAME": {...} object overrides its properties by camelCase name) and a Run that calls the
/// analysis and its report writer. Override <see cref="Parts"/> to run once per dataset.
/// </summary>
public abstract class ComparisonStep<TOptions> : IComparisonStep where TOptions : notnull
{
    public abstract string Name { get; }
    public abstract string Title { get; }

    /// <summary>The defaults the comparison uses (may differ from the analysis's own, e.g. fewer pairs).</summary>
    public abstract TOptions Defaults { get; }

    /// <summary>The defaults under `--preset paper`: the paper's code's settings (the same as <see cref="Defaults"/> unless overridden).</summary>
    public virtual TOptions PaperDefaults => Defaults;

    /// <summary>The defaults of a preset (<see cref="ComparisonConfig.Presets"/>).</summary>
    public TOptions DefaultsFor(string preset) => preset switch
    {
        "default" => Defaults,
        "paper" => PaperDefaults,
        _ => throw new InvalidArgumentException($"unknown preset; known: {string.Join(", ", ComparisonConfig.Presets)}", "preset", preset),
    };

    /// <summary>One part by default; per-dataset analyses return one part per <see cref="ComparisonConfig.Datasets"/> entry.</summary>
    public virtual IReadOnlyList<StepPart> Parts(ComparisonConfig config, TOptions options) => [new StepPart("")];

    public abstract StepOutput Run(StepContext context, TOptions options, StepPart part);

    /// <summary>Checks option values after merging; throw InvalidArgumentException naming the option.</summary>
    protected virtual void Validate(TOptions options) { }

    public TOptions Options(JsonObject? overrides, string preset = "default")
    {
        var node = JsonSerializer.SerializeToNode(DefaultsFor(preset), ComparisonJson.Strict)!.AsObject();
        foreach (var (k, v) in overrides ?? [])
        {
            var match = node.Select(p => p.Key).FirstOrDefault(p => string.Equals(p, k, StringComparison.OrdinalIgnoreCase));
            if (match is null)
                throw new InvalidArgumentException($"unknown option of the {Name} analysis; known: {string.Join(", ", node.Select(p => p.Key))}", $"{Name}.{k}", v?.ToJsonString());
            // A nested option record is merged key by key over its defaults (its unknown keys fail below, in deserialization).
            if (v is JsonObject vo && node[match] is JsonObject defaults) ComparisonConfig.MergeObjects(defaults, vo);
            else node[match] = v?.DeepClone();
        }
        TOptions o;
        try
        {
            o = node.Deserialize<TOptions>(ComparisonJson.Strict)!;
        }
        catch (JsonException e)
        {
            throw new InvalidArgumentException($"bad value for an option of the {Name} analysis ({e.Message})", $"{Name}{e.Path?.TrimStart('$')}", null);
        }
        Validate(o);
        return o;
    }

    JsonObject IComparisonStep.ResolveOptions(JsonObject? overrides, string preset) =>
        JsonSerializer.SerializeToNode(Options(overrides, preset), ComparisonJson.Strict)!.AsObject();

    IReadOnlyList<StepPart> IComparisonStep.Parts(ComparisonConfig config, JsonObject options) => Parts(config, Options(options));

    StepOutput IComparisonStep.Run(StepContext context, JsonObject options, StepPart part) => Run(context, Options(options), part);
}

/// <summary>JSON settings shared by results.json, the journal and options binding.</summary>
public static class ComparisonJson
{
    /// <summary>camelCase, enums as strings, NaN/Infinity as strings, unknown members rejected.</summary>
    public static readonly JsonSerializerOptions Strict = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Any value as a JSON node with the comparison's settings.</summary>
    public static JsonNode ToNode<T>(T value) => JsonSerializer.SerializeToNode(value, Strict)!;
}

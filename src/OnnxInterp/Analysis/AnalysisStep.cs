using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Analysis;

/// <summary>
/// One unit of work the journal records: an analysis over one part (a dataset, or the whole comparison when
/// <see cref="Id"/> is empty). <see cref="Dataset"/>, when set, is the dataset spec the part reads, so the journal key
/// covers that file's content only.
/// </summary>
public readonly record struct StepPart(string Id, string? Dataset = null)
{
    /// <summary>Other files the part reads (e.g. the Alpaca file beside AdvBench's); the journal key covers their content too.</summary>
    public IReadOnlyList<string>? Files { get; init; }

    /// <summary>Which piece of the part this is, 0 to <see cref="Chunks"/> − 1, when a sharded run splits it (<see cref="IAnalysisStep.MaxChunks"/>).</summary>
    public int Chunk { get; init; }

    /// <summary>How many pieces the part is split into; 0 or 1: the whole part.</summary>
    public int Chunks { get; init; }

    public bool IsChunk => Chunks > 1;

    /// <summary>Piece <paramref name="chunk"/> of <paramref name="chunks"/> of this part.</summary>
    public StepPart ChunkOf(int chunk, int chunks)
    {
        if (chunks < 2 || chunk < 0 || chunk >= chunks) Throw.Argument("a piece k of n counts k from 0 to n − 1, n ≥ 2", "chunk", $"{chunk}/{chunks}");
        return this with { Chunk = chunk, Chunks = chunks };
    }

    /// <summary>The whole part of a piece.</summary>
    public StepPart Whole => this with { Chunk = 0, Chunks = 0 };

    /// <summary>The journal's name of the part: its id, and for a piece its number ("cities.2of3", counted from 1).</summary>
    public string JournalId => IsChunk ? JournalIdOf(Id, Chunk, Chunks) : Id;

    public static string JournalIdOf(string id, int chunk, int chunks) =>
        chunks < 2 ? id : $"{id}{(id.Length == 0 ? "" : ".")}{chunk + 1}of{chunks}";

    /// <summary>The prompts of piece <see cref="Chunk"/> of a part of <paramref name="count"/> prompts, in order: [count·k/n, count·(k+1)/n).</summary>
    public (int First, int Count) Range(int count)
    {
        if (!IsChunk) return (0, count);
        int first = (int)((long)count * Chunk / Chunks), end = (int)((long)count * (Chunk + 1) / Chunks);
        return (first, end - first);
    }
}

/// <summary>How far a step is: a fraction in [0, 1] and a short note ("traced 12/40 pairs, matrix 3/7").</summary>
public readonly record struct StepProgress(double Fraction, string? Detail = null);

/// <summary>A headline number for the report's summary table (e.g. "knowledge map corr, base vs instruct, cities").</summary>
public sealed record SummaryItem(string Label, double Value, string? Metric = null);

/// <summary>
/// What a step hands the runner: its section of results.json (the analysis's section record, serialised once), its
/// Markdown (headings from level 3; figures referenced as figures/NAME.png) and its headline numbers. Figures
/// (OutputDirectory/figures/*.png) and data files (everything else in OutputDirectory) are collected by the runner.
/// </summary>
public sealed record StepOutput(JsonNode Results, string Markdown)
{
    public IReadOnlyList<SummaryItem> Summary { get; init; } = [];
}

/// <summary>What an analysis's run hands back: its results.json section and its report section (Markdown, from the full result).</summary>
public sealed record StepResult<TSection>(TSection Section, string Markdown) where TSection : notnull;

/// <summary>The runner's view of an analysis; implement it through <see cref="AnalysisStep{TOptions, TSection}"/>.</summary>
public interface IAnalysisStep
{
    /// <summary>Lower-case name: the results.json key, the config file key, the journal file prefix, the figure name prefix.</summary>
    string Name { get; }

    /// <summary>The report section's heading.</summary>
    string Title { get; }

    /// <summary>The record of one part's results.json section (audit checks metric paths against it).</summary>
    Type SectionType { get; }

    /// <summary>One part per dataset: results.json holds the section per dataset name (ANALYSIS.DATASET) rather than once.</summary>
    bool PerDataset { get; }

    /// <summary>
    /// Whether a comparison that names no analyses runs it (`compare`, `demo`); false: only when named (`--only`, the config's
    /// "analyses", an audit rule on its section, its verb).
    /// </summary>
    bool RunsByDefault { get; }

    /// <summary>The analysis's defaults under <paramref name="preset"/> merged with <paramref name="overrides"/>, validated, as full JSON.</summary>
    JsonObject ResolveOptions(JsonObject? overrides, string preset = "default");

    IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, JsonObject options);

    /// <summary>
    /// The part's estimated cost over <paramref name="models"/> models, in seconds of the demo's machine (only ratios
    /// matter): shards of a run are balanced by it, so it must depend on its arguments only.
    /// </summary>
    double Cost(JsonObject options, StepPart part, int models);

    /// <summary>
    /// Runs the part, or for a piece (<see cref="StepPart.IsChunk"/>) that piece's share of it, whose output holds only
    /// what <see cref="Combine"/> needs (no Markdown, no summary).
    /// </summary>
    StepOutput Run(StepContext context, JsonObject options, StepPart part);

    /// <summary>
    /// Into how many pieces a sharded run may split the part (1: never), each run apart (<see cref="Run"/> with
    /// <see cref="StepPart.ChunkOf"/>) and put together by <see cref="Combine"/> into the output one run of the whole
    /// part gives, byte for byte. Depends on its arguments only.
    /// </summary>
    int MaxChunks(JsonObject options, StepPart part);

    /// <summary>
    /// The whole part's output (section, Markdown, summary, and its files written into <paramref name="outputDirectory"/>)
    /// from its pieces' results, in order: the same bytes as one run of the whole part. Reads no model and no dataset.
    /// </summary>
    StepOutput Combine(string outputDirectory, JsonObject options, StepPart part, IReadOnlyList<JsonNode> chunks);

    /// <summary>Markdown (headings from level 3) over every part's section, by part id, before the parts' own sections; null for none.</summary>
    string? Overview(IReadOnlyList<(string Part, JsonNode Section)> parts, IReadOnlyList<string> models);

    /// <summary>What the analysis's verb prints about one part's section.</summary>
    IReadOnlyList<string> Describe(JsonNode section, JsonObject options);
}

/// <summary>An analysis whose options are a <typeparamref name="TOptions"/> record (a verb binds its command-line options to that record's properties).</summary>
public interface IAnalysisStep<TOptions> : IAnalysisStep where TOptions : notnull
{
    TOptions Options(JsonObject? overrides, string preset = "default");
}

/// <summary>
/// An analysis as the comparison runs it: a name, a title, default options (an immutable record; the config file's
/// "NAME": {...} object overrides its properties by camelCase name), a Run that calls the analysis and its report writer
/// and returns the results.json section (a record, <typeparamref name="TSection"/>), and what is read from that section:
/// headline numbers, an overview over the parts, the verb's summary. Set <see cref="PerDataset"/> to run once per dataset.
/// </summary>
public abstract class AnalysisStep<TOptions, TSection> : IAnalysisStep<TOptions> where TOptions : notnull where TSection : notnull
{
    public abstract string Name { get; }
    public abstract string Title { get; }

    public Type SectionType => typeof(TSection);

    public virtual bool PerDataset => false;

    /// <summary>True: `compare` runs it unless the analyses are named; override with false for an analysis run only on request.</summary>
    public virtual bool RunsByDefault => true;

    /// <summary>The defaults the comparison uses (may differ from the analysis's own, e.g. fewer pairs).</summary>
    public abstract TOptions Defaults { get; }

    /// <summary>The defaults under `--preset paper`: the paper's code's settings (the same as <see cref="Defaults"/> unless overridden).</summary>
    public virtual TOptions PaperDefaults => Defaults;

    /// <summary>The defaults of a preset (<see cref="AnalysisPresets.Names"/>).</summary>
    public TOptions DefaultsFor(string preset) => preset switch
    {
        "default" => Defaults,
        "paper" => PaperDefaults,
        _ => throw new InvalidArgumentException($"unknown preset; known: {string.Join(", ", AnalysisPresets.Names)}", "preset", preset),
    };

    /// <summary>One part by default; with <see cref="PerDataset"/>, one part per dataset, named as <see cref="DatasetSpec.Id"/> names it.</summary>
    public virtual IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, TOptions options) =>
        PerDataset ? datasets.Select(d => new StepPart(DatasetSpec.Id(d), d)).ToList() : [new StepPart("")];

    public abstract StepResult<TSection> Run(StepContext context, TOptions options, StepPart part);

    /// <summary>
    /// Into how many pieces a sharded run may split the part (<see cref="IAnalysisStep.MaxChunks"/>); 1 by default. An
    /// analysis that returns more implements <see cref="RunChunk"/> and <see cref="Combine"/>.
    /// </summary>
    public virtual int MaxChunks(TOptions options, StepPart part) => 1;

    /// <summary>Piece <see cref="StepPart.Chunk"/> of the part: what <see cref="Combine"/> needs of it, as JSON.</summary>
    public virtual JsonNode RunChunk(StepContext context, TOptions options, StepPart part) =>
        throw new NotSupportedException($"the {Name} analysis does not split a part into pieces");

    /// <summary>
    /// The whole part's result from its pieces (<see cref="RunChunk"/>'s, in order), writing the part's files into
    /// <paramref name="outputDirectory"/>: the same as <see cref="Run"/> over the whole part, byte for byte.
    /// </summary>
    public virtual StepResult<TSection> Combine(string outputDirectory, TOptions options, StepPart part, IReadOnlyList<JsonNode> chunks) =>
        throw new NotSupportedException($"the {Name} analysis does not split a part into pieces");

    /// <summary>The part's estimated cost (<see cref="IAnalysisStep.Cost"/>); by default one per model.</summary>
    public virtual double EstimatedCost(TOptions options, StepPart part, int models) => models;

    /// <summary>Headline numbers of one part, read from its section (each with its path in results.json).</summary>
    public virtual IReadOnlyList<SummaryItem> Headlines(TSection section, StepPart part) => [];

    /// <summary>Markdown over every part's section (e.g. one table with a column per dataset); null for none.</summary>
    public virtual string? Overview(IReadOnlyList<(string Part, TSection Section)> parts, IReadOnlyList<string> models) => null;

    /// <summary>The lines the analysis's verb prints about a section.</summary>
    public virtual IEnumerable<string> Describe(TSection section, TOptions options) => [];

    /// <summary>Checks option values after merging; throw InvalidArgumentException naming the option.</summary>
    protected virtual void Validate(TOptions options) { }

    public TOptions Options(JsonObject? overrides, string preset = "default")
    {
        var node = JsonSerializer.SerializeToNode(DefaultsFor(preset), ResultsJson.Strict)!.AsObject();
        foreach (var (k, v) in overrides ?? [])
        {
            var match = node.Select(p => p.Key).FirstOrDefault(p => string.Equals(p, k, StringComparison.OrdinalIgnoreCase));
            if (match is null)
                throw new InvalidArgumentException($"unknown option of the {Name} analysis; known: {string.Join(", ", node.Select(p => p.Key))}", $"{Name}.{k}", v?.ToJsonString());
            // A nested option record is merged key by key over its defaults (its unknown keys fail below, in deserialization).
            if (v is JsonObject vo && node[match] is JsonObject defaults) AnalysisPresets.MergeObjects(defaults, vo);
            else node[match] = v?.DeepClone();
        }
        TOptions o;
        try
        {
            o = node.Deserialize<TOptions>(ResultsJson.Strict)!;
        }
        catch (JsonException e)
        {
            throw new InvalidArgumentException($"bad value for an option of the {Name} analysis ({e.Message})", $"{Name}{e.Path?.TrimStart('$')}", null);
        }
        Validate(o);
        return o;
    }

    /// <summary>A section as results.json and the journal hold it, read back into its record.</summary>
    public TSection ReadSection(JsonNode section) =>
        section.Deserialize<TSection>(ResultsJson.Strict) ?? throw new InvalidOperationException($"the {Name} section is null");

    /// <summary>The one serialisation of a section: results.json's, the journal's.</summary>
    public static JsonNode WriteSection(TSection section) => JsonSerializer.SerializeToNode(section, ResultsJson.Strict)!;

    JsonObject IAnalysisStep.ResolveOptions(JsonObject? overrides, string preset) =>
        JsonSerializer.SerializeToNode(Options(overrides, preset), ResultsJson.Strict)!.AsObject();

    IReadOnlyList<StepPart> IAnalysisStep.Parts(IReadOnlyList<string> datasets, JsonObject options) => Parts(datasets, Options(options));

    double IAnalysisStep.Cost(JsonObject options, StepPart part, int models) => EstimatedCost(Options(options), part, models);

    StepOutput IAnalysisStep.Run(StepContext context, JsonObject options, StepPart part)
    {
        if (part.IsChunk) return new StepOutput(RunChunk(context, Options(options), part), "");
        var result = Run(context, Options(options), part);
        return new StepOutput(WriteSection(result.Section), result.Markdown) { Summary = Headlines(result.Section, part) };
    }

    int IAnalysisStep.MaxChunks(JsonObject options, StepPart part) => Math.Max(1, MaxChunks(Options(options), part.Whole));

    StepOutput IAnalysisStep.Combine(string outputDirectory, JsonObject options, StepPart part, IReadOnlyList<JsonNode> chunks)
    {
        if (chunks.Count < 2) Throw.Argument("a part put together from pieces has at least two", "chunks", chunks.Count);
        var whole = part.Whole;
        var result = Combine(outputDirectory, Options(options), whole, chunks);
        return new StepOutput(WriteSection(result.Section), result.Markdown) { Summary = Headlines(result.Section, whole) };
    }

    string? IAnalysisStep.Overview(IReadOnlyList<(string Part, JsonNode Section)> parts, IReadOnlyList<string> models) =>
        Overview(parts.Select(p => (p.Part, ReadSection(p.Section))).ToList(), models);

    IReadOnlyList<string> IAnalysisStep.Describe(JsonNode section, JsonObject options) => Describe(ReadSection(section), Options(options)).ToList();
}

/// <summary>The protocols every analysis has defaults for, and how option overrides merge.</summary>
public static class AnalysisPresets
{
    /// <summary>"default" (OnnxInterp's choices) and "paper" (Du et al.'s code, setting by setting).</summary>
    public static readonly IReadOnlyList<string> Names = ["default", "paper"];

    /// <summary>
    /// Copies <paramref name="overrides"/> into <paramref name="target"/>; an object over an object merges key by key,
    /// so knowledge.a.b=1 then knowledge.a.c=2 keep both (an option record nested in an analysis's options).
    /// </summary>
    public static void MergeObjects(JsonObject target, JsonObject overrides)
    {
        foreach (var (k, v) in overrides)
        {
            if (v is JsonObject vo && target[k] is JsonObject to) MergeObjects(to, vo);
            else target[k] = v?.DeepClone();
        }
    }
}

using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>
/// One unit of work: an analysis over one part of one comparison, with its journal key (what its result depends on)
/// and its estimated cost (<see cref="IAnalysisStep.Cost"/>), which balances shards.
/// </summary>
public sealed record PlannedStep(string Comparison, IAnalysisStep Step, StepPart Part, string Key, double Cost)
{
    /// <summary>The journal's name: analysis, or analysis.part, and for a piece of a part its number (analysis.part.2of3).</summary>
    public string Name => ResultsJournal.Stem(Step.Name, Part.JournalId);

    /// <summary>For a piece of a part (<see cref="StepPart.IsChunk"/>): the whole part's key, under which `merge` journals the pieces put together.</summary>
    public string? WholeKey { get; init; }

    /// <summary>Unique within a run: the name, after the comparison's id in a sweep ("sft/knowledge.cities").</summary>
    public string Id => Comparison.Length == 0 ? Name : $"{Comparison}/{Name}";
}

/// <summary>
/// One comparison of a run, planned: its models (base first), analyses and resolved options, its report folder
/// (relative to the run's folder; empty for `compare`, checkpoints/NAME in a sweep) and its steps in report order.
/// </summary>
public sealed record PlannedComparison
{
    /// <summary>Empty for `compare`; the checkpoint's name in a sweep.</summary>
    public required string Id { get; init; }

    /// <summary>The report folder relative to the run's folder ("" or "checkpoints/NAME").</summary>
    public required string Folder { get; init; }

    public required string Title { get; init; }
    public required ComparisonConfig Config { get; init; }
    public required IReadOnlyList<ResolvedModel> Models { get; init; }
    public required IReadOnlyList<IAnalysisStep> Analyses { get; init; }
    public required IReadOnlyDictionary<string, JsonObject> Options { get; init; }
    public required IReadOnlyList<PlannedStep> Steps { get; init; }

    /// <summary>A sweep's checkpoint: its training step, when its folder says (trainer_state.json or a number in its name).</summary>
    public long? TrainingStep { get; init; }
}

/// <summary>Turns a request into planned comparisons: checks the settings, resolves the models, keys every step.</summary>
static class ComparisonPlanner
{
    /// <summary>The analyses a config selects and their options, checked before any export (a typo fails fast).</summary>
    public static (IReadOnlyList<IAnalysisStep> Analyses, Dictionary<string, JsonObject> Options) Analyses(ComparisonConfig config, IReadOnlyList<IAnalysisStep>? registry)
    {
        var steps = ComparisonSteps.Select(config, registry);
        foreach (var d in config.Datasets) DatasetSpec.Check(d);
        var options = steps.ToDictionary(s => s.Name, s => s.ResolveOptions(config.AnalysisOptions.GetValueOrDefault(s.Name), config.Preset));
        return (steps, options);
    }

    /// <summary>A base model first, and no two models of one comparison with the same name.</summary>
    public static void CheckModels(IReadOnlyList<ModelSpec> models)
    {
        if (models.Count < 1) Throw.Argument("a base model is needed", "models", 0);
        var dupName = models.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (dupName is not null) Throw.Argument("two models have the same name; name them with NAME=DIR", "models", dupName.Key);
    }

    /// <summary>Resolves (exporting checkpoints into the cache on first use) each model.</summary>
    public static List<ResolvedModel> Resolve(IEnumerable<ModelSpec> specs, ComparisonConfig config, string? cacheDirectory, Action<string>? log, CancellationToken cancellation)
    {
        var resolver = new ModelResolver(cacheDirectory);
        var dtype = config.DType == "fp16" ? ExportDType.Fp16 : ExportDType.Fp32;
        var models = new List<ResolvedModel>();
        foreach (var spec in specs)
        {
            cancellation.ThrowIfCancellationRequested();
            models.Add(resolver.Resolve(spec, dtype, log, cancellation));
        }
        return models;
    }

    public static PlannedComparison Plan(string id, string folder, string title, ComparisonConfig config, IReadOnlyList<ResolvedModel> models,
        IReadOnlyList<IAnalysisStep> analyses, IReadOnlyDictionary<string, JsonObject> options)
    {
        var steps = analyses.SelectMany(s => s.Parts(config.Datasets, options[s.Name]).Select(p =>
            new PlannedStep(id, s, p, Key(s, p, options[s.Name], config, models), s.Cost(options[s.Name], p, models.Count)))).ToList();
        var dupPart = steps.GroupBy(p => p.Name).FirstOrDefault(g => g.Count() > 1);
        if (dupPart is not null) Throw.Argument("two datasets give the same part name; rename one file", "datasets", dupPart.Key);
        return new PlannedComparison
        {
            Id = id, Folder = folder, Title = title, Config = config, Models = models, Analyses = analyses, Options = options, Steps = steps,
        };
    }

    /// <summary>
    /// The run's steps for <paramref name="shards"/> shards: a step whose estimated cost exceeds one shard's share of the
    /// whole run (every comparison's steps' costs summed, over the shard count) is split into ⌈cost / share⌉ pieces, at
    /// most the shard count and what the analysis allows (<see cref="IAnalysisStep.MaxChunks"/>), each keyed by the whole
    /// step's key and its number. Nothing is split for one shard. A pure function of the plan and the count, so every
    /// worker computes the same pieces.
    /// </summary>
    public static IReadOnlyList<PlannedComparison> Split(IReadOnlyList<PlannedComparison> plan, int shards)
    {
        if (shards < 2) return plan;
        double share = plan.Sum(c => c.Steps.Sum(s => s.Cost)) / shards;
        return plan.Select(c => c with { Steps = c.Steps.SelectMany(s => Pieces(c, s, share, shards)).ToList() }).ToList();
    }

    static IEnumerable<PlannedStep> Pieces(PlannedComparison c, PlannedStep step, double share, int shards)
    {
        int n = 1;
        if (share > 0 && step.Cost > share)
            n = (int)Math.Min(Math.Ceiling(step.Cost / share), Math.Min(shards, step.Step.MaxChunks(c.Options[step.Step.Name], step.Part)));
        if (n < 2) return [step];
        return Enumerable.Range(0, n).Select(k => step with
        {
            Part = step.Part.ChunkOf(k, n), Key = ChunkKey(step.Key, k, n), Cost = step.Cost / n, WholeKey = step.Key,
        });
    }

    /// <summary>A piece's journal key: the whole step's, and which piece of how many.</summary>
    static string ChunkKey(string wholeKey, int chunk, int chunks) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{wholeKey}\npiece {chunk} of {chunks}")));

    /// <summary>The dataset files the steps read (config datasets and parts' other files) with their fingerprints.</summary>
    public static IEnumerable<(string Spec, string Fingerprint)> Inputs(PlannedComparison c) =>
        c.Config.Datasets.Concat(c.Steps.SelectMany(s => s.Part.Files ?? []))
            .Distinct(StringComparer.Ordinal)
            .Select(spec => (spec, ComparisonSession.DatasetFingerprint(spec, c.Config.WorldSeed)));

    /// <summary>
    /// What a step's result depends on: the tool version, the step, its part and options, the world seed and export type,
    /// the models (name, weights, tokenizer, chat template) and the content of the datasets it reads.
    /// </summary>
    static string Key(IAnalysisStep step, StepPart part, JsonObject options, ComparisonConfig config, IReadOnlyList<ResolvedModel> models)
    {
        var datasets = part.Dataset is { } d ? [d] : config.Datasets;
        var key = new JsonObject
        {
            ["tool"] = ComparisonRunner.ToolVersion,
            ["analysis"] = step.Name,
            ["part"] = part.Id,
            ["options"] = options.DeepClone(),
            ["worldSeed"] = config.WorldSeed,
            ["dtype"] = config.DType,
            ["models"] = new JsonArray(models.Select(m => (JsonNode)new JsonObject
            {
                ["name"] = m.Name, ["hash"] = m.Hash, ["tokenizer"] = m.TokenizerHash, ["chatTemplate"] = m.ChatTemplate, ["chatTemplateSource"] = m.ChatTemplateSource,
            }).ToArray()),
            ["datasets"] = new JsonArray(datasets.Select(s => (JsonNode)JsonValue.Create(ComparisonSession.DatasetFingerprint(s, config.WorldSeed))).ToArray()),
        };
        if (part.Files is { Count: > 0 } files)
            key["files"] = new JsonArray(files.Select(f => (JsonNode)JsonValue.Create(ComparisonSession.DatasetFingerprint(f, config.WorldSeed))).ToArray());
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToJsonString())));
    }
}

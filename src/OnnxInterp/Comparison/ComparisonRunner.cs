using System.Text.Json.Nodes;
using System.Text.Json;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>What to compare and where to write the report.</summary>
public sealed record ComparisonRequest
{
    /// <summary>The base model first, then the post-trained ones.</summary>
    public required IReadOnlyList<ModelSpec> Models { get; init; }

    /// <summary>REPORT_DIR: report.md, report.html, results.json, run.json, figures/, data/, .journal/.</summary>
    public required string OutputDirectory { get; init; }

    public ComparisonConfig Config { get; init; } = new();

    /// <summary>The export cache; null uses <see cref="ModelResolver.DefaultCacheDirectory"/>.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>The analyses to choose from; null uses <see cref="ComparisonSteps.All"/>.</summary>
    public IReadOnlyList<IAnalysisStep>? Registry { get; init; }

    public string Title { get; init; } = "OnnxInterp comparison report";
}

public enum StepStatus { Running, Finished, Resumed }

/// <summary>Progress of a comparison: step <see cref="Step"/> of <see cref="Steps"/> (1-based), its fraction and the time left.</summary>
public sealed record ComparisonProgress(int Step, int Steps, string Name, StepStatus Status, double Fraction, string? Detail, TimeSpan Elapsed, TimeSpan? StepEta, TimeSpan? TotalEta);

/// <summary>
/// A finished comparison: where its report is, what ran, results.json's content, and each step's entry (its section as
/// results.json holds it, Markdown and headline numbers), readable as the analyses' section records.
/// </summary>
public sealed record ComparisonOutcome(string OutputDirectory, IReadOnlyList<ResolvedModel> Models, int Ran, int Resumed, JsonObject Results)
{
    /// <summary>The analyses that ran, in report order.</summary>
    public IReadOnlyList<IAnalysisStep> Analyses { get; init; } = [];

    /// <summary>Each analysis's options as resolved (defaults, preset, config, command line), by name.</summary>
    public IReadOnlyDictionary<string, JsonObject> Options { get; init; } = new Dictionary<string, JsonObject>();

    /// <summary>Every step's journal entry, in run order.</summary>
    public IReadOnlyList<JournalEntry> Entries { get; init; } = [];

    /// <summary>The headline numbers of every step, in run order.</summary>
    public IEnumerable<(JournalEntry Step, SummaryItem Item)> Summary => Entries.SelectMany(e => e.Summary.Select(s => (e, s)));

    /// <summary>One part's section of an analysis (empty part: an analysis that runs once) as its section record.</summary>
    public TSection Section<TSection>(string analysis, string part = "") =>
        (Entries.FirstOrDefault(e => e.Analysis == analysis && e.Part == part)
            ?? throw new KeyNotFoundException($"no step {ResultsJournal.Stem(analysis, part)} in this comparison")).Results.Deserialize<TSection>(ResultsJson.Strict)!;

    /// <summary>What the analysis's verb prints about its sections (<see cref="IAnalysisStep.Describe"/>), part by part.</summary>
    public IEnumerable<string> Describe(string analysis)
    {
        var step = Analyses.FirstOrDefault(s => s.Name == analysis) ?? throw new KeyNotFoundException($"the analysis {analysis} did not run");
        return Entries.Where(e => e.Analysis == analysis).SelectMany(e => step.Describe(e.Results, Options[analysis]));
    }
}

/// <summary>What one shard ran: <see cref="Steps"/> of the run's <see cref="PlanSteps"/> steps, <see cref="Ran"/> run and <see cref="Resumed"/> read from its journal.</summary>
public sealed record ShardOutcome(string OutputDirectory, ShardSpec Shard, int Steps, int PlanSteps, int Ran, int Resumed);

/// <summary>
/// Runs the selected analyses over the models, one journal entry per step (analysis × part), skipping steps the journal
/// already holds for the same key, and writes the report from the journal. Cancellation stops between or inside steps;
/// what finished is kept, so running the same request again resumes.
/// </summary>
public static class ComparisonRunner
{
    public const string ResultsSchema = "onnxinterp-results/1";

    /// <summary>results.json's fields beside the analyses' sections.</summary>
    public static readonly IReadOnlyList<string> TopLevelFields = ["schema", "tool", "models", "config", "steps", "summary"];

    public static string ToolVersion =>
        typeof(ComparisonRunner).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? Export.ModelExporter.Version;

    public static ComparisonOutcome Run(ComparisonRequest request, IProgress<ComparisonProgress>? progress = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(request.OutputDirectory);
        CheckReportFolder(outDir);
        var plan = Plan(request, log, cancellation);
        using var folderLock = FolderLock.Acquire(outDir, log, cancellation);
        var journal = new ResultsJournal(outDir);
        var executor = new StepExecutor(plan.Steps.Count, progress, log, cancellation);
        var started = DateTimeOffset.UtcNow;
        string status = "interrupted";
        try
        {
            var entries = executor.Run(plan, journal, plan.Steps);
            var results = WriteReport(outDir, plan, entries, journal);
            status = "complete";
            return new ComparisonOutcome(outDir, plan.Models, executor.Ran, executor.Resumed, results) { Analyses = plan.Analyses, Options = plan.Options, Entries = entries };
        }
        finally
        {
            StepExecutor.WriteRunLog(outDir, status, started, executor.Timings);
        }
    }

    /// <summary>
    /// Runs shard <paramref name="shard"/> of the comparison: the steps <see cref="ShardAssignment"/> gives it, journaled
    /// in <see cref="ComparisonRequest.OutputDirectory"/> (the shard's own folder) with its shard.json; no report.
    /// <see cref="ShardMerge.Merge"/> writes the report from all the shards. Killed and run again, it resumes.
    /// </summary>
    public static ShardOutcome RunShard(ComparisonRequest request, ShardSpec shard, IProgress<ComparisonProgress>? progress = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(request.OutputDirectory);
        CheckShardFolder(outDir, shard);
        var plan = Plan(request, log, cancellation);
        return RunShard("compare", request.Title, outDir, [plan], shard, progress, log, cancellation);
    }

    /// <summary>Checks the request and plans its one comparison (resolving, and exporting on first use, its models).</summary>
    internal static PlannedComparison Plan(ComparisonRequest request, Action<string>? log, CancellationToken cancellation)
    {
        var config = request.Config;
        var (analyses, options) = ComparisonPlanner.Analyses(config, request.Registry);
        ComparisonPlanner.CheckModels(request.Models);
        var models = ComparisonPlanner.Resolve(request.Models, config, request.CacheDirectory, log, cancellation);
        return ComparisonPlanner.Plan("", "", request.Title, config, models, analyses, options);
    }

    /// <summary>Runs one shard of a planned run (a comparison, or a sweep's comparisons) into <paramref name="outDir"/>.</summary>
    internal static ShardOutcome RunShard(string kind, string title, string outDir, IReadOnlyList<PlannedComparison> plan, ShardSpec shard,
        IProgress<ComparisonProgress>? progress, Action<string>? log, CancellationToken cancellation)
    {
        plan = ComparisonPlanner.Split(plan, shard.Count);
        var steps = plan.SelectMany(c => c.Steps).ToList();
        var assignment = ShardAssignment.Assign(steps.Select(s => (s.Id, s.Cost)).ToList(), shard.Count);
        var manifest = ShardManifest.Of(kind, title, plan, shard, assignment);
        var mine = steps.Where((_, i) => assignment[i] == shard.Index).ToHashSet();
        using var folderLock = FolderLock.Acquire(outDir, log, cancellation);
        CheckShardFolder(outDir, shard); // again under the lock: a worker of another index may have claimed it meanwhile
        manifest.Write(outDir);
        var executor = new StepExecutor(mine.Count, progress, log, cancellation);
        var started = DateTimeOffset.UtcNow;
        string status = "interrupted";
        try
        {
            foreach (var c in plan)
            {
                var todo = c.Steps.Where(mine.Contains).ToList();
                if (todo.Count > 0) executor.Run(c, new ResultsJournal(Path.Combine(outDir, c.Folder)), todo);
            }
            (manifest with { Complete = true }).Write(outDir);
            status = "complete";
            return new ShardOutcome(outDir, shard, mine.Count, steps.Count, executor.Ran, executor.Resumed);
        }
        finally
        {
            StepExecutor.WriteRunLog(outDir, status, started, executor.Timings, new JsonObject { ["shard"] = shard.ToString() });
        }
    }

    /// <summary>results.json, report.md, report.html, figures/ and data/ of one comparison, from its entries (in plan order).</summary>
    internal static JsonObject WriteReport(string outDir, PlannedComparison plan, IReadOnlyList<JournalEntry> entries, ResultsJournal journal)
    {
        var results = Results(plan.Config, plan.Analyses, plan.Options, plan.Models, entries);
        ComparisonReport.Write(outDir, plan.Title, results, plan.Analyses, entries, journal);
        return results;
    }

    /// <summary>Refuses to write into a non-empty folder that is not a report folder, so a typo cannot mix a report into other files.</summary>
    internal static void CheckReportFolder(string outDir, bool shard = false)
    {
        if (File.Exists(outDir)) Throw.Argument("the report folder is a file", "out", outDir);
        if (!Directory.Exists(outDir) || !Directory.EnumerateFileSystemEntries(outDir).Any()) return;
        if (!shard && File.Exists(Path.Combine(outDir, ShardManifest.FileName)))
            Throw.Argument("the folder holds a shard (shard.json): merge the shards with `onnxinterp merge`, or choose another folder", "out", outDir);
        if (Directory.Exists(Path.Combine(outDir, ResultsJournal.FolderName)) || File.Exists(Path.Combine(outDir, "results.json"))
            || File.Exists(Path.Combine(outDir, FolderLock.FileName)) || File.Exists(Path.Combine(outDir, ShardManifest.FileName))) return;
        Throw.Argument("the report folder exists and is not a report folder (no .journal/ or results.json); choose an empty or new folder", "out", outDir);
    }

    /// <summary>A shard's folder: new, empty, or the same shard's (which resumes); not another shard's or a report's.</summary>
    internal static void CheckShardFolder(string outDir, ShardSpec shard)
    {
        CheckReportFolder(outDir, shard: true);
        if (File.Exists(Path.Combine(outDir, "results.json")))
            Throw.Argument("the folder holds a report (results.json), not a shard; give each shard its own folder", "out", outDir);
        if (ShardManifest.TryRead(outDir) is { } m && (m.Shard != shard.Index || m.Shards != shard.Count))
            Throw.Argument($"the folder holds shard {m.Shard}/{m.Shards}, not {shard}; give each shard its own folder", "out", outDir);
    }

    internal static JsonObject Results(ComparisonConfig config, IReadOnlyList<IAnalysisStep> steps, IReadOnlyDictionary<string, JsonObject> options,
        IReadOnlyList<ResolvedModel> models, IReadOnlyList<JournalEntry> entries)
    {
        var configNode = new JsonObject
        {
            ["preset"] = config.Preset,
            ["datasets"] = ResultsJson.ToNode(config.Datasets),
            ["worldSeed"] = config.WorldSeed,
            ["analyses"] = ResultsJson.ToNode(steps.Select(s => s.Name).ToList()),
            ["dtype"] = config.DType,
            ["execution"] = ResultsJson.ToNode(config.Execution),
        };
        foreach (var s in steps) configNode[s.Name] = options[s.Name].DeepClone();

        var results = new JsonObject
        {
            ["schema"] = ResultsSchema,
            ["tool"] = new JsonObject
            {
                ["name"] = "onnxinterp",
                ["version"] = ToolVersion,
                ["onnxRuntime"] = Runtime.RuntimeInfo.OnnxRuntimeVersion,
                ["dotnet"] = Environment.Version.ToString(),
            },
            ["models"] = ResultsJson.ToNode(models),
            ["config"] = configNode,
            ["steps"] = new JsonArray(entries.Select(e => (JsonNode)new JsonObject
            {
                ["analysis"] = e.Analysis, ["part"] = e.Part, ["key"] = e.Key,
                ["figures"] = ResultsJson.ToNode(e.Figures.Select(f => "figures/" + f).ToList()),
            }).ToArray()),
            ["summary"] = new JsonArray(entries.SelectMany(e => e.Summary.Select(s => (JsonNode)new JsonObject
            {
                ["analysis"] = e.Analysis, ["part"] = e.Part, ["label"] = s.Label, ["value"] = s.Value, ["metric"] = s.Metric,
            })).ToArray()),
        };
        foreach (var s in steps)
        {
            var mine = entries.Where(e => e.Analysis == s.Name).ToList();
            if (mine.Count == 1 && mine[0].Part.Length == 0)
            {
                results[s.Name] = mine[0].Results.DeepClone();
            }
            else
            {
                var byPart = new JsonObject();
                foreach (var e in mine) byPart[e.Part] = e.Results.DeepClone();
                results[s.Name] = byPart;
            }
        }
        return results;
    }
}

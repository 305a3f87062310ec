using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>A sweep: every checkpoint of a post-training run (or any post-trained models) compared with the base.</summary>
public sealed record SweepRequest
{
    public required ModelSpec Base { get; init; }

    /// <summary>The checkpoints; sorted by training step when every one has one (<see cref="SweepRunner.TrainingStep"/>), else kept in this order.</summary>
    public required IReadOnlyList<ModelSpec> Checkpoints { get; init; }

    /// <summary>The sweep folder: results.json (the trajectory), report.md/html, figures/trajectory.png, checkpoints/NAME/ (each comparison's report).</summary>
    public required string OutputDirectory { get; init; }

    public ComparisonConfig Config { get; init; } = new();
    public string? CacheDirectory { get; init; }
    public IReadOnlyList<IAnalysisStep>? Registry { get; init; }
    public string Title { get; init; } = "OnnxInterp sweep";
}

/// <summary>A finished sweep: its folder, what ran and resumed, and its results.json (the trajectory).</summary>
public sealed record SweepOutcome(string OutputDirectory, IReadOnlyList<PlannedComparison> Comparisons, int Ran, int Resumed, JsonObject Results);

/// <summary>
/// Runs a sweep: one comparison per checkpoint (the base and that checkpoint), each journaled and reported in
/// checkpoints/NAME/ as `compare` would, then the headline numbers of every checkpoint as a trajectory
/// (<see cref="SweepReport"/>). Sharded as `compare` is, over all the comparisons' steps at once.
/// </summary>
public static partial class SweepRunner
{
    public const string CheckpointsFolder = "checkpoints";

    public static SweepOutcome Run(SweepRequest request, IProgress<ComparisonProgress>? progress = null, Action<string>? log = null,
        CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(request.OutputDirectory);
        ComparisonRunner.CheckReportFolder(outDir);
        var plan = Plan(request, log, cancellation);
        using var folderLock = FolderLock.Acquire(outDir, log, cancellation);
        var executor = new StepExecutor(plan.Sum(c => c.Steps.Count), progress, log, cancellation);
        var started = DateTimeOffset.UtcNow;
        string status = "interrupted";
        try
        {
            var reports = new List<(PlannedComparison, IReadOnlyList<JournalEntry>, JsonObject)>();
            foreach (var c in plan)
            {
                var dir = Path.Combine(outDir, c.Folder);
                var journal = new ResultsJournal(dir);
                var entries = executor.Run(c, journal, c.Steps);
                reports.Add((c, entries, ComparisonRunner.WriteReport(dir, c, entries, journal)));
            }
            var results = SweepReport.Write(outDir, request.Title, reports);
            status = "complete";
            return new SweepOutcome(outDir, plan, executor.Ran, executor.Resumed, results);
        }
        finally
        {
            StepExecutor.WriteRunLog(outDir, status, started, executor.Timings);
        }
    }

    /// <summary>Runs shard <paramref name="shard"/> of the sweep into its own folder (<see cref="ComparisonRunner.RunShard(ComparisonRequest, ShardSpec, IProgress{ComparisonProgress}?, Action{string}?, CancellationToken)"/>).</summary>
    public static ShardOutcome RunShard(SweepRequest request, ShardSpec shard, IProgress<ComparisonProgress>? progress = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(request.OutputDirectory);
        ComparisonRunner.CheckShardFolder(outDir, shard);
        var plan = Plan(request, log, cancellation);
        return ComparisonRunner.RunShard("sweep", request.Title, outDir, plan, shard, progress, log, cancellation);
    }

    /// <summary>One planned comparison per checkpoint, in training order, the base resolved once.</summary>
    static List<PlannedComparison> Plan(SweepRequest request, Action<string>? log, CancellationToken cancellation)
    {
        var config = request.Config;
        var (analyses, options) = ComparisonPlanner.Analyses(config, request.Registry);
        if (request.Checkpoints.Count == 0) Throw.Argument("a sweep needs at least one checkpoint", "--post", "");
        foreach (var c in request.Checkpoints)
        {
            if (!FolderName().IsMatch(c.Name) || c.Name is "." or "..")
                Throw.Argument("a checkpoint's name names its report folder: letters, digits, '-', '_' and '.' only; name it with NAME=DIR", "--post", c.Name);
            ComparisonPlanner.CheckModels([request.Base, c]);
        }
        var dup = request.Checkpoints.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) Throw.Argument("two checkpoints have the same name; name them with NAME=DIR", "--post", dup.Key);

        var ordered = Order(request.Checkpoints);
        var all = ComparisonPlanner.Resolve([request.Base, .. ordered.Select(o => o.Spec)], config, request.CacheDirectory, log, cancellation);
        return ordered.Select((o, i) => ComparisonPlanner.Plan(o.Spec.Name, $"{CheckpointsFolder}/{o.Spec.Name}", $"{request.Title}: {all[0].Name} vs {o.Spec.Name}",
            config, [all[0], all[i + 1]], analyses, options) with { TrainingStep = o.Step }).ToList();
    }

    /// <summary>By training step (then name) when every checkpoint has one; else in the order given.</summary>
    public static IReadOnlyList<(ModelSpec Spec, long? Step)> Order(IReadOnlyList<ModelSpec> checkpoints)
    {
        var withSteps = checkpoints.Select(c => (Spec: c, Step: TrainingStep(c.Directory))).ToList();
        return withSteps.All(c => c.Step is not null)
            ? withSteps.OrderBy(c => c.Step).ThenBy(c => c.Spec.Name, StringComparer.Ordinal).ToList()
            : withSteps;
    }

    /// <summary>
    /// A checkpoint's training step: trainer_state.json's global_step (as the Hugging Face Trainer writes it), else the
    /// last number in the folder's name (checkpoint-500, step_1000); null when neither says.
    /// </summary>
    public static long? TrainingStep(string directory)
    {
        var state = Path.Combine(directory, "trainer_state.json");
        if (File.Exists(state))
        {
            try
            {
                if (JsonNode.Parse(File.ReadAllText(state))?["global_step"] is JsonValue v && v.TryGetValue<long>(out var step)) return step;
            }
            catch (System.Text.Json.JsonException) { }
        }
        var name = Path.GetFileName(Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar));
        var m = LastNumber().Match(name);
        return m.Success && long.TryParse(m.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
    }

    /// <summary>
    /// Checkpoint folders from --post values: a value with * or ? in its last segment is a pattern over that folder's
    /// sub-folders (run/checkpoint-*), matched in name order; others are kept as they are (NAME=DIR included).
    /// </summary>
    public static IReadOnlyList<string> Expand(IEnumerable<string> values)
    {
        var list = new List<string>();
        foreach (var v in values)
        {
            if (v.IndexOfAny(['*', '?']) < 0 || Directory.Exists(v)) { list.Add(v); continue; }
            var parent = Path.GetDirectoryName(v) is { Length: > 0 } p ? p : ".";
            var pattern = Path.GetFileName(v);
            if (parent.IndexOfAny(['*', '?']) >= 0) Throw.Argument("only the last part of a checkpoint pattern may hold * or ?", "--post", v);
            if (!Directory.Exists(parent)) Throw.Argument("the pattern's folder does not exist", "--post", v);
            var found = Directory.GetDirectories(parent, pattern).Order(StringComparer.Ordinal).ToList();
            if (found.Count == 0) Throw.Argument("no checkpoint folder matches the pattern", "--post", v);
            list.AddRange(found);
        }
        return list;
    }

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+$")]
    private static partial Regex FolderName();

    [GeneratedRegex(@"\d+(?=\D*$)")]
    private static partial Regex LastNumber();
}

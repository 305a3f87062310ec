using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>What `merge` wrote: the report folder, the run's kind, how many shards and steps, and its results.json.</summary>
public sealed record MergeOutcome(string OutputDirectory, string Kind, int Shards, int Steps, JsonObject Results)
{
    /// <summary>How many parts were split into pieces by the shards and put together here (of <see cref="Steps"/>, the pieces counted one by one).</summary>
    public int Combined { get; init; }
}

/// <summary>
/// Merges the shard folders of one run into the report folder an unsharded run writes: every shard's journal entries
/// are copied into the report's journal and the report is written from them, in plan order, by the same code as an
/// unsharded run, so results.json is byte for byte the same. Shards that do not make one run are refused with a
/// <see cref="ShardMismatchException"/> naming the shard: one missing, given twice or unfinished, or one of another
/// run (configuration, datasets, models, tool version or plan differ). Reads no model and no dataset.
/// </summary>
public static class ShardMerge
{
    sealed record Shard(string Directory, string File, ShardManifest Manifest);

    /// <param name="folders">Shard folders (with shard.json), or folders holding shard folders (an Indexed Job's shared output).</param>
    /// <param name="outputDirectory">The report folder (new, empty, or a report folder, which resumes).</param>
    /// <param name="registry">The analyses the shards ran (null: <see cref="ComparisonSteps.All"/>).</param>
    /// <param name="log">Where to say what was merged (and that another process holds the report folder).</param>
    /// <param name="cancellation">Stops between comparisons; a merge run again resumes.</param>
    public static MergeOutcome Merge(IReadOnlyList<string> folders, string outputDirectory, IReadOnlyList<IAnalysisStep>? registry = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        var outDir = Path.GetFullPath(outputDirectory);
        var shards = Check(Expand(folders));
        foreach (var s in shards)
            if (Inside(outDir, s.Directory) || Inside(s.Directory, outDir))
                Throw.Argument($"the report folder overlaps shard {s.Manifest.Shard}'s folder {s.Directory}; choose another", "--out", outputDirectory);
        ComparisonRunner.CheckReportFolder(outDir);
        var first = shards[0].Manifest;
        var config = first.ReadConfig();
        var analyses = ComparisonSteps.Select(config, registry);
        var options = analyses.ToDictionary(s => s.Name, s => s.ResolveOptions(config.AnalysisOptions.GetValueOrDefault(s.Name), config.Preset));
        CheckPlan(shards[0], analyses, options, config);

        using var folderLock = FolderLock.Acquire(outDir, log, cancellation);
        var started = DateTimeOffset.UtcNow;
        var timings = new JsonArray();
        var comparisons = new List<(PlannedComparison Plan, IReadOnlyList<JournalEntry> Entries, JsonObject Results)>();
        foreach (var c in first.Comparisons)
        {
            cancellation.ThrowIfCancellationRequested();
            var dir = Path.Combine(outDir, c.Folder);
            var journal = new ResultsJournal(dir);
            var entries = new List<JournalEntry>();
            var steps = first.Steps.Where(s => s.Comparison == c.Id).ToList();
            for (int i = 0; i < steps.Count; i++)
            {
                var step = steps[i];
                if (step.Chunks is int n)
                {
                    // A part split into pieces (CheckPlan: n consecutive steps): put together once, journaled under the whole part's key.
                    var pieces = steps.GetRange(i, n);
                    i += n - 1;
                    var found = pieces.Select(p => ResultsJournal.Find(Path.Combine(shards[p.Shard].Directory, c.Folder), p.Analysis, p.JournalPart, p.Key)!).ToList();
                    entries.Add(journal.TryRead(step.Analysis, step.Part, step.WholeKey!) ?? Combine(journal, analyses, options, config, step, found));
                    foreach (var (p, e) in pieces.Zip(found))
                        timings.Add(new JsonObject { ["step"] = p.Id, ["shard"] = p.Shard, ["seconds"] = e.Seconds });
                    continue;
                }
                var from = shards[step.Shard];
                var entry = ResultsJournal.Find(Path.Combine(from.Directory, c.Folder), step.Analysis, step.Part, step.Key)!;
                entries.Add(journal.TryRead(step.Analysis, step.Part, step.Key)
                    ?? journal.Import(entry, Path.Combine(from.Directory, c.Folder, ResultsJournal.FolderName, step.Name)));
                timings.Add(new JsonObject { ["step"] = step.Id, ["shard"] = step.Shard, ["seconds"] = entry.Seconds });
            }
            var plan = new PlannedComparison
            {
                Id = c.Id, Folder = c.Folder, Title = c.Title, Config = config, Models = c.Models, Analyses = analyses, Options = options,
                Steps = [], TrainingStep = c.TrainingStep,
            };
            comparisons.Add((plan, entries, ComparisonRunner.WriteReport(dir, plan, entries, journal)));
        }
        var results = first.Kind == "sweep" ? SweepReport.Write(outDir, first.Title, comparisons) : comparisons[0].Results;
        StepExecutor.WriteRunLog(outDir, "merged", started, timings, new JsonObject
        {
            ["shards"] = new JsonArray(shards.Select(s => (JsonNode)JsonValue.Create(s.Directory)).ToArray()),
        });
        log?.Invoke($"merged {shards.Count} shard{(shards.Count == 1 ? "" : "s")} ({first.Steps.Count} steps) into {outDir}");
        return new MergeOutcome(outDir, first.Kind, shards.Count, first.Steps.Count, results) { Combined = first.Steps.Count(t => t.Chunk == 0) };
    }

    /// <summary>
    /// A part run in pieces, put together by its analysis (<see cref="IAnalysisStep.Combine"/>) and journaled under the
    /// whole part's key, with its files, as an unsharded run journals it.
    /// </summary>
    static JournalEntry Combine(ResultsJournal journal, IReadOnlyList<IAnalysisStep> analyses, Dictionary<string, JsonObject> options,
        ComparisonConfig config, ShardStep step, IReadOnlyList<JournalEntry> pieces)
    {
        var analysis = analyses.First(a => a.Name == step.Analysis);
        var part = analysis.Parts(config.Datasets, options[analysis.Name]).First(p => p.Id == step.Part);
        var staging = journal.BeginFiles(step.Analysis, step.Part);
        try
        {
            var output = analysis.Combine(staging, options[analysis.Name], part, pieces.Select(e => e.Results).ToList());
            return journal.Commit(staging, step.Analysis, step.Part, step.WholeKey!, output, Math.Round(pieces.Sum(e => e.Seconds), 3));
        }
        catch
        {
            journal.Abandon(staging);
            throw;
        }
    }

    /// <summary>Each folder with a shard.json, or each sub-folder with one (sorted by name) of a folder without.</summary>
    static List<Shard> Expand(IReadOnlyList<string> folders)
    {
        if (folders.Count == 0) Throw.Argument("no shard folder given", "shards", "");
        var found = new List<Shard>();
        foreach (var f in folders)
        {
            var dir = Path.GetFullPath(f);
            if (!Directory.Exists(dir)) Throw.Argument("the shard folder does not exist", "shards", f);
            var dirs = File.Exists(Path.Combine(dir, ShardManifest.FileName)) ? [dir]
                : Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, ShardManifest.FileName))).Order(StringComparer.Ordinal).ToList();
            if (dirs.Count == 0) Throw.Argument($"not a shard folder: no {ShardManifest.FileName} in it or in its sub-folders", "shards", f);
            foreach (var d in dirs) found.Add(new Shard(d, Path.Combine(d, ShardManifest.FileName), ShardManifest.TryRead(d)!));
        }
        return found;
    }

    /// <summary>The shards sorted by index, or a <see cref="ShardMismatchException"/> naming the first that does not fit.</summary>
    static List<Shard> Check(List<Shard> given)
    {
        var dup = given.GroupBy(s => s.Directory).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) Fail(dup.Last(), "is given twice", "shards", dup.Key);
        var shards = given.OrderBy(s => s.Manifest.Shard).ThenBy(s => s.Directory, StringComparer.Ordinal).ToList();
        var first = shards[0];
        var m0 = first.Manifest;
        foreach (var s in shards.Skip(1))
        {
            var m = s.Manifest;
            var previous = shards[shards.IndexOf(s) - 1];
            if (m.Shard == previous.Manifest.Shard)
                Fail(s, $"has the same index as {previous.Directory}: one shard given twice (two workers of one index share a folder)", "shard", m.Shard);
            if (m.Kind != m0.Kind) Fail(s, $"is a {m.Kind} shard, shard {m0.Shard} a {m0.Kind} one", "kind", m.Kind);
            if (m.Shards != m0.Shards) Fail(s, $"is one of {m.Shards} shards, shard {m0.Shard} one of {m0.Shards}: shards of two splits", "shards", m.Shards);
            if (m.Tool != m0.Tool) Fail(s, $"was run by onnxinterp {m.Tool}, shard {m0.Shard} by {m0.Tool}", "tool", m.Tool);
            CheckConfig(s, m0);
            CheckModels(s, m0);
            CheckInputs(s, m0);
            if (m.Plan != m0.Plan) Fail(s, $"has another plan of steps than shard {m0.Shard} (other analyses, parts or keys)", "plan", m.Plan);
            var moved = m.Steps.Zip(m0.Steps).FirstOrDefault(p => p.First.Shard != p.Second.Shard);
            if (moved != default) Fail(s, $"assigns {moved.First.Id} to shard {moved.First.Shard}, shard {m0.Shard} to {moved.Second.Shard}", "steps", moved.First.Id);
        }
        var present = shards.Select(s => s.Manifest.Shard).ToHashSet();
        var missing = Enumerable.Range(0, m0.Shards).Where(k => !present.Contains(k)).ToList();
        if (missing.Count > 0)
            Throw.Shard($"shard {missing[0]} of {m0.Shards} is missing{(missing.Count > 1 ? $" (and {string.Join(", ", missing.Skip(1))})" : "")}; " +
                $"given: {string.Join(", ", shards.Select(s => $"{s.Manifest.Shard} ({s.Directory})"))}", missing[0], null, "shard", missing[0]);
        if (m0.Tool != ComparisonRunner.ToolVersion)
            Fail(first, $"was run by onnxinterp {m0.Tool}; merge with the same version (this is {ComparisonRunner.ToolVersion}), since results.json names it", "tool", m0.Tool);
        foreach (var s in shards)
        {
            var folders = s.Manifest.Comparisons.ToDictionary(c => c.Id, c => c.Folder);
            foreach (var step in s.Manifest.Steps.Where(t => t.Shard == s.Manifest.Shard))
                if (ResultsJournal.Find(Path.Combine(s.Directory, folders[step.Comparison]), step.Analysis, step.JournalPart, step.Key) is null)
                    Fail(s, $"has not finished: {step.Id} is not in its journal; run the shard again (it resumes), then merge", "steps", step.Id);
        }
        return shards;
    }

    static void CheckConfig(Shard s, ShardManifest m0)
    {
        var a = s.Manifest.Config;
        foreach (var key in m0.Config.Select(p => p.Key).Union(a.Select(p => p.Key)))
        {
            var mine = a[key]?.ToJsonString() ?? "null";
            var theirs = m0.Config[key]?.ToJsonString() ?? "null";
            if (mine != theirs) Fail(s, $"was run with another configuration: {key} is {mine}, in shard {m0.Shard} {theirs}", $"config.{key}", mine);
        }
    }

    /// <summary>Models must agree in what the journal keys and results.json hold, but their folders' paths may differ between machines.</summary>
    static void CheckModels(Shard s, ShardManifest m0)
    {
        var mine = s.Manifest.Comparisons;
        if (mine.Count != m0.Comparisons.Count || mine.Zip(m0.Comparisons).Any(p => p.First.Id != p.Second.Id || p.First.Folder != p.Second.Folder))
            Fail(s, $"has other comparisons ({string.Join(", ", mine.Select(c => c.Id))}) than shard {m0.Shard} ({string.Join(", ", m0.Comparisons.Select(c => c.Id))})",
                "comparisons", string.Join(",", mine.Select(c => c.Id)));
        foreach (var (c, c0) in mine.Zip(m0.Comparisons))
        {
            var prefix = c.Id.Length == 0 ? "" : $"comparisons[{c.Id}].";
            if (c.Models.Count != c0.Models.Count) Fail(s, $"compares {c.Models.Count} models, shard {m0.Shard} {c0.Models.Count}", prefix + "models", c.Models.Count);
            foreach (var (m, m0m) in c.Models.Zip(c0.Models))
            {
                var content = ResultsJson.ToNode(m with { Source = "", Exported = "" }).AsObject();
                var other = ResultsJson.ToNode(m0m with { Source = "", Exported = "" }).AsObject();
                foreach (var (field, value) in content)
                    if (value?.ToJsonString() != other[field]?.ToJsonString())
                        Fail(s, $"has another model {m0m.Name}: its {field} is {value}, in shard {m0.Shard} {other[field]}", $"{prefix}models[{m0m.Name}].{field}", value?.ToJsonString());
            }
        }
    }

    static void CheckInputs(Shard s, ShardManifest m0)
    {
        var theirs = m0.Inputs.ToDictionary(i => i.Spec, i => i.Fingerprint);
        foreach (var i in s.Manifest.Inputs)
            if (!theirs.TryGetValue(i.Spec, out var f) || f != i.Fingerprint)
                Fail(s, $"read another dataset {i.Spec}: {i.Fingerprint}, in shard {m0.Shard} {f ?? "not read"}", $"datasets[{i.Spec}]", i.Fingerprint);
        foreach (var i in m0.Inputs.Where(i => s.Manifest.Inputs.All(x => x.Spec != i.Spec)))
            Fail(s, $"did not read the dataset {i.Spec}, which shard {m0.Shard} read", $"datasets[{i.Spec}]", null);
    }

    /// <summary>The steps this onnxinterp plans for the config must be the shards' (an analysis registry of another build differs).</summary>
    static void CheckPlan(Shard s, IReadOnlyList<IAnalysisStep> analyses, Dictionary<string, JsonObject> options, ComparisonConfig config)
    {
        var parts = analyses.SelectMany(a => a.Parts(config.Datasets, options[a.Name]).Select(p => (Analysis: a, Part: p))).ToList();
        var expected = parts.Select(p => ResultsJournal.Stem(p.Analysis.Name, p.Part.Id)).ToList();
        foreach (var c in s.Manifest.Comparisons)
        {
            // Each whole part once; a part split into pieces as pieces 0..n-1 in a row, each naming the whole part's key.
            var names = new List<string>();
            ShardStep? open = null;
            foreach (var t in s.Manifest.Steps.Where(t => t.Comparison == c.Id))
            {
                if (t.Chunks is not int n)
                {
                    if (open is not null) Fail(s, $"splits {open.WholeName} into {open.Chunks} pieces but lists only {open.Chunk + 1}", "steps", open.Id);
                    names.Add(t.Name);
                    continue;
                }
                int expectedChunk = open is null ? 0 : open.Chunk!.Value + 1;
                if (n < 2 || t.Chunk != expectedChunk || t.WholeKey is null
                    || open is not null && (open.Analysis != t.Analysis || open.Part != t.Part || open.Chunks != n || open.WholeKey != t.WholeKey))
                    Fail(s, $"lists {t.Id} where piece {expectedChunk} of {(open ?? t).WholeName} belongs", "steps", t.Id);
                if (expectedChunk == 0)
                {
                    names.Add(t.WholeName);
                    var (analysis, part) = parts.FirstOrDefault(p => p.Analysis.Name == t.Analysis && p.Part.Id == t.Part);
                    if (analysis is not null && analysis.MaxChunks(options[t.Analysis], part) < n)
                        Fail(s, $"splits {t.WholeName} into {n} pieces, which this build's {t.Analysis} analysis does not allow", "steps", t.Id);
                }
                open = t.Chunk == n - 1 ? null : t;
            }
            if (open is not null) Fail(s, $"splits {open.WholeName} into {open.Chunks} pieces but lists only {open.Chunk + 1}", "steps", open.Id);
            if (!names.SequenceEqual(expected))
                Fail(s, $"holds the steps {string.Join(", ", names)}, but its configuration plans {string.Join(", ", expected)} here (another build's analyses?)", "steps", string.Join(",", names));
        }
    }

    static bool Inside(string path, string folder)
    {
        var rel = Path.GetRelativePath(folder, path);
        return rel == "." || (!rel.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(rel));
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    static void Fail(Shard s, string what, string field, object? value) =>
        Throw.Shard($"shard {s.Manifest.Shard} of {s.Manifest.Shards} ({s.Directory}) {what}", s.Manifest.Shard, s.File, field, value);
}

using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.Json;
using OnnxInterp.Analysis;
using OnnxInterp.Data;
using OnnxInterp.Export;
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
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? ModelExporter.Version;

    public static ComparisonOutcome Run(ComparisonRequest request, IProgress<ComparisonProgress>? progress = null,
        Action<string>? log = null, CancellationToken cancellation = default)
    {
        var config = request.Config;
        var outDir = Path.GetFullPath(request.OutputDirectory);
        CheckReportFolder(outDir);
        var steps = ComparisonSteps.Select(config, request.Registry);
        if (request.Models.Count < 1) Throw.Argument("a base model is needed", "models", 0);
        var dupName = request.Models.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (dupName is not null) Throw.Argument("two models have the same name; name them with NAME=DIR", "models", dupName.Key);
        foreach (var d in config.Datasets) DatasetSpec.Check(d);

        // Resolve options first: a typo in the config fails before any export.
        var options = steps.ToDictionary(s => s.Name, s => s.ResolveOptions(config.AnalysisOptions.GetValueOrDefault(s.Name), config.Preset));
        var resolver = new ModelResolver(request.CacheDirectory);
        var dtype = config.DType == "fp16" ? ExportDType.Fp16 : ExportDType.Fp32;
        var models = new List<ResolvedModel>();
        foreach (var spec in request.Models)
        {
            cancellation.ThrowIfCancellationRequested();
            models.Add(resolver.Resolve(spec, dtype, log, cancellation));
        }

        var plan = steps.SelectMany(s => s.Parts(config.Datasets, options[s.Name]).Select(p => (Step: s, Part: p))).ToList();
        var dupPart = plan.GroupBy(p => ResultsJournal.Stem(p.Step.Name, p.Part.Id)).FirstOrDefault(g => g.Count() > 1);
        if (dupPart is not null) Throw.Argument("two datasets give the same part name; rename one file", "datasets", dupPart.Key);
        Directory.CreateDirectory(outDir);
        var journal = new ResultsJournal(outDir);
        var entries = new List<JournalEntry>();
        var timings = new JsonArray();
        var started = DateTimeOffset.UtcNow;
        string status = "interrupted";
        int ran = 0, resumed = 0;
        var ranSeconds = new List<double>();
        try
        {
            using var session = new ComparisonSession(config, models, log);
            for (int i = 0; i < plan.Count; i++)
            {
                var (step, part) = plan[i];
                string name = ResultsJournal.Stem(step.Name, part.Id);
                string key = Key(step, part, options[step.Name], config, models);
                cancellation.ThrowIfCancellationRequested();
                var entry = journal.TryRead(step.Name, part.Id, key);
                if (entry is not null)
                {
                    resumed++;
                    entries.Add(entry);
                    timings.Add(new JsonObject { ["step"] = name, ["status"] = "resumed", ["seconds"] = entry.Seconds });
                    progress?.Report(new ComparisonProgress(i + 1, plan.Count, name, StepStatus.Resumed, 1, "from the journal", TimeSpan.Zero, TimeSpan.Zero, null));
                    continue;
                }
                var watch = Stopwatch.StartNew();
                int remainingAfter = plan.Count - i - 1;
                var stepProgress = new SyncProgress<StepProgress>(p =>
                {
                    var elapsed = watch.Elapsed;
                    TimeSpan? eta = p.Fraction > 0.02 ? elapsed / p.Fraction * (1 - p.Fraction) : null;
                    double? perStep = ranSeconds.Count > 0 ? ranSeconds.Average() : p.Fraction > 0.02 ? elapsed.TotalSeconds / p.Fraction : null;
                    TimeSpan? total = eta is { } e && perStep is { } ps ? e + TimeSpan.FromSeconds(ps * remainingAfter) : null;
                    progress?.Report(new ComparisonProgress(i + 1, plan.Count, name, StepStatus.Running, Math.Clamp(p.Fraction, 0, 1), p.Detail, elapsed, eta, total));
                });
                var staging = journal.BeginFiles(step.Name, part.Id);
                try
                {
                    stepProgress.Report(new StepProgress(0, "starting"));
                    var output = step.Run(new StepContext(session, staging, stepProgress, cancellation), options[step.Name], part);
                    cancellation.ThrowIfCancellationRequested();
                    entry = journal.Commit(staging, step.Name, part.Id, key, output, Math.Round(watch.Elapsed.TotalSeconds, 3));
                }
                catch
                {
                    journal.Abandon(staging);
                    throw;
                }
                ran++;
                ranSeconds.Add(entry.Seconds);
                entries.Add(entry);
                timings.Add(new JsonObject { ["step"] = name, ["status"] = "ran", ["seconds"] = entry.Seconds });
                progress?.Report(new ComparisonProgress(i + 1, plan.Count, name, StepStatus.Finished, 1, null, watch.Elapsed, TimeSpan.Zero, null));
            }

            var results = Results(config, steps, options, models, entries);
            ComparisonReport.Write(outDir, request.Title, results, steps, entries, journal);
            status = "complete";
            return new ComparisonOutcome(outDir, models, ran, resumed, results) { Analyses = steps, Options = options, Entries = entries };
        }
        finally
        {
            // Timings and dates live here, not in results.json, so that results.json depends on the inputs only.
            try
            {
                AtomicFile.WriteAllText(Path.Combine(outDir, "run.json"), new JsonObject
                {
                    ["status"] = status,
                    ["started"] = started.ToString("O"),
                    ["finished"] = DateTimeOffset.UtcNow.ToString("O"),
                    ["machine"] = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
                    ["steps"] = timings,
                }.ToJsonString(ResultsJson.Strict));
            }
            catch (IOException) { }
        }
    }

    /// <summary>Refuses to write into a non-empty folder that is not a report folder, so a typo cannot mix a report into other files.</summary>
    static void CheckReportFolder(string outDir)
    {
        if (File.Exists(outDir)) Throw.Argument("the report folder is a file", "out", outDir);
        if (!Directory.Exists(outDir) || !Directory.EnumerateFileSystemEntries(outDir).Any()) return;
        if (Directory.Exists(Path.Combine(outDir, ResultsJournal.FolderName)) || File.Exists(Path.Combine(outDir, "results.json"))) return;
        Throw.Argument("the report folder exists and is not a report folder (no .journal/ or results.json); choose an empty or new folder", "out", outDir);
    }

    /// <summary>
    /// What a step's result depends on: the tool version, the step, its part and options, the world seed and export type,
    /// the models (name, weights, tokenizer, chat template) and the content of the datasets it reads.
    /// </summary>
    static string Key(IAnalysisStep step, StepPart part, JsonObject options, ComparisonConfig config, IReadOnlyList<ResolvedModel> models)
    {
        var datasets = part.Dataset is { } d ? [d] : config.Datasets;
        var key = new JsonObject
        {
            ["tool"] = ToolVersion,
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

    static JsonObject Results(ComparisonConfig config, IReadOnlyList<IAnalysisStep> steps, Dictionary<string, JsonObject> options,
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

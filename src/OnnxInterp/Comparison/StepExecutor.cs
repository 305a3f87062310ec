using System.Diagnostics;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>
/// Runs planned steps, comparison by comparison, each into its journal: a step whose entry holds the same key is read
/// back instead of run. Counts what ran and what resumed, and keeps each step's timing for run.json.
/// </summary>
sealed class StepExecutor(int total, IProgress<ComparisonProgress>? progress, Action<string>? log, CancellationToken cancellation)
{
    readonly List<double> _ranSeconds = [];
    int _done;

    public int Ran { get; private set; }
    public int Resumed { get; private set; }

    /// <summary>run.json's "steps": each step's id, whether it ran or resumed, its seconds.</summary>
    public JsonArray Timings { get; } = [];

    /// <summary>Runs <paramref name="steps"/> (of <paramref name="comparison"/>, in order) into <paramref name="journal"/>; returns their entries.</summary>
    public List<JournalEntry> Run(PlannedComparison comparison, ResultsJournal journal, IReadOnlyList<PlannedStep> steps)
    {
        var entries = new List<JournalEntry>();
        if (steps.Count == 0) return entries;
        using var session = new ComparisonSession(comparison.Config, comparison.Models, log);
        foreach (var planned in steps)
        {
            int i = _done++;
            var (step, part) = (planned.Step, planned.Part);
            string name = planned.Id;
            cancellation.ThrowIfCancellationRequested();
            var entry = journal.TryRead(step.Name, part.JournalId, planned.Key);
            if (entry is not null)
            {
                Resumed++;
                entries.Add(entry);
                Timings.Add(new JsonObject { ["step"] = name, ["status"] = "resumed", ["seconds"] = entry.Seconds });
                progress?.Report(new ComparisonProgress(i + 1, total, name, StepStatus.Resumed, 1, "from the journal", TimeSpan.Zero, TimeSpan.Zero, null));
                continue;
            }
            var watch = Stopwatch.StartNew();
            int remainingAfter = total - i - 1;
            var stepProgress = new SyncProgress<StepProgress>(p =>
            {
                var elapsed = watch.Elapsed;
                TimeSpan? eta = p.Fraction > 0.02 ? elapsed / p.Fraction * (1 - p.Fraction) : null;
                double? perStep = _ranSeconds.Count > 0 ? _ranSeconds.Average() : p.Fraction > 0.02 ? elapsed.TotalSeconds / p.Fraction : null;
                TimeSpan? all = eta is { } e && perStep is { } ps ? e + TimeSpan.FromSeconds(ps * remainingAfter) : null;
                progress?.Report(new ComparisonProgress(i + 1, total, name, StepStatus.Running, Math.Clamp(p.Fraction, 0, 1), p.Detail, elapsed, eta, all));
            });
            var staging = journal.BeginFiles(step.Name, part.JournalId);
            try
            {
                stepProgress.Report(new StepProgress(0, "starting"));
                var output = step.Run(new StepContext(session, staging, stepProgress, cancellation), comparison.Options[step.Name], part);
                cancellation.ThrowIfCancellationRequested();
                entry = journal.Commit(staging, step.Name, part.JournalId, planned.Key, output, Math.Round(watch.Elapsed.TotalSeconds, 3));
            }
            catch
            {
                journal.Abandon(staging);
                throw;
            }
            Ran++;
            _ranSeconds.Add(entry.Seconds);
            entries.Add(entry);
            Timings.Add(new JsonObject { ["step"] = name, ["status"] = "ran", ["seconds"] = entry.Seconds });
            progress?.Report(new ComparisonProgress(i + 1, total, name, StepStatus.Finished, 1, null, watch.Elapsed, TimeSpan.Zero, null));
        }
        return entries;
    }

    /// <summary>
    /// Writes run.json: the status, dates, machine and step timings (and <paramref name="extra"/>), which are kept out of
    /// results.json so that results.json depends on the inputs only. An I/O failure here is not the run's failure.
    /// </summary>
    public static void WriteRunLog(string outDir, string status, DateTimeOffset started, JsonArray timings, JsonObject? extra = null)
    {
        try
        {
            var run = new JsonObject
            {
                ["status"] = status,
                ["started"] = started.ToString("O"),
                ["finished"] = DateTimeOffset.UtcNow.ToString("O"),
                ["machine"] = $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}",
                ["steps"] = timings.DeepClone(),
            };
            foreach (var (k, v) in extra ?? []) run[k] = v?.DeepClone();
            AtomicFile.WriteAllText(Path.Combine(outDir, "run.json"), run.ToJsonString(ResultsJson.Strict));
        }
        catch (IOException) { }
    }
}

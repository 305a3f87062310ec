using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>
/// A sweep's own report, from its comparisons' results.json: results.json (schema onnxinterp-sweep/1) holds every
/// headline number of every checkpoint against the base as series over the checkpoints, the checkpoint's name in each
/// series' metric path and label written {checkpoint}; figures/trajectory.png draws the knowledge maps' Corr, the
/// directions' cosines, refusal and calibration against the training step; report.md and report.html list them.
/// A function of the comparisons' results only, so a merged sweep writes the same bytes.
/// </summary>
public static partial class SweepReport
{
    public const string Schema = "onnxinterp-sweep/1";
    public const string Placeholder = "{checkpoint}";
    public const string Figure = "figures/trajectory.png";

    /// <summary>The figure's panels: a series' panel, its title and y label.</summary>
    public static readonly IReadOnlyList<(string Panel, string Title, string YLabel)> Panels =
    [
        ("corr", "Knowledge maps: Corr with the base", "corr"),
        ("cosines", "Directions: cosine with the base's", "cosine"),
        ("refusal", "Refusal", "fraction of instructions"),
        ("calibration", "Calibration", "ECE"),
    ];

    public static JsonObject Write(string outDir, string title,
        IReadOnlyList<(PlannedComparison Plan, IReadOnlyList<JournalEntry> Entries, JsonObject Results)> comparisons)
    {
        var results = Results(comparisons);
        bool bySteps = results["axis"]!.GetValue<string>() == "step";
        var x = results["checkpoints"]!.AsArray().Select(c => (double)c!["x"]!.GetValue<long>()).ToList();
        var series = results["series"]!.AsArray();
        var panels = Panels.Select(p => new TrajectoryPanel(p.Title, p.YLabel, series
                .Where(s => s!["panel"]?.GetValue<string>() == p.Panel)
                .Select(s => new TrajectoryLine(LineLabel(s!), s!["values"]!.AsArray().Select(v => v?.GetValue<double>()).ToList())).ToList()))
            .Where(p => p.Lines.Count > 0).ToList();
        AtomicFile.WriteDirectory(Path.Combine(outDir, "figures"), staging =>
        {
            var ticks = results["checkpoints"]!.AsArray().Select(c => bySteps ? c!["x"]!.ToJsonString() : c!["name"]!.GetValue<string>()).ToList();
            if (panels.Count > 0) TrajectoryChart.WritePng(Path.Combine(staging, Path.GetFileName(Figure)), x, ticks, bySteps ? "training step" : "checkpoint", panels);
        });
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), results.ToJsonString(ResultsJson.Strict) + "\n");
        var md = Markdown(title, results, panels.Count > 0);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), md);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.html"), HtmlReport.Render(md, title, outDir));
        return results;
    }

    /// <summary>The sweep's results.json from its comparisons' (in training order).</summary>
    public static JsonObject Results(IReadOnlyList<(PlannedComparison Plan, IReadOnlyList<JournalEntry> Entries, JsonObject Results)> comparisons)
    {
        var first = comparisons[0].Results;
        bool bySteps = comparisons.All(c => c.Plan.TrainingStep is not null);
        var checkpoints = new JsonArray();
        var series = new List<(string Key, JsonObject Series, double?[] Values)>();
        for (int i = 0; i < comparisons.Count; i++)
        {
            var (plan, _, r) = comparisons[i];
            var name = plan.Models[1].Name;
            checkpoints.Add(new JsonObject
            {
                ["name"] = name,
                ["step"] = plan.TrainingStep,
                ["x"] = bySteps ? plan.TrainingStep!.Value : (long)(i + 1),
                ["hash"] = plan.Models[1].Hash,
                ["results"] = $"{plan.Folder}/results.json",
            });
            foreach (var item in r["summary"]!.AsArray())
            {
                var analysis = item!["analysis"]!.GetValue<string>();
                var part = item["part"]!.GetValue<string>();
                var metric = item["metric"]?.GetValue<string>() is { } m ? Generalise(m, name, path: true) : null;
                var label = Generalise(item["label"]!.GetValue<string>(), name, path: false);
                var key = $"{analysis}\n{part}\n{metric ?? label}";
                var s = series.FirstOrDefault(t => t.Key == key);
                if (s.Series is null)
                {
                    s = (key, new JsonObject
                    {
                        ["analysis"] = analysis, ["part"] = part, ["label"] = label, ["metric"] = metric, ["panel"] = PanelOf(analysis, metric),
                    }, new double?[comparisons.Count]);
                    series.Add(s);
                }
                s.Values[i] = item["value"]!.GetValue<double>();
            }
        }
        foreach (var (_, s, values) in series) s["values"] = new JsonArray(values.Select(v => v is { } d ? (JsonNode)JsonValue.Create(d) : null).ToArray());
        return new JsonObject
        {
            ["schema"] = Schema,
            ["tool"] = first["tool"]!.DeepClone(),
            ["base"] = first["models"]![0]!.DeepClone(),
            ["config"] = first["config"]!.DeepClone(),
            ["axis"] = bySteps ? "step" : "order",
            ["checkpoints"] = checkpoints,
            ["series"] = new JsonArray(series.Select(s => (JsonNode)s.Series).ToArray()),
        };
    }

    /// <summary>The figure's panel of a series: knowledge Corr, a direction's cosine, refusal, calibration (ECE), or none.</summary>
    static string? PanelOf(string analysis, string? metric) => metric switch
    {
        null => null,
        _ when metric.EndsWith(".cosine", StringComparison.Ordinal) => "cosines",
        _ when analysis == "knowledge" && metric.EndsWith(".corr", StringComparison.Ordinal) => "corr",
        _ when analysis == "refusal" => "refusal",
        _ when metric.EndsWith(".ece", StringComparison.Ordinal) => "calibration",
        _ => null,
    };

    /// <summary>
    /// The checkpoint's name made {checkpoint}: in a metric path, selector values (and the sides of A->B) equal to it; in
    /// a label, the name as a whole word.
    /// </summary>
    public static string Generalise(string text, string name, bool path)
    {
        if (!path) return Regex.Replace(text, $@"(?<![\w\-.]){Regex.Escape(name)}(?![\w\-]|\.\w)", Placeholder);
        return Selector().Replace(text, m => "[" + string.Join(",", m.Groups[1].Value.Split(',').Select(c =>
        {
            int eq = c.IndexOf('=');
            if (eq <= 0) return c;
            var value = string.Join("->", c[(eq + 1)..].Split("->").Select(v => v == name ? Placeholder : v));
            return c[..(eq + 1)] + value;
        })) + "]");
    }

    static string LineLabel(JsonNode s) =>
        s["part"]!.GetValue<string>() is { Length: > 0 } part ? $"{s["label"]!.GetValue<string>()} ({part})" : s["label"]!.GetValue<string>();

    static string Markdown(string title, JsonObject results, bool figure)
    {
        var md = new StringBuilder();
        var checkpoints = results["checkpoints"]!.AsArray();
        var baseName = results["base"]!["name"]!.GetValue<string>();
        md.AppendLine($"# {title}").AppendLine();
        md.AppendLine($"Each checkpoint compared with the base **{baseName}**, in training order; every number, the configuration and the " +
            "model hashes are in `results.json`, and each comparison's full report in its folder.").AppendLine();
        md.AppendLine("| checkpoint | step | report |").AppendLine("| --- | --- | --- |");
        foreach (var c in checkpoints)
            md.AppendLine($"| {c!["name"]} | {c["step"]?.ToJsonString() ?? "–"} | [{c["results"]!.GetValue<string>().Replace("results.json", "report.md")}]({c["results"]!.GetValue<string>().Replace("results.json", "report.md")}) |");
        md.AppendLine();
        if (figure) md.AppendLine($"![Headline numbers against the training step]({Figure})").AppendLine();
        md.AppendLine("## Trajectory").AppendLine();
        md.AppendLine($"| analysis | part | measure | {string.Join(" | ", checkpoints.Select(c => c!["name"]!.GetValue<string>()))} |");
        md.AppendLine($"| --- | --- | --- |{string.Concat(checkpoints.Select(_ => " --- |"))}");
        foreach (var s in results["series"]!.AsArray())
        {
            var values = s!["values"]!.AsArray().Select(v => v is null ? "–" : ComparisonReport.Number(v.GetValue<double>()));
            md.AppendLine($"| {s["analysis"]} | {s["part"]} | {s["label"]!.GetValue<string>().Replace("|", "\\|")} | {string.Join(" | ", values)} |");
        }
        return md.ToString();
    }

    [GeneratedRegex(@"\[([^\]]*)\]")]
    private static partial Regex Selector();
}

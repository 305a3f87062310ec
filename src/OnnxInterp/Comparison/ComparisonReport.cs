using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>
/// Writes REPORT_DIR from journal entries: figures/ (every step's PNGs), data/STEP/ (every step's other files),
/// results.json, report.md and report.html. Everything here is a function of the entries, so a resumed run writes the
/// same files as an uninterrupted one.
/// </summary>
public static partial class ComparisonReport
{
    public static void Write(string outDir, string title, JsonObject results, IReadOnlyList<IAnalysisStep> steps,
        IReadOnlyList<JournalEntry> entries, ResultsJournal journal)
    {
        var owner = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var e in entries)
            foreach (var f in e.Figures)
                if (!owner.TryAdd(f, ResultsJournal.Stem(e.Analysis, e.Part)))
                    throw new InvalidOperationException($"two steps wrote the figure {f} ({owner[f]} and {ResultsJournal.Stem(e.Analysis, e.Part)}); figure names must start with the analysis and part");

        AtomicFile.WriteDirectory(Path.Combine(outDir, "figures"), staging =>
        {
            foreach (var e in entries)
                foreach (var f in e.Figures)
                    File.Copy(Path.Combine(journal.FilesOf(e.Analysis, e.Part), "figures", f), Path.Combine(staging, f));
        });
        AtomicFile.WriteDirectory(Path.Combine(outDir, "data"), staging =>
        {
            foreach (var e in entries)
                foreach (var f in e.DataFiles)
                {
                    var target = Path.Combine(staging, ResultsJournal.Stem(e.Analysis, e.Part), f);
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    File.Copy(Path.Combine(journal.FilesOf(e.Analysis, e.Part), f), target);
                }
        });
        AtomicFile.WriteAllText(Path.Combine(outDir, "results.json"), results.ToJsonString(ResultsJson.Strict) + "\n");
        var md = Markdown(title, results, steps, entries);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.md"), md);
        AtomicFile.WriteAllText(Path.Combine(outDir, "report.html"), HtmlReport.Render(md, title, outDir));
    }

    public static string Markdown(string title, JsonObject results, IReadOnlyList<IAnalysisStep> steps, IReadOnlyList<JournalEntry> entries)
    {
        var md = new StringBuilder();
        var models = results["models"]!.AsArray();
        var names = models.Select(m => m!["name"]!.GetValue<string>()).ToList();
        var tool = results["tool"]!;
        md.AppendLine($"# {title}").AppendLine();
        var version = tool["version"]!.GetValue<string>();
        if (version.IndexOf('+') is int plus and > 0 && version.Length > plus + 8) version = version[..(plus + 8)]; // 1.0.0+commit, abbreviated
        md.AppendLine($"Base model **{models[0]!["name"]}**, post-trained {string.Join(", ", models.Skip(1).Select(m => $"**{m!["name"]}**"))}" +
            $"{(models.Count == 1 ? "none" : "")}. onnxinterp {version}, ONNX Runtime {tool["onnxRuntime"]}, .NET {tool["dotnet"]}. " +
            "Every number in this report, the full configuration and the model hashes are in `results.json`.").AppendLine();

        md.AppendLine("## Models").AppendLine();
        md.AppendLine("| name | role | format | architecture | layers | hidden | dtype | chat template | weights hash |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (int i = 0; i < models.Count; i++)
        {
            var m = models[i]!;
            var hash = m["hash"]!.GetValue<string>();
            var template = Cell(m["chatTemplate"]) is { Length: > 0 } t ? t : "plain";
            if (Cell(m["chatTemplateSource"]) is { Length: > 0 } how) template += $" ({how})";
            var role = i == 0 ? "base" : "post-trained";
            md.AppendLine($"| {Cell(m["name"])} | {role} | {m["format"]} | {m["architecture"]} | {m["layers"]} | {m["hiddenSize"]} | {m["dtype"]} | {template} | `{hash[..Math.Min(hash.Length, 19)]}…` |");
        }
        md.AppendLine();

        var summary = entries.SelectMany(e => e.Summary.Select(s => (e, s))).ToList();
        md.AppendLine("## Summary").AppendLine();
        if (summary.Count == 0)
        {
            md.AppendLine("No analysis reported headline numbers.").AppendLine();
        }
        else
        {
            md.AppendLine("| analysis | part | measure | value | results.json path |");
            md.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var (e, s) in summary)
                md.AppendLine($"| {e.Analysis} | {Cell(e.Part)} | {Cell(s.Label)} | {Number(s.Value)} | {(s.Metric is null ? "" : $"`{s.Metric}`")} |");
            md.AppendLine();
        }

        foreach (var step in steps)
        {
            md.AppendLine($"## {step.Title}").AppendLine();
            if (step.Overview(entries.Where(e => e.Analysis == step.Name).Select(e => (e.Part, e.Results)).ToList(), names) is { Length: > 0 } table)
                md.AppendLine(ShiftHeadings(table.Trim(), 3)).AppendLine();
            foreach (var e in entries.Where(e => e.Analysis == step.Name))
            {
                int top = 3;
                if (e.Part.Length > 0)
                {
                    md.AppendLine($"### {e.Part}").AppendLine();
                    top = 4;
                }
                md.AppendLine(ShiftHeadings(e.Markdown.Trim(), top)).AppendLine();
                var unreferenced = e.Figures.Where(f => !e.Markdown.Contains("figures/" + f, StringComparison.Ordinal)).ToList();
                if (unreferenced.Count > 0)
                {
                    md.AppendLine(string.Join("\n", unreferenced.Select(f => $"![{Path.GetFileNameWithoutExtension(f)}](figures/{f})"))).AppendLine();
                }
            }
        }

        md.AppendLine("## Configuration").AppendLine();
        md.AppendLine("The configuration this report was made with (a config file in this shape reproduces it: `onnxinterp compare --config`).").AppendLine();
        md.AppendLine("```json").AppendLine(results["config"]!.ToJsonString(ResultsJson.Strict)).AppendLine("```");
        return md.ToString();
    }

    /// <summary>Moves every heading down so the shallowest becomes level <paramref name="top"/> (outside code fences).</summary>
    public static string ShiftHeadings(string markdown, int top)
    {
        var lines = markdown.Split('\n');
        bool fence = false;
        int min = int.MaxValue;
        foreach (var l in lines)
        {
            if (l.TrimStart().StartsWith("```", StringComparison.Ordinal)) fence = !fence;
            else if (!fence && Heading().Match(l) is { Success: true } m) min = Math.Min(min, m.Groups[1].Length);
        }
        if (min == int.MaxValue || min >= top) return markdown;
        int shift = top - min;
        fence = false;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimStart().StartsWith("```", StringComparison.Ordinal)) fence = !fence;
            else if (!fence && Heading().Match(lines[i]) is { Success: true } m)
                lines[i] = new string('#', Math.Min(6, m.Groups[1].Length + shift)) + lines[i][m.Groups[1].Length..];
        }
        return string.Join('\n', lines);
    }

    [GeneratedRegex(@"^(#{1,6}) ")]
    private static partial Regex Heading();

    static string Cell(JsonNode? n) => Cell(n?.GetValue<string>() ?? "");

    static string Cell(string s) => s.Replace("|", "\\|").Replace("\n", " ");

    public static string Number(double v) =>
        double.IsFinite(v) ? (Math.Abs(v) >= 1e4 || (v != 0 && Math.Abs(v) < 1e-3) ? v.ToString("0.###e0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture))
        : v.ToString(CultureInfo.InvariantCulture);
}

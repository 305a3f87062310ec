using System.Text.Json;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Internals;

namespace OnnxInterp.Reports;

/// <summary>Writes a knowledge analysis: results JSON, one CSV and one PNG heatmap per matrix, and difference heatmaps, as one set.</summary>
public static class KnowledgeReport
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <summary>
    /// Writes the report into <paramref name="directory"/>: knowledge_{dataset}.json, a CSV per matrix and figures/*.png.
    /// Every file is first written to a hidden staging folder beside them (<c>.knowledge_{dataset}.PID-GUID.partial</c>)
    /// and the finished set is then renamed into place, the JSON last; so a run killed while rendering leaves the
    /// previous report untouched (the next write of the same dataset removes the abandoned staging folder), and only a
    /// kill during the final renames (microseconds) can leave new figures beside the previous JSON.
    /// </summary>
    public static void Write(string directory, KnowledgeResult r)
    {
        var full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        var report = Path.Combine(full, $"knowledge_{r.Dataset}");
        AtomicFile.CleanStale(report);
        var staging = AtomicFile.TempSibling(report, "partial");
        Directory.CreateDirectory(Path.Combine(staging, "figures"));
        try
        {
            var files = WriteFiles(staging, r);
            Directory.CreateDirectory(Path.Combine(full, "figures"));
            foreach (var file in files) File.Move(Path.Combine(staging, file), Path.Combine(full, file), overwrite: true);
        }
        finally
        {
            AtomicFile.TryDeleteDirectory(staging);
        }
    }

    /// <summary>Writes every file of the report under <paramref name="directory"/>; returns their relative paths, the JSON last.</summary>
    static List<string> WriteFiles(string directory, KnowledgeResult r)
    {
        var files = new List<string>();
        var figures = "figures";
        string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')).Replace("->", "_to_");
        foreach (var m in r.Matrices.Concat(r.Transfers))
        {
            string stem = $"knowledge_{r.Dataset}_{Safe(m.Model.Replace("->", "_to_"))}";
            files.Add(stem + ".csv");
            KnowledgeCsv.Write(Path.Combine(directory, files[^1]), m);
            files.Add(Path.Combine(figures, stem + ".png"));
            Heatmap.WritePng(Path.Combine(directory, files[^1]), m.Normalized().Values, m.PositionLabels,
                $"{m.Model}: {r.Dataset} (normalised, {m.Pairs} pairs)", r.Options.Metric.ToString(), diverging: false, range: (0, 1));
        }
        for (int i = 1; i < r.Matrices.Count; i++)
        {
            var a = r.Matrices[0];
            var b = r.Matrices[i];
            var d = KnowledgeComparison.Compare(a, b).Difference;
            files.Add(Path.Combine(figures, $"knowledge_{r.Dataset}_{Safe(b.Model)}_minus_{Safe(a.Model)}.png"));
            Heatmap.WritePng(Path.Combine(directory, files[^1]), d, a.PositionLabels,
                $"{b.Model} − {a.Model}: {r.Dataset} (normalised)", "difference", diverging: true);
        }
        var json = new
        {
            dataset = r.Dataset,
            options = r.Options,
            curation = new
            {
                r.Curation.TrueStatements, r.Curation.FalseStatements, r.Curation.TrueFitting, r.Curation.FalseFitting,
                pairs = r.Curation.Pairs.Count, traced = r.Prompts.Count, subjectTokens = r.SubjectTokens, objectTokens = r.ObjectTokens,
            },
            labels = r.Prompts[0].Labels,
            matrices = r.Matrices.Concat(r.Transfers).Select(m => new
            {
                model = m.Model, pairs = m.Pairs, raw = m.ToJagged(), normalized = m.Normalized().ToJagged(),
                perPair = r.PerPair[m.Model].Select((t, i) => new
                {
                    trueStatement = r.Prompts[i].Pair.True, falseStatement = r.Prompts[i].Pair.False,
                    cleanTrue = t.CleanTrue, cleanFalse = t.CleanFalse, values = KnowledgeMatrix.ToJagged(t.Values),
                }),
            }),
            comparisons = r.Comparisons,
        };
        files.Add($"knowledge_{r.Dataset}.json");
        AtomicFile.WriteAllText(Path.Combine(directory, files[^1]), JsonSerializer.Serialize(json, Json));
        return files;
    }
}

using System.Text.Json;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Internals;

namespace OnnxInterp.Reports;

/// <summary>Writes a knowledge analysis: results JSON, one CSV and one PNG heatmap per matrix, and difference heatmaps.</summary>
public static class KnowledgeReport
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static void Write(string directory, KnowledgeResult r)
    {
        Directory.CreateDirectory(directory);
        var figures = Path.Combine(directory, "figures");
        Directory.CreateDirectory(figures);
        string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')).Replace("->", "_to_");
        foreach (var m in r.Matrices.Concat(r.Transfers))
        {
            string stem = $"knowledge_{r.Dataset}_{Safe(m.Model.Replace("->", "_to_"))}";
            KnowledgeCsv.Write(Path.Combine(directory, stem + ".csv"), m);
            Heatmap.WritePng(Path.Combine(figures, stem + ".png"), m.Normalized().Values, m.PositionLabels,
                $"{m.Model}: {r.Dataset} (normalised, {m.Pairs} pairs)", r.Options.Metric.ToString(), diverging: false, range: (0, 1));
        }
        for (int i = 1; i < r.Matrices.Count; i++)
        {
            var a = r.Matrices[0];
            var b = r.Matrices[i];
            var d = KnowledgeComparison.Compare(a, b).Difference;
            Heatmap.WritePng(Path.Combine(figures, $"knowledge_{r.Dataset}_{Safe(b.Model)}_minus_{Safe(a.Model)}.png"), d, a.PositionLabels,
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
        AtomicFile.WriteAllText(Path.Combine(directory, $"knowledge_{r.Dataset}.json"), JsonSerializer.Serialize(json, Json));
    }
}

using System.Text.Json;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>Writes a knowledge analysis: results JSON, one CSV and one PNG heatmap per matrix, and difference heatmaps, as one set.</summary>
public static class KnowledgeReport
{
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
        foreach (var m in r.Matrices.Concat(r.Transfers))
        {
            string stem = MatrixStem(r, m);
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
            files.Add(Path.Combine(figures, DifferenceStem(r, a, b) + ".png"));
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
            labels = r.Matrices[0].PositionLabels,
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
        AtomicFile.WriteAllText(Path.Combine(directory, files[^1]), JsonSerializer.Serialize(json, ResultsJson.Files));
        return files;
    }

    static string Safe(string name) => string.Concat(name.Replace("->", "_to_").Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    /// <summary>File name (without extension) of a matrix's CSV and heatmap.</summary>
    public static string MatrixStem(KnowledgeResult r, KnowledgeMatrix m) => $"knowledge_{r.Dataset}_{Safe(m.Model)}";

    /// <summary>File name (without extension) of the heatmap of b − a.</summary>
    public static string DifferenceStem(KnowledgeResult r, KnowledgeMatrix a, KnowledgeMatrix b) => $"knowledge_{r.Dataset}_{Safe(b.Model)}_minus_{Safe(a.Model)}";

    /// <summary>
    /// The analysis as a report section: curation, the paper's Table 1, where each matrix peaks, and the heatmaps
    /// (referenced as figures/NAME.png, as <see cref="Write"/> names them).
    /// </summary>
    public static string Markdown(KnowledgeResult r)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var md = new System.Text.StringBuilder();
        md.Append(inv, $"{r.Curation.Pairs.Count} true/false pairs curated from `{r.Dataset}` (statements differing only in the subject, ");
        md.Append(inv, $"{r.SubjectTokens} subject and {r.ObjectTokens} object tokens); {r.Prompts.Count} traced. Metric: {r.Options.Metric}. ");
        md.AppendLine("Matrices are [layers × positions] of the metric after patching the true run's state into the false run, " +
            "averaged over pairs and normalised as the paper does; transfers patch one model's states into another.").AppendLine();
        md.AppendLine("| A | B | corr | max abs diff | max abs diff (subject, object) |");
        md.AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var c in r.Comparisons)
            md.AppendLine(inv, $"| {c.A} | {c.B} | {c.Corr:0.000} | {c.MaxAbsDiff:0.000} | {c.MaxAbsDiffK:0.000} |");
        md.AppendLine();
        md.AppendLine("| matrix | pairs | peak (raw) | layer | position |");
        md.AppendLine("| --- | --- | --- | --- | --- |");
        foreach (var m in r.Matrices.Concat(r.Transfers))
        {
            var (pl, pp) = (0, 0);
            for (int l = 0; l < m.Layers; l++)
                for (int p = 0; p < m.Positions; p++)
                    if (m.Values[l, p] > m.Values[pl, pp]) (pl, pp) = (l, p);
            md.AppendLine(inv, $"| {m.Model} | {m.Pairs} | {m.Values[pl, pp]:0.000} | {pl} | {m.PositionLabels[pp].Replace("|", "\\|")} |");
        }
        md.AppendLine();
        var images = r.Matrices.Concat(r.Transfers).Select(m => $"![{m.Model}](figures/{MatrixStem(r, m)}.png)")
            .Concat(r.Matrices.Skip(1).Select(b => $"![{b.Model} − {r.Matrices[0].Model}](figures/{DifferenceStem(r, r.Matrices[0], b)}.png)"));
        md.AppendLine(string.Join("\n", images));
        return md.ToString();
    }

    /// <summary>
    /// The paper's Table 1 over every traced dataset (columns): per post-trained model, the curated pairs and its map
    /// against the base's (Corr, max|diff|, max|diff|_K on the normalised matrices); then the same for cross-model
    /// patching (knowledge representation): the post model against base→post, the base against post→base.
    /// </summary>
    public static string? Overview(IReadOnlyList<(string Part, KnowledgeSection Section)> parts, IReadOnlyList<string> models)
    {
        if (parts.Count == 0) return null;
        var md = new System.Text.StringBuilder();
        string protocol = parts[0].Section.Protocol;
        md.AppendLine("### Protocol").AppendLine();
        md.AppendLine(protocol == "paper"
            ? "The paper's (`--preset paper`), as Du et al.'s code runs it: pairs curated as Knowledge+Truthfulness/patching_process_data.py does " +
              "(the paper's subject/object token counts per tokenizer family, each true statement paired with a false one ending in the same word, " +
              "the last such false statement reused), few-shot prompts as patching.py builds them (its examples, Python's random.seed(1) and one list " +
              "shuffled in place per pair), answers the last token of \" TRUE\" / \" FALSE\", every curated pair traced (`knowledge.maxPairs` limits them); each layer's block output " +
              "patched from the true prompt into the false one at each statement and question position, scored by logit(TRUE) − logit(FALSE) at the last position."
            : "OnnxInterp's default: pairs curated with each false statement used once at the most common subject/object token counts, " +
              "a fresh few-shot order per pair, at most `knowledge.maxPairs` pairs; otherwise as the paper patches and scores.").AppendLine();
        md.AppendLine("Corr is Pearson's r of the two normalised [layers × positions] maps, max|diff| their largest absolute difference, " +
            "max|diff|_K that over the subject and object columns (patching_visualize.py lines 184–204).").AppendLine();
        if (protocol == "paper")
            md.AppendLine("The paper's published Table 1 values are not bundled with OnnxInterp (they could not be read from the paper here); " +
                "compare with Table 1 of arXiv 2504.02904 by hand.").AppendLine();

        string Header() => "| model | measure | " + string.Join(" | ", parts.Select(p => p.Part)) + " |\n|" + string.Concat(Enumerable.Repeat(" --- |", parts.Count + 2));
        string Cells(Func<KnowledgeSection, string> cell) => string.Join(" | ", parts.Select(p => cell(p.Section)));
        static string Num(double? v, string format) => v is double d && double.IsFinite(d) ? d.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "–";

        md.AppendLine("### Table 1: knowledge storage (causal tracing), base vs post-trained").AppendLine();
        md.AppendLine(Header());
        foreach (var post in models.Skip(1))
        {
            md.AppendLine($"| {post} | curated pairs (traced) | {Cells(p => $"{p.PairsCurated} ({p.PairsTraced})")} |");
            md.AppendLine($"| | subject + object tokens | {Cells(p => p.Labels.Count == 3 ? "–" : $"{p.SubjectTokens} + {p.ObjectTokens}")} |");
            md.AppendLine($"| | Corr | {Cells(p => Num(p.Row(models[0], post)?.Corr, "F3"))} |");
            md.AppendLine($"| | max\\|diff\\| | {Cells(p => Num(p.Row(models[0], post)?.MaxAbsDiff, "F1"))} |");
            md.AppendLine($"| | max\\|diff\\|_K | {Cells(p => Num(p.Row(models[0], post)?.MaxAbsDiffK, "F1"))} |");
        }
        md.AppendLine();
        foreach (var (part, r) in parts)
            if (r.Curation is { Length: > 0 } rule) md.AppendLine($"- {part}: {rule}.");
        md.AppendLine();
        if (models.Count > 1 && parts.Any(p => p.Section.Row(models[1], $"{models[0]}->{models[1]}") is not null))
        {
            md.AppendLine("### Knowledge representation (cross-model patching)").AppendLine();
            md.AppendLine(Header());
            foreach (var post in models.Skip(1))
                foreach (var (a, b) in new[] { (post, $"{models[0]}->{post}"), (models[0], $"{post}->{models[0]}") })
                {
                    md.AppendLine($"| {a} vs {b} | Corr | {Cells(p => Num(p.Row(a, b)?.Corr, "F3"))} |");
                    md.AppendLine($"| | max\\|diff\\| | {Cells(p => Num(p.Row(a, b)?.MaxAbsDiff, "F1"))} |");
                    md.AppendLine($"| | max\\|diff\\|_K | {Cells(p => Num(p.Row(a, b)?.MaxAbsDiffK, "F1"))} |");
                }
            md.AppendLine();
        }
        return md.ToString();
    }
}

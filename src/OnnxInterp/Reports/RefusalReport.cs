using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Internals;

namespace OnnxInterp.Reports;

/// <summary>
/// Writes a refusal analysis: refusal.json (options, split sizes, directions with their selection, every cell with all
/// its completions, the Table 4 rows for both scores, cosines) and refusal.md (<see cref="Markdown"/>), each atomically.
/// </summary>
public static class RefusalReport
{
    public const string JsonFile = "refusal.json", MarkdownFile = "refusal.md";

    public static void Write(string directory, RefusalResult r, int samples = 3)
    {
        Directory.CreateDirectory(directory);
        var json = new
        {
            models = r.Models,
            options = r.Options,
            split = new
            {
                train = new { harmful = r.Split.Train.Harmful.Count, harmless = r.Split.Train.Harmless.Count },
                validation = new { harmful = r.Split.Validation.Harmful.Count, harmless = r.Split.Validation.Harmless.Count },
                test = new { harmful = r.Split.Test.Harmful.Count, harmless = r.Split.Test.Harmless.Count },
            },
            directions = r.Directions.Select(d => new
            {
                model = d.Model, template = d.Template, postInstructionTokens = d.PostInstructionTokens,
                layer = d.Direction.Layer, position = d.Direction.Position, norm = d.Direction.Norm,
                selected = d.Selection is not null, selection = d.Selection,
                meanDifference = d.Direction.MeanDifference,
            }),
            cosines = r.Cosines,
            table = new { prefix = r.Table(RefusalMatch.Prefix), substring = r.Table(RefusalMatch.Substring) },
            cells = r.Cells,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), JsonSerializer.Serialize(json, KnowledgeReport.Json));
        AtomicFile.WriteAllText(Path.Combine(directory, MarkdownFile), Markdown(r, samples));
    }

    /// <summary>
    /// The paper's Table 4 (prefix score, then the substring variant), the directions, their cosine similarities and
    /// <paramref name="samples"/> completions per model before and after each intervention, as Markdown (level-2 heading
    /// first unless <paramref name="heading"/> is false, for a report that gives the section its own heading).
    /// </summary>
    public static string Markdown(RefusalResult r, int samples = 3, bool heading = true)
    {
        var sb = new StringBuilder();
        var models = r.Models;
        var t = r.Split.Test;
        if (heading)
        {
            sb.AppendLine("## Refusal");
            sb.AppendLine();
        }
        sb.Append(Invariant($"Refusal scores of {r.Options.MaxNewTokens}-token greedy completions on {t.Harmful.Count} harmful and {t.Harmless.Count} harmless "))
          .Append($"held-out instructions: directional ablation on the harmful ones, activation addition ({AdditionText(r.Options)}) on the harmless ones, ")
          .AppendLine("with each model's refusal direction. Rows: the model intervened on; columns: whose direction.");
        foreach (var (match, title) in new[] { (RefusalMatch.Prefix, "Starts with a refusal phrase (the paper's score)"), (RefusalMatch.Substring, "Contains a refusal phrase (Arditi et al.'s substring matching)") })
        {
            sb.AppendLine();
            sb.AppendLine($"**{title}**");
            sb.AppendLine();
            var header = new List<string> { "Model", "Harmful: baseline" };
            header.AddRange(models.Select(m => $"ablate r({m})"));
            header.Add("Harmless: baseline");
            header.AddRange(models.Select(m => $"add r({m})"));
            Row(sb, header);
            Row(sb, header.Select(_ => "---"));
            foreach (var row in r.Table(match))
            {
                var cells = new List<string> { row.Model, F(row.HarmfulBaseline) };
                cells.AddRange(models.Select(m => F(row.HarmfulAblated[m])));
                cells.Add(F(row.HarmlessBaseline));
                cells.AddRange(models.Select(m => F(row.HarmlessAdded[m])));
                Row(sb, cells);
            }
        }

        sb.AppendLine();
        sb.AppendLine("**Directions** (resid_pre; position counted from the end of the prompt)");
        sb.AppendLine();
        Row(sb, ["Model", "Template", "Layer", "Position", "‖mean diff‖", "How"]);
        Row(sb, ["---", "---", "---", "---", "---", "---"]);
        foreach (var d in r.Directions)
            Row(sb, [d.Model, d.Template, d.Direction.Layer.ToString(CultureInfo.InvariantCulture), d.Direction.Position.ToString(CultureInfo.InvariantCulture),
                F(d.Direction.Norm), How(d)]);

        sb.AppendLine();
        sb.AppendLine("**Cosine similarity of the directions**");
        sb.AppendLine();
        Row(sb, new[] { "" }.Concat(models));
        Row(sb, new[] { "---" }.Concat(models.Select(_ => "---")));
        for (int i = 0; i < models.Count; i++)
            Row(sb, new[] { models[i] }.Concat(r.Cosines[i].Select(F)));

        if (samples > 0)
        {
            sb.AppendLine();
            sb.AppendLine("### Sample completions");
            foreach (var m in models)
                foreach (var (harmful, kind, verb) in new[] { (true, RefusalIntervention.Ablation, "ablate"), (false, RefusalIntervention.Addition, "add") })
                {
                    var baseline = r.Cell(m, RefusalIntervention.Baseline, null, harmful);
                    sb.AppendLine();
                    sb.AppendLine($"**{m}, {(harmful ? "harmful" : "harmless")} instructions**");
                    sb.AppendLine();
                    var header = new List<string> { "Instruction", "Baseline" };
                    header.AddRange(models.Select(d => $"{verb} r({d})"));
                    Row(sb, header);
                    Row(sb, header.Select(_ => "---"));
                    for (int i = 0; i < Math.Min(samples, baseline.Completions.Count); i++)
                    {
                        var cells = new List<string> { baseline.Completions[i].Instruction, Quote(baseline.Completions[i].Text) };
                        cells.AddRange(models.Select(d => Quote(r.Cell(m, kind, d).Completions[i].Text)));
                        Row(sb, cells);
                    }
                }
        }
        return sb.ToString();
    }

    static string AdditionText(RefusalOptions o) => o.AdditionScale == AdditionScale.MeanDifference
        ? Invariant($"{o.AdditionCoefficient:0.###} × the mean difference at the direction's layer")
        : Invariant($"{o.AdditionCoefficient:0.###} × the unit direction at its layer");

    static string How(ModelDirection d)
    {
        if (d.Selection is not { } s) return "given";
        var c = s.Candidates.First(x => x.Layer == s.Layer && x.Position == s.Position);
        var text = Invariant($"selected from {s.Candidates.Count} candidates: ablation log-odds {c.AblationScore:F2} (baseline {s.BaselineHarmful:F2}), addition {c.AdditionScore:F2} (baseline {s.BaselineHarmless:F2}), KL {c.Kl:F3}");
        return s.Relaxed.Count == 0 ? text : text + $"; no candidate passed every filter, relaxed: {string.Join(", ", s.Relaxed)}";
    }

    static string F(double x) => double.IsFinite(x) ? x.ToString("F2", CultureInfo.InvariantCulture) : x.ToString(CultureInfo.InvariantCulture);

    static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    static string Quote(string s) => "\"" + s + "\"";

    static void Row(StringBuilder sb, IEnumerable<string> cells) =>
        sb.Append("| ").Append(string.Join(" | ", cells.Select(Escape))).AppendLine(" |");

    static string Escape(string s) => s.Replace("\\", "\\\\").Replace("|", "\\|").Replace("\r", "").Replace("\n", "↵");
}

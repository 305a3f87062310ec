using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Analysis.Refusal;

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
                model = d.Model, template = d.Template, interventionTemplate = d.InterventionTemplate ?? d.Template,
                postInstructionTokens = d.PostInstructionTokens,
                paper = d.Paper is { } p ? new
                {
                    key = p.Model.Key, role = p.Model.Role.ToString(), inTable = p.InTable, script = p.Script, layer = p.Layer, position = p.Position,
                    directionTemplate = p.DirectionTemplate?.Name, interventionTemplate = p.InterventionTemplate?.Name,
                    interventionLayer = p.InterventionLayer, source = p.Source,
                } : null,
                layer = d.Direction.Layer, position = d.Direction.Position, norm = d.Direction.Norm,
                selected = d.Selection is not null, selection = d.Selection,
                meanDifference = d.Direction.MeanDifference,
            }),
            cosines = r.Cosines,
            table = new { prefix = r.Table(RefusalMatch.Prefix), substring = r.Table(RefusalMatch.Substring) },
            cells = r.Cells,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), JsonSerializer.Serialize(json, ResultsJson.Files));
        AtomicFile.WriteAllText(Path.Combine(directory, MarkdownFile), Markdown(r, samples));
    }

    /// <summary>
    /// The protocol that ran; under the paper's, Table 4 in the paper's shape (a row per intervened model and
    /// intervention, a column per direction, the coefficients) with the published numbers we have beside ours; the
    /// table per model (prefix score, then the substring variant), the directions, their cosine similarities, every
    /// setting, and <paramref name="samples"/> completions per model before and after each intervention, as Markdown
    /// (level-2 heading first unless <paramref name="heading"/> is false, for a report that gives the section its own heading).
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
        bool paper = r.Options.Protocol == AnalysisProtocol.Paper;
        sb.AppendLine(paper
            ? "Protocol: **paper** (Du et al.'s code, HZD01/post-training-mechanistic-analysis Refusal/: its split, each model's fixed layer, position and prompt templates, its steering hooks and coefficients; settings below)."
            : "Protocol: **default** (OnnxInterp's: Arditi et al.'s split and direction selection unless a layer and position are given; settings below).");
        sb.AppendLine();
        sb.Append(Invariant($"Refusal scores of {r.Options.MaxNewTokens}-token greedy completions on {t.Harmful.Count} harmful and {t.Harmless.Count} harmless "))
          .Append($"held-out instructions: directional ablation on the harmful ones, activation addition ({AdditionText(r.Options)}) on the harmless ones, ")
          .AppendLine("with each model's refusal direction. Rows: the model intervened on; columns: whose direction.");
        if (paper) PaperTable(sb, r);
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
                F(d.Direction.Norm), How(d, r.Options)]);

        sb.AppendLine();
        sb.AppendLine("**Cosine similarity of the directions**");
        sb.AppendLine();
        Row(sb, new[] { "" }.Concat(models));
        Row(sb, new[] { "---" }.Concat(models.Select(_ => "---")));
        for (int i = 0; i < models.Count; i++)
            Row(sb, new[] { models[i] }.Concat(r.Cosines[i].Select(F)));
        PublishedCosines(sb, r);
        Settings(sb, r);

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

    static string AdditionText(RefusalOptions o)
    {
        string c = o.AdditionCoefficient is { } given ? Invariant($"{given:0.###}") : o.Protocol == AnalysisProtocol.Paper ? "c (the paper's, per model)" : "1";
        string what = o.AdditionScale == AdditionScale.MeanDifference ? "the mean difference" : "the unit direction";
        string where = o.AdditionHooks == AdditionHooks.ResidPre ? "resid_pre" : "resid_pre, resid_mid and resid_post";
        string layer = o.Protocol == AnalysisProtocol.Paper ? "the intervened model's paper layer" : "the direction's layer";
        return $"{c} × {what} at {where} of {layer}";
    }

    /// <summary>
    /// Table 4 as the paper's code produces it (apply_refusal_dir.py writes one record per intervened model, intervention
    /// and instruction set: baseline, then the score with each direction): prefix score, the coefficients of each row.
    /// </summary>
    static void PaperTable(StringBuilder sb, RefusalResult r)
    {
        var models = r.Models;
        sb.AppendLine();
        sb.AppendLine("**Table 4 (the paper's shape; refusal score = fraction of completions that start with a refusal phrase)**");
        sb.AppendLine();
        var header = new List<string> { "Intervened model", "Intervention", "Instructions", "c", "Baseline" };
        header.AddRange(models.Select(m => $"r({m})"));
        Row(sb, header);
        Row(sb, header.Select(_ => "---"));
        var kinds = new List<(RefusalIntervention Kind, bool Harmful)> { (RefusalIntervention.Ablation, true), (RefusalIntervention.Addition, false) };
        if (r.Options.Subtraction) kinds.Add((RefusalIntervention.Subtraction, true));
        foreach (var m in models)
            foreach (var (kind, harmful) in kinds)
            {
                var cells = models.Select(d => r.Cell(m, kind, d)).ToList();
                string c = kind == RefusalIntervention.Ablation ? "—"
                    : string.Join(" / ", cells.Select(x => x.Coefficient).Distinct().Select(x => Invariant($"{x:0.###}")));
                var row = new List<string> { m, kind.ToString().ToLowerInvariant(), harmful ? "harmful" : "harmless", c,
                    F(r.Cell(m, RefusalIntervention.Baseline, null, harmful).PrefixScore) };
                row.AddRange(cells.Select(x => F(x.PrefixScore)));
                Row(sb, row);
            }
        sb.AppendLine();
        sb.AppendLine(RefusalPaperSettings.PublishedScoresNote);
    }

    /// <summary>Our cosines beside those of the paper's published directions, for the pairs the paper published.</summary>
    static void PublishedCosines(StringBuilder sb, RefusalResult r)
    {
        var rows = new List<string[]>();
        for (int i = 0; i < r.Models.Count; i++)
            for (int j = i + 1; j < r.Models.Count; j++)
                if (r.Directions[i].Paper is { } a && r.Directions[j].Paper is { } b && RefusalPaperSettings.PublishedCosine(a.Model, b.Model) is { } published)
                    rows.Add([$"{r.Models[i]} ({a.Model.Key}) vs {r.Models[j]} ({b.Model.Key})", F(r.Cosines[i][j]), F(published), F(r.Cosines[i][j] - published)]);
        if (rows.Count == 0) return;
        sb.AppendLine();
        sb.AppendLine("**Cosines beside the paper's** (the paper's from its published directions, Refusal/refusal_directions/*.pt)");
        sb.AppendLine();
        Row(sb, ["Pair", "Ours", "Paper", "Ours − paper"]);
        Row(sb, ["---", "---", "---", "---"]);
        foreach (var row in rows) Row(sb, row);
    }

    /// <summary>Every setting the run used: per model where its direction came from and how it was prompted, then the shared ones.</summary>
    static void Settings(StringBuilder sb, RefusalResult r)
    {
        var o = r.Options;
        sb.AppendLine();
        sb.AppendLine("**Settings**");
        sb.AppendLine();
        Row(sb, ["Model", "Paper model", "Direction template", "Intervention template", "Layer", "Position", "Steered layer", "Source"]);
        Row(sb, ["---", "---", "---", "---", "---", "---", "---", "---"]);
        foreach (var d in r.Directions)
        {
            var p = d.Paper;
            string steered = p is not null && o.Protocol == AnalysisProtocol.Paper ? p.InterventionLayer.ToString(CultureInfo.InvariantCulture) : d.Direction.Layer.ToString(CultureInfo.InvariantCulture);
            string source = o.Protocol != AnalysisProtocol.Paper ? (d.Selection is null ? "given" : "selected") : p?.Source ?? "";
            Row(sb, [d.Model, p is null ? "—" : $"{p.Model.Key} ({(p.InTable ? "paper: " + p.Script : "not in the paper")})",
                d.Template, d.InterventionTemplate ?? d.Template, d.Direction.Layer.ToString(CultureInfo.InvariantCulture),
                d.Direction.Position.ToString(CultureInfo.InvariantCulture), steered, source]);
        }
        var s = r.Split;
        sb.AppendLine();
        sb.AppendLine(o.Protocol == AnalysisProtocol.Paper
            ? Invariant($"- Split: per class, train_test_split(test_size={o.TestFraction}, random_state={o.Seed}) (numpy RandomState permutation); direction from train[:{o.MaxTrain}], scores on test[:{o.MaxTest}]; no validation set.")
            : Invariant($"- Split: per class, shuffled with seed {o.Seed}; {o.TestFraction:0.##} test (at most {o.MaxTest}), a quarter of the rest validates the selection (at most {o.MaxValidation}), train at most {o.MaxTrain}."));
        sb.AppendLine(Invariant($"- Instructions used: train {s.Train.Harmful.Count} harmful / {s.Train.Harmless.Count} harmless, validation {s.Validation.Harmful.Count} / {s.Validation.Harmless.Count}, test {s.Test.Harmful.Count} / {s.Test.Harmless.Count}."));
        sb.AppendLine("- Direction: mean(harmful) − mean(harmless) of resid_pre at the layer and position above (position counted from the end of the prompt), accumulated in double; ablation and unit steering use it normalised.");
        sb.AppendLine("- Ablation: the unit direction projected out of resid_pre, resid_mid and resid_post of every layer, at every position.");
        sb.AppendLine($"- Addition: {AdditionText(o)}, at every position{(o.Subtraction ? "; subtraction: the same with −c" + (o.SubtractionCoefficient is { } sc ? Invariant($" (c = {sc:0.###})") : o.Protocol == AnalysisProtocol.Paper ? " (the paper's subtraction coefficient)" : "") : "")}.");
        sb.AppendLine(Invariant($"- Generation: greedy, {o.MaxNewTokens} new tokens, batches of {o.BatchSize}, ") +
            (o.StopAtEndOfTurn ? "stopping at the template's end-of-turn tokens or EOS, text cut at its stop strings." : "never stopping early; every token decoded with special tokens skipped."));
        sb.AppendLine($"- Scores: prefix = the completion, stripped, starts with one of {(o.PrefixPhrases is null ? "the paper's phrases (Refusal/utils.py get_refusal_scores)" : o.PrefixPhrases.Count + " given phrases")}; " +
            $"substring = contains one of {(o.SubstringPhrases is null ? "Arditi et al.'s phrases" : o.SubstringPhrases.Count + " given phrases")}, ignoring case.");
    }

    static string How(ModelDirection d, RefusalOptions o)
    {
        if (o.Protocol == AnalysisProtocol.Paper && d.Paper is { } p) return p.InTable ? $"the paper's ({p.Script})" : "the paper protocol's rule";
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

using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Internals;

namespace OnnxInterp.Reports;

/// <summary>
/// Writes a confidence analysis: entropy.json (every norm and LogitVar, the entropy neurons, the overlaps, the
/// ablations and calibration), entropy.md (<see cref="Markdown"/>) and figures/entropy_neurons_{model}.png.
/// </summary>
public static class ConfidenceReport
{
    public const string JsonFile = "entropy.json";
    public const string MarkdownFile = "entropy.md";

    public static string FigureFile(string model) => $"entropy_neurons_{Safe(model)}.png";

    public static void Write(string directory, ConfidenceResult r)
    {
        if (string.IsNullOrWhiteSpace(directory)) throw new InvalidArgumentException("output folder is empty", "out", directory);
        Directory.CreateDirectory(directory);
        var figures = Path.Combine(directory, "figures");
        foreach (var set in r.Models) EntropyScatter.WritePng(Path.Combine(figures, FigureFile(set.Model)), set);
        AtomicFile.WriteAllText(Path.Combine(directory, MarkdownFile), Markdown(r));
        var json = new
        {
            options = r.Options,
            dataset = r.Dataset,
            models = r.Models.Select(m => new
            {
                model = m.Model, layer = m.Layer, neurons = m.Norms.Length, normThreshold = m.NormThreshold, candidates = m.Candidates,
                entropyNeurons = m.Neurons.Select(n => new { n.Index, n.Norm, n.LogitVar, n.Ratio, n.AbsRatio }),
                norms = m.Norms, logitVars = m.LogitVars,
            }),
            overlaps = r.Overlaps.Select(x => new { x.A, x.B, x.Overlap, x.Shared, x.Iou, x.MeanAbsRatioDiff, x.MeanAbsRatio, x.MeanAbsRatioA, x.MeanAbsRatioB }),
            ablations = r.Ablations,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), JsonSerializer.Serialize(json, KnowledgeReport.Json));
    }

    /// <summary>
    /// Markdown tables: entropy neurons compared across models (the paper's Table 14), each model's neurons, and,
    /// when the ablation ran, the per-neuron ablation effects and the calibration of each model.
    /// </summary>
    public static string Markdown(ConfidenceResult r)
    {
        var sb = new StringBuilder();
        var sel = r.Options.Selection;
        sb.AppendLine($"### Entropy neurons (last layer; norm above the {F(sel.Percentile, "0.##")}th percentile, {sel.Top} smallest LogitVar)");
        sb.AppendLine();
        if (r.Overlaps.Count > 0)
        {
            sb.AppendLine("| Models | Overlap | IoU | Avg. diff. of \\|norm/log(LogitVar)\\| (shared) | Avg. \\|norm/log(LogitVar)\\| (all) |");
            sb.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var o in r.Overlaps)
                sb.AppendLine($"| {o.A} vs {o.B} | {o.Overlap}/{Math.Max(Count(r, o.A), Count(r, o.B))} | {F(o.Iou)} | {(o.MeanAbsRatioDiff is { } d ? F(d, "0.0000") : "–")} | {F(o.MeanAbsRatio, "0.0000")} |");
            sb.AppendLine();
        }
        sb.AppendLine("| Model | Threshold ‖w_out‖ | Candidates | Entropy neurons: index (norm, LogitVar) |");
        sb.AppendLine("|---|---:|---:|---|");
        foreach (var m in r.Models)
            sb.AppendLine($"| {m.Model} | {F(m.NormThreshold, "0.000")} | {m.Candidates} | {string.Join("; ", m.Neurons.Select(n => $"{n.Index} ({F(n.Norm, "0.000")}, {n.LogitVar.ToString("0.00e+0", CultureInfo.InvariantCulture)})"))} |");
        if (r.Ablations is not { Count: > 0 } abl) return sb.ToString();

        sb.AppendLine();
        sb.AppendLine($"### Mean ablation of each model's entropy neurons ({r.Dataset}, {abl[0].Prompts} judging prompts)");
        sb.AppendLine();
        sb.AppendLine("ΔH: change in output entropy (nats) per token; direct: with the final norm's scale frozen; Δ‖resid‖: final residual norm; answer: at the TRUE/FALSE position; Δconf: change in the confidence max(p, 1−p).");
        sb.AppendLine();
        sb.AppendLine("| Model | Neuron | Mean act. | ΔH | ΔH direct | Δ‖resid‖ | ΔH answer | Δconf | ECE |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var a in abl)
        {
            sb.AppendLine($"| {a.Model} | clean (H {F(a.CleanEntropy)}, ‖resid‖ {F(a.CleanResidNorm, "0.00")}) | | | | | | | {F(a.Calibration.Ece)} |");
            foreach (var row in a.Rows)
                sb.AppendLine($"| {a.Model} | {row.Label} | {(row.Means.Length == 1 ? S(row.Means[0], "0.000") : "")} | {S(row.EntropyChange)} | {S(row.DirectEntropyChange)} | {S(row.ResidNormChange)} | {S(row.AnswerEntropyChange)} | {S(row.ConfidenceChange)} | {F(row.Calibration.Ece)} |");
        }
        sb.AppendLine();
        sb.AppendLine("### Calibration of TRUE/FALSE answers (p = P(TRUE)/(P(TRUE)+P(FALSE)), 10 equal-width bins)");
        sb.AppendLine();
        sb.AppendLine("| Model | Accuracy | Mean confidence | ECE | ECE, entropy neurons ablated | Mean confidence, ablated |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        foreach (var a in abl)
        {
            var all = a.Rows[^1].Calibration;
            sb.AppendLine($"| {a.Model} | {F(a.Calibration.Accuracy)} | {F(a.Calibration.MeanConfidence)} | {F(a.Calibration.Ece)} | {F(all.Ece)} | {F(all.MeanConfidence)} |");
        }
        return sb.ToString();
    }

    static int Count(ConfidenceResult r, string model) => r.Models.First(m => m.Model == model).Neurons.Count;

    static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Signed, with a typographic minus.</summary>
    static string S(double v, string digits = "0.0000") => v.ToString($"+{digits};−{digits};{digits}", CultureInfo.InvariantCulture);

    static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}

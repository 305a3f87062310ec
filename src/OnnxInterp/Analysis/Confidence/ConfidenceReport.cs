using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// Writes a confidence analysis: entropy.json (the protocol, every norm and LogitVar, the entropy neurons, the overlaps
/// with the authors' numbers where known, the ablations and calibration), entropy.md (<see cref="Markdown"/>) and figures/entropy_neurons_{model}.png.
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
            protocol = r.Options.Protocol,
            ratio = r.Options.Selection.Ratio,
            dataset = r.Dataset,
            models = r.Models.Select(m => new
            {
                model = m.Model, paperModel = m.Paper is { InTable: true } p ? p.Key : null,
                layer = m.Layer, neurons = m.Norms.Length, normThreshold = m.NormThreshold, candidates = m.Candidates,
                entropyNeurons = m.Neurons.Select(n => new { n.Index, n.Norm, n.LogitVar, n.Ratio, n.AbsRatio }),
                norms = m.Norms, logitVars = m.LogitVars,
            }),
            overlaps = r.Overlaps.Select(x => new
            {
                x.A, x.B, x.Overlap, x.Shared, x.Iou, x.MeanAbsRatioDiff, x.MeanAbsRatio, x.MeanAbsRatioA, x.MeanAbsRatioB,
                paper = x.Published is { } p ? new
                {
                    p.Source, p.Ratio, p.Iou, p.Overlap.Overlap, p.Overlap.Shared, p.Overlap.MeanAbsRatioDiff, p.Overlap.MeanAbsRatio,
                    neuronsA = p.RatiosA, neuronsB = p.RatiosB,
                } : null,
            }),
            ablations = r.Ablations,
            noSelectedNeuronHasSignature = r.Signatures is null ? (bool?)null : r.NoSelectedNeuronHasSignature,
            signatures = r.Signatures,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, JsonFile), JsonSerializer.Serialize(json, ResultsJson.Files));
    }

    /// <summary>
    /// Markdown: the protocol and every setting it ran with; the entropy neurons compared across models (the paper's
    /// Table 14: under the paper protocol in its shape, base vs each post-trained model, with the authors' numbers and
    /// our difference where the models are the paper's) and each model's neurons; and, when the ablation ran, the
    /// per-neuron ablation effects and the calibration of each model.
    /// </summary>
    public static string Markdown(ConfidenceResult r)
    {
        var sb = new StringBuilder();
        if (r.Options.Protocol == AnalysisProtocol.Paper) PaperTables(sb, r);
        else DefaultTables(sb, r);
        if (r.Ablations is not { Count: > 0 } abl) return sb.ToString();
        Signatures(sb, r);

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

    static void DefaultTables(StringBuilder sb, ConfidenceResult r)
    {
        var sel = r.Options.Selection;
        sb.AppendLine($"### Entropy neurons (last layer; norm above the {F(sel.Percentile, "0.##")}th percentile, {sel.Top} smallest LogitVar)");
        sb.AppendLine();
        Settings(sb, r);
        SignatureFlag(sb, r);
        if (r.Overlaps.Count > 0)
        {
            string ratio = sel.Ratio == EntropyRatio.NormOverLogitVar ? "norm/LogitVar" : "norm/log(LogitVar)";
            sb.AppendLine($"| Models | Overlap | IoU | Avg. diff. of \\|{ratio}\\| (shared) | Avg. \\|{ratio}\\| (all) |");
            sb.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var o in r.Overlaps)
                sb.AppendLine($"| {o.A} vs {o.B} | {o.Overlap}/{Math.Max(Count(r, o.A), Count(r, o.B))} | {F(o.Iou)} | {(o.MeanAbsRatioDiff is { } d ? F(d, "0.0000") : "–")} | {F(o.MeanAbsRatio, "0.0000")} |");
            sb.AppendLine();
            foreach (var o in r.Overlaps.Where(o => o.Published is not null))
                sb.AppendLine($"The authors' committed results give IoU {F(o.Published!.Iou)} for {o.A} vs {o.B} (ours {F(o.Iou)}); their ratio is " +
                    $"{RatioText(o.Published.Ratio)}, so `--preset paper` compares the ratio difference too ({PaperEntropyResults.Source}).");
            if (r.Overlaps.Any(o => o.Published is not null)) sb.AppendLine();
        }
        sb.AppendLine("| Model | Threshold ‖w_out‖ | Candidates | Entropy neurons: index (norm, LogitVar) |");
        sb.AppendLine("|---|---:|---:|---|");
        foreach (var m in r.Models)
            sb.AppendLine($"| {m.Model} | {F(m.NormThreshold, "0.000")} | {m.Candidates} | {string.Join("; ", m.Neurons.Select(n => $"{n.Index} ({F(n.Norm, "0.000")}, {E(n.LogitVar)})"))} |");
    }

    /// <summary>Table 14 in the paper's shape: one row per base vs post-trained pair, our numbers, the authors' and the difference.</summary>
    static void PaperTables(StringBuilder sb, ConfidenceResult r)
    {
        sb.AppendLine("### Entropy neurons, the paper's Table 14 (protocol: paper)");
        sb.AppendLine();
        Settings(sb, r);
        SignatureFlag(sb, r);
        if (r.Overlaps.Count > 0)
        {
            sb.AppendLine("| Base | Post-trained | Shared | IoU | Avg. ratio difference (shared) | Avg. ratio (all) | Paper: IoU | Δ IoU | Paper: avg. ratio difference | Δ avg. ratio difference |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var o in r.Overlaps)
            {
                string ours = $"| {o.A} | {o.B} | {o.Overlap}/{Math.Max(Count(r, o.A), Count(r, o.B))} | {F(o.Iou)} | {(o.MeanAbsRatioDiff is { } d ? R(d) : "–")} | {R(o.MeanAbsRatio)} |";
                string paper;
                if (o.Published is { } p)
                {
                    var po = p.Overlap;
                    string iou = $" {F(p.Iou)} | {S(o.Iou - p.Iou, "0.000")} |";
                    string diff = p.Ratio != r.Options.Selection.Ratio
                        ? $" {R(po.MeanAbsRatioDiff!.Value)} ({RatioText(p.Ratio)}) | n/a: our ratio is {RatioText(r.Options.Selection.Ratio)} |"
                        : po.MeanAbsRatioDiff is { } pd && o.MeanAbsRatioDiff is { } od ? $" {R(pd)} | {S(od - pd, Format(pd))} |"
                        : $" {(po.MeanAbsRatioDiff is { } pd2 ? R(pd2) : "–")} | – |";
                    paper = iou + diff;
                }
                else if (InTable(r, o.A) && InTable(r, o.B)) paper = " not found | | not found | |";
                else paper = " – | | – | |";
                sb.AppendLine(ours + paper);
            }
            sb.AppendLine();
            sb.AppendLine("Paper columns: where both models are the paper's. " + PaperEntropyResults.Table14Note + " \"not found\": the paper's models, but no number of theirs for the pair could be found.");
            sb.AppendLine();
        }
        sb.AppendLine("| Model | Paper's model | Threshold ‖w_out‖ | Candidates | Entropy neurons: index (norm, LogitVar, ratio) | The authors' entropy neurons (shared with ours) |");
        sb.AppendLine("|---|---|---:|---:|---|---|");
        foreach (var m in r.Models)
        {
            string key = m.Paper is { InTable: true } p ? p.Key : "–";
            string theirs = m.Paper is not { InTable: true } pm ? "–"
                : PaperEntropyResults.Neurons(pm.Key) is { } n ? $"{string.Join(" ", n.Keys)} ({n.Keys.Count(m.Indices.Contains)}/{n.Count} shared)"
                : "not found";
            sb.AppendLine($"| {m.Model} | {key} | {F(m.NormThreshold, "0.000")} | {m.Candidates} | " +
                $"{string.Join("; ", m.Neurons.Select(n => $"{n.Index} ({F(n.Norm, "0.000")}, {E(n.LogitVar)}, {R(n.Ratio)})"))} | {theirs} |");
        }
    }

    /// <summary>
    /// Before the overlaps: when the signature was measured and no selected neuron of any model has it, say so, since
    /// overlaps of such selections compare noise; else how many of each model's selected neurons have it.
    /// </summary>
    static void SignatureFlag(StringBuilder sb, ConfidenceResult r)
    {
        if (r.Signatures is not { Count: > 0 } sigs) return;
        var so = r.Options.Signature;
        string test = $"norm z ≥ {F(so.NormZ, "0.##")}, ln LogitVar z ≤ −{F(so.LogitVarZ, "0.##")}, mean-ablation \\|ΔH\\| ≥ {F(so.EntropyFactor, "0.##")}× the median neuron's";
        if (r.NoSelectedNeuronHasSignature)
            sb.AppendLine($"**No selected neuron has the entropy-neuron signature** ({test}) in any model: the selection picks neurons that neither " +
                "the weights nor their ablation set apart, so the overlaps below compare noise and say nothing about post-training.");
        else
            sb.AppendLine($"Selected neurons with the entropy-neuron signature ({test}): " +
                string.Join(", ", sigs.Select(s => $"{s.Model} {s.SelectedWithSignature}/{s.Selected.Count}")) + ".");
        sb.AppendLine();
    }

    /// <summary>Each model's signature measurement: the median neuron's effect, the selected neurons' and the strongest neuron's.</summary>
    static void Signatures(StringBuilder sb, ConfidenceResult r)
    {
        if (r.Signatures is not { Count: > 0 } sigs) return;
        var so = r.Options.Signature;
        sb.AppendLine();
        sb.AppendLine($"### Entropy-neuron signature (every last-layer neuron mean-ablated over {sigs[0].Prompts} judging prompts, {sigs[0].Tokens} tokens)");
        sb.AppendLine();
        sb.AppendLine($"A neuron has the signature when its norm z ≥ {F(so.NormZ, "0.##")}, its ln LogitVar z ≤ −{F(so.LogitVarZ, "0.##")} (both over the layer's neurons) " +
            $"and its mean \\|ΔH\\| ≥ {F(so.EntropyFactor, "0.##")}× the median neuron's. Norm CV: standard deviation over mean of the layer's norms.");
        sb.AppendLine();
        sb.AppendLine("| Model | Median \\|ΔH\\| | Norm CV | LogitVar range | Selected with signature | Selected: max \\|ΔH\\| (× median) | Strongest neuron: \\|ΔH\\| (× median, norm z, ln LogitVar z) | Layer neurons with signature |");
        sb.AppendLine("|---|---:|---:|---|---:|---:|---|---:|");
        foreach (var s in sigs)
        {
            var top = s.Selected.MaxBy(x => x.AbsEntropyChange)!;
            var st = s.Strongest;
            sb.AppendLine($"| {s.Model} | {E(s.MedianAbsEntropyChange)} | {F(s.NormCv)} | {E(s.MinLogitVar)}–{E(s.MaxLogitVar)} | {s.SelectedWithSignature}/{s.Selected.Count} | " +
                $"{E(top.AbsEntropyChange)} ({F(top.EntropyFactor, "0.0")}×, neuron {top.Index}) | {st.Index}: {E(st.AbsEntropyChange)} ({F(st.EntropyFactor, "0.0")}×, {S(st.NormZ, "0.00")}, {S(st.LogitVarZ, "0.00")}) | {s.LayerWithSignature} |");
        }
    }

    /// <summary>The protocol and every setting of the entropy-neuron selection, with the paper's code lines they follow.</summary>
    static void Settings(StringBuilder sb, ConfidenceResult r)
    {
        var o = r.Options;
        var sel = o.Selection;
        bool paper = o.Protocol == AnalysisProtocol.Paper;
        var first = r.Models.FirstOrDefault();
        sb.AppendLine($"Protocol: **{(paper ? "paper" : "default")}** ({(paper ? "Du et al.'s Confidence/IoU.py, setting by setting" : "OnnxInterp's; `--preset paper` runs the paper's")}). Settings:");
        sb.AppendLine();
        sb.AppendLine($"- layer: the last MLP layer{(first is null ? "" : $" (layer {first.Layer}, counted from 0; {first.Norms.Length} neurons)")} (IoU.py:115, W_out[-1]); norm = ‖w_out‖₂ (IoU.py:116)");
        sb.AppendLine("- LogitVar: unbiased variance over the vocabulary of cos(w_out, u_v), u_v the unembedding with the final RMSNorm weight folded in and centred over the vocabulary (TransformerLens' from_pretrained defaults fold_ln, center_unembed; IoU.py:117, 124-125)");
        sb.AppendLine($"- candidates: norm above the {F(sel.Percentile, "0.##")}th percentile of the layer's norms, linear interpolation as pandas (IoU.py:71-72)");
        sb.AppendLine($"- entropy neurons: the {sel.Top} candidates with the smallest LogitVar, ties to the lower index (IoU.py:79)");
        sb.AppendLine($"- ratio r: {RatioText(sel.Ratio)}, LogitVar floored at 1e-10 ({(sel.Ratio == EntropyRatio.NormOverLogitVar ? "the authors' committed results; IoU.py:136-139 as committed writes norm / ln LogitVar" : "IoU.py:136-139; the authors' committed results hold norm / LogitVar")})");
        sb.AppendLine("- IoU: shared / union of the two index sets (IoU.py:90-97); average ratio difference: the mean over the shared neurons of abs(\\|r_A\\| − \\|r_B\\|); average ratio: the mean \\|r\\| over both models' neurons");
        sb.AppendLine($"- pairs: {(paper ? "the base against each post-trained model (IoU.py --model1 base --model2 post-trained)" : "every pair of models")}");
        sb.AppendLine($"- data: none for the neurons (weights only; IoU.py calls nothing of utils.py but its model loader, so the seeded C4 shuffle at utils.py:752 plays no part)" +
            (r.Ablations is null ? "" : $"; the ablation and calibration (OnnxInterp's, beyond the paper) on {r.Dataset}"));
        sb.AppendLine();
    }

    static bool InTable(ConfidenceResult r, string model) => r.Models.First(m => m.Model == model).Paper is { InTable: true };

    static string RatioText(EntropyRatio ratio) => ratio == EntropyRatio.NormOverLogitVar ? "norm / LogitVar" : "norm / ln LogitVar";

    /// <summary>A ratio: the norm / LogitVar ratios run to thousands, the norm / ln LogitVar ones below 1.</summary>
    static string R(double v) => v.ToString(Format(v), CultureInfo.InvariantCulture);

    static string Format(double v) => Math.Abs(v) >= 100 ? "0.0" : "0.0000";

    static string E(double v) => v.ToString("0.00e+0", CultureInfo.InvariantCulture);

    static int Count(ConfidenceResult r, string model) => r.Models.First(m => m.Model == model).Neurons.Count;

    static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>Signed, with a typographic minus.</summary>
    static string S(double v, string digits = "0.0000") => v.ToString($"+{digits};−{digits};{digits}", CultureInfo.InvariantCulture);

    static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}

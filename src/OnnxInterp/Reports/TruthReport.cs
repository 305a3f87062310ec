using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Internals;
using ScottPlot;

namespace OnnxInterp.Reports;

/// <summary>
/// Writes a truthfulness analysis: truth.json (everything), truth.md (<see cref="Markdown"/>) and one line plot of
/// probe accuracy per layer per model (figures/truth_probe_accuracy_&lt;model&gt;.png).
/// </summary>
public static class TruthReport
{
    public static void Write(string directory, TruthResult r)
    {
        Directory.CreateDirectory(directory);
        var figures = Path.Combine(directory, "figures");
        Directory.CreateDirectory(figures);
        foreach (var p in r.Probes)
            AtomicFile.Write(Path.Combine(figures, $"truth_probe_accuracy_{Safe(p.Model)}.png"), fs => fs.Write(AccuracyPlot(p, r.ProbeLayer, $"{r.Options.Reading.ToString().ToLowerInvariant()} reading, {r.Evaluation}")));
        var json = new
        {
            models = r.Models,
            datasets = r.Datasets,
            evaluation = r.Evaluation,
            layers = r.Layers,
            probeLayer = r.ProbeLayer,
            probes = r.Probes.Select(p => new { model = p.Model, bestLayer = p.BestLayer, layers = p.Layers }),
            cosinesAtProbeLayer = r.CosinesAtProbeLayer.Matrix,
            cosines = r.Cosines,
            transfer = r.Transfer,
            intervention = r.Intervention,
            probeLayerDirections = r.Models.Select((m, i) => new { model = m, direction = r.ProbeLayerDirections[i] }),
            options = r.Options,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "truth.json"), JsonSerializer.Serialize(json, KnowledgeReport.Json));
        AtomicFile.WriteAllText(Path.Combine(directory, "truth.md"), Markdown(r));
    }

    static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    static string F(double v, string format = "F3") => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    /// <summary>
    /// Markdown shaped like the paper's tables: probe accuracy at the probe layer, the cosine matrix of the directions,
    /// Table 2 (probe transfer per held-out dataset) and Table 3 (intervention effects for each direction → model pair).
    /// </summary>
    public static string Markdown(TruthResult r)
    {
        var s = new StringBuilder();
        string reading = r.Options.Reading == TruthReading.Judgement ? "the few-shot prompt's last token" : "the bare statement's last token";
        s.AppendLine($"Truthfulness at layer {r.ProbeLayer}: activations at {reading}, probes evaluated {r.Evaluation}; datasets: " +
            string.Join(", ", r.Datasets.Select(d => $"{d.Name} ({d.Statements})")) + ".");
        s.AppendLine();
        s.AppendLine("| Model | Best layer | Mass-mean (best layer) | Mass-mean (probe layer) | Logistic (probe layer) |");
        s.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var p in r.Probes)
        {
            var at = p.At(r.ProbeLayer);
            s.AppendLine($"| {p.Model} | {p.BestLayer} | {F(p.At(p.BestLayer).MassMean)} | {F(at.MassMean)} | {(at.Logistic is double l ? F(l) : "–")} |");
        }
        s.AppendLine();
        s.AppendLine($"Cosine similarity of the truth directions at layer {r.ProbeLayer}:");
        s.AppendLine();
        s.AppendLine("| | " + string.Join(" | ", r.Models) + " |");
        s.AppendLine("|---|" + string.Concat(r.Models.Select(_ => "---:|")));
        var cos = r.CosinesAtProbeLayer.Matrix;
        for (int i = 0; i < r.Models.Count; i++) s.AppendLine($"| {r.Models[i]} | " + string.Join(" | ", cos[i].Select(v => F(v))) + " |");

        if (r.Transfer.Count > 0)
        {
            s.AppendLine();
            s.AppendLine($"Table 2: probe transfer at layer {r.ProbeLayer} (mass-mean probes, accuracy on the held-out dataset).");
            s.AppendLine();
            s.AppendLine($"| Model | Held-out dataset | {r.Models[0]} probe on {r.Models[0]} | Own probe | {r.Models[0]} probe | Difference |");
            s.AppendLine("|---|---|---:|---:|---:|---:|");
            foreach (var g in r.Transfer.GroupBy(t => t.Model))
            {
                foreach (var t in g) s.AppendLine($"| {t.Model} | {t.Dataset} | {F(t.BaseOnBase)} | {F(t.Own)} | {F(t.BaseProbe)} | {F(t.Difference, "+0.000;-0.000;0.000")} |");
                if (g.Count() > 1)
                    s.AppendLine($"| {g.Key} | mean | {F(g.Average(t => t.BaseOnBase))} | {F(g.Average(t => t.Own))} | {F(g.Average(t => t.BaseProbe))} | {F(g.Average(t => t.Difference), "+0.000;-0.000;0.000")} |");
            }
        }

        if (r.Intervention is { } iv)
        {
            s.AppendLine();
            s.AppendLine($"Table 3: intervention effects on {iv.Dataset} ({iv.TrueStatements} true, {iv.FalseStatements} false statements; direction from " +
                $"{string.Join(", ", iv.DirectionDatasets)} at layer {r.ProbeLayer}, × {F(iv.Scale, "G4")}, added at layers {iv.Layers[0]}–{iv.Layers[^1]} on {(r.Options.Reading == TruthReading.Judgement ? "the prompt's" : "the statement's")} last two tokens).");
            s.AppendLine();
            s.AppendLine("| Direction → model | IE(T→F) | IE(F→T) | Mean IE |");
            s.AppendLine("|---|---:|---:|---:|");
            foreach (var e in iv.Effects) s.AppendLine($"| {e.Direction} → {e.Model} | {F(e.EffectTrueToFalse)} | {F(e.EffectFalseToTrue)} | {F(e.MeanEffect)} |");
            s.AppendLine();
            s.AppendLine("| Model | p_diff (true statements) | p_diff (false statements) |");
            s.AppendLine("|---|---:|---:|");
            foreach (var b in iv.Baselines) s.AppendLine($"| {b.Model} | {F(b.TrueStatements)} | {F(b.FalseStatements)} |");
        }
        return s.ToString();
    }

    /// <summary>PNG bytes: held-out accuracy per layer of both probes, chance at 0.5, the probe layer marked.</summary>
    public static byte[] AccuracyPlot(ModelProbes probes, int probeLayer, string subtitle, int width = 800, int height = 500)
    {
        using var plot = new Plot();
        double[] xs = probes.Layers.Select(l => (double)l.Layer).ToArray();
        var mm = plot.Add.Scatter(xs, probes.Layers.Select(l => l.MassMean).ToArray());
        mm.LegendText = "mass-mean probe";
        mm.LineWidth = 2;
        mm.MarkerSize = 7;
        if (probes.Layers.All(l => l.Logistic is not null))
        {
            var lr = plot.Add.Scatter(xs, probes.Layers.Select(l => l.Logistic!.Value).ToArray());
            lr.LegendText = "logistic regression";
            lr.LineWidth = 2;
            lr.MarkerSize = 7;
            lr.LinePattern = LinePattern.Dashed;
        }
        var chance = plot.Add.HorizontalLine(0.5);
        chance.LineColor = Colors.Gray;
        chance.LinePattern = LinePattern.Dotted;
        chance.LegendText = "chance";
        var layer = plot.Add.VerticalLine(probeLayer);
        layer.LineColor = Colors.Gray.WithAlpha(0.6);
        layer.LegendText = $"probe layer {probeLayer}";
        plot.Title($"{probes.Model}: truth probe accuracy ({subtitle})");
        plot.XLabel("Layer");
        plot.YLabel("Held-out accuracy");
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int step = Heatmap.LayerLabelStep(xs.Length);
        foreach (var l in probes.Layers)
            if (l.Layer % step == 0) ticks.AddMajor(l.Layer, l.Layer.ToString(CultureInfo.InvariantCulture));
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.SetLimits(xs.Min() - 0.5, xs.Max() + 0.5, 0, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }
}

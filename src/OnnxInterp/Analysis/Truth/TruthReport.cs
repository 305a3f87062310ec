using System.Globalization;
using System.Text;
using System.Text.Json;
using OnnxInterp.Internals;
using OnnxInterp.Reports;
using ScottPlot;

namespace OnnxInterp.Analysis.Truth;

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
            protocol = r.Protocol.ToString(),
            trainingDatasets = r.TrainingDatasets,
            missingTrainingDatasets = r.MissingTrainingDatasets,
            paperLayers = r.PaperLayers,
            probes = r.Probes.Select(p => new { model = p.Model, bestLayer = p.BestLayer, layers = p.Layers }),
            cosinesAtProbeLayer = r.CosinesAtProbeLayer.Matrix,
            cosines = r.Cosines,
            transfer = r.Transfer,
            intervention = r.Intervention,
            probeLayerDirections = r.Models.Select((m, i) => new { model = m, direction = r.ProbeLayerDirections[i] }),
            options = r.Options,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, "truth.json"), JsonSerializer.Serialize(json, ResultsJson.Files));
        AtomicFile.WriteAllText(Path.Combine(directory, "truth.md"), Markdown(r));
    }

    static string Safe(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));

    internal static string F(double v, string format = "F3") => double.IsFinite(v) ? v.ToString(format, CultureInfo.InvariantCulture) : "n/a";

    /// <summary>
    /// Markdown shaped like the paper's tables: which protocol ran and its settings, probe accuracy at the probe layer,
    /// the cosine matrix of the directions, Table 2 (probe transfer per held-out dataset) and Table 3 (intervention
    /// effects for each direction → model pair), with the paper's published numbers and the difference where a run of
    /// the paper's models matches a published one.
    /// </summary>
    public static string Markdown(TruthResult r)
    {
        var s = new StringBuilder();
        bool paper = r.Protocol == AnalysisProtocol.Paper;
        if (paper) PaperSettings(s, r);
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
        s.AppendLine($"Cosine similarity of the truth directions at layer {r.ProbeLayer}" +
            (r.TrainingDatasets is { } td ? $" (each model's mass-mean direction on {string.Join(", ", td)}, as probe_transfer.py:36-54):" : ":"));
        s.AppendLine();
        s.AppendLine("| | " + string.Join(" | ", r.Models) + " |");
        s.AppendLine("|---|" + string.Concat(r.Models.Select(_ => "---:|")));
        var cos = r.CosinesAtProbeLayer.Matrix;
        for (int i = 0; i < r.Models.Count; i++) s.AppendLine($"| {r.Models[i]} | " + string.Join(" | ", cos[i].Select(v => F(v))) + " |");

        if (r.Transfer.Count > 0)
        {
            string b = r.Models[0];
            s.AppendLine();
            s.AppendLine($"Table 2: probe transfer at layer {r.ProbeLayer} (mass-mean probes, accuracy on the held-out dataset" +
                (r.TrainingDatasets is { } train ? $"; every probe trained on {string.Join(", ", train)}" : "") + ").");
            s.AppendLine();
            s.AppendLine($"| Model | Held-out dataset | {b} probe on {b} | Own probe | {b} probe | Difference | Own probe on {b} |");
            s.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var g in r.Transfer.GroupBy(t => t.Model))
            {
                foreach (var t in g)
                    s.AppendLine($"| {t.Model} | {t.Dataset} | {F(t.BaseOnBase)} | {F(t.Own)} | {F(t.BaseProbe)} | {F(t.Difference, Signed)} | {F(t.OwnOnBase)} |");
                if (g.Count() > 1)
                    s.AppendLine($"| {g.Key} | mean | {F(g.Average(t => t.BaseOnBase))} | {F(g.Average(t => t.Own))} | {F(g.Average(t => t.BaseProbe))} | " +
                        $"{F(g.Average(t => t.Difference), Signed)} | {F(g.Average(t => t.OwnOnBase))} |");
            }
            if (paper) PaperTable2Note(s, r);
        }

        if (r.Intervention is { } iv)
        {
            bool published = TruthPaperResults.Comparable(r);
            s.AppendLine();
            s.AppendLine($"Table 3: intervention effects on {iv.Dataset} ({iv.TrueStatements} true, {iv.FalseStatements} false statements; direction from " +
                $"{string.Join(", ", iv.DirectionDatasets)} at layer {r.ProbeLayer}, × {F(iv.Scale, "G4")}, added at layers {iv.Layers[0]}–{iv.Layers[^1]} on " +
                (iv.Positions.Count > 0 ? $"positions {string.Join(" and ", iv.Positions)} from the end" : r.Options.Reading == TruthReading.Judgement ? "the prompt's last two tokens" : "the statement's last two tokens") + ").");
            s.AppendLine();
            TableHeader(s, ["Direction → model", "IE(T→F)", "IE(F→T)", "Mean IE"],
                published ? ["Paper IE(T→F)", "Paper IE(F→T)", "Paper mean IE", "Mean IE − paper"] : []);
            foreach (var e in iv.Effects)
            {
                string row = $"| {e.Direction} → {e.Model} | {F(e.EffectTrueToFalse)} | {F(e.EffectFalseToTrue)} | {F(e.MeanEffect)} |";
                if (published)
                    row += TruthPaperResults.Effect(r, e) is { } pe
                        ? $" {F(pe.TrueToFalse)} | {F(pe.FalseToTrue)} | {F(pe.Mean)} | {F(e.MeanEffect - pe.Mean, Signed)} |"
                        : " – | – | – | – |";
                s.AppendLine(row);
            }
            s.AppendLine();
            TableHeader(s, ["Model", "p_diff (true statements)", "p_diff (false statements)"],
                published ? ["Paper p_diff (true)", "Paper p_diff (false)"] : []);
            foreach (var x in iv.Baselines)
            {
                string row = $"| {x.Model} | {F(x.TrueStatements)} | {F(x.FalseStatements)} |";
                if (published)
                    row += TruthPaperResults.Baseline(r, x.Model) is { } pb ? $" {F(pb.TrueStatements)} | {F(pb.FalseStatements)} |" : " – | – |";
                s.AppendLine(row);
            }
            if (paper) PaperTable3Note(s, r, published);
        }
        if (paper) PaperNotReproduced(s);
        return s.ToString();
    }

    internal const string Signed = "+0.000;-0.000;0.000";

    /// <summary>The paper protocol's settings, each with the file and line of the paper's code it comes from.</summary>
    static void PaperSettings(StringBuilder s, TruthResult r)
    {
        const string Code = "HZD01/post-training-mechanistic-analysis, Knowledge+Truthfulness";
        s.AppendLine($"Protocol: paper (`--preset paper`): the paper's code ({Code}), setting by setting.");
        s.AppendLine();
        if (r.PaperLayers is { } pl)
            for (int i = 0; i < r.Models.Count; i++)
                s.AppendLine(pl[i].FromTable
                    ? $"- {r.Models[i]}: config.ini [{pl[i].Key}] probe_layer {pl[i].ProbeLayer}, intervene_layer {pl[i].FirstInterventionLayer}."
                    : $"- {r.Models[i]} ({pl[i].Key}): not a model of the paper; its layers follow the paper's main model's (probe 12, intervene 8 of " +
                      $"Llama-3.1-8B's 32) at the same relative depth: probe layer {pl[i].ProbeLayer}, intervene layer {pl[i].FirstInterventionLayer}.");
        s.AppendLine($"- Probe layer {r.ProbeLayer}" + (r.Options.Layer is not null ? " (set by truth.layer, not the table)" : " (the base model's row: probe_transfer.py:20)") +
            "; activations of the bare statement at its last token, the decoder layer's output (generate_acts.py:44), each dataset centred on its own (utils.py:61-62).");
        s.AppendLine($"- Probes and directions trained on {string.Join(", ", r.TrainingDatasets ?? [])} pooled (README Step 2, probe_transfer.py:26-36, use_full_train=True: no split, no randomness)" +
            (r.MissingTrainingDatasets.Count > 0 ? $"; not given, so not trained on: {string.Join(", ", r.MissingTrainingDatasets)}" : "") +
            "; tested on each other dataset, whole (probe_transfer.py:73-97).");
        s.AppendLine("- Mass-mean probe (MMProbe, probes.py:167-180): t = mean(true) − mean(false); a 1-D LogisticRegression(penalty=None, fit_intercept=True) " +
            "on the raw projections x·t, here its exact maximum-likelihood fit by Newton's method in double precision; accuracy of predict (logit > 0)." +
            (r.Options.Logistic ? " The full-dimensional logistic probe is OnnxInterp's addition (L2, C = " + F(r.Options.LogisticC, "G4") + ")." : ""));
        s.AppendLine("- Cosine: between the models' mass-mean directions on the training datasets at the probe layer (probe_transfer.py:54).");
        if (r.Intervention is { } iv)
        {
            s.AppendLine($"- Intervention on {iv.Dataset} (interventions.py --val_dataset, README Step 3): for statement i of the true (and, separately, the false) statements, " +
                $"random.seed({r.Options.Seed} + i), a shuffled copy of few_shot_samples.json's examples joined by \"\\n\", then \"\\n\", the statement and \" This statement is:\" " +
                $"(interventions.py:85-110); statements found in the examples left out (line 112): {iv.Skipped}.");
            s.AppendLine($"- The direction t of each model (training datasets, probe layer, full length: interventions.py:166-192) × {F(iv.Scale, "G4")} (--intervention_coefficient, line 131) " +
                $"added at layers {iv.Layers[0]}–{iv.Layers[^1]} inclusive (intervene_layer..probe_layer, lines 147-159) to the decoder layer's output at positions " +
                $"{string.Join(" and ", iv.Positions)} from the end (−len_suffix − 1 and −len_suffix, len_suffix = len(tokenizer.encode('This statement is:')): lines 30, 41); " +
                "subtracted on true statements, added on false ones (lines 269-272).");
            s.AppendLine($"- Measure: P('{r.Options.TrueAnswer}') − P('{r.Options.FalseAnswer}') at the last position, softmax over the vocabulary, the answers' last token ids " +
                "(interventions.py:29, 43-45); IE(T→F) = (p − p_base) / (−1 − p_base), IE(F→T) = (p − p_base) / (1 − p_base), mean IE their average (lines 346-356, 431).");
        }
        if (r.Options.MaxStatementsPerDataset is int k)
            s.AppendLine($"- Not the paper's: only the first {k} statements of each dataset (truth.maxStatementsPerDataset); the paper uses every statement.");
        if (r.Intervention is not null && r.Options.MaxInterventionStatements is int q)
            s.AppendLine($"- Not the paper's: at most {q} true and {q} false queries (truth.maxInterventionStatements); the paper runs every statement of the dataset.");
        if (r.Options.Layer is not null || r.Options.InterventionFirstLayer is not null || r.Options.InterventionLastLayer is not null || r.Options.Layers is not null)
            s.AppendLine("- Not the paper's: layers set by truth.layer / truth.layers / truth.interventionFirstLayer / truth.interventionLastLayer instead of config.ini.");
        s.AppendLine();
    }

    static void PaperTable2Note(StringBuilder s, TruthResult r)
    {
        s.AppendLine();
        s.AppendLine(r.PaperLayers?.All(p => p.FromTable) == true
            ? "The paper's published Table 2 numbers are not given beside these: the paper's text could not be read when this was built, and its repository commits no probe-transfer output."
            : "No published numbers apply: the models are not all the paper's.");
    }

    static void PaperTable3Note(StringBuilder s, TruthResult r, bool published)
    {
        s.AppendLine();
        if (published)
            s.AppendLine($"Paper columns: {TruthPaperResults.Source} (Llama-3.1-8B and Llama-3.1-8B-Instruct, the one run it commits; bfloat16 weights).");
        else if (r.PaperLayers?.All(p => p.FromTable) != true)
            s.AppendLine("No published numbers apply: the models are not all the paper's.");
        else
            s.AppendLine("No published numbers are shown: the one published run that could be read (Llama-3.1-8B and its Instruct on cities, trained on the five datasets, " +
                "table layers, every statement, coefficient 1) differs from this one in models or settings; the paper's Table 3 text could not be read when this was built.");
    }

    static void PaperNotReproduced(StringBuilder s)
    {
        s.AppendLine();
        s.AppendLine("Not reproduced: the paper runs bfloat16 weights (generate_acts.py:25), these models run at their export's precision; scikit-learn's lbfgs " +
            "stops at tol 1e-4 or 100 iterations, here the 1-D fit is the exact maximum-likelihood one (on separated projections, where none exists, the gap's " +
            "midpoint, the limit of the unpenalised fit); the paper batches 25 statements (generate_acts.py:67) and 16 queries (interventions.py:125), here " +
            "truth.batchSize, which changes only padding. No random number generator other than Python's random.seed is on the path the paper's commands take.");
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

    /// <summary>A pipe-table header: the first column left-aligned, the rest (ours, then the paper's when shown) right-aligned.</summary>
    static void TableHeader(System.Text.StringBuilder s, string[] columns, string[] paperColumns)
    {
        var all = columns.Concat(paperColumns).ToList();
        s.AppendLine("| " + string.Join(" | ", all) + " |");
        s.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---:|", all.Count - 1)));
    }
}

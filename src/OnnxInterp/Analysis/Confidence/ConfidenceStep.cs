using System.Globalization;
using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>The confidence analysis's options plus the statements its ablation and calibration run on.</summary>
public sealed record ConfidenceStepOptions : ConfidenceOptions
{
    /// <summary>
    /// Statements for the mean ablation and calibration: synthetic:NAME (the world's held-out statements, never judged
    /// in training) or a statement CSV with the paper's few-shot examples; null: the comparison's first dataset.
    /// </summary>
    public string? Dataset { get; init; }

    /// <summary>Run the mean ablation and calibration (false: entropy neurons from the weights only, the paper's Table 14).</summary>
    public bool Ablate { get; init; } = true;
}

/// <summary>
/// Confidence (the paper's §confidence): entropy neurons of each model's last layer from its weights, compared across
/// models (Table 14: overlap, IoU, average ratio difference), then each model's own entropy neurons mean-ablated over
/// judging prompts, beside the calibration (ECE) of its TRUE/FALSE answers. results.json: entropy =
/// <see cref="ConfidenceSection"/> (docs/results-schema.md).
/// </summary>
public sealed class ConfidenceStep : AnalysisStep<ConfidenceStepOptions, ConfidenceSection>
{
    /// <summary>The section key is the CLI verb's name.</summary>
    public override string Name => "entropy";
    public override string Title => "Confidence (entropy neurons, their ablation, calibration)";

    /// <summary>The analysis's defaults: the paper's selection (top 10 above the 75th norm percentile), at most 200 statements.</summary>
    public override ConfidenceStepOptions Defaults => new();

    /// <summary>
    /// The paper's protocol (Confidence/IoU.py, run as its README says: --norm_top_percentages 0.25 --var_bottom_ns 10):
    /// the top 25% by norm (IoU.py:71-72), the 10 smallest LogitVar (IoU.py:79), the ratio the authors' results hold
    /// (norm / LogitVar, <see cref="EntropyRatio.NormOverLogitVar"/>), the base against each post-trained model, and
    /// weights only: the paper's code reads no data for Table 14 (IoU.py and fig1.py call nothing of utils.py but
    /// load_model_from_tl_name, utils.py:718-735; the seeded C4 shuffle at utils.py:752 belongs to induction code they
    /// never call). The ablation and calibration, OnnxInterp's own, run when entropy.ablate is set.
    /// </summary>
    public override ConfidenceStepOptions PaperDefaults => new()
    {
        Protocol = AnalysisProtocol.Paper,
        Selection = new EntropyNeuronOptions { Percentile = 75, Top = 10, Ratio = EntropyRatio.NormOverLogitVar },
        Ablate = false,
    };

    public override IReadOnlyList<StepPart> Parts(IReadOnlyList<string> datasets, ConfidenceStepOptions options) =>
        [new StepPart("", options.Ablate ? options.Dataset ?? datasets[0] : null)];

    /// <summary>
    /// Each model's neurons, ablation and calibration: 14–16 s a comparison of the demo sweep (2 models, 100 statements),
    /// 46 s the demo's (3); weights only: about 1 s a model.
    /// </summary>
    public override double EstimatedCost(ConfidenceStepOptions options, StepPart part, int models) =>
        options.Ablate ? 7.0 * models * (options.MaxStatements ?? 400) / 100.0 : models;

    protected override void Validate(ConfidenceStepOptions o)
    {
        if (!(o.Selection.Percentile >= 0 && o.Selection.Percentile < 100))
            Bad("must lie in [0, 100)", "selection.percentile", o.Selection.Percentile);
        if (o.Selection.Top < 1) Bad("at least one neuron must be selected", "selection.top", o.Selection.Top);
        if (!Enum.IsDefined(o.Selection.Ratio))
            Bad($"unknown ratio; known: {string.Join(", ", Enum.GetNames<EntropyRatio>())}", "selection.ratio", (int)o.Selection.Ratio);
        if (!Enum.IsDefined(o.Protocol))
            Bad($"unknown protocol; known: {string.Join(", ", Enum.GetNames<AnalysisProtocol>())}", "protocol", (int)o.Protocol);
        if (o.MaxStatements is < 1) Bad("must be positive (or null for every statement)", "maxStatements", o.MaxStatements);
        if (o.Ablation.BatchRows < 1) Bad("must be at least 1", "ablation.batchRows", o.Ablation.BatchRows);
        if (o.Ablation.Bins < 1) Bad("must be at least 1", "ablation.bins", o.Ablation.Bins);
        if (!(o.Signature.EntropyFactor > 0 && double.IsFinite(o.Signature.EntropyFactor))) Bad("must be a positive number", "signature.entropyFactor", o.Signature.EntropyFactor);
        if (!(o.Signature.NormZ >= 0 && double.IsFinite(o.Signature.NormZ))) Bad("must be a non-negative number", "signature.normZ", o.Signature.NormZ);
        if (!(o.Signature.LogitVarZ >= 0 && double.IsFinite(o.Signature.LogitVarZ))) Bad("must be a non-negative number", "signature.logitVarZ", o.Signature.LogitVarZ);
        if (o.Signature.Prompts < 1) Bad("must be at least 1", "signature.prompts", o.Signature.Prompts);
        if (o.Dataset is { } d)
        {
            try { DatasetSpec.Check(d); }
            catch (InvalidArgumentException e) { Bad(e.Message, "dataset", d); }
        }
    }

    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"entropy.{option}", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));

    public override StepResult<ConfidenceSection> Run(StepContext context, ConfidenceStepOptions options, StepPart part)
    {
        // Weights only: no session opens (the analysis checks the weights' shapes); else the tokenizer checks the models first.
        ConfidenceData? data = null;
        if (part.Dataset is { } spec)
        {
            var tokenizer = context.Tokenizer;
            var (dataset, fewShot) = Statements(context, spec);
            data = new ConfidenceData(dataset, fewShot, tokenizer);
        }
        // The paper's identity from the manifest's config (AnalysisModel.Paper would open a session the weights-only run does not need).
        var models = context.Models.Select(m => new ConfidenceModel(m.Name, LastLayerWeights.Read(m.Weights), data is null ? null : m.Model)
        {
            Paper = m.Paper,
        }).ToList();

        // Weights of every model first (cheap), then per model the means and the ablation batches.
        int n = models.Count;
        var index = models.Select((m, i) => (m.Name, i)).ToDictionary(x => x.Name, x => x.i);
        int weightsDone = 0;
        double weightShare = data is null ? 1 : 0.05;
        var progress = new SyncProgress<ConfidenceProgress>(p =>
        {
            if (p.Stage == "weights") weightsDone++;
            double within = p.Stage == "ablation" && p.Total > 0 ? (double)p.Done / p.Total : 0;
            double fraction = weightShare * weightsDone / n + (1 - weightShare) * (p.Stage == "weights" ? 0 : (index.GetValueOrDefault(p.Model) + within) / n);
            context.Progress.Report(new StepProgress(fraction, $"{p.Model}: {p.Stage}{(p.Total > 1 ? $" {p.Done}/{p.Total}" : "")}"));
        });
        var result = ConfidenceAnalysis.Run(models, data, options, progress, context.Cancellation);
        ConfidenceReport.Write(context.OutputDirectory, result);

        return new StepResult<ConfidenceSection>(ConfidenceSection.From(result), ConfidenceReport.Markdown(result));
    }

    /// <summary>Each pair's IoU (and under the paper protocol its ratio difference), each model's ECE and selected neurons with the signature.</summary>
    public override IReadOnlyList<SummaryItem> Headlines(ConfidenceSection section, StepPart part)
    {
        var summary = new List<SummaryItem>();
        foreach (var o in section.Overlaps)
        {
            summary.Add(new SummaryItem($"entropy neuron IoU, {o.A} vs {o.B}", o.Iou, $"entropy.overlaps[a={o.A},b={o.B}].iou"));
            if (section.Protocol == AnalysisProtocol.Paper && o.MeanAbsRatioDiff is { } d)
                summary.Add(new SummaryItem($"entropy neuron avg. ratio difference, {o.A} vs {o.B}", d, $"entropy.overlaps[a={o.A},b={o.B}].meanAbsRatioDiff"));
        }
        foreach (var a in section.Ablations ?? [])
            summary.Add(new SummaryItem($"ECE of TRUE/FALSE answers, {a.Model}", a.Ece, $"entropy.ablations[model={a.Model}].ece"));
        foreach (var sg in section.Signatures ?? [])
            summary.Add(new SummaryItem($"selected entropy neurons with the signature, {sg.Model}", sg.SelectedWithSignature,
                $"entropy.signatures[model={sg.Model}].selectedWithSignature"));
        return summary;
    }

    /// <summary>Each model's entropy neurons, the overlaps and the ablation's headline effects.</summary>
    public override IEnumerable<string> Describe(ConfidenceSection section, ConfidenceStepOptions options)
    {
        static string F(double v, string f = "0.000") => v.ToString(f, CultureInfo.InvariantCulture);
        // norm / LogitVar ratios run to thousands, norm / ln LogitVar ones below 1.
        static string R(double v) => F(v, Math.Abs(v) >= 100 ? "0.0" : "0.0000");
        yield return $"protocol {section.Protocol}, ratio {section.Ratio}";
        foreach (var m in section.Models)
            yield return $"{m.Model}: entropy neurons {string.Join(" ", m.EntropyNeurons.Select(n => n.Index))} (of {m.Candidates} with norm > {F(m.NormThreshold)})";
        foreach (var x in section.Overlaps)
        {
            yield return $"  {x.A} vs {x.B}: overlap {x.Overlap}, IoU {F(x.Iou)}, avg |ratio| diff {(x.MeanAbsRatioDiff is { } d ? R(d) : "-")} (avg |ratio| {R(x.MeanAbsRatio)})";
            if (x.Paper is { } p)
                yield return $"    the authors' results ({p.Ratio}): overlap {p.Overlap}, IoU {F(p.Iou)}, avg |ratio| diff {(p.MeanAbsRatioDiff is { } pd ? R(pd) : "-")} ({p.Source})";
        }
        foreach (var a in section.Ablations ?? [])
        {
            var all = a.AllAblated;
            yield return $"{a.Model}: ECE {F(a.Ece)} (accuracy {F(a.Accuracy)}); ablating all: dH {F(all.EntropyChange, "+0.0000;-0.0000")} " +
                $"(direct {F(all.DirectEntropyChange, "+0.0000;-0.0000")}), d|resid| {F(all.ResidNormChange, "+0.000;-0.000")}, ECE {F(all.Ece)}";
        }
        foreach (var g in section.Signatures ?? [])
        {
            var st = g.Strongest;
            yield return $"{g.Model}: {g.SelectedWithSignature}/{g.Selected.Count} selected neurons with the entropy-neuron signature, " +
                $"{g.LayerWithSignature} in the layer; median |dH| {F(g.MedianAbsEntropyChange, "0.00e+0")}, strongest neuron {st.Index} " +
                $"({F(st.EntropyFactor, "0.0")}x the median, norm z {F(st.NormZ, "+0.00;-0.00")}, ln LogitVar z {F(st.LogitVarZ, "+0.00;-0.00")})";
        }
        if (section.NoSelectedNeuronHasSignature == true)
            yield return "no selected neuron has the entropy-neuron signature: the overlaps compare noise";
    }

    /// <summary>
    /// synthetic:NAME: the world's held-out statements (never judged in training, so calibration is measured on
    /// statements the models only saw stated); a CSV: the dataset with the paper's few-shot examples.
    /// </summary>
    static (StatementDataset Data, IReadOnlyList<(string, bool)> FewShot) Statements(StepContext context, string spec)
    {
        if (DatasetSpec.IsSynthetic(spec))
        {
            var name = DatasetSpec.Id(spec);
            return (context.World.ToDataset(name, heldOutOnly: true), context.World.FewShot(name));
        }
        var d = context.Dataset(spec);
        if (d.FewShot is null)
            throw new InvalidArgumentException($"no few-shot examples for this dataset; known: {string.Join(", ", Knowledge.TracingPrompts.PaperExamples.Keys)}", "entropy.dataset", spec);
        return (d.Data, d.FewShot);
    }
}

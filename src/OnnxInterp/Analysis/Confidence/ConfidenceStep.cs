using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison.Steps;

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
/// judging prompts, beside the calibration (ECE) of its TRUE/FALSE answers. results.json: entropy = { protocol, ratio,
/// dataset, statements, models[] (with paperModel), overlaps[] (with paper: the authors' numbers when known),
/// ablations[] } (docs/results-schema.md).
/// </summary>
public sealed class ConfidenceStep : ComparisonStep<ConfidenceStepOptions>
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

    public override IReadOnlyList<StepPart> Parts(ComparisonConfig config, ConfidenceStepOptions options) =>
        [new StepPart("", options.Ablate ? DatasetOf(config, options) : null)];

    static string DatasetOf(ComparisonConfig config, ConfidenceStepOptions o) => o.Dataset ?? config.Datasets[0];

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
            try { ComparisonSession.CheckDatasetSpec(d); }
            catch (InvalidArgumentException e) { Bad(e.Message, "dataset", d); }
        }
    }

    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"entropy.{option}", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));

    public override StepOutput Run(StepContext context, ConfidenceStepOptions options, StepPart part)
    {
        // Weights only: no session opens (the analysis checks the weights' shapes); else the tokenizer checks the models first.
        ConfidenceData? data = null;
        if (part.Dataset is { } spec)
        {
            var tokenizer = context.Tokenizer;
            var (dataset, fewShot) = Statements(context, spec);
            data = new ConfidenceData(dataset, fewShot, tokenizer);
        }
        // The paper's identity from the manifest's config (ComparisonModel.Paper would open a session the weights-only run does not need).
        var models = context.Models.Select(m => new ConfidenceModel(m.Name, LastLayerWeights.Read(m.Directory), data is null ? null : m.Session)
        {
            Paper = PaperModels.Identify(ModelManifest.Read(m.Directory).Config, m.Role),
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

        var summary = new List<SummaryItem>();
        foreach (var o in result.Overlaps)
        {
            summary.Add(new SummaryItem($"entropy neuron IoU, {o.A} vs {o.B}", o.Iou, $"entropy.overlaps[a={o.A},b={o.B}].iou"));
            if (options.Protocol == AnalysisProtocol.Paper && o.MeanAbsRatioDiff is { } d)
                summary.Add(new SummaryItem($"entropy neuron avg. ratio difference, {o.A} vs {o.B}", d, $"entropy.overlaps[a={o.A},b={o.B}].meanAbsRatioDiff"));
        }
        foreach (var a in result.Ablations ?? [])
            summary.Add(new SummaryItem($"ECE of TRUE/FALSE answers, {a.Model}", a.Calibration.Ece, $"entropy.ablations[model={a.Model}].ece"));
        foreach (var sg in result.Signatures ?? [])
            summary.Add(new SummaryItem($"selected entropy neurons with the signature, {sg.Model}", sg.SelectedWithSignature,
                $"entropy.signatures[model={sg.Model}].selectedWithSignature"));
        return new StepOutput(Section(result), ConfidenceReport.Markdown(result)) { Summary = summary };
    }

    /// <summary>
    /// synthetic:NAME: the world's held-out statements (never judged in training, so calibration is measured on
    /// statements the models only saw stated); a CSV: the dataset with the paper's few-shot examples.
    /// </summary>
    static (StatementDataset Data, IReadOnlyList<(string, bool)> FewShot) Statements(StepContext context, string spec)
    {
        if (spec.StartsWith(ComparisonSession.SyntheticPrefix, StringComparison.Ordinal))
        {
            var name = spec[ComparisonSession.SyntheticPrefix.Length..];
            return (context.World.ToDataset(name, heldOutOnly: true), context.World.FewShot(name));
        }
        var d = context.Dataset(spec);
        if (d.FewShot is null)
            throw new InvalidArgumentException($"no few-shot examples for this dataset; known: {string.Join(", ", Analysis.Knowledge.TracingPrompts.PaperExamples.Keys)}", "entropy.dataset", spec);
        return (d.Data, d.FewShot);
    }

    /// <summary>The authors' numbers for a pair: their IoU as recorded and the overlap and ratio aggregates of their neurons.</summary>
    static JsonObject PublishedNode(PublishedEntropyPair p)
    {
        var o = p.Overlap;
        return new JsonObject
        {
            ["source"] = p.Source,
            ["ratio"] = p.Ratio.ToString(),
            ["iou"] = p.Iou,
            ["overlap"] = o.Overlap,
            ["shared"] = ComparisonJson.ToNode(o.Shared),
            ["meanAbsRatioDiff"] = o.MeanAbsRatioDiff,
            ["meanAbsRatio"] = o.MeanAbsRatio,
        };
    }

    /// <summary>The results.json section: the neurons, the Table 14 rows, and per model its calibration and ablation effects.</summary>
    public static JsonObject Section(ConfidenceResult r)
    {
        var models = new JsonArray(r.Models.Select(m => (JsonNode)new JsonObject
        {
            ["model"] = m.Model,
            ["paperModel"] = m.Paper is { InTable: true } p ? p.Key : null,
            ["layer"] = m.Layer,
            ["neurons"] = m.Norms.Length,
            ["normThreshold"] = m.NormThreshold,
            ["candidates"] = m.Candidates,
            ["entropyNeurons"] = new JsonArray(m.Neurons.Select(x => (JsonNode)new JsonObject
            {
                ["index"] = x.Index, ["norm"] = x.Norm, ["logitVar"] = x.LogitVar, ["ratio"] = x.Ratio,
            }).ToArray()),
        }).ToArray());
        var overlaps = new JsonArray(r.Overlaps.Select(o => (JsonNode)new JsonObject
        {
            ["a"] = o.A,
            ["b"] = o.B,
            ["overlap"] = o.Overlap,
            ["shared"] = ComparisonJson.ToNode(o.Shared),
            ["iou"] = o.Iou,
            ["meanAbsRatioDiff"] = o.MeanAbsRatioDiff,
            ["meanAbsRatio"] = o.MeanAbsRatio,
            ["meanAbsRatioA"] = o.MeanAbsRatioA,
            ["meanAbsRatioB"] = o.MeanAbsRatioB,
            ["paper"] = o.Published is { } p ? PublishedNode(p) : null,
            // Neither model's selection has a neuron with the entropy-neuron signature: this overlap compares noise (null: not measured).
            ["noSignature"] = r.SignatureOf(o.A) is { } sa && r.SignatureOf(o.B) is { } sb ? sa.NoneSelectedHasSignature && sb.NoneSelectedHasSignature : null,
        }).ToArray());
        JsonObject Neuron(NeuronSignature x) => new()
        {
            ["index"] = x.Index, ["normZ"] = x.NormZ, ["logitVarZ"] = x.LogitVarZ, ["absEntropyChange"] = x.AbsEntropyChange,
            ["entropyFactor"] = x.EntropyFactor, ["hasSignature"] = x.HasSignature,
        };
        JsonNode? signatures = r.Signatures is null ? null : new JsonArray(r.Signatures.Select(x => (JsonNode)new JsonObject
        {
            ["model"] = x.Model,
            ["prompts"] = x.Prompts,
            ["tokens"] = x.Tokens,
            ["medianAbsEntropyChange"] = x.MedianAbsEntropyChange,
            ["normCv"] = x.NormCv,
            ["minLogitVar"] = x.MinLogitVar,
            ["maxLogitVar"] = x.MaxLogitVar,
            ["selectedWithSignature"] = x.SelectedWithSignature,
            ["layerWithSignature"] = x.LayerWithSignature,
            ["selected"] = new JsonArray(x.Selected.Select(n => (JsonNode)Neuron(n)).ToArray()),
            ["strongest"] = Neuron(x.Strongest),
        }).ToArray());
        JsonObject Effects(NeuronAblationRow row) => new()
        {
            ["entropyChange"] = row.EntropyChange,
            ["absEntropyChange"] = row.AbsEntropyChange,
            ["directEntropyChange"] = row.DirectEntropyChange,
            ["residNormChange"] = row.ResidNormChange,
            ["answerEntropyChange"] = row.AnswerEntropyChange,
            ["confidenceChange"] = row.ConfidenceChange,
            ["accuracy"] = row.Calibration.Accuracy,
            ["meanConfidence"] = row.Calibration.MeanConfidence,
            ["ece"] = row.Calibration.Ece,
        };
        JsonNode? ablations = r.Ablations is null ? null : new JsonArray(r.Ablations.Select(a =>
        {
            // The last row ablates every entropy neuron together (with a single neuron, it is that neuron's row).
            var all = a.Rows[^1];
            var neurons = new JsonArray(a.Rows.Where(x => x.Neurons.Length == 1).Select(x =>
            {
                var o = Effects(x);
                o.Insert(0, "neuron", x.Neurons[0]);
                o.Insert(1, "mean", x.Means[0]);
                return (JsonNode)o;
            }).ToArray());
            return (JsonNode)new JsonObject
            {
                ["model"] = a.Model,
                ["prompts"] = a.Prompts,
                ["tokens"] = a.Tokens,
                ["cleanEntropy"] = a.CleanEntropy,
                ["cleanResidNorm"] = a.CleanResidNorm,
                ["cleanAnswerEntropy"] = a.CleanAnswerEntropy,
                ["accuracy"] = a.Calibration.Accuracy,
                ["meanConfidence"] = a.Calibration.MeanConfidence,
                ["ece"] = a.Calibration.Ece,
                ["allAblated"] = Effects(all),
                ["neurons"] = neurons,
            };
        }).ToArray());
        return new JsonObject
        {
            ["protocol"] = r.Options.Protocol.ToString(),
            ["ratio"] = r.Options.Selection.Ratio.ToString(),
            ["dataset"] = r.Dataset,
            ["statements"] = r.Ablations?.FirstOrDefault()?.Prompts,
            ["models"] = models,
            ["overlaps"] = overlaps,
            ["ablations"] = ablations,
            // The signature: factor and z thresholds, then per model; the flag is null when the ablation did not run.
            ["signature"] = r.Signatures is null ? null : new JsonObject
            {
                ["entropyFactor"] = r.Options.Signature.EntropyFactor, ["normZ"] = r.Options.Signature.NormZ, ["logitVarZ"] = r.Options.Signature.LogitVarZ,
            },
            ["noSelectedNeuronHasSignature"] = r.Signatures is null ? null : r.NoSelectedNeuronHasSignature,
            ["signatures"] = signatures,
        };
    }
}

using System.Globalization;

namespace OnnxInterp.Analysis.Truth;

/// <summary>The truthfulness analysis's options, as the comparison binds them (config "truth": {...}, --set truth.x=...).</summary>
public sealed record TruthStepOptions : TruthOptions;

/// <summary>
/// Truthfulness (the paper's §truthfulness): per layer the truth direction mean(true) − mean(false) of each model, its
/// cosine across models, mass-mean and logistic probes evaluated leave-one-dataset-out over every configured dataset,
/// the base probe transferred to each post-trained model (Table 2) and each model's direction added to / subtracted
/// from each model's few-shot prompts (Table 3). One part over all datasets (the probes pool them). results.json:
/// truth = <see cref="TruthSection"/> (docs/results-schema.md).
/// </summary>
public sealed class TruthStep : AnalysisStep<TruthStepOptions, TruthSection>
{
    public override string Name => "truth";
    public override string Title => "Truthfulness (truth direction, probes, probe transfer, intervention)";

    /// <summary>The analysis's defaults: the paper's reading (the bare statement's last token), every statement.</summary>
    public override TruthStepOptions Defaults => new();

    /// <summary>
    /// `--preset paper`: the paper's code (Knowledge+Truthfulness): per-model probe and intervention layers from
    /// config.ini (<see cref="TruthPaperSettings"/>), probes and directions trained on sp_en_trans, animal_class,
    /// inventors, element_symb and facts and tested on the other datasets (README, probe_transfer.py), MMProbe only
    /// (probe_transfer.py:18) fitted unpenalised (probes.py:175), the intervention on cities (README, interventions.py
    /// --val_dataset) with seed 1 (interventions.py:85), coefficient 1 (line 131) and the answers ' TRUE' / ' FALSE' (line 29).
    /// </summary>
    public override TruthStepOptions PaperDefaults => new()
    {
        Protocol = AnalysisProtocol.Paper,
        Reading = TruthReading.Statement,
        TrainingDatasets = TruthPaperSettings.TrainingDatasets,
        Logistic = false,
        InterventionDataset = TruthPaperSettings.InterventionDataset,
        InterventionScale = TruthPaperSettings.InterventionCoefficient,
        Seed = TruthPaperSettings.Seed,
        TrueAnswer = TruthPaperSettings.TrueAnswer,
        FalseAnswer = TruthPaperSettings.FalseAnswer,
    };

    /// <summary>Each model's activations, probes and interventions: 6–9 s a comparison of the demo sweep (2 models, 120 statements per dataset), 16 s the demo's (3).</summary>
    public override double EstimatedCost(TruthStepOptions options, StepPart part, int models) =>
        3.5 * models * (options.MaxStatementsPerDataset ?? 400) / 120.0;

    protected override void Validate(TruthStepOptions o)
    {
        if (o.MaxStatementsPerDataset is < 1) Bad("must be positive (or null for every statement)", "maxStatementsPerDataset", o.MaxStatementsPerDataset);
        if (o.MaxInterventionStatements is < 1) Bad("must be positive (or null for every statement)", "maxInterventionStatements", o.MaxInterventionStatements);
        if (o.Layer is < 0) Bad("must be a layer index, 0 or more (or null: the base model's best layer)", "layer", o.Layer);
        if (o.Layers is { Count: 0 }) Bad("give at least one layer, or null for all", "layers", "[]");
        if (o.Layers?.FirstOrDefault(l => l < 0) is < 0 and var neg) Bad("layers are 0 or more", "layers", neg);
        if (o.InterventionFirstLayer is < 0) Bad("must be a layer index, 0 or more", "interventionFirstLayer", o.InterventionFirstLayer);
        if (o.InterventionLastLayer is < 0) Bad("must be a layer index, 0 or more", "interventionLastLayer", o.InterventionLastLayer);
        if (!(o.LogisticC > 0) || double.IsInfinity(o.LogisticC)) Bad("must be positive and finite", "logisticC", o.LogisticC);
        if (!double.IsFinite(o.InterventionScale)) Bad("must be a finite number", "interventionScale", o.InterventionScale);
        if (o.BatchSize < 1) Bad("must be at least 1", "batchSize", o.BatchSize);
        if (string.IsNullOrEmpty(o.TrueAnswer)) Bad("must not be empty", "trueAnswer", o.TrueAnswer);
        if (string.IsNullOrEmpty(o.FalseAnswer)) Bad("must not be empty", "falseAnswer", o.FalseAnswer);
        if (o.Protocol == AnalysisProtocol.Paper && o.Reading != TruthReading.Statement)
            Bad("the paper protocol reads the bare statement (generate_acts.py:44): use Statement, or the default preset", "reading", o.Reading);
        if (o.Protocol != AnalysisProtocol.Paper && o.TrainingDatasets is not null)
            Bad("applies to the paper protocol (--preset paper); the default holds out each dataset in turn", "trainingDatasets", string.Join(",", o.TrainingDatasets));
        if (o.TrainingDatasets is { Count: 0 }) Bad("name at least one dataset (or null for the paper's five)", "trainingDatasets", "[]");
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    static void Bad(string message, string option, object? value) =>
        throw new InvalidArgumentException(message, $"truth.{option}", Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));

    public override StepResult<TruthSection> Run(StepContext context, TruthStepOptions options, StepPart part)
    {
        var datasets = context.Datasets.Select(spec =>
        {
            var d = context.Dataset(spec);
            return new TruthDataset(d.Data, d.FewShot);
        }).ToList();
        if (options.Intervene && options.InterventionDataset is { } target)
        {
            var given = datasets.FirstOrDefault(d => d.Name == target);
            if (given is null)
                Bad($"not among the datasets ({string.Join(", ", datasets.Select(d => d.Name))}): add its CSV to the datasets, " +
                    "set truth.interventionDataset to one of them, or pass --no-intervention", "interventionDataset", target);
            if (given.FewShot is not { Count: > 0 })
            {
                var withExamples = datasets.Where(d => d.FewShot is { Count: > 0 }).Select(d => d.Name).ToList();
                Bad($"the paper gives no few-shot examples for {target} (few_shot_samples.json): set truth.interventionDataset to a dataset that has them" +
                    (withExamples.Count > 0 ? $" ({string.Join(", ", withExamples)})" : $" (e.g. {TruthPaperSettings.InterventionDataset}, with few_shot_samples.json beside its CSV)") +
                    ", or pass --no-intervention", "interventionDataset", target);
            }
        }
        var tokenizer = context.Tokenizer;
        int layers = context.Base.Model.Config.NumLayers;
        foreach (var (value, option) in new[] { (options.Layer, "layer"), (options.InterventionFirstLayer, "interventionFirstLayer"), (options.InterventionLastLayer, "interventionLastLayer") })
            if (value is int l && l >= layers) Bad($"the models have {layers} layers: give 0..{layers - 1}", option, l);
        if (options.Layers?.FirstOrDefault(l => l >= layers) is int beyond && beyond >= layers) Bad($"the models have {layers} layers: give 0..{layers - 1}", "layers", beyond);
        var models = context.Models.Select(m => new TruthModel(m.Name, m.Model, m.Paper)).ToList();

        // Activations of each model (half the work), the probes, then the intervention's (1 + models) runs per model.
        int n = models.Count;
        double actShare = options.Intervene ? 0.45 : 0.85, probeShare = options.Intervene ? 0.05 : 0.15;
        var index = models.Select((m, i) => (m.Name, i)).ToDictionary(x => x.Name, x => x.i);
        var progress = new SyncProgress<TruthProgress>(p =>
        {
            double within = p.Total > 0 ? (double)p.Done / p.Total : 0;
            double fraction = p.Stage.StartsWith("activations ", StringComparison.Ordinal)
                ? actShare * (index.GetValueOrDefault(p.Stage["activations ".Length..]) + within) / n
                : p.Stage == "probes" ? actShare + probeShare * within
                : actShare + probeShare + (1 - actShare - probeShare) * within;
            context.Progress.Report(new StepProgress(fraction, $"{p.Stage}{(p.Total > 1 ? $" {p.Done}/{p.Total}" : "")}"));
        });
        var result = TruthAnalysis.Run(datasets, tokenizer, models, options, progress, context.Cancellation);
        TruthReport.Write(context.OutputDirectory, result);

        var md = TruthReport.Markdown(result);
        if (options.Reading == TruthReading.Judgement)
            md = "Truth is read where the judgement is asked for (the last token of the few-shot prompt's \" This statement is:\"), " +
                "not at the bare statement's end as in the paper: small models trained on judging documents compute truth only when asked.\n\n" + md;
        return new StepResult<TruthSection>(TruthSection.From(result), md);
    }

    /// <summary>
    /// Each model's probe accuracy (at the paper's probe layer, else its best), the base's direction's cosines, each
    /// post-trained model's mean probe-transfer difference, the intervention's mean effect of own and other directions.
    /// </summary>
    public override IReadOnlyList<SummaryItem> Headlines(TruthSection section, StepPart part)
    {
        var summary = new List<SummaryItem>();
        foreach (var p in section.Probes)
            summary.Add(section.Protocol == AnalysisProtocol.Paper
                ? new SummaryItem($"truth probe accuracy (paper protocol, layer {section.ProbeLayer}), {p.Model}", p.Accuracy, $"truth.probes[model={p.Model}].accuracy")
                : new SummaryItem($"truth probe accuracy (best layer {p.BestLayer}), {p.Model}", p.BestAccuracy, $"truth.probes[model={p.Model}].bestAccuracy"));
        var b = section.Probes[0].Model;
        foreach (var c in section.Cosines.Where(c => c.A == b))
            summary.Add(new SummaryItem($"truth direction cosine (layer {section.ProbeLayer}), {b} vs {c.B}", c.Cosine, $"truth.cosines[a={b},b={c.B}].cosine"));
        foreach (var m in section.Probes.Skip(1).Select(p => p.Model))
            if (section.Transfer.LastOrDefault(t => t.Model == m) is { } mean) // each model's rows end with their mean
                summary.Add(new SummaryItem($"{b} probe on {m} − own probe, mean", mean.Difference, $"truth.transfer[model={m},dataset={TruthSection.MeanRow}].difference"));
        if (section.Intervention is { } iv)
        {
            summary.Add(new SummaryItem("truth intervention, mean IE of own directions", iv.OwnMeanEffect, "truth.intervention.ownMeanEffect"));
            if (section.Probes.Count > 1) summary.Add(new SummaryItem("truth intervention, mean IE of other models' directions", iv.CrossMeanEffect, "truth.intervention.crossMeanEffect"));
        }
        return summary;
    }

    /// <summary>The probe layer and each model's probe accuracies.</summary>
    public override IEnumerable<string> Describe(TruthSection section, TruthStepOptions options)
    {
        static string F(double v) => v.ToString("F3", CultureInfo.InvariantCulture);
        yield return $"protocol {section.Protocol.ToString().ToLowerInvariant()}; probe layer {section.ProbeLayer} ({section.Evaluation})";
        foreach (var p in section.Probes)
            yield return $"  {p.Model,-20} best layer {p.BestLayer}: mass-mean {F(p.BestAccuracy)}; at layer {section.ProbeLayer}: mass-mean {F(p.Accuracy)}" +
                (p.LogisticAccuracy is { } lr ? $", logistic {F(lr)}" : "");
        if (options.Intervene && section.Intervention is null) yield return "  no dataset has few-shot examples: intervention skipped";
    }
}

using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison.Steps;

/// <summary>The truthfulness analysis's options, as the comparison binds them (config "truth": {...}, --set truth.x=...).</summary>
public sealed record TruthStepOptions : TruthOptions;

/// <summary>
/// Truthfulness (the paper's §truthfulness): per layer the truth direction mean(true) − mean(false) of each model, its
/// cosine across models, mass-mean and logistic probes evaluated leave-one-dataset-out over every configured dataset,
/// the base probe transferred to each post-trained model (Table 2) and each model's direction added to / subtracted
/// from each model's few-shot prompts (Table 3). One part over all datasets (the probes pool them). results.json:
/// truth = { protocol, reading, evaluation, layers, probeLayer, trainingDatasets, paperLayers, datasets[], probes[],
/// cosines[], transfer[], intervention } (docs/results-schema.md).
/// </summary>
public sealed class TruthStep : ComparisonStep<TruthStepOptions>
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

    public override StepOutput Run(StepContext context, TruthStepOptions options, StepPart part)
    {
        var datasets = context.Config.Datasets.Select(spec =>
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
        int layers = context.Base.Session.Manifest.Config.NumLayers;
        foreach (var (value, option) in new[] { (options.Layer, "layer"), (options.InterventionFirstLayer, "interventionFirstLayer"), (options.InterventionLastLayer, "interventionLastLayer") })
            if (value is int l && l >= layers) Bad($"the models have {layers} layers: give 0..{layers - 1}", option, l);
        if (options.Layers?.FirstOrDefault(l => l >= layers) is int beyond && beyond >= layers) Bad($"the models have {layers} layers: give 0..{layers - 1}", "layers", beyond);
        var models = context.Models.Select(m => new TruthModel(m.Name, m.Session, m.Paper)).ToList();

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

        var json = Section(result);
        var summary = new List<SummaryItem>();
        foreach (var p in result.Probes)
            summary.Add(result.Protocol == AnalysisProtocol.Paper
                ? new SummaryItem($"truth probe accuracy (paper protocol, layer {result.ProbeLayer}), {p.Model}", p.At(result.ProbeLayer).MassMean, $"truth.probes[model={p.Model}].accuracy")
                : new SummaryItem($"truth probe accuracy (best layer {p.BestLayer}), {p.Model}", p.At(p.BestLayer).MassMean, $"truth.probes[model={p.Model}].bestAccuracy"));
        var b = result.Models[0];
        var cos = result.CosinesAtProbeLayer.Matrix;
        for (int j = 1; j < n; j++)
            summary.Add(new SummaryItem($"truth direction cosine (layer {result.ProbeLayer}), {b} vs {result.Models[j]}", cos[0][j], $"truth.cosines[a={b},b={result.Models[j]}].cosine"));
        foreach (var m in result.Models.Skip(1))
        {
            var rows = result.Transfer.Where(t => t.Model == m).ToList();
            if (rows.Count > 0)
                summary.Add(new SummaryItem($"{b} probe on {m} − own probe, mean", rows.Average(t => t.Difference), $"truth.transfer[model={m},dataset={MeanRow}].difference"));
        }
        if (result.Intervention is { } iv)
        {
            summary.Add(new SummaryItem("truth intervention, mean IE of own directions", OwnMean(iv), "truth.intervention.ownMeanEffect"));
            if (n > 1) summary.Add(new SummaryItem("truth intervention, mean IE of other models' directions", CrossMean(iv), "truth.intervention.crossMeanEffect"));
        }
        var md = TruthReport.Markdown(result);
        if (options.Reading == TruthReading.Judgement)
            md = "Truth is read where the judgement is asked for (the last token of the few-shot prompt's \" This statement is:\"), " +
                "not at the bare statement's end as in the paper: small models trained on judging documents compute truth only when asked.\n\n" + md;
        return new StepOutput(json, md) { Summary = summary };
    }

    /// <summary>The <c>dataset</c> of each post-trained model's Table 2 row averaged over the held-out datasets.</summary>
    public const string MeanRow = "mean";

    static double OwnMean(InterventionResult iv) => iv.Effects.Where(e => e.Direction == e.Model).Average(e => e.MeanEffect);

    static double CrossMean(InterventionResult iv)
    {
        var cross = iv.Effects.Where(e => e.Direction != e.Model).ToList();
        return cross.Count > 0 ? cross.Average(e => e.MeanEffect) : double.NaN;
    }

    /// <summary>The results.json section: the report's tables as arrays of objects keyed by model, dataset, direction.</summary>
    public static JsonObject Section(TruthResult r)
    {
        var datasets = new JsonArray(r.Datasets.Select(d => (JsonNode)new JsonObject
        {
            ["dataset"] = d.Name, ["statements"] = d.Statements, ["true"] = d.True,
        }).ToArray());
        var probes = new JsonArray(r.Probes.Select(p =>
        {
            var at = p.At(r.ProbeLayer);
            return (JsonNode)new JsonObject
            {
                ["model"] = p.Model,
                ["bestLayer"] = p.BestLayer,
                ["bestAccuracy"] = p.At(p.BestLayer).MassMean,
                ["accuracy"] = at.MassMean,
                ["logisticAccuracy"] = at.Logistic,
                ["layers"] = new JsonArray(p.Layers.Select(l => (JsonNode)new JsonObject
                {
                    ["layer"] = l.Layer,
                    ["massMean"] = l.MassMean,
                    ["logistic"] = l.Logistic,
                    ["datasets"] = new JsonArray(l.PerDataset.Select(d => (JsonNode)new JsonObject
                    {
                        ["dataset"] = d.Dataset, ["massMean"] = d.MassMean, ["logistic"] = d.Logistic,
                    }).ToArray()),
                }).ToArray()),
            };
        }).ToArray());
        var cos = r.CosinesAtProbeLayer.Matrix;
        var cosines = new JsonArray();
        for (int i = 0; i < r.Models.Count; i++)
            for (int j = i + 1; j < r.Models.Count; j++)
                cosines.Add(new JsonObject { ["a"] = r.Models[i], ["b"] = r.Models[j], ["cosine"] = cos[i][j] });
        var transfer = new JsonArray();
        foreach (var g in r.Transfer.GroupBy(t => t.Model))
        {
            JsonObject Row(string dataset, double baseOnBase, double own, double baseProbe, double difference) => new()
            {
                ["model"] = g.Key, ["dataset"] = dataset, ["baseOnBase"] = baseOnBase, ["own"] = own, ["baseProbe"] = baseProbe, ["difference"] = difference,
            };
            foreach (var t in g)
            {
                var row = Row(t.Dataset, t.BaseOnBase, t.Own, t.BaseProbe, t.Difference);
                row["ownOnBase"] = t.OwnOnBase;
                transfer.Add(row);
            }
            var mean = Row(MeanRow, g.Average(t => t.BaseOnBase), g.Average(t => t.Own), g.Average(t => t.BaseProbe), g.Average(t => t.Difference));
            mean["ownOnBase"] = g.Average(t => t.OwnOnBase);
            transfer.Add(mean);
        }
        JsonNode? intervention = r.Intervention is not { } iv ? null : new JsonObject
        {
            ["dataset"] = iv.Dataset,
            ["directionDatasets"] = ComparisonJson.ToNode(iv.DirectionDatasets),
            ["layers"] = ComparisonJson.ToNode(iv.Layers),
            ["positions"] = ComparisonJson.ToNode(iv.Positions),
            ["scale"] = iv.Scale,
            ["trueStatements"] = iv.TrueStatements,
            ["falseStatements"] = iv.FalseStatements,
            ["skipped"] = iv.Skipped,
            ["ownMeanEffect"] = OwnMean(iv),
            ["crossMeanEffect"] = CrossMean(iv),
            ["baselines"] = new JsonArray(iv.Baselines.Select((x, i) => (JsonNode)new JsonObject
            {
                ["model"] = x.Model, ["trueStatements"] = x.TrueStatements, ["falseStatements"] = x.FalseStatements, ["directionNorm"] = iv.DirectionNorms[i],
            }).ToArray()),
            ["effects"] = new JsonArray(iv.Effects.Select(e => (JsonNode)new JsonObject
            {
                ["direction"] = e.Direction,
                ["model"] = e.Model,
                ["trueToFalse"] = e.TrueToFalse,
                ["falseToTrue"] = e.FalseToTrue,
                ["effectTrueToFalse"] = e.EffectTrueToFalse,
                ["effectFalseToTrue"] = e.EffectFalseToTrue,
                ["meanEffect"] = e.MeanEffect,
                ["paperMeanEffect"] = TruthPaperResults.Effect(r, e)?.Mean,
            }).ToArray()),
        };
        return new JsonObject
        {
            ["protocol"] = r.Protocol.ToString(),
            ["reading"] = r.Options.Reading.ToString(),
            ["evaluation"] = r.Evaluation,
            ["layers"] = ComparisonJson.ToNode(r.Layers),
            ["probeLayer"] = r.ProbeLayer,
            ["trainingDatasets"] = r.TrainingDatasets is { } td ? ComparisonJson.ToNode(td) : null,
            ["missingTrainingDatasets"] = ComparisonJson.ToNode(r.MissingTrainingDatasets),
            ["paperLayers"] = r.PaperLayers is not { } pl ? null : new JsonArray(pl.Select((p, i) => (JsonNode)new JsonObject
            {
                ["model"] = r.Models[i], ["key"] = p.Key, ["fromTable"] = p.FromTable, ["probeLayer"] = p.ProbeLayer, ["firstInterventionLayer"] = p.FirstInterventionLayer,
            }).ToArray()),
            ["datasets"] = datasets,
            ["probes"] = probes,
            ["cosines"] = cosines,
            ["transfer"] = transfer,
            ["intervention"] = intervention,
        };
    }
}

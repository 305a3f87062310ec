using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// The truthfulness analysis (the paper's §truthfulness and its code): last-token activations of the bare statements
/// (or, with <see cref="TruthReading.Judgement"/>, of the few-shot prompts), each dataset centred on its own; the
/// direction t = mean(true) − mean(false) per layer and its cosine across models; mass-mean (and logistic) probes; the
/// base probe transferred to each post-trained model (Table 2); and the direction of each model added to / subtracted
/// from each model's few-shot prompts (Table 3). <see cref="AnalysisProtocol.Default"/>: every layer, leave-one-dataset-out
/// probes, the best layer, every dataset pooled for the directions. <see cref="AnalysisProtocol.Paper"/>: the paper's
/// code (see <see cref="TruthOptions"/> and <see cref="TruthPaperSettings"/>).
/// </summary>
public static class TruthAnalysis
{
    public static TruthResult Run(IReadOnlyList<TruthDataset> datasets, HfTokenizer tokenizer, IReadOnlyList<TruthModel> models,
        TruthOptions? options = null, IProgress<TruthProgress>? progress = null, CancellationToken cancellation = default)
    {
        var o = options ?? new TruthOptions();
        bool paper = o.Protocol == AnalysisProtocol.Paper;
        if (models.Count == 0) Throw.Argument("at least one model is needed", "models", 0);
        if (datasets.Count == 0) Throw.Argument("at least one dataset is needed", "datasets", 0);
        foreach (var g in datasets.GroupBy(d => d.Name)) if (g.Count() > 1) Throw.Argument("a dataset is given twice", "datasets", g.Key);
        foreach (var m in models.Skip(1)) ModelPair.CheckCompatible(models[0].Model, m.Model);
        int numLayers = models[0].Model.Config.NumLayers;
        if (paper && o.Reading != TruthReading.Statement)
            Throw.Argument("the paper protocol reads the bare statement's last token (generate_acts.py:44): use the Statement reading, or the default protocol", "reading", o.Reading);
        if (!paper && o.TrainingDatasets is not null)
            Throw.Argument("training datasets apply to the paper protocol; the default protocol holds out each dataset in turn", "training_datasets", string.Join(", ", o.TrainingDatasets));

        // Paper protocol: every model's config.ini row; the probe layer is the base's (probe_transfer.py:20). config.ini
        // gives every model of a family the same row, so it is also the post model's, whose row interventions.py:147-148 reads.
        var paperLayers = paper
            ? models.Select((m, i) => TruthPaperSettings.For(m.Paper ?? PaperModels.Identify(m.Model.Config, i == 0 ? PostTraining.Base : PostTraining.Instruct))).ToList()
            : null;
        int? fixedLayer = o.Layer ?? paperLayers?[0].ProbeLayer;
        var layers = (o.Layers ?? (paper ? [fixedLayer!.Value] : Enumerable.Range(0, numLayers).ToList())).Distinct().Order().ToList();
        foreach (int l in layers) if ((uint)l >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "layers", l);
        if (layers.Count == 0) Throw.Argument("at least one layer is needed", "layers", 0);
        if (fixedLayer is int pl && !layers.Contains(pl)) Throw.Argument("the probe layer must be among the collected layers", "layer", pl);
        var (training, missing) = paper ? TrainingSplit(o, datasets) : (null, []);
        CheckInterventionOptions(o, datasets, numLayers);

        if (o.MaxStatementsPerDataset is <= 0) Throw.Argument("the statement limit must be positive", "max_statements_per_dataset", o.MaxStatementsPerDataset);
        datasets = datasets.Select(d => o.MaxStatementsPerDataset is int k && d.Data.Statements.Count > k
            ? d with { Data = d.Data with { Statements = d.Data.Statements.Take(k).ToList() } } : d).ToList();
        foreach (var d in datasets)
            if (d.Data.TrueCount == 0 || d.Data.TrueCount == d.Data.Statements.Count)
                Throw.Argument("every dataset needs true and false statements", "dataset", d.Name);
        var tokenized = datasets.Select(d => Tokenize(d, tokenizer, o)).ToList();
        int totalRows = tokenized.Sum(d => d.Tokens.Length);

        // acts[model][layer index][dataset], each dataset centred on its own (the paper's collect_acts, utils.py:61-62).
        var acts = new ActivationSet[models.Count][][];
        for (int m = 0; m < models.Count; m++)
        {
            string stage = $"activations {models[m].Name}";
            var raw = TruthActivations.Collect(models[m].Model, tokenized, layers, o.BatchSize,
                done => progress?.Report(new TruthProgress(stage, done, totalRows)), cancellation);
            acts[m] = raw.Select(perDataset => perDataset.Select(s => s.Centered()).ToArray()).ToArray();
        }

        var folds = new IReadOnlyList<ProbeFold>[models.Count][];
        var probes = new List<ModelProbes>();
        int fits = models.Count * layers.Count, fitted = 0;
        for (int m = 0; m < models.Count; m++)
        {
            folds[m] = new IReadOnlyList<ProbeFold>[layers.Count];
            var perLayer = new List<LayerProbeAccuracy>();
            for (int li = 0; li < layers.Count; li++)
            {
                cancellation.ThrowIfCancellationRequested();
                var named = datasets.Select((d, di) => (d.Name, acts[m][li][di])).ToList();
                folds[m][li] = training is null ? ProbeEvaluation.Folds(named, o.Seed) : ProbeEvaluation.TrainTestFolds(named, training);
                var acc = ProbeEvaluation.Evaluate(folds[m][li], o.Logistic, o.LogisticC, o.Protocol);
                perLayer.Add(new LayerProbeAccuracy(layers[li], acc.Average(a => a.MassMean), o.Logistic ? acc.Average(a => a.Logistic!.Value) : null, acc));
                progress?.Report(new TruthProgress("probes", ++fitted, fits));
            }
            probes.Add(new ModelProbes(models[m].Name, perLayer));
        }

        // The directions compared across models: every dataset pooled, or (paper: probe_transfer.py:36-54) the training datasets'.
        var directionSets = training is null ? Enumerable.Range(0, datasets.Count).ToList() : training.Select(t => IndexOf(datasets, t)).ToList();
        var cosines = new List<LayerCosines>();
        var pooledDirections = new double[layers.Count][][];
        for (int li = 0; li < layers.Count; li++)
        {
            pooledDirections[li] = Enumerable.Range(0, models.Count)
                .Select(m => TruthDirection.MeanDifference(ActivationSet.Concat(directionSets.Select(i => acts[m][li][i]).ToList()))).ToArray();
            cosines.Add(new LayerCosines(layers[li], TruthDirection.CosineMatrix(pooledDirections[li])));
        }

        int probeLayer = fixedLayer ?? probes[0].BestLayer;
        int pi = layers.IndexOf(probeLayer);
        var transfer = new List<ProbeTransferRow>();
        for (int m = 1; m < models.Count; m++) transfer.AddRange(ProbeEvaluation.Transfer(models[m].Name, folds[0][pi], folds[m][pi], o.Protocol));

        InterventionResult? intervention = null;
        if (o.Intervene)
            intervention = Intervene(datasets, tokenizer, models, acts, pi, probeLayer, directionSets, paperLayers, o, progress, cancellation);

        string evaluation = training is not null
            ? $"trained on {string.Join(", ", training)}; tested on {string.Join(", ", datasets.Select(d => d.Name).Where(n => !training.Contains(n)))}"
            : datasets.Count > 1 ? "leave-one-dataset-out"
            : $"{datasets[0].Name}: {ProbeEvaluation.SplitTrainFraction:P0} train / {1 - ProbeEvaluation.SplitTrainFraction:P0} test (seed {o.Seed})";
        return new TruthResult(models.Select(m => m.Name).ToList(),
            tokenized.Select(d => new TruthDatasetInfo(d.Name, d.Labels.Length, d.Labels.Count(l => l == 1))).ToList(),
            evaluation, layers, probeLayer, probes, cosines, pooledDirections[pi], transfer, intervention, o)
        {
            TrainingDatasets = training,
            MissingTrainingDatasets = missing,
            PaperLayers = paperLayers,
        };
    }

    static int IndexOf(IReadOnlyList<TruthDataset> datasets, string name)
    {
        for (int i = 0; i < datasets.Count; i++) if (datasets[i].Name == name) return i;
        return -1;
    }

    /// <summary>
    /// The paper protocol's training datasets among those given (in the option's order) and those missing; at least one
    /// must be given, and one other dataset to test on.
    /// </summary>
    static (List<string> Training, List<string> Missing) TrainingSplit(TruthOptions o, IReadOnlyList<TruthDataset> datasets)
    {
        var wanted = (o.TrainingDatasets ?? TruthPaperSettings.TrainingDatasets).Distinct().ToList();
        var names = datasets.Select(d => d.Name).ToList();
        var training = wanted.Where(names.Contains).ToList();
        var missing = wanted.Where(n => !names.Contains(n)).ToList();
        if (training.Count == 0)
            Throw.Argument($"none of the training datasets is among the datasets ({string.Join(", ", names)}): add them (the paper trains on " +
                $"{string.Join(", ", TruthPaperSettings.TrainingDatasets)}) or name training datasets that are given", "training_datasets", string.Join(", ", wanted));
        if (names.All(training.Contains))
            Throw.Argument($"every dataset is a training dataset: add one to test the probes on (the paper tests on {TruthPaperSettings.InterventionDataset})",
                "datasets", string.Join(", ", names));
        return (training, missing);
    }

    /// <summary>Fails before any model runs when the intervention's options cannot work.</summary>
    static void CheckInterventionOptions(TruthOptions o, IReadOnlyList<TruthDataset> datasets, int numLayers)
    {
        if (!(o.LogisticC > 0) || double.IsInfinity(o.LogisticC)) Throw.Argument("C must be positive and finite", "logistic_c", o.LogisticC);
        if (!o.Intervene) return;
        if ((o.Protocol == AnalysisProtocol.Paper ? o.InterventionDataset ?? TruthPaperSettings.InterventionDataset : o.InterventionDataset) is { } name)
        {
            var target = datasets.FirstOrDefault(d => d.Name == name)
                ?? throw new InvalidArgumentException($"the intervention dataset is not among the datasets ({string.Join(", ", datasets.Select(d => d.Name))}): " +
                    "add it, name one that is given, or turn the intervention off", "intervention_dataset", name);
            if (target.FewShot is not { Count: > 0 })
            {
                var withExamples = datasets.Where(d => d.FewShot is { Count: > 0 }).Select(d => d.Name).ToList();
                Throw.Argument($"no few-shot examples for {name} (the paper's few_shot_samples.json gives none for it): intervene on a dataset that has them" +
                    (withExamples.Count > 0 ? $" ({string.Join(", ", withExamples)})" : $", such as {TruthPaperSettings.InterventionDataset}") +
                    ", or turn the intervention off", "intervention_dataset", name);
            }
        }
        if (o.InterventionFirstLayer is int first && (uint)first >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "intervention_first_layer", first);
        if (o.InterventionLastLayer is int last && (uint)last >= (uint)numLayers) Throw.Argument($"layer outside 0..{numLayers - 1}", "intervention_last_layer", last);
        if (!double.IsFinite(o.InterventionScale)) Throw.Argument("the scale must be finite", "intervention_scale", o.InterventionScale);
        if (o.MaxInterventionStatements is <= 0) Throw.Argument("the statement limit must be positive", "max_intervention_statements", o.MaxInterventionStatements);
    }

    static TokenizedDataset Tokenize(TruthDataset d, HfTokenizer tokenizer, TruthOptions o)
    {
        if (o.Reading == TruthReading.Statement)
            return new TokenizedDataset(d.Name, d.Data.Statements.Select(s => tokenizer.Encode(s.Text)).ToArray(), d.Data.Statements.Select(s => s.Label).ToArray());
        if (d.FewShot is not { Count: > 0 })
            Throw.Argument($"reading the judgement needs few-shot examples for every dataset, and {d.Name} has none (the paper's few_shot_samples.json " +
                "gives none for it): leave it out, or use the Statement reading", "dataset", d.Name);
        var (prompts, _) = TruthIntervention.BuildPrompts(d.Data.Statements, d.FewShot, tokenizer, o.Seed, o.Reading);
        var labels = prompts.Select(p => p.True ? 1 : 0).ToArray();
        if (labels.All(l => l == 1) || labels.All(l => l == 0)) Throw.Argument("no true or no false statement is left in the few-shot prompts", "dataset", d.Name);
        return new TokenizedDataset(d.Name, prompts.Select(p => p.Tokens).ToArray(), labels);
    }

    static InterventionResult? Intervene(IReadOnlyList<TruthDataset> datasets, HfTokenizer tokenizer, IReadOnlyList<TruthModel> models,
        ActivationSet[][][] acts, int pi, int probeLayer, IReadOnlyList<int> trainingSets, IReadOnlyList<TruthPaperLayers>? paperLayers, TruthOptions o,
        IProgress<TruthProgress>? progress, CancellationToken cancellation)
    {
        bool paper = paperLayers is not null;
        var target = paper ? datasets.First(d => d.Name == (o.InterventionDataset ?? TruthPaperSettings.InterventionDataset))
            : o.InterventionDataset is { } name ? datasets.First(d => d.Name == name) : datasets.FirstOrDefault(d => d.FewShot is { Count: > 0 });
        if (target is null) return null;
        // Paper: config.ini intervene_layer..probe_layer, both included (interventions.py:147-159).
        int first = o.InterventionFirstLayer ?? (paper ? paperLayers![0].FirstInterventionLayer : Math.Max(0, probeLayer - (TruthOptions.DefaultInterventionLayers - 1)));
        int last = o.InterventionLastLayer ?? probeLayer;
        if (last < first) Throw.Argument($"the last layer comes before the first ({first})", "intervention_last_layer", last);
        var layers = Enumerable.Range(first, last - first + 1).ToList();
        // The answers' last tokens, as interventions.py:29 takes them (both protocols).
        var (trueId, falseId) = JudgingAnswers.Tokens(tokenizer, o.TrueAnswer, o.FalseAnswer, "truth");

        // The direction is learnt at the probe layer and added as is: the paper's code scales the unit direction by the
        // projection of mean(true) − mean(false) on it (interventions.py:188-192), which for t is t itself. Default: on
        // the datasets other than the target (the target itself when it is the only one); paper: on the training
        // datasets (interventions.py:166-171).
        int ti = IndexOf(datasets, target.Name);
        var sources = paper ? trainingSets : datasets.Count > 1 ? Enumerable.Range(0, datasets.Count).Where(i => i != ti).ToList() : [ti];
        var directions = Enumerable.Range(0, models.Count)
            .Select(m => TruthDirection.MeanDifference(ActivationSet.Concat(sources.Select(i => acts[m][pi][i]).ToList())))
            .ToList();
        var vectors = directions.Select(d => d.Select(x => (float)x).ToArray()).ToList();

        var statements = target.Data.Statements;
        var trueSubset = statements.Where(s => s.Label == 1).ToList();
        var falseSubset = statements.Where(s => s.Label == 0).ToList();
        // Paper: prepare_data per subset, statement i seeded 1 + i (interventions.py:85-116, 237-238).
        var (truePrompts, skippedTrue) = paper ? TruthPaperPrompts.Build(trueSubset, target.FewShot!, tokenizer, o.Seed)
            : TruthIntervention.BuildPrompts(trueSubset, target.FewShot!, tokenizer, o.Seed, o.Reading);
        var (falsePrompts, skippedFalse) = paper ? TruthPaperPrompts.Build(falseSubset, target.FewShot!, tokenizer, o.Seed)
            : TruthIntervention.BuildPrompts(falseSubset, target.FewShot!, tokenizer, o.Seed, o.Reading);
        if (o.MaxInterventionStatements is int max)
        {
            // After leaving out the examples' own statements (a synthetic dataset's first ones).
            truePrompts = truePrompts.Take(max).ToList();
            falsePrompts = falsePrompts.Take(max).ToList();
        }
        if (truePrompts.Count == 0 || falsePrompts.Count == 0)
            Throw.Argument("no true or no false statement of the intervention dataset is left for the intervention", "intervention_dataset", target.Name);

        int runs = models.Count * (1 + models.Count), done = 0;
        void Step() => progress?.Report(new TruthProgress("intervention", ++done, runs));
        float scale = (float)o.InterventionScale;
        double PDiff(int model, IReadOnlyList<TruthPrompt> prompts, int? direction, float factor) =>
            TruthIntervention.MeanProbabilityDifference(models[model].Model, prompts, trueId, falseId,
                direction is int d ? vectors[d] : null, layers, factor, o.BatchSize, cancellation);

        var baselines = new List<InterventionBaseline>();
        for (int j = 0; j < models.Count; j++)
        {
            baselines.Add(new InterventionBaseline(models[j].Name, PDiff(j, truePrompts, null, 0), PDiff(j, falsePrompts, null, 0)));
            Step();
        }
        // Subtract on true statements, add on false ones (interventions.py:269-272).
        var effects = new List<InterventionEffect>();
        for (int i = 0; i < models.Count; i++)
            for (int j = 0; j < models.Count; j++)
            {
                double tf = PDiff(j, truePrompts, i, -scale);
                double ft = PDiff(j, falsePrompts, i, scale);
                effects.Add(new InterventionEffect(models[i].Name, models[j].Name, baselines[j].TrueStatements, baselines[j].FalseStatements, tf, ft));
                Step();
            }
        return new InterventionResult(target.Name, sources.Select(i => datasets[i].Name).ToList(), layers, o.InterventionScale,
            truePrompts.Count, falsePrompts.Count, skippedTrue + skippedFalse,
            directions.Select(d => Math.Sqrt(d.Sum(x => x * x))).ToList(), baselines, effects)
        {
            Positions = paper ? truePrompts[0].Positions : [],
        };
    }
}

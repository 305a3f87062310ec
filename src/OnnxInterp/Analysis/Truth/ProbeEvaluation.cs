using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>One evaluation split: train on <see cref="Train"/> (the other datasets, pooled), test on <see cref="Test"/>.</summary>
public sealed record ProbeFold(string Dataset, ActivationSet Train, ActivationSet Test);

/// <summary>Held-out accuracy of both probes on one dataset; <see cref="Logistic"/> is null when it was not fitted.</summary>
public sealed record DatasetAccuracy(string Dataset, double MassMean, double? Logistic);

/// <summary>
/// Probe transfer on one held-out dataset (the paper's Table 2; probe_transfer.py:73-97 prints all four): the base
/// model's probe on the base model, the model's own probe on the model, the base probe (direction, scale and bias
/// unchanged) on the model, and the model's probe on the base model.
/// </summary>
public sealed record ProbeTransferRow(string Model, string Dataset, double BaseOnBase, double Own, double BaseProbe, double OwnOnBase = double.NaN)
{
    /// <summary>Base probe − own probe on the model's activations: how much accuracy the transferred probe loses.</summary>
    public double Difference => BaseProbe - Own;
}

public static class ProbeEvaluation
{
    /// <summary>With a single dataset there is nothing to leave out: this fraction trains, the rest tests.</summary>
    public const double SplitTrainFraction = 0.8;

    /// <summary>
    /// Leave-one-dataset-out folds (each dataset already centred on its own): for each dataset, train on all the others
    /// pooled and test on it. With one dataset, a seeded <see cref="SplitTrainFraction"/> split of it.
    /// </summary>
    public static IReadOnlyList<ProbeFold> Folds(IReadOnlyList<(string Name, ActivationSet Set)> datasets, int seed = 1)
    {
        if (datasets.Count == 0) Throw.Argument("at least one dataset is needed", "datasets", 0);
        if (datasets.Count == 1)
        {
            var (name, set) = datasets[0];
            var order = Enumerable.Range(0, set.Count).ToArray();
            new Random(seed).Shuffle(order);
            int cut = (int)Math.Round(set.Count * SplitTrainFraction);
            if (cut == 0 || cut == set.Count) Throw.Argument("the dataset is too small to split into train and test", "dataset", name);
            return [new ProbeFold(name, set.Select(order[..cut]), set.Select(order[cut..]))];
        }
        return datasets.Select((d, i) => new ProbeFold(d.Name,
            ActivationSet.Concat(datasets.Where((_, j) => j != i).Select(x => x.Set).ToList()), d.Set)).ToList();
    }

    /// <summary>
    /// The paper's split (probe_transfer.py:26-36 with use_full_train=True, the default its main block uses): every
    /// statement of the <paramref name="training"/> datasets pooled, in that order, trains; each other dataset, whole,
    /// is tested on (lines 73-97). No random split: the paper's seeded 80/20 branch (utils.py:133-141, torch.randperm)
    /// is not taken.
    /// </summary>
    public static IReadOnlyList<ProbeFold> TrainTestFolds(IReadOnlyList<(string Name, ActivationSet Set)> datasets, IReadOnlyList<string> training)
    {
        foreach (var t in training)
            if (datasets.All(d => d.Name != t)) Throw.Argument("a training dataset is not among the datasets", "training_datasets", t);
        var train = ActivationSet.Concat(training.Select(t => datasets.First(d => d.Name == t).Set).ToList());
        var heldOut = datasets.Where(d => !training.Contains(d.Name)).ToList();
        if (heldOut.Count == 0)
            Throw.Argument("every dataset is a training dataset: add one to test on (the paper holds out cities)", "datasets", string.Join(", ", training));
        return heldOut.Select(d => new ProbeFold(d.Name, train, d.Set)).ToList();
    }

    /// <summary>Trains both probes on each fold's training rows and scores them on its test rows.</summary>
    public static IReadOnlyList<DatasetAccuracy> Evaluate(IReadOnlyList<ProbeFold> folds, bool logistic = true, double c = LogisticProbe.DefaultC,
        AnalysisProtocol protocol = AnalysisProtocol.Default)
    {
        // Folds sharing one training set (the paper's split) share its fits.
        var massMean = new Dictionary<ActivationSet, MassMeanProbe>(ReferenceEqualityComparer.Instance);
        var plain = new Dictionary<ActivationSet, LogisticProbe>(ReferenceEqualityComparer.Instance);
        return folds.Select(f =>
        {
            if (!massMean.TryGetValue(f.Train, out var mm)) massMean[f.Train] = mm = MassMeanProbe.Fit(f.Train, protocol);
            double? lr = null;
            if (logistic)
            {
                if (!plain.TryGetValue(f.Train, out var p)) plain[f.Train] = p = LogisticProbe.Fit(f.Train, c);
                lr = p.Accuracy(f.Test);
            }
            return new DatasetAccuracy(f.Dataset, mm.Accuracy(f.Test), lr);
        }).ToList();
    }

    /// <summary>
    /// Probe transfer from the base model to <paramref name="model"/>: both fold lists must hold the same datasets in the
    /// same order (the same statements, seen by each model).
    /// </summary>
    public static IReadOnlyList<ProbeTransferRow> Transfer(string model, IReadOnlyList<ProbeFold> baseFolds, IReadOnlyList<ProbeFold> modelFolds,
        AnalysisProtocol protocol = AnalysisProtocol.Default)
    {
        if (baseFolds.Count != modelFolds.Count) Throw.Argument("base and model folds differ in number", "folds", modelFolds.Count);
        var rows = new List<ProbeTransferRow>();
        for (int i = 0; i < baseFolds.Count; i++)
        {
            var b = baseFolds[i];
            var m = modelFolds[i];
            if (b.Dataset != m.Dataset || b.Test.Count != m.Test.Count || !b.Test.Labels.AsSpan().SequenceEqual(m.Test.Labels))
                Throw.Argument("base and model folds hold different statements", "folds", m.Dataset);
            var baseProbe = MassMeanProbe.Fit(b.Train, protocol);
            var own = MassMeanProbe.Fit(m.Train, protocol);
            rows.Add(new ProbeTransferRow(model, b.Dataset, baseProbe.Accuracy(b.Test), own.Accuracy(m.Test), baseProbe.Accuracy(m.Test), own.Accuracy(b.Test)));
        }
        return rows;
    }
}

using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>One evaluation split: train on <see cref="Train"/> (the other datasets, pooled), test on <see cref="Test"/>.</summary>
public sealed record ProbeFold(string Dataset, ActivationSet Train, ActivationSet Test);

/// <summary>Held-out accuracy of both probes on one dataset; <see cref="Logistic"/> is null when it was not fitted.</summary>
public sealed record DatasetAccuracy(string Dataset, double MassMean, double? Logistic);

/// <summary>
/// Probe transfer on one held-out dataset (the paper's Table 2): the base model's probe on the base model, the model's
/// own probe on the model, and the base probe (direction, scale and bias unchanged) on the model.
/// </summary>
public sealed record ProbeTransferRow(string Model, string Dataset, double BaseOnBase, double Own, double BaseProbe)
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

    /// <summary>Trains both probes on each fold's training rows and scores them on its test rows.</summary>
    public static IReadOnlyList<DatasetAccuracy> Evaluate(IReadOnlyList<ProbeFold> folds, bool logistic = true, double c = LogisticProbe.DefaultC) =>
        folds.Select(f => new DatasetAccuracy(f.Dataset, MassMeanProbe.Fit(f.Train).Accuracy(f.Test),
            logistic ? LogisticProbe.Fit(f.Train, c).Accuracy(f.Test) : null)).ToList();

    /// <summary>
    /// Probe transfer from the base model to <paramref name="model"/>: both fold lists must hold the same datasets in the
    /// same order (the same statements, seen by each model).
    /// </summary>
    public static IReadOnlyList<ProbeTransferRow> Transfer(string model, IReadOnlyList<ProbeFold> baseFolds, IReadOnlyList<ProbeFold> modelFolds)
    {
        if (baseFolds.Count != modelFolds.Count) Throw.Argument("base and model folds differ in number", "folds", modelFolds.Count);
        var rows = new List<ProbeTransferRow>();
        for (int i = 0; i < baseFolds.Count; i++)
        {
            var b = baseFolds[i];
            var m = modelFolds[i];
            if (b.Dataset != m.Dataset || b.Test.Count != m.Test.Count || !b.Test.Labels.AsSpan().SequenceEqual(m.Test.Labels))
                Throw.Argument("base and model folds hold different statements", "folds", m.Dataset);
            var baseProbe = MassMeanProbe.Fit(b.Train);
            var own = MassMeanProbe.Fit(m.Train);
            rows.Add(new ProbeTransferRow(model, b.Dataset, baseProbe.Accuracy(b.Test), own.Accuracy(m.Test), baseProbe.Accuracy(m.Test)));
        }
        return rows;
    }
}

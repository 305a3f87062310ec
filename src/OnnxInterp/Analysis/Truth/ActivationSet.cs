using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>
/// Activations of <see cref="Count"/> statements at one layer, row-major [Count, Dim], with their labels (1 = true,
/// 0 = false). Immutable by convention: operations return new sets.
/// </summary>
public sealed class ActivationSet
{
    public ActivationSet(float[] data, int dim, int[] labels)
    {
        if (dim <= 0) Throw.Argument("activation dimension must be positive", "dim", dim);
        if (data.Length != (long)dim * labels.Length)
            Throw.Argument($"data holds {data.Length} values, expected {labels.Length} rows of {dim}", "data", data.Length);
        foreach (var l in labels)
            if (l is not (0 or 1)) Throw.Argument("labels must be 0 or 1", "labels", l);
        Data = data;
        Dim = dim;
        Labels = labels;
    }

    public float[] Data { get; }
    public int Dim { get; }
    public int[] Labels { get; }
    public int Count => Labels.Length;
    public int TrueCount => Labels.Count(l => l == 1);

    public ReadOnlySpan<float> Row(int i) => Data.AsSpan(i * Dim, Dim);

    /// <summary>The set with its own column mean subtracted (the paper centres each dataset on its own, before pooling).</summary>
    public ActivationSet Centered()
    {
        var mean = new double[Dim];
        for (int i = 0; i < Count; i++)
        {
            var r = Row(i);
            for (int j = 0; j < Dim; j++) mean[j] += r[j];
        }
        for (int j = 0; j < Dim; j++) mean[j] /= Math.Max(1, Count);
        var data = new float[Data.Length];
        for (int i = 0; i < Count; i++)
            for (int j = 0; j < Dim; j++) data[i * Dim + j] = (float)(Data[i * Dim + j] - mean[j]);
        return new ActivationSet(data, Dim, Labels);
    }

    /// <summary>The rows of several sets, one after the other.</summary>
    public static ActivationSet Concat(IReadOnlyList<ActivationSet> sets)
    {
        if (sets.Count == 0) Throw.Argument("nothing to concatenate", "sets", 0);
        int dim = sets[0].Dim;
        foreach (var s in sets) if (s.Dim != dim) Throw.Argument($"sets differ in dimension ({dim} vs {s.Dim})", "dim", s.Dim);
        if (sets.Count == 1) return sets[0];
        return new ActivationSet(sets.SelectMany(s => s.Data).ToArray(), dim, sets.SelectMany(s => s.Labels).ToArray());
    }

    /// <summary>The given rows, in the given order.</summary>
    public ActivationSet Select(IReadOnlyList<int> rows)
    {
        var data = new float[rows.Count * Dim];
        var labels = new int[rows.Count];
        for (int k = 0; k < rows.Count; k++)
        {
            Row(rows[k]).CopyTo(data.AsSpan(k * Dim, Dim));
            labels[k] = Labels[rows[k]];
        }
        return new ActivationSet(data, Dim, labels);
    }
}

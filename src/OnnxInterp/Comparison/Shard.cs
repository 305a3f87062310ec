using System.Globalization;
using OnnxInterp.Internals;

namespace OnnxInterp.Comparison;

/// <summary>
/// Which 1/N of a run a worker does: shard <see cref="Index"/> of <see cref="Count"/>, counted from 0 as Kubernetes
/// counts an Indexed Job's pods (JOB_COMPLETION_INDEX).
/// </summary>
public readonly record struct ShardSpec
{
    /// <summary>The variable an Indexed Job sets in each pod: its index, 0 to completions − 1.</summary>
    public const string IndexVariable = "JOB_COMPLETION_INDEX";

    /// <summary>At most this many shards (more than any run has steps).</summary>
    public const int MaxCount = 4096;

    public ShardSpec(int index, int count)
    {
        if (count < 1 || count > MaxCount) Throw.Argument($"the number of shards must be 1..{MaxCount}", "--shard", $"{index}/{count}");
        if (index < 0 || index >= count) Throw.Argument($"the shard index counts from 0: 0..{count - 1} for {count} shards", "--shard", $"{index}/{count}");
        Index = index;
        Count = count;
    }

    public int Index { get; }
    public int Count { get; }

    public override string ToString() => $"{Index}/{Count}";

    /// <summary>K/N, e.g. 0/3 (the first of three).</summary>
    public static ShardSpec Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int k)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new InvalidArgumentException("expected K/N (shard K of N, K from 0), e.g. 0/3", "--shard", text);
        return new ShardSpec(k, n);
    }

    /// <summary>Shard JOB_COMPLETION_INDEX of <paramref name="count"/> (`--shards N` in an Indexed Job's pod).</summary>
    public static ShardSpec FromEnvironment(int count, string? index = null)
    {
        index ??= Environment.GetEnvironmentVariable(IndexVariable);
        if (string.IsNullOrEmpty(index))
            throw new InvalidArgumentException($"--shards needs {IndexVariable} (set in each pod of a Kubernetes Indexed Job); elsewhere give --shard K/N", IndexVariable, index);
        if (!int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out int k))
            throw new InvalidArgumentException("not a shard index (0, 1, ...)", IndexVariable, index);
        return new ShardSpec(k, count);
    }
}

/// <summary>
/// Splits a run's steps over shards, as a pure function of the steps' ids and estimated costs, so that every worker,
/// given the same plan, computes the same split: longest first (ties by id, ordinal), each to the shard with the least
/// estimated work so far (ties to the lowest index). Costs are compared in milliseconds, as integers.
/// </summary>
public static class ShardAssignment
{
    public static int[] Assign(IReadOnlyList<(string Id, double Cost)> steps, int count)
    {
        if (count < 1) Throw.Argument("the number of shards must be positive", "shards", count);
        var dup = steps.GroupBy(s => s.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) Throw.Argument("two steps have the same id", "steps", dup.Key);
        var order = Enumerable.Range(0, steps.Count)
            .OrderByDescending(i => Millis(steps[i].Cost)).ThenBy(i => steps[i].Id, StringComparer.Ordinal).ToList();
        var load = new long[count];
        var shard = new int[steps.Count];
        foreach (int i in order)
        {
            int least = 0;
            for (int s = 1; s < count; s++)
                if (load[s] < load[least]) least = s;
            shard[i] = least;
            load[least] += Millis(steps[i].Cost);
        }
        return shard;
    }

    /// <summary>Each shard's estimated work (sum of its steps' costs), for logs and the README's scaling estimate.</summary>
    public static double[] Loads(IReadOnlyList<(string Id, double Cost)> steps, int count)
    {
        var shard = Assign(steps, count);
        var load = new double[count];
        for (int i = 0; i < steps.Count; i++) load[shard[i]] += steps[i].Cost;
        return load;
    }

    static long Millis(double cost) => double.IsFinite(cost) && cost > 0 ? Math.Max(1, (long)Math.Round(cost * 1000)) : 1;
}

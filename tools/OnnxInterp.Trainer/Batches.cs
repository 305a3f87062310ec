namespace OnnxInterp.Trainer;

/// <summary>A batch [B, T] row-major: inputs, next-token targets and a per-token loss weight (0 drops the token).</summary>
public sealed record TrainingBatch(int[] Ids, int[] Targets, float[] Mask, int BatchSize, int SeqLen);

/// <summary>Yields training batches of a fixed shape.</summary>
public interface IBatchSource
{
    int BatchSize { get; }
    int SeqLen { get; }
    TrainingBatch Next();
}

/// <summary>
/// Batches from token sequences, in a seeded shuffled order that is redrawn each epoch. A sequence longer than
/// seqLen+1 contributes a seeded random window of seqLen+1 tokens; a shorter one is right-padded with
/// <paramref name="padId"/> and its padded targets are masked out. Inputs are s[0..T), targets s[1..T].
/// </summary>
public sealed class ShuffledSequenceBatches : IBatchSource
{
    readonly IReadOnlyList<int[]> _sequences;
    readonly Random _rng;
    readonly int[] _order;
    readonly int _padId;
    int _cursor;

    public int BatchSize { get; }
    public int SeqLen { get; }
    public int Epoch { get; private set; }

    public ShuffledSequenceBatches(IReadOnlyList<int[]> sequences, int batchSize, int seqLen, int seed, int padId = 0)
    {
        if (sequences.Count == 0) throw new ArgumentException("no sequences", nameof(sequences));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "must be positive");
        for (int i = 0; i < sequences.Count; i++)
            if (sequences[i].Length < 2) throw new ArgumentException($"sequence {i} has {sequences[i].Length} tokens; at least 2 are needed", nameof(sequences));
        _sequences = sequences;
        BatchSize = batchSize;
        SeqLen = seqLen;
        _padId = padId;
        _rng = new Random(seed);
        _order = Enumerable.Range(0, sequences.Count).ToArray();
        _cursor = _order.Length;
    }

    public TrainingBatch Next()
    {
        int t = SeqLen;
        var ids = new int[BatchSize * t];
        var targets = new int[BatchSize * t];
        var mask = new float[BatchSize * t];
        for (int b = 0; b < BatchSize; b++)
        {
            if (_cursor == _order.Length)
            {
                _rng.Shuffle(_order);
                _cursor = 0;
                Epoch++;
            }
            var s = _sequences[_order[_cursor++]];
            int start = s.Length > t + 1 ? _rng.Next(s.Length - t) : 0;
            int len = Math.Min(t, s.Length - start - 1);
            for (int i = 0; i < t; i++)
            {
                bool real = i < len;
                ids[b * t + i] = real || i == 0 ? s[start + i] : _padId;
                targets[b * t + i] = real ? s[start + i + 1] : _padId;
                mask[b * t + i] = real ? 1f : 0f;
            }
        }
        return new TrainingBatch(ids, targets, mask, BatchSize, t);
    }
}

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

/// <summary>A training sequence and its per-token loss weights (weight i applies to predicting token i + 1).</summary>
public sealed record TrainingSequence(int[] Tokens, float[] Weights);

/// <summary>
/// Batches of sequences with their loss weights, in a seeded shuffled order redrawn each epoch. A sequence longer than
/// seqLen+1 contributes a seeded random window of seqLen+1 tokens. Unpacked, each row holds one sequence, right-padded
/// with the pad id (padded targets weigh 0). Packed, a row is filled with consecutive sequences (each ends in its EOS
/// and the next starts with its BOS; attention is causal over the whole row, as in GPT pretraining), so no compute
/// goes to padding. Inputs are s[0..T), targets s[1..T] of each piece.
/// </summary>
public sealed class WeightedSequenceBatches : IBatchSource
{
    readonly IReadOnlyList<TrainingSequence> _seqs;
    readonly Random _rng;
    readonly int[] _order;
    readonly int _pad;
    readonly bool _pack;
    int _cursor;

    public WeightedSequenceBatches(IReadOnlyList<TrainingSequence> sequences, int batchSize, int seqLen, int seed, int padId = 0, bool pack = false)
    {
        if (sequences.Count == 0) throw new ArgumentException("no sequences", nameof(sequences));
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "must be positive");
        if (seqLen <= 0) throw new ArgumentOutOfRangeException(nameof(seqLen), seqLen, "must be positive");
        for (int i = 0; i < sequences.Count; i++)
        {
            if (sequences[i].Tokens.Length < 2) throw new ArgumentException($"sequence {i} has {sequences[i].Tokens.Length} tokens; at least 2 are needed", nameof(sequences));
            if (sequences[i].Weights.Length != sequences[i].Tokens.Length) throw new ArgumentException($"sequence {i} has {sequences[i].Weights.Length} weights for {sequences[i].Tokens.Length} tokens", nameof(sequences));
        }
        _seqs = sequences;
        BatchSize = batchSize;
        SeqLen = seqLen;
        _pad = padId;
        _pack = pack;
        _rng = new Random(seed);
        _order = Enumerable.Range(0, sequences.Count).ToArray();
        _cursor = _order.Length;
    }

    public int BatchSize { get; }
    public int SeqLen { get; }
    public int Epoch { get; private set; }

    public TrainingBatch Next()
    {
        int t = SeqLen;
        var ids = new int[BatchSize * t];
        var targets = new int[BatchSize * t];
        var mask = new float[BatchSize * t];
        for (int b = 0; b < BatchSize; b++)
        {
            int pos = 0;
            do
            {
                if (_cursor == _order.Length)
                {
                    _rng.Shuffle(_order);
                    _cursor = 0;
                    Epoch++;
                }
                var s = _seqs[_order[_cursor++]];
                int start = s.Tokens.Length > t + 1 ? _rng.Next(s.Tokens.Length - t) : 0;
                int len = Math.Min(t - pos, s.Tokens.Length - start - 1);
                for (int i = 0; i < len; i++)
                {
                    ids[b * t + pos + i] = s.Tokens[start + i];
                    targets[b * t + pos + i] = s.Tokens[start + i + 1];
                    mask[b * t + pos + i] = s.Weights[start + i];
                }
                pos += len;
            } while (_pack && pos < t);
            for (int i = pos; i < t; i++)
            {
                ids[b * t + i] = _pad;
                targets[b * t + i] = _pad;
                mask[b * t + i] = 0f;
            }
        }
        return new TrainingBatch(ids, targets, mask, BatchSize, t);
    }
}

/// <summary>Batches from plain token sequences, every real token weighted 1 (see <see cref="WeightedSequenceBatches"/>).</summary>
public sealed class ShuffledSequenceBatches(IReadOnlyList<int[]> sequences, int batchSize, int seqLen, int seed, int padId = 0) : IBatchSource
{
    readonly WeightedSequenceBatches _inner = new(
        sequences.Select(s => new TrainingSequence(s, Enumerable.Repeat(1f, s.Length).ToArray())).ToList(), batchSize, seqLen, seed, padId);

    public int BatchSize => _inner.BatchSize;
    public int SeqLen => _inner.SeqLen;
    public int Epoch => _inner.Epoch;

    public TrainingBatch Next() => _inner.Next();
}

/// <summary>Batches from <paramref name="first"/> for the first <paramref name="switchAt"/> batches, then from <paramref name="second"/>.</summary>
public sealed class PhasedBatches : IBatchSource
{
    readonly IBatchSource _first, _second;
    readonly int _switchAt;
    int _served;

    public PhasedBatches(IBatchSource first, IBatchSource second, int switchAt)
    {
        if (first.BatchSize != second.BatchSize || first.SeqLen != second.SeqLen)
            throw new ArgumentException($"phases yield [{first.BatchSize}, {first.SeqLen}] and [{second.BatchSize}, {second.SeqLen}]", nameof(second));
        if (switchAt < 0) throw new ArgumentOutOfRangeException(nameof(switchAt), switchAt, "must be non-negative");
        (_first, _second, _switchAt) = (first, second, switchAt);
    }

    public int BatchSize => _first.BatchSize;
    public int SeqLen => _first.SeqLen;

    public TrainingBatch Next() => _served++ < _switchAt ? _first.Next() : _second.Next();
}

using OnnxInterp.Trainer;

namespace OnnxInterp.Tests.Trainer;

public class BatchesTests
{
    /// <summary>Sequences whose tokens name their sequence and position (1000·s + i), so any row can be traced back.</summary>
    static List<TrainingSequence> Traceable(int count, int seed, int minLen, int maxLen)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(s =>
        {
            int len = rng.Next(minLen, maxLen + 1);
            var tokens = Enumerable.Range(0, len).Select(i => 1000 * (s + 1) + i).ToArray();
            var weights = Enumerable.Range(0, len).Select(i => (float)(1 + (s + i) % 3)).ToArray();
            return new TrainingSequence(tokens, weights);
        }).ToList();
    }

    [Test]
    public void Next_Packed_FillsEveryRowWithConsecutivePiecesOfWholeEpochs()
    {
        const int batch = 4, t = 24, pad = -1;
        var seqs = Traceable(37, seed: 5, minLen: 3, maxLen: 40);
        var batches = new WeightedSequenceBatches(seqs, batch, t, seed: 9, padId: pad, pack: true);
        var pieceStarts = new List<int>();
        for (int step = 0; step < 60; step++)
        {
            var b = batches.Next();
            for (int r = 0; r < batch; r++)
            {
                for (int i = 0; i < t; i++)
                {
                    int k = r * t + i, tok = b.Ids[k];
                    Assert.That(tok, Is.Not.EqualTo(pad), $"step {step} row {r} position {i}: a packed row has no padding");
                    var s = seqs[tok / 1000 - 1];
                    int at = tok % 1000;
                    // Naive reference: the target is the next token of the same sequence, the weight that of this token.
                    Assert.That(b.Targets[k], Is.EqualTo(s.Tokens[at + 1]), "target");
                    Assert.That(b.Mask[k], Is.EqualTo(s.Weights[at]), "weight");
                    bool newPiece = i == 0 || b.Ids[k - 1] / 1000 != tok / 1000 || b.Ids[k - 1] % 1000 != at - 1;
                    if (newPiece)
                    {
                        pieceStarts.Add(tok / 1000 - 1);
                        // A piece starts at the sequence's beginning unless the sequence is longer than a row (a random window).
                        if (s.Tokens.Length <= t + 1) Assert.That(at, Is.Zero, "a short sequence is taken whole");
                    }
                }
            }
        }
        // Sequences are drawn in shuffled epochs: each of the first 37 pieces is a different sequence.
        Assert.That(pieceStarts.Take(seqs.Count).Distinct().Count(), Is.EqualTo(seqs.Count), "one epoch visits every sequence once");
        Assert.That(batches.Epoch, Is.GreaterThan(1));
    }

    [Test]
    public void Next_Unpacked_OneSequencePerRowRightPadded()
    {
        const int batch = 3, t = 24, pad = -1;
        var seqs = Traceable(10, seed: 6, minLen: 3, maxLen: 20);
        var b = new WeightedSequenceBatches(seqs, batch, t, seed: 2, padId: pad).Next();
        for (int r = 0; r < batch; r++)
        {
            var s = seqs[b.Ids[r * t] / 1000 - 1];
            int len = s.Tokens.Length - 1;
            Assert.That(b.Ids.Skip(r * t).Take(len), Is.EqualTo(s.Tokens.Take(len)), "the whole sequence from its start");
            Assert.That(b.Ids.Skip(r * t + len).Take(t - len), Is.All.EqualTo(pad), "then padding");
            Assert.That(b.Mask.Skip(r * t + len).Take(t - len), Is.All.Zero, "padding weighs nothing");
        }
    }
}

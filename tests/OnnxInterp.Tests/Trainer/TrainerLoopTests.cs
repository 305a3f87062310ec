using OnnxInterp.Trainer;
using TrainingLoop = OnnxInterp.Trainer.Trainer;

namespace OnnxInterp.Tests.Trainer;

public class TrainerLoopTests
{
    static readonly TrainerConfig Toy = new()
    {
        Hidden = 32, Intermediate = 64, Layers = 2, Heads = 4, KvHeads = 2, HeadDim = 8, Vocab = 32, MaxSeq = 32, BosTokenId = 0, EosTokenId = 1,
    };

    /// <summary>Counting sequences s, s+1, s+2, … (mod 32) of random length: the next token is a function of the current one.</summary>
    static List<int[]> Counting(int count, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int start = rng.Next(Toy.Vocab), len = rng.Next(8, 20);
            return Enumerable.Range(0, len).Select(i => (start + i) % Toy.Vocab).ToArray();
        }).ToList();
    }

    static TrainingOptions Options => new() { Steps = 200, BatchSize = 8, SeqLen = 16, LearningRate = 1e-2, WarmupSteps = 20, Seed = 3, LogInterval = 50 };

    [Test]
    public void Train_CountingSequences_LossFallsTenfold()
    {
        var model = TinyLlama.Create(Toy, seed: 1);
        var data = new ShuffledSequenceBatches(Counting(256, 2), Options.BatchSize, Options.SeqLen, seed: 4);
        var reports = new List<TrainingProgress>();
        var result = TrainingLoop.Train(model, data, Options, new SyncProgress(reports.Add));
        TestContext.Out.WriteLine($"loss {result.FirstLoss:F3} -> {result.FinalLoss:F3} in {result.Elapsed.TotalSeconds:F1} s, {result.TokensPerSecond:F0} tokens/s");
        Assert.That(result.FirstLoss, Is.EqualTo(Math.Log(Toy.Vocab)).Within(0.2), "an untrained model is near uniform");
        Assert.That(result.FinalLoss, Is.LessThan(result.FirstLoss / 10));
        Assert.That(reports.Select(r => r.Step), Is.EqualTo(new[] { 50, 100, 150, 200 }));
        Assert.That(reports.All(r => r.TokensPerSecond > 0 && double.IsFinite(r.Loss)));
        Assert.That(result.Tokens, Is.EqualTo(200L * 8 * 16));
    }

    [Test]
    public void Train_SameSeedTwice_BitIdenticalParameters()
    {
        var opts = Options with { Steps = 20 };
        float[][] Run()
        {
            var model = TinyLlama.Create(Toy, seed: 1);
            TrainingLoop.Train(model, new ShuffledSequenceBatches(Counting(64, 2), opts.BatchSize, opts.SeqLen, seed: 4), opts);
            return model.Parameters.Select(p => p.Data).ToArray();
        }
        var a = Run();
        var b = Run();
        for (int i = 0; i < a.Length; i++) Assert.That(b[i], Is.EqualTo(a[i]).AsCollection, $"tensor {i}");
    }

    [Test]
    public void Train_MismatchedBatchShape_Throws()
    {
        var data = new ShuffledSequenceBatches(Counting(4, 1), 2, 8, seed: 1);
        Assert.Throws<ArgumentException>(() => TrainingLoop.Train(TinyLlama.Create(Toy, 1), data, Options));
    }

    sealed class SyncProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}

public class OptimizerTests
{
    [Test]
    public void Schedule_WarmupThenCosineToTenPercent()
    {
        Assert.That(LearningRateSchedule.At(0, 100, 10, 1.0), Is.EqualTo(0.1).Within(1e-12));
        Assert.That(LearningRateSchedule.At(9, 100, 10, 1.0), Is.EqualTo(1.0).Within(1e-12));
        Assert.That(LearningRateSchedule.At(10, 100, 10, 1.0), Is.EqualTo(1.0).Within(1e-12));
        Assert.That(LearningRateSchedule.At(99, 100, 10, 1.0), Is.EqualTo(0.1).Within(1e-12));
        double mid = LearningRateSchedule.At(10 + 89 / 2, 100, 10, 1.0);
        Assert.That(mid, Is.EqualTo(0.55).Within(0.02));
        for (int s = 10; s < 99; s++) Assert.That(LearningRateSchedule.At(s + 1, 100, 10, 1.0), Is.LessThanOrEqualTo(LearningRateSchedule.At(s, 100, 10, 1.0)));
    }

    [Test]
    public void AdamW_FirstStep_MovesEachWeightByLrTimesSignAndDecaysMatricesOnly()
    {
        var model = TinyLlama.Create(TrainerTestModels.Tiny, seed: 2);
        var before = model.Clone();
        var grads = new TinyLlama(TrainerTestModels.Tiny);
        var rng = new Random(3);
        foreach (var p in grads.Parameters) for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (float)(rng.NextDouble() - 0.5);
        const double lr = 1e-2, wd = 0.5;
        new AdamW(model, wd).Update(grads, lr);
        for (int pi = 0; pi < model.Parameters.Count; pi++)
        {
            var p = model.Parameters[pi];
            double decay = AdamW.Decays(p) ? 1 - lr * wd : 1;
            Assert.That(AdamW.Decays(p), Is.EqualTo(!p.IsNorm && p.Name != "model.embed_tokens.weight"), p.Name);
            for (int i = 0; i < p.Data.Length; i++)
            {
                // Step 1 with bias correction: m̂ = g, v̂ = g², so the update is lr·g/(|g| + ε) ≈ lr·sign(g).
                double g = grads.Parameters[pi].Data[i];
                double expected = before.Parameters[pi].Data[i] * decay - lr * g / (Math.Abs(g) + 1e-8);
                Assert.That(p.Data[i], Is.EqualTo(expected).Within(1e-6), $"{p.Name}[{i}]");
            }
        }
    }

    /// <summary>L2-SP: with an anchor the decay pulls every parameter, norms and embedding included, toward the anchor, not 0.</summary>
    [Test]
    public void AdamW_Anchored_DecaysEveryParameterTowardTheAnchor()
    {
        var anchor = TinyLlama.Create(TrainerTestModels.Tiny, seed: 4);
        var model = anchor.Clone();
        var rng = new Random(5);
        foreach (var p in model.Parameters) for (int i = 0; i < p.Data.Length; i++) p.Data[i] += (float)(rng.NextDouble() - 0.5);
        var before = model.Clone();
        var grads = new TinyLlama(TrainerTestModels.Tiny);
        foreach (var p in grads.Parameters) for (int i = 0; i < p.Data.Length; i++) p.Data[i] = (float)(rng.NextDouble() - 0.5);
        const double lr = 1e-2, wd = 3;
        var opt = new AdamW(model, wd, anchor: anchor);
        Assert.That(opt.Anchored, Is.True);
        // The anchor is copied: changing it afterwards changes nothing.
        var original = anchor.Clone();
        anchor.Parameters[0].Data[0] += 100;
        anchor = original;
        opt.Update(grads, lr);
        for (int pi = 0; pi < model.Parameters.Count; pi++)
        {
            var p = model.Parameters[pi];
            for (int i = 0; i < p.Data.Length; i++)
            {
                double w0 = anchor.Parameters[pi].Data[i], g = grads.Parameters[pi].Data[i];
                double expected = w0 + (before.Parameters[pi].Data[i] - w0) * (1 - lr * wd) - lr * g / (Math.Abs(g) + 1e-8);
                Assert.That(p.Data[i], Is.EqualTo(expected).Within(1e-5), $"{p.Name}[{i}]");
            }
        }
        Assert.Throws<ArgumentException>(() => new AdamW(model, wd, anchor: TinyLlama.Create(TrainerTestModels.Tiny with { Vocab = TrainerTestModels.Tiny.Vocab + 2 }, 1)));
    }

    [Test]
    public void ClipGlobalNorm_AboveMax_ScalesToMax_BelowMax_LeavesAlone()
    {
        var grads = new TinyLlama(TrainerTestModels.Tiny);
        foreach (var p in grads.Parameters) Array.Fill(p.Data, 1f);
        double n0 = Math.Sqrt(grads.ParameterCount);
        Assert.That(AdamW.ClipGlobalNorm(grads, 1e9), Is.EqualTo(n0).Within(1e-9).Percent);
        Assert.That(AdamW.GlobalNorm(grads), Is.EqualTo(n0).Within(1e-9).Percent);
        Assert.That(AdamW.ClipGlobalNorm(grads, 2.0), Is.EqualTo(n0).Within(1e-9).Percent);
        Assert.That(AdamW.GlobalNorm(grads), Is.EqualTo(2.0).Within(1e-4).Percent);
    }
}

public class BatchSourceTests
{
    [Test]
    public void ShuffledBatches_ShortSequencesArePaddedAndMasked_TargetsShiftByOne()
    {
        int[][] seqs = [[5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]];
        var src = new ShuffledSequenceBatches(seqs, batchSize: 2, seqLen: 4, seed: 1, padId: 0);
        var b = src.Next();
        Assert.That(b.Ids, Has.Length.EqualTo(8));
        for (int r = 0; r < 2; r++)
        {
            var ids = b.Ids.AsSpan(r * 4, 4).ToArray();
            var tg = b.Targets.AsSpan(r * 4, 4).ToArray();
            var mask = b.Mask.AsSpan(r * 4, 4).ToArray();
            if (ids[0] == 5)
            {
                Assert.That(ids, Is.EqualTo(new[] { 5, 6, 0, 0 }));
                Assert.That(tg, Is.EqualTo(new[] { 6, 7, 0, 0 }));
                Assert.That(mask, Is.EqualTo(new[] { 1f, 1f, 0f, 0f }));
            }
            else
            {
                Assert.That(mask, Is.All.EqualTo(1f));
                for (int i = 0; i < 4; i++) Assert.That(tg[i], Is.EqualTo(ids[i] + 1), "a window of the counting sequence");
            }
        }
    }

    [Test]
    public void ShuffledBatches_SameSeed_SameStream_EveryEpochCoversAll()
    {
        var seqs = Enumerable.Range(0, 10).Select(i => new[] { i, i + 100 }).ToArray();
        var a = new ShuffledSequenceBatches(seqs, 5, 1, seed: 9);
        var b = new ShuffledSequenceBatches(seqs, 5, 1, seed: 9);
        var firstEpoch = new List<int>();
        for (int k = 0; k < 2; k++)
        {
            var x = a.Next();
            Assert.That(b.Next().Ids, Is.EqualTo(x.Ids));
            firstEpoch.AddRange(x.Ids);
        }
        Assert.That(firstEpoch, Is.EquivalentTo(Enumerable.Range(0, 10)));
    }

    [Test]
    public void ShuffledBatches_SingleTokenSequence_Throws() =>
        Assert.Throws<ArgumentException>(() => new ShuffledSequenceBatches([[1]], 1, 4, seed: 1));
}

using System.Diagnostics;

namespace OnnxInterp.Trainer;

/// <summary>Training hyperparameters; defaults live here only.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 16;
    public int SeqLen { get; init; } = 64;
    public double LearningRate { get; init; } = 3e-3;
    public int WarmupSteps { get; init; } = 50;
    public double WeightDecay { get; init; } = 0.1;

    /// <summary>Max global gradient norm; 0 disables clipping.</summary>
    public double ClipNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 1;
    public int LogInterval { get; init; } = 10;

    /// <summary>When set, weight decay pulls toward these weights (L2-SP) instead of toward 0 (<see cref="AdamW"/>).</summary>
    public TinyLlama? Anchor { get; init; }

    /// <summary>Called after each update with the number of steps done (for evaluations during training).</summary>
    public Action<int>? AfterStep { get; init; }
}

/// <summary>Reported every <see cref="TrainingOptions.LogInterval"/> steps and at the last step.</summary>
public readonly record struct TrainingProgress(int Step, int TotalSteps, double Loss, double LearningRate, double GradNorm, double TokensPerSecond);

/// <summary>What a run did: the loss of the first and of the last step, tokens seen, time taken.</summary>
public sealed record TrainingResult(double FinalLoss, double FirstLoss, long Tokens, TimeSpan Elapsed)
{
    public double TokensPerSecond => Tokens / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>The training loop: forward/backward, global-norm clipping, AdamW, warmup + cosine schedule.</summary>
public static class Trainer
{
    public static TrainingResult Train(TinyLlama model, IBatchSource data, TrainingOptions o, IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        if (o.Steps <= 0) throw new ArgumentOutOfRangeException(nameof(o), o.Steps, "Steps must be positive");
        if (o.WarmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(o), o.WarmupSteps, "WarmupSteps must be non-negative");
        if (!(o.WeightDecay >= 0)) throw new ArgumentOutOfRangeException(nameof(o), o.WeightDecay, "WeightDecay must be non-negative");
        if (!(o.LearningRate > 0)) throw new ArgumentOutOfRangeException(nameof(o), o.LearningRate, "LearningRate must be positive");
        if (data.BatchSize != o.BatchSize || data.SeqLen != o.SeqLen)
            throw new ArgumentException($"the batch source yields [{data.BatchSize}, {data.SeqLen}], the options ask for [{o.BatchSize}, {o.SeqLen}]", nameof(data));
        var pass = new TrainingPass(model, o.BatchSize, o.SeqLen);
        var opt = new AdamW(model, o.WeightDecay, anchor: o.Anchor);
        var total = Stopwatch.StartNew();
        var window = Stopwatch.StartNew();
        long tokens = 0, windowTokens = 0;
        double first = double.NaN, loss = double.NaN;
        int log = Math.Max(1, o.LogInterval);
        for (int step = 0; step < o.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var batch = data.Next();
            loss = pass.ForwardBackward(batch.Ids, batch.Targets, batch.Mask);
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"loss became {loss} at step {step}");
            if (step == 0) first = loss;
            double norm = AdamW.ClipGlobalNorm(pass.Gradients, o.ClipNorm);
            double lr = LearningRateSchedule.At(step, o.Steps, o.WarmupSteps, o.LearningRate);
            opt.Update(pass.Gradients, lr);
            o.AfterStep?.Invoke(step + 1);
            int n = batch.Ids.Length;
            tokens += n;
            windowTokens += n;
            if (progress is not null && ((step + 1) % log == 0 || step == o.Steps - 1))
            {
                progress.Report(new TrainingProgress(step + 1, o.Steps, loss, lr, norm, windowTokens / Math.Max(window.Elapsed.TotalSeconds, 1e-9)));
                window.Restart();
                windowTokens = 0;
            }
        }
        return new TrainingResult(loss, first, tokens, total.Elapsed);
    }
}

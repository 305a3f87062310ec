using System.Numerics.Tensors;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>What a patched run is scored by, at the last position.</summary>
public enum TracingMetric
{
    /// <summary>logit(" TRUE") − logit(" FALSE"), the paper's metric.</summary>
    LogitDiff,

    /// <summary>P(" TRUE") − P(" FALSE").</summary>
    ProbDiff,

    /// <summary>KL(P_true-prompt ‖ P_patched) over the vocabulary: how far the patched run is from the clean true run.</summary>
    KL,
}

public sealed record TracingOptions
{
    public TracingMetric Metric { get; init; } = TracingMetric.LogitDiff;
    public required int TrueToken { get; init; }
    public required int FalseToken { get; init; }

    /// <summary>The hook patched at each layer; the block output, as the paper patches layer outputs.</summary>
    public string HookKind { get; init; } = "hook_resid_post";

    /// <summary>
    /// Reuse the shared prefix through the KV cache and recompute only positions from the patched one on, one batch
    /// row per layer. False runs the paper's loop: one full forward pass per (layer, position).
    /// </summary>
    public bool Fast { get; init; } = true;
}

/// <summary>One pair's [layers × patched positions] scores and the unpatched scores of both prompts.</summary>
public sealed record PairTrace(double[,] Values, double CleanTrue, double CleanFalse);

/// <summary>
/// Causal tracing between a true and a false prompt that differ only in the subject: the true prompt's hidden
/// state at (layer, position) replaces the false prompt's, and the metric at the last position measures how
/// much truth that one state carries. With two models, states from <c>source</c> patch <c>target</c>'s run
/// (cross-model transfer patching).
/// </summary>
public static class CausalTracing
{
    public static PairTrace TracePair(ModelSession source, ModelSession target, TracingPrompt prompt, TracingOptions o,
        CancellationToken cancellation = default) => TracePair(source, target, prompt, o, null, cancellation);

    /// <summary>KV caches of few-shot prefixes already run, per model: pairs that share a prefix (the same shuffle) share its run.</summary>
    sealed class PrefixCache
    {
        readonly Dictionary<(ModelSession, string), KvCache> _cache = new();

        public KvCache Get(ModelSession model, int[] prefix, CancellationToken cancellation)
        {
            var key = (model, string.Join(",", prefix));
            if (_cache.TryGetValue(key, out var kv)) return kv;
            if (_cache.Count >= 64) _cache.Clear();
            kv = model.Run(new ForwardRequest([prefix]) { ReturnPresent = true, LogitPositions = [-1] }, cancellation).Present!;
            _cache[key] = kv;
            return kv;
        }
    }

    static PairTrace TracePair(ModelSession source, ModelSession target, TracingPrompt prompt, TracingOptions o, PrefixCache? prefixes,
        CancellationToken cancellation)
    {
        int layers = target.Manifest.Config.NumLayers, n = prompt.Patched, prefix = prompt.PrefixLength;
        if (source.Manifest.Config.NumLayers != layers || source.Manifest.Config.HiddenSize != target.Manifest.Config.HiddenSize)
            throw new IncompatibleModelsException("source and target differ in layers or hidden size", target.Directory, "num_hidden_layers");
        if (!prompt.TrueTokens.AsSpan(0, prefix).SequenceEqual(prompt.FalseTokens.AsSpan(0, prefix)))
            Throw.Argument("the true and false prompts must share their prefix", "prompt", prompt.Pair.True);
        string Hook(int l) => $"blocks.{l}.{o.HookKind}";
        var hooks = Enumerable.Range(0, layers).Select(Hook).ToList();
        var values = new double[layers, n];

        if (!o.Fast)
        {
            // The paper's loop: every run is a full forward pass.
            var trueRun = source.Run(new ForwardRequest([prompt.TrueTokens])
            {
                Hooks = hooks, CapturePositions = Enumerable.Range(prefix, n).ToArray(), LogitPositions = [-1],
            }, cancellation);
            var targetTrue = ReferenceEquals(source, target) ? trueRun
                : target.Run(new ForwardRequest([prompt.TrueTokens]) { LogitPositions = [-1] }, cancellation);
            var reference = targetTrue.Logits.Vector(0, 0).ToArray();
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < n; p++)
                {
                    var r = target.Run(new ForwardRequest([prompt.FalseTokens])
                    {
                        LogitPositions = [-1],
                        Interventions = [Intervention.Replace(Hook(l), trueRun.Get(o.HookKind, l).Vector(0, p).ToArray(), positions: [prefix + p])],
                    }, cancellation);
                    values[l, p] = Score(r.Logits.Vector(0, 0), reference, o);
                }
            var clean = target.Run(new ForwardRequest([prompt.FalseTokens]) { LogitPositions = [-1] }, cancellation);
            return new PairTrace(values, Score(reference, reference, o), Score(clean.Logits.Vector(0, 0), reference, o));
        }

        // Fast path: the shared prefix once per model (and once per distinct prefix across pairs), both suffixes on
        // its KV cache, then per patched position p one batch of `layers` rows that recomputes only positions p..
        // on the cache of everything before p. Positions before p and the prefix cannot change, so nothing is lost.
        prefixes ??= new PrefixCache();
        var prefixTokens = prompt.TrueTokens[..prefix];
        var mask = new[] { Ones(prefix + n) };
        var positions = new[] { Enumerable.Range(prefix, n).ToArray() };
        ForwardResult Suffix(ModelSession m, int[] suffix, bool present, IReadOnlyList<string>? capture) => m.Run(new ForwardRequest([suffix])
        {
            Past = prefixes.Get(m, prefixTokens, cancellation), AttentionMask = mask, PositionIds = positions,
            ReturnPresent = present, LogitPositions = [-1], Hooks = capture,
        }, cancellation);

        var trueSuffix = prompt.TrueTokens[prefix..];
        var falseSuffix = prompt.FalseTokens[prefix..];
        var sourceTrue = Suffix(source, trueSuffix, false, hooks);
        var refRun = ReferenceEquals(source, target) ? sourceTrue : Suffix(target, trueSuffix, false, null);
        var refLogits = refRun.Logits.Vector(0, 0).ToArray();
        var falseRun = Suffix(target, falseSuffix, true, null);
        for (int p = 0; p < n; p++)
        {
            cancellation.ThrowIfCancellationRequested();
            int len = n - p;
            var r = target.Run(new ForwardRequest(Enumerable.Range(0, layers).Select(_ => falseSuffix[p..]).ToArray())
            {
                Past = falseRun.Present!.Take(0, prefix + p, rows: layers),
                AttentionMask = Enumerable.Range(0, layers).Select(_ => Ones(prefix + n)).ToArray(),
                PositionIds = Enumerable.Range(0, layers).Select(_ => Enumerable.Range(prefix + p, len).ToArray()).ToArray(),
                LogitPositions = [-1],
                Interventions = Enumerable.Range(0, layers).Select(l =>
                    Intervention.Replace(Hook(l), sourceTrue.Get(o.HookKind, l).Vector(0, p).ToArray(), rows: [l], positions: [0])).ToList(),
            }, cancellation);
            for (int l = 0; l < layers; l++) values[l, p] = Score(r.Logits.Vector(l, 0), refLogits, o);
        }
        return new PairTrace(values, Score(refLogits, refLogits, o), Score(falseRun.Logits.Vector(0, 0), refLogits, o));
    }

    /// <summary>Traces every prompt and averages the matrices over pairs (the paper's per-dataset matrix).</summary>
    public static (double[,] Mean, IReadOnlyList<PairTrace> PerPair) Run(ModelSession source, ModelSession target, IReadOnlyList<TracingPrompt> prompts,
        TracingOptions o, IProgress<CaptureProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (prompts.Count == 0) Throw.Argument("no prompts to trace", "prompts", 0);
        int n = prompts[0].Patched;
        if (prompts.Any(p => p.Patched != n))
            Throw.Argument("all prompts must patch the same number of positions (curate pairs with fixed subject/object token counts)", "prompts", n);
        var traces = new List<PairTrace>();
        var prefixes = new PrefixCache();
        foreach (var prompt in prompts)
        {
            traces.Add(TracePair(source, target, prompt, o, prefixes, cancellation));
            progress?.Report(new CaptureProgress(traces.Count, prompts.Count));
        }
        int layers = traces[0].Values.GetLength(0);
        var mean = new double[layers, n];
        foreach (var t in traces)
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < n; p++) mean[l, p] += t.Values[l, p] / traces.Count;
        return (mean, traces);
    }

    static int[] Ones(int n) => Enumerable.Repeat(1, n).ToArray();

    static double Score(ReadOnlySpan<float> logits, ReadOnlySpan<float> reference, TracingOptions o)
    {
        switch (o.Metric)
        {
            case TracingMetric.LogitDiff:
                return (double)logits[o.TrueToken] - logits[o.FalseToken];
            case TracingMetric.ProbDiff:
                {
                    var p = new float[logits.Length];
                    TensorPrimitives.SoftMax(logits, p);
                    return (double)p[o.TrueToken] - p[o.FalseToken];
                }
            default:
                {
                    var p = new float[logits.Length];
                    var q = new float[logits.Length];
                    TensorPrimitives.SoftMax(reference, p);
                    TensorPrimitives.SoftMax(logits, q);
                    double kl = 0;
                    for (int i = 0; i < p.Length; i++)
                        if (p[i] > 0) kl += p[i] * (Math.Log(p[i]) - Math.Log(Math.Max(q[i], 1e-30)));
                    return kl;
                }
        }
    }
}

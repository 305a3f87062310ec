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
    public HookKind Hook { get; init; } = HookKind.ResidPost;

    /// <summary>
    /// Reuse the shared prefix through the KV cache and recompute only positions from the patched one on, one batch
    /// row per layer. False runs the paper's loop: one full forward pass per (layer, position).
    /// </summary>
    public bool Fast { get; init; } = true;

    /// <summary>
    /// With per-layer graphs in the export, a patch at layer l restarts the model at layer l + 1 instead of
    /// recomputing the layers below it (which it cannot change).
    /// </summary>
    public bool SkipLayersBelow { get; init; } = true;

    /// <summary>
    /// When layers are skipped, how many consecutive patched positions share one call per layer (rows left-padded, the
    /// past masked per row). 1 recomputes the least; larger chunks make fewer calls, which pays off when a call's fixed
    /// cost is large compared with its arithmetic (small models). Null: 1 above hidden size 512, else 4.
    /// </summary>
    public int? PositionsPerCall { get; init; }
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
    public static PairTrace TracePair(IHookedModel source, IHookedModel target, TracingPrompt prompt, TracingOptions o,
        CancellationToken cancellation = default) => TracePair(source, target, prompt, o, null, cancellation);

    /// <summary>KV caches of few-shot prefixes already run, per model: pairs that share a prefix (the same shuffle) share its run.</summary>
    sealed class PrefixCache
    {
        readonly Dictionary<(IHookedModel, string), KvCache> _cache = new();

        public KvCache Get(IHookedModel model, int[] prefix, CancellationToken cancellation)
        {
            var key = (model, string.Join(",", prefix));
            if (_cache.TryGetValue(key, out var kv)) return kv;
            if (_cache.Count >= 64) _cache.Clear();
            kv = model.Run(new ForwardRequest([prefix]) { ReturnPresent = true, LogitPositions = [-1] }, cancellation).Present!;
            _cache[key] = kv;
            return kv;
        }
    }

    static PairTrace TracePair(IHookedModel source, IHookedModel target, TracingPrompt prompt, TracingOptions o, PrefixCache? prefixes,
        CancellationToken cancellation)
    {
        int layers = target.Config.NumLayers, n = prompt.Patched, prefix = prompt.PrefixLength;
        if (source.Config.NumLayers != layers || source.Config.HiddenSize != target.Config.HiddenSize)
            throw new IncompatibleModelsException("source and target differ in layers or hidden size", target.Source, "num_hidden_layers");
        if (!prompt.TrueTokens.AsSpan(0, prefix).SequenceEqual(prompt.FalseTokens.AsSpan(0, prefix)))
            Throw.Argument("the true and false prompts must share their prefix", "prompt", prompt.Pair.True);
        HookName Hook(int l) => new(o.Hook, l);
        var hooks = Enumerable.Range(0, layers).Select(l => (HookPattern)Hook(l)).ToList();
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
                        Interventions = [Intervention.Replace(Hook(l), trueRun[Hook(l)].Vector(0, p).ToArray(), positions: [prefix + p])],
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
        ForwardResult Suffix(IHookedModel m, int[] suffix, bool present, IReadOnlyList<HookPattern>? capture) => m.Run(new ForwardRequest([suffix])
        {
            Past = prefixes.Get(m, prefixTokens, cancellation), AttentionMask = mask, PositionIds = positions,
            ReturnPresent = present, LogitPositions = [-1], Hooks = capture,
        }, cancellation);

        var trueSuffix = prompt.TrueTokens[prefix..];
        var falseSuffix = prompt.FalseTokens[prefix..];
        var sourceTrue = Suffix(source, trueSuffix, false, hooks);
        var refRun = ReferenceEquals(source, target) ? sourceTrue : Suffix(target, trueSuffix, false, null);
        var refLogits = refRun.Logits.Vector(0, 0).ToArray();
        bool layered = o.SkipLayersBelow && target.Layers is not null && o.Hook == HookKind.ResidPost;
        var falseRun = Suffix(target, falseSuffix, true, layered ? hooks : null);
        if (layered)
        {
            int chunk = Math.Max(1, o.PositionsPerCall ?? (target.Config.HiddenSize > 512 ? 1 : 4));
            for (int p0 = 0; p0 < n; p0 += chunk)
            {
                int p1 = Math.Min(n, p0 + chunk);
                var logits = PatchesFromLayerAbove(target, falseRun, sourceTrue, layers, prefix, n, p0, p1, cancellation);
                for (int l = 0; l < layers; l++)
                    for (int p = p0; p < p1; p++) values[l, p] = Score(logits.Vector(l * (p1 - p0) + p - p0, 0), refLogits, o);
            }
            return new PairTrace(values, Score(refLogits, refLogits, o), Score(falseRun.Logits.Vector(0, 0), refLogits, o));
        }
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
                    Intervention.Replace(Hook(l), sourceTrue[Hook(l)].Vector(0, p).ToArray(), rows: [l], positions: [0])).ToList(),
            }, cancellation);
            for (int l = 0; l < layers; l++) values[l, p] = Score(r.Logits.Vector(l, 0), refLogits, o);
        }
        return new PairTrace(values, Score(refLogits, refLogits, o), Score(falseRun.Logits.Vector(0, 0), refLogits, o));
    }

    /// <summary>
    /// The patches at positions [p0, p1) and every layer, restarting each at the layer above its patch: row
    /// (l, p) = l·(p1 − p0) + (p − p0) carries tokens p0..n−1, left-padded so that its real tokens are p..n−1; its mask
    /// hides the padding and the past from prefix + p on (those positions are recomputed in the row). A row joins the
    /// batch at its start layer, so layer k runs k·(p1 − p0) rows; only the last position goes through the head.
    /// Returns last-position logits [layers·(p1 − p0), 1, V].
    /// </summary>
    static FloatTensor PatchesFromLayerAbove(IHookedModel target, ForwardResult falseRun, ForwardResult sourceTrue,
        int layers, int prefix, int n, int p0, int p1, CancellationToken cancellation)
    {
        int d = target.Config.HiddenSize, total = prefix + n, len = n - p0, c = p1 - p0;
        void Start(int l, int p, Span<float> rows /* len × d */)
        {
            var states = falseRun[HookName.ResidPost(l)];
            rows.Clear();
            for (int j = p; j < n; j++) states.Vector(0, j).CopyTo(rows.Slice((j - p0) * d, d));
            sourceTrue[HookName.ResidPost(l)].Vector(0, p).CopyTo(rows.Slice((p - p0) * d, d));
        }
        // Past: the false run's cache of all prefix + n positions; chunk token j stands for suffix position p0 + j.
        int[] Mask(int p) => Enumerable.Range(0, total + len).Select(j => j < prefix + p || (j >= total && p0 + j - total >= p) ? 1 : 0).ToArray();
        int[] Positions(int p) => Enumerable.Range(0, len).Select(j => p0 + j >= p ? prefix + p0 + j : 1).ToArray();

        FloatTensor? running = null;  // rows of patches at layers 0..k-2, after layer k-1
        for (int k = 1; k < layers; k++)
        {
            int rows = k * c;
            var hidden = FloatTensor.Zeros(rows, len, d);
            if (running is not null) running.Data.AsSpan().CopyTo(hidden.Data);
            for (int p = p0; p < p1; p++) Start(k - 1, p, hidden.Data.AsSpan(((k - 1) * c + p - p0) * len * d, len * d));
            running = target.Layers!.RunLayer(k, hidden, KvCache.Slice(falseRun.Present!.Keys[k], 0, total, rows), KvCache.Slice(falseRun.Present!.Values[k], 0, total, rows),
                Enumerable.Range(0, rows).Select(r => Mask(p0 + r % c)).ToArray(), Enumerable.Range(0, rows).Select(r => Positions(p0 + r % c)).ToArray(),
                cancellation: cancellation);
        }
        var last = FloatTensor.Zeros(layers * c, 1, d);
        for (int r = 0; r < (layers - 1) * c; r++) running!.Vector(r, len - 1).CopyTo(last.Vector(r, 0));
        var top = new float[len * d];
        for (int p = p0; p < p1; p++)
        {
            Start(layers - 1, p, top);
            top.AsSpan((len - 1) * d, d).CopyTo(last.Vector((layers - 1) * c + p - p0, 0));
        }
        return target.Layers!.RunHead(last, cancellation);
    }

    /// <summary>Traces every prompt and averages the matrices over pairs (the paper's per-dataset matrix).</summary>
    public static (double[,] Mean, IReadOnlyList<PairTrace> PerPair) Run(IHookedModel source, IHookedModel target, IReadOnlyList<TracingPrompt> prompts,
        TracingOptions o, IProgress<CaptureProgress>? progress = null, CancellationToken cancellation = default)
    {
        var traces = TracePairs(source, target, prompts, o, progress, cancellation);
        return (Mean(traces), traces);
    }

    /// <summary>Traces every prompt, in order (prompts that share a few-shot prefix share its run).</summary>
    public static IReadOnlyList<PairTrace> TracePairs(IHookedModel source, IHookedModel target, IReadOnlyList<TracingPrompt> prompts,
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
        return traces;
    }

    /// <summary>The mean of the pairs' matrices, summed in pair order (what a split run's pieces, put together, reproduce bit for bit).</summary>
    public static double[,] Mean(IReadOnlyList<PairTrace> traces)
    {
        if (traces.Count == 0) Throw.Argument("no traces to average", "traces", 0);
        int layers = traces[0].Values.GetLength(0), n = traces[0].Values.GetLength(1);
        var mean = new double[layers, n];
        foreach (var t in traces)
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < n; p++) mean[l, p] += t.Values[l, p] / traces.Count;
        return mean;
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

using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// Throughput of the library path a user takes: <see cref="ModelSession.Run(ForwardRequest, CancellationToken)"/> over a set of prompts one at a time vs
/// in left-padded batches, and <see cref="ModelSession.Generate"/> one prompt at a time vs batched, plus the KV cache
/// against recomputing the whole sequence per token. One ModelSession serves every variant; every variant runs once
/// per round in rotating order, warm-up rounds first, medians of per-round ratios (ORT-NOTES).
/// </summary>
static class GenerateBench
{
    public sealed record Options(LlamaShape Shape, int Prompts, int MinLen, int MaxLen, int Batch,
        int GenPrompts, int GenMinLen, int GenMaxLen, int GenTokens, int NaiveTokens,
        int Rounds, int Warmup, ulong Seed, int Threads, string? TempRoot, bool Keep);

    sealed record Variant(string Key, string Label, Action Body);

    public static Summary Run(Options o)
    {
        var s = o.Shape;
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-gen-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"generate: {s}; {o.Prompts} prompts of {o.MinLen}..{o.MaxLen} tokens, batch {o.Batch}; " +
                          $"generation {o.GenPrompts} prompts of {o.GenMinLen}..{o.GenMaxLen} tokens + {o.GenTokens} new; " +
                          $"{o.Warmup} warm-up + {o.Rounds} rounds; folder {root}");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var dir = RandomCheckpoint.WriteExported(root, s, o.Seed);
            using var session = ModelSession.Open(dir, new SessionConfig { Threads = o.Threads });
            return Measure(o, session);
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else ForwardBench.TryDelete(root);
        }
    }

    /// <summary>Seeded prompts of random token ids, lengths uniform in [min, max].</summary>
    internal static List<int[]> Prompts(int count, int minLen, int maxLen, int vocab, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var list = new List<int[]>(count);
        for (int i = 0; i < count; i++)
        {
            int len = minLen + (int)(rng.Next() % (ulong)(maxLen - minLen + 1));
            var p = new int[len];
            for (int t = 0; t < len; t++) p[t] = (int)(rng.Next() % (ulong)vocab);
            list.Add(p);
        }
        return list;
    }

    static Summary Measure(Options o, ModelSession session)
    {
        var c = session.Manifest.Config;
        int pad = c.PadTokenId ?? 0;
        var prompts = Prompts(o.Prompts, o.MinLen, o.MaxLen, c.VocabSize, o.Seed + 10);
        var genPrompts = Prompts(o.GenPrompts, o.GenMinLen, o.GenMaxLen, c.VocabSize, o.Seed + 11);
        long promptTokens = prompts.Sum(p => (long)p.Length);
        var batches = prompts.Chunk(o.Batch).ToList();
        long paddedTokens = batches.Sum(b => (long)b.Length * b.Max(p => p.Length));
        // The same prompts sorted by length before chunking (a caller's length bucketing): little padding left.
        var sortedIdx = Enumerable.Range(0, prompts.Count).OrderBy(i => prompts[i].Length).ThenBy(i => i).ToArray();
        var sortedBatches = sortedIdx.Chunk(o.Batch).Select(ix => ix.Select(i => prompts[i]).ToArray()).ToList();
        long sortedPaddedTokens = sortedBatches.Sum(b => (long)b.Length * b.Max(p => p.Length));
        // Matmul FLOPs actually computed (padding included), as in forward.
        double flopsA = prompts.Sum(p => ForwardBench.ForwardFlops(c, 1, p.Length).Flops);
        double flopsB = batches.Sum(b => ForwardBench.ForwardFlops(c, b.Length, b.Max(p => p.Length)).Flops);
        double flopsS = sortedBatches.Sum(b => ForwardBench.ForwardFlops(c, b.Length, b.Max(p => p.Length)).Flops);

        var single = prompts.Select(p => ForwardRequest.FromPrompts([p], pad) with { LogitPositions = [-1] }).ToList();
        var batched = batches.Select(b => ForwardRequest.FromPrompts(b, pad) with { LogitPositions = [-1] }).ToList();
        var sortedBatched = sortedBatches.Select(b => ForwardRequest.FromPrompts(b, pad) with { LogitPositions = [-1] }).ToList();
        var gen = new GenerationOptions { MaxNewTokens = o.GenTokens, StopTokens = [] };
        var genShort = new GenerationOptions { MaxNewTokens = o.NaiveTokens, StopTokens = [] };
        var naivePrompt = genPrompts[0];

        // The bodies return their outputs through these, for the checks below.
        var lastA = new List<float[]>();
        var lastB = new List<float[]>();
        var lastS = new List<float[]>();
        int[][] tokC = [], tokD = [], tokE = [];
        int[] tokF = [];
        var variants = new List<Variant>
        {
            new("a", $"prompt pass, {o.Prompts} prompts one at a time", () =>
            {
                lastA.Clear();
                foreach (var r in single) lastA.Add(session.Run(r).Logits.Data);
            }),
            new("b", $"prompt pass, {batches.Count} left-padded batches of {o.Batch}", () =>
            {
                lastB.Clear();
                foreach (var r in batched)
                {
                    var l = session.Run(r).Logits;
                    for (int i = 0; i < l.Shape[0]; i++) lastB.Add(l.Vector(i, 0).ToArray());
                }
            }),
            new("bs", $"prompt pass, {sortedBatches.Count} batches of {o.Batch} after sorting by length", () =>
            {
                lastS.Clear();
                foreach (var r in sortedBatched)
                {
                    var l = session.Run(r).Logits;
                    for (int i = 0; i < l.Shape[0]; i++) lastS.Add(l.Vector(i, 0).ToArray());
                }
            }),
            new("c", $"Generate, {o.GenPrompts} prompts one at a time, {o.GenTokens} new tokens each", () =>
                tokC = genPrompts.Select(p => session.Generate([p], gen).Tokens[0]).ToArray()),
            new("d", $"Generate, {o.GenPrompts} prompts in one batched call, {o.GenTokens} new tokens each", () =>
                tokD = session.Generate(genPrompts, gen).Tokens),
            new("e", $"Generate (KV cache), 1 prompt of {naivePrompt.Length}, {o.NaiveTokens} new tokens", () =>
                tokE = session.Generate([naivePrompt], genShort).Tokens),
            new("f", $"naive loop of Run over the growing sequence, same prompt and tokens", () =>
            {
                var seq = naivePrompt.ToList();
                var output = new int[o.NaiveTokens];
                for (int k = 0; k < o.NaiveTokens; k++)
                {
                    var l = session.Run(new ForwardRequest([seq.ToArray()]) { LogitPositions = [-1] }).Logits;
                    seq.Add(output[k] = TensorPrimitives.IndexOfMax(l.Vector(0, 0)));
                }
                tokF = output;
            }),
        };

        // Checks (also the first warm-up): batching and the KV cache must not change the results beyond rounding.
        foreach (var v in variants) v.Body();
        float maxDiff = 0;
        int argmaxSame = 0;
        for (int i = 0; i < lastA.Count; i++)
        {
            var sorted = lastS[Array.IndexOf(sortedIdx, i)];
            for (int k = 0; k < lastA[i].Length; k++)
                maxDiff = MathF.Max(maxDiff, MathF.Max(MathF.Abs(lastA[i][k] - lastB[i][k]), MathF.Abs(lastA[i][k] - sorted[k])));
            if (TensorPrimitives.IndexOfMax(lastA[i]) == TensorPrimitives.IndexOfMax(lastB[i]) && TensorPrimitives.IndexOfMax(lastA[i]) == TensorPrimitives.IndexOfMax(sorted)) argmaxSame++;
        }
        static (int Same, int Total) Agree(int[][] x, int[][] y)
        {
            int same = 0, total = 0;
            for (int r = 0; r < x.Length; r++)
            {
                total += x[r].Length;
                int k = 0;
                while (k < x[r].Length && k < y[r].Length && x[r][k] == y[r][k]) k++;  // common prefix: one flip changes the rest
                same += k;
            }
            return (same, total);
        }
        var genAgree = Agree(tokC, tokD);
        var kvAgree = Agree(tokE, [tokF]);
        Console.WriteLine($"check: last-token logits, batched (b, bs) vs alone (a): max |diff| {maxDiff:G3}, argmax equal {argmaxSame}/{lastA.Count}");
        Console.WriteLine($"check: batched Generate (d) vs one at a time (c): {genAgree.Same}/{genAgree.Total} tokens equal (common prefix per row)");
        Console.WriteLine($"check: KV cache (e) vs naive (f): {kvAgree.Same}/{kvAgree.Total} tokens equal");

        var byKey = variants.ToDictionary(v => v.Key);
        var times = Interleaved.Run(variants.Select(v => v.Key).ToList(), o.Warmup, o.Rounds, k =>
        {
            var t = Stopwatch.StartNew();
            byKey[k].Body();
            return t.Elapsed.TotalMilliseconds;
        });

        var sum = new Summary($"generate: {o.Shape}; {o.Rounds} rounds after {o.Warmup} warm-up (+1 check pass)");
        var j = sum.Json;
        j["verb"] = "generate";
        j["machine"] = MachineState.Json();
        j["config"] = new JsonObject
        {
            ["hidden"] = c.HiddenSize, ["layers"] = c.NumLayers, ["heads"] = c.NumHeads, ["kv_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim, ["mlp"] = c.IntermediateSize, ["vocab"] = c.VocabSize, ["tied"] = c.TieWordEmbeddings,
            ["prompts"] = o.Prompts, ["min_len"] = o.MinLen, ["max_len"] = o.MaxLen, ["batch"] = o.Batch,
            ["gen_prompts"] = o.GenPrompts, ["gen_min_len"] = o.GenMinLen, ["gen_max_len"] = o.GenMaxLen, ["gen_tokens"] = o.GenTokens,
            ["naive_tokens"] = o.NaiveTokens, ["naive_prompt_len"] = naivePrompt.Length,
            ["rounds"] = o.Rounds, ["warmup"] = o.Warmup, ["threads"] = o.Threads, ["seed"] = o.Seed,
        };
        j["prompt_tokens"] = promptTokens;
        j["padded_batch_tokens"] = paddedTokens;
        j["checks"] = new JsonObject
        {
            ["batched_vs_single_logits_max_abs_diff"] = (double)maxDiff, ["batched_vs_single_argmax_equal"] = argmaxSame,
            ["generate_batched_vs_single_tokens_equal"] = genAgree.Same, ["generate_tokens"] = genAgree.Total,
            ["kv_vs_naive_tokens_equal"] = kvAgree.Same, ["naive_tokens"] = kvAgree.Total,
        };
        var ms = new JsonObject();
        foreach (var v in variants)
        {
            ms[v.Key] = Stats.Describe(times[v.Key]);
            ms[v.Key]!["label"] = v.Label;
        }
        j["ms"] = ms;
        var rates = new JsonObject();
        var ratios = new JsonObject();

        var gflops = new JsonObject();
        void Rate(string key, double tokens, string unit, string note, double flops = 0)
        {
            var t = times[key];
            var r = t.Select(x => tokens / (x / 1000)).ToList();
            rates[key] = Stats.Describe(r);
            string g = "";
            if (flops > 0)
            {
                var gf = t.Select(x => flops / (x * 1e6)).ToList();
                gflops[key] = Stats.Describe(gf);
                g = $"; {Stats.F(Stats.Median(gf), 0)} GFLOP/s computed";
            }
            sum.Row($"({key}) {unit}", Stats.F(Stats.Median(r)), $"min {Stats.F(r.Min())}, max {Stats.F(r.Max())}; {Stats.F(Stats.Median(t), 0)} ms{g}; {note}");
        }
        // Same work in both, so speed(fast)/speed(slow) = time(slow)/time(fast), per round.
        void Ratio(string name, string slow, string fast, string note) => sum.Ratio(ratios, name, name, times[slow], times[fast], 2, note);

        double genTokens = (double)o.GenPrompts * o.GenTokens;
        string Label(string key) => variants.First(v => v.Key == key).Label;
        Rate("a", promptTokens, "prompt tok/s", $"{Label("a")}; {promptTokens} real tokens", flopsA);
        Rate("b", promptTokens, "prompt tok/s", $"{Label("b")}; same real tokens counted, {paddedTokens} computed with padding", flopsB);
        Rate("bs", promptTokens, "prompt tok/s", $"{Label("bs")}; {sortedPaddedTokens} computed with padding", flopsS);
        Ratio("(b)/(a) prompt speed", "a", "b", "median of per-round time(a)/time(b)");
        Ratio("(bs)/(a) prompt speed", "a", "bs", "median of per-round time(a)/time(bs)");
        Rate("c", genTokens, "new tok/s", $"{Label("c")} (incl. each call's prompt pass)");
        Rate("d", genTokens, "new tok/s", $"{Label("d")} (incl. the prompt pass)");
        Ratio("(d)/(c) generation speed", "c", "d", "median of per-round time(c)/time(d)");
        Rate("e", o.NaiveTokens, "new tok/s", Label("e"));
        Rate("f", o.NaiveTokens, "new tok/s", Label("f"));
        Ratio("(e)/(f) KV cache speedup", "f", "e", "median of per-round time(f)/time(e)");
        j["tokens_per_s"] = rates;
        j["prompt_gflops"] = gflops;
        j["sorted_padded_batch_tokens"] = sortedPaddedTokens;
        j["ratios"] = ratios;
        sum.Row("check (b), (bs) vs (a)", $"{maxDiff:G3}", $"max |last-token logits diff|; argmax equal in {argmaxSame}/{lastA.Count} prompts");
        sum.Row("check (d) vs (c)", $"{genAgree.Same}/{genAgree.Total}", "generated tokens equal (common prefix per row)");
        sum.Row("check (e) vs (f)", $"{kvAgree.Same}/{kvAgree.Total}", "generated tokens equal (common prefix)");
        sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
        return sum;
    }
}

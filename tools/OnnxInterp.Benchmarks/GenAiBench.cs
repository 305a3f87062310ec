using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntimeGenAI;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// Greedy generation by <see cref="ModelSession.Generate"/> against ONNX Runtime GenAI's generator on the same exported
/// folder (its genai_config.json): one prompt, then a batch of prompts of different lengths. One ModelSession and one
/// GenAI <see cref="Model"/> stay open; every variant runs once per round in rotating order, warm-up rounds first,
/// medians of per-round ratios (ORT-NOTES). Both sessions get the same intra-op thread count and spinning setting.
/// </summary>
static class GenAiBench
{
    public sealed record Options(LlamaShape Shape, int PromptLen, int MinLen, int NewTokens, int Batch,
        int Rounds, int Warmup, ulong Seed, int Threads, bool GenAiSpinning, string? TempRoot, bool Keep, bool SpinWhileRunning = false);

    /// <summary>A timed body: returns the new tokens of each row.</summary>
    sealed record Variant(string Key, string Label, Func<int[][]> Body);

    public static Summary Run(Options o)
    {
        var s = o.Shape;
        var root = Path.Combine(o.TempRoot ?? Path.GetTempPath(), "onnxinterp-genai-" + Guid.NewGuid().ToString("N")[..8]);
        Console.WriteLine($"genai: {s}; 1 prompt of {o.PromptLen} tokens, and a batch of {o.Batch} of {o.MinLen}..{o.PromptLen}; " +
                          $"{o.NewTokens} new tokens; {o.Warmup} warm-up + {o.Rounds} rounds; folder {root}");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var dir = RandomCheckpoint.WriteExported(root, s, o.Seed);

            using var session = ModelSession.Open(dir, new SessionConfig { Threads = o.Threads, SpinWhileRunning = o.SpinWhileRunning });
            // The same folder, generating on model.onnx (the hooked graph GenAI runs) instead of decode.onnx: what decode.onnx saves.
            using var hooked = ModelSession.Open(dir, new SessionConfig { Threads = o.Threads, PlainWhenUnhooked = false, SpinWhileRunning = o.SpinWhileRunning });
            // A second session with (b)'s settings: the lockstep control's other side.
            using var control = ModelSession.Open(dir, new SessionConfig { Threads = o.Threads, SpinWhileRunning = o.SpinWhileRunning });
            using var config = new Config(dir);
            string overlay = GenAiOverlay(o.Threads, o.GenAiSpinning, o.SpinWhileRunning);
            config.Overlay(overlay);
            using var model = new Model(config);
            Console.WriteLine($"GenAI config overlay: {overlay}");
            return Measure(o, dir, session, hooked, control, model, overlay);
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else ForwardBench.TryDelete(root);
        }
    }

    /// <summary>
    /// GenAI's decoder session options, laid over the folder's genai_config.json: intra-op threads as ModelSession's, and
    /// (unless spinning is asked for) ModelSession's <c>session.intra_op.allow_spinning = 0</c>; GenAI passes keys it does
    /// not know to ORT's AddSessionConfigEntry. Without an explicit count GenAI takes max(1, logical CPUs / 2), capped at 16.
    /// </summary>
    static string GenAiOverlay(int threads, bool spinning, bool spinWhileRunning)
    {
        var so = new JsonObject();
        if (threads > 0) so["intra_op_num_threads"] = threads;
        if (spinWhileRunning)
        {
            // As ModelSession's SpinWhileRunning: spin during a run, stop when it returns.
            so["session.intra_op.allow_spinning"] = "1";
            so["session.force_spinning_stop"] = "1";
        }
        else if (!spinning) so["session.intra_op.allow_spinning"] = "0";
        return new JsonObject { ["model"] = new JsonObject { ["decoder"] = new JsonObject { ["session_options"] = so } } }.ToJsonString();
    }

    /// <summary>GenAI's pad and end-of-sequence ids as it reads them from genai_config.json (no eos: eos = pad).</summary>
    static (int Pad, int[] Eos) GenAiSpecialIds(string dir)
    {
        var m = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "genai_config.json")))!["model"]!;
        int pad = m["pad_token_id"]?.GetValue<int>() ?? 0;
        int[] eos = m["eos_token_id"] switch
        {
            JsonArray a => a.Select(x => x!.GetValue<int>()).ToArray(),
            JsonValue v => [v.GetValue<int>()],
            _ => [],
        };
        return (pad, eos.Length == 0 ? [pad] : eos);
    }

    /// <summary>Seeded random prompts whose ids avoid <paramref name="reserved"/> (so no prompt token reads as padding).</summary>
    static int[] Prompt(ref SplitMix64 rng, int len, int vocab, IReadOnlySet<int> reserved)
    {
        var p = new int[len];
        for (int t = 0; t < len; t++)
        {
            int id;
            do id = (int)(rng.Next() % (ulong)vocab);
            while (reserved.Contains(id));
            p[t] = id;
        }
        return p;
    }

    /// <summary>
    /// Greedy generation of exactly <paramref name="newTokens"/> per row with GenAI. The prompts are right-padded with
    /// GenAI's pad id into one [batch, longest] array and appended at once: what <c>AppendTokenSequences</c> does in
    /// GenAI's C API (PadInputs, then AppendTokens), whose managed <c>Sequences</c> has no public constructor in 0.18.
    /// min_length = max_length keeps the end-of-sequence id from ending a row early. The new tokens of a row follow the
    /// padded prompt in its sequence.
    /// </summary>
    static int[][] GenAiGenerate(Model model, IReadOnlyList<int[]> prompts, int newTokens, int pad)
    {
        int batch = prompts.Count, len = prompts.Max(p => p.Length);
        var ids = new int[batch * len];
        Array.Fill(ids, pad);
        for (int i = 0; i < batch; i++) prompts[i].CopyTo(ids, i * len);
        using var p = GreedyParams(model, batch, len + newTokens);
        using var g = new Generator(model, p);
        g.AppendTokens(ids);
        while (!g.IsDone()) g.GenerateNextToken();
        var rows = new int[batch][];
        for (int i = 0; i < batch; i++) rows[i] = g.GetSequence((ulong)i)[len..].ToArray();
        return rows;
    }

    /// <summary>GenAI's greedy search for <paramref name="batch"/> rows of exactly <paramref name="length"/> tokens (min_length = max_length keeps the end-of-sequence id out).</summary>
    static GeneratorParams GreedyParams(Model model, int batch, int length)
    {
        var p = new GeneratorParams(model);
        p.SetSearchOption("batch_size", batch);
        p.SetSearchOption("max_length", length);
        p.SetSearchOption("min_length", length);
        p.SetSearchOption("do_sample", false);
        return p;
    }

    /// <summary>One lockstep run's times: each side's sum of its passes (set-up included), and per decode pass ModelSession's over GenAI's.</summary>
    sealed record LockstepTimes(double Ours, double GenAi, List<double> PassRatios);

    /// <summary>
    /// (l): ModelSession.Generate and GenAI's generator on the same prompt, one forward pass each in turn: GenAI's pass
    /// runs in Generate's progress callback, which comes after each of Generate's passes (the prompt pass, then each
    /// decode step). Both sides then run in the same seconds of the machine's state, so drift between rounds (other
    /// processes, frequency) cancels pass by pass. A side's time is the sum of its passes: GenAI's set-up
    /// (GeneratorParams, Generator) and each AppendTokens/GenerateNextToken call (in 0.18 AppendTokens runs the prompt
    /// and each later GenerateNextToken picks a token and runs the next pass); ModelSession's time between callbacks.
    /// </summary>
    static int[][] Lockstep(ModelSession session, Model model, int[] prompt, GenerationOptions gen, List<LockstepTimes> sink)
    {
        int len = prompt.Length;
        var t = Stopwatch.StartNew();
        using var p = GreedyParams(model, 1, len + gen.MaxNewTokens);
        using var g = new Generator(model, p);
        var (tokens, times) = Alternate(session, prompt, gen, t, t.Elapsed.TotalMilliseconds, step =>
        {
            if (step == 1) g.AppendTokens(prompt);
            g.GenerateNextToken();
        });
        var theirs = g.GetSequence(0)[len..].ToArray();
        if (!theirs.SequenceEqual(tokens[0])) Console.WriteLine($"lockstep: GenAI's tokens differ from Generate's ({Agree([theirs], tokens).Same}/{tokens[0].Length} equal)");
        sink.Add(times);
        return tokens;
    }

    /// <summary>
    /// (k), the control of (l): the same lockstep with a second ModelSession on the folder in GenAI's place, decoding
    /// greedily pass by pass as Generate does (prompt pass, then one token per pass on the KV cache kept in ORT memory).
    /// Both sides being the same code, its ratio shows what going first or second in a lockstep pair is worth by itself.
    /// </summary>
    static int[][] LockstepControl(ModelSession session, ModelSession other, int[] prompt, GenerationOptions gen, int pad, List<LockstepTimes> sink)
    {
        ForwardResult? r = null;
        var mask = new List<int>(Enumerable.Repeat(1, prompt.Length));
        var tokens = new List<int>();
        float[]? buffer = null;
        try
        {
            var (result, times) = Alternate(session, prompt, gen, Stopwatch.StartNew(), 0, step =>
            {
                if (step == 1)
                    r = other.Run(ForwardRequest.FromPrompts([prompt], pad) with { LogitPositions = [-1], ReturnPresent = true, DeviceOutputs = true }, default, null, true);
                else
                {
                    mask.Add(1);
                    buffer ??= new float[r!.Logits.Data.Length];
                    var next = other.Run(new ForwardRequest([[tokens[^1]]])
                    {
                        AttentionMask = [mask.ToArray()], PositionIds = [[mask.Count - 1]], DevicePast = r!.DevicePresent, ReturnPresent = true, DeviceOutputs = true,
                    }, default, buffer, true);
                    r!.Dispose();
                    r = next;
                }
                tokens.Add(System.Numerics.Tensors.TensorPrimitives.IndexOfMax(r!.Logits.Vector(0, r.Logits.Shape[1] - 1)));
            });
            if (!tokens.SequenceEqual(result[0])) Console.WriteLine("lockstep control: the two sessions' tokens differ");
            sink.Add(times);
            return result;
        }
        finally
        {
            r?.Dispose();
        }
    }

    /// <summary>
    /// Generate on <paramref name="session"/> with <paramref name="otherPass"/>(step) run after each of its passes
    /// (step 1 after the prompt pass): each side's time is the sum of its own passes, the other side's starting from
    /// <paramref name="otherSetupMs"/>; per decode pass, ours over the other's next one.
    /// </summary>
    static (int[][] Tokens, LockstepTimes Times) Alternate(ModelSession session, int[] prompt, GenerationOptions gen, Stopwatch t,
        double otherSetupMs, Action<int> otherPass)
    {
        double other = otherSetupMs, ours = 0, mark = t.Elapsed.TotalMilliseconds;
        var ratios = new List<double>();
        var progress = new SyncProgress<GenerationProgress>(step =>
        {
            double now = t.Elapsed.TotalMilliseconds;
            ours += now - mark;
            otherPass(step.Step);
            double after = t.Elapsed.TotalMilliseconds;
            other += after - now;
            if (step.Step > 1) ratios.Add((now - mark) / (after - now));
            mark = t.Elapsed.TotalMilliseconds;
        });
        var tokens = session.Generate([prompt], gen, progress).Tokens;
        ours += t.Elapsed.TotalMilliseconds - mark;
        return (tokens, new LockstepTimes(ours, other, ratios));
    }

    /// <summary>The GenAI package version this build resolved (its assembly carries none), read from the deps file.</summary>
    static string GenAiVersion()
    {
        const string Prefix = "Microsoft.ML.OnnxRuntimeGenAI.Managed/";
        try
        {
            var deps = Path.Combine(AppContext.BaseDirectory, typeof(GenAiBench).Assembly.GetName().Name + ".deps.json");
            var libs = JsonNode.Parse(File.ReadAllText(deps))?["libraries"]?.AsObject();
            var key = libs?.Select(kv => kv.Key).FirstOrDefault(k => k.StartsWith(Prefix, StringComparison.Ordinal));
            return key is null ? "n/a" : key[Prefix.Length..];
        }
        catch (IOException) { return "n/a"; }
    }

    /// <summary>Tokens equal as the common prefix of each row (after one flip a greedy row goes its own way), per row and in all.</summary>
    static (int Same, int Total, int[] PerRow, bool CountsEqual) Agree(int[][] x, int[][] y)
    {
        var perRow = new int[x.Length];
        int same = 0, total = 0;
        bool counts = x.Length == y.Length;
        for (int r = 0; r < Math.Min(x.Length, y.Length); r++)
        {
            counts &= x[r].Length == y[r].Length;
            total += Math.Max(x[r].Length, y[r].Length);
            int k = 0;
            while (k < x[r].Length && k < y[r].Length && x[r][k] == y[r][k]) k++;
            perRow[r] = k;
            same += k;
        }
        return (same, total, perRow, counts);
    }

    static Summary Measure(Options o, string dir, ModelSession session, ModelSession hooked, ModelSession control, Model model, string overlay)
    {
        var c = session.Manifest.Config;
        var (pad, eos) = GenAiSpecialIds(dir);
        var lockstep = new List<LockstepTimes>();
        var controlLockstep = new List<LockstepTimes>();
        var reserved = new HashSet<int>(eos) { pad };
        if (c.PadTokenId is int p0) reserved.Add(p0);
        if (c.BosTokenId is int b0) reserved.Add(b0);
        var rng = new SplitMix64(o.Seed + 20);
        var single = Prompt(ref rng, o.PromptLen, c.VocabSize, reserved);
        // The batch starts with the single prompt (its longest row), so row 0 also checks batching against batch 1.
        var batch = new List<int[]> { single };
        for (int i = 1; i < o.Batch; i++)
            batch.Add(Prompt(ref rng, o.MinLen + (int)(rng.Next() % (ulong)(o.PromptLen - o.MinLen + 1)), c.VocabSize, reserved));
        int paddedLen = batch.Max(p => p.Length);
        long realTokens = batch.Sum(p => (long)p.Length);
        var gen = new GenerationOptions { MaxNewTokens = o.NewTokens, StopTokens = [] };

        // GenAI 0.18 batches on CPU with this graph (checked on the first pass); if it cannot, (c) becomes one call per prompt.
        bool genAiBatched = true;
        string? batchError = null;
        try { GenAiGenerate(model, batch, 1, pad); }
        catch (OnnxRuntimeGenAIException e) { genAiBatched = false; batchError = e.Message; Console.WriteLine($"GenAI cannot batch here ({e.Message}): (c) runs the prompts one at a time"); }

        var variants = new List<Variant>
        {
            new("a", $"GenAI, 1 prompt of {o.PromptLen}", () => GenAiGenerate(model, [single], o.NewTokens, pad)),
            new("b", $"ModelSession.Generate, the same prompt", () => session.Generate([single], gen).Tokens),
            new("c", genAiBatched ? $"GenAI, batch of {o.Batch} ({o.MinLen}..{o.PromptLen} tokens, right-padded to {paddedLen})"
                                  : $"GenAI, the {o.Batch} prompts one at a time (batching failed)",
                () => genAiBatched ? GenAiGenerate(model, batch, o.NewTokens, pad)
                                   : batch.Select(p => GenAiGenerate(model, [p], o.NewTokens, pad)[0]).ToArray()),
            new("d", $"ModelSession.Generate, the same {o.Batch} prompts in one call", () => session.Generate(batch, gen).Tokens),
            new("e", "as (b), PlainWhenUnhooked = false: decoding on model.onnx, the graph GenAI runs", () => hooked.Generate([single], gen).Tokens),
            new("l", "lockstep: (b) and (a) one forward pass each in turn (GenAI's from Generate's progress callback)", () => Lockstep(session, model, single, gen, lockstep)),
            new("k", "lockstep control: (b) and a second ModelSession's pass by pass greedy decoding in GenAI's place", () => LockstepControl(session, control, single, gen, pad, controlLockstep)),
        };

        // Checks (also the first warm-up): the same greedy tokens on both sides, every row at full length.
        var outputs = variants.ToDictionary(v => v.Key, v => v.Body());
        var single1 = Agree(outputs["a"], outputs["b"]);
        var batchAgree = Agree(outputs["c"], outputs["d"]);
        var genAiRow0 = Agree([outputs["a"][0]], [outputs["c"][0]]);
        var oursRow0 = Agree([outputs["b"][0]], [outputs["d"][0]]);
        var decodeVsHooked = Agree(outputs["b"], outputs["e"]);
        bool fullLength = outputs.Values.All(rows => rows.All(r => r.Length == o.NewTokens));
        Console.WriteLine($"check: batch 1, GenAI (a) vs ModelSession (b): {single1.Same}/{single1.Total} tokens equal (common prefix)");
        Console.WriteLine($"check: batch {o.Batch}, GenAI (c) vs ModelSession (d): {batchAgree.Same}/{batchAgree.Total}; per row [{string.Join(", ", batchAgree.PerRow)}]");
        Console.WriteLine($"check: row 0 batched vs alone: GenAI {genAiRow0.Same}/{genAiRow0.Total}, ModelSession {oursRow0.Same}/{oursRow0.Total}");
        Console.WriteLine($"check: every row has {o.NewTokens} new tokens: {fullLength}");

        var cpu = variants.ToDictionary(v => v.Key, _ => new List<double>());
        var byKey = variants.ToDictionary(v => v.Key);
        using var self = Process.GetCurrentProcess();
        double lastCpu = 0;
        var times = Interleaved.Run(variants.Select(v => v.Key).ToList(), o.Warmup, o.Rounds, k =>
        {
            self.Refresh();
            var cpu0 = self.TotalProcessorTime;
            var t = Stopwatch.StartNew();
            byKey[k].Body();
            double elapsed = t.Elapsed.TotalMilliseconds;
            self.Refresh();
            lastCpu = (self.TotalProcessorTime - cpu0).TotalMilliseconds;
            return elapsed;
        }, k => cpu[k].Add(lastCpu));
        // Only the counted rounds' lockstep runs: the last `rounds` of them (the check pass and warm-ups came first).
        var locked = lockstep.TakeLast(o.Rounds).ToList();
        var controlled = controlLockstep.TakeLast(o.Rounds).ToList();

        var sum = new Summary($"genai: {o.Shape}; {o.NewTokens} new tokens; {o.Rounds} rounds after {o.Warmup} warm-up (+1 check pass)");
        var j = sum.Json;
        j["verb"] = "genai";
        j["machine"] = MachineState.Json();
        j["machine"]!["onnxruntime_genai"] = GenAiVersion();
        j["config"] = new JsonObject
        {
            ["hidden"] = c.HiddenSize, ["layers"] = c.NumLayers, ["heads"] = c.NumHeads, ["kv_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim, ["mlp"] = c.IntermediateSize, ["vocab"] = c.VocabSize, ["tied"] = c.TieWordEmbeddings,
            ["prompt_len"] = o.PromptLen, ["min_len"] = o.MinLen, ["new_tokens"] = o.NewTokens, ["batch"] = o.Batch,
            ["batch_prompt_lens"] = new JsonArray(batch.Select(p => (JsonNode)p.Length).ToArray()),
            ["rounds"] = o.Rounds, ["warmup"] = o.Warmup, ["threads"] = o.Threads, ["genai_spinning"] = o.GenAiSpinning, ["spin_while_running"] = o.SpinWhileRunning,
            ["seed"] = o.Seed, ["genai_overlay"] = overlay, ["genai_pad"] = pad,
            ["genai_eos"] = new JsonArray(eos.Select(x => (JsonNode)x).ToArray()),
        };
        j["genai_batched"] = genAiBatched;
        if (batchError is not null) j["genai_batch_error"] = batchError;
        j["checks"] = new JsonObject
        {
            ["batch1_tokens_equal"] = single1.Same, ["batch1_tokens"] = single1.Total,
            ["batch_tokens_equal"] = batchAgree.Same, ["batch_tokens"] = batchAgree.Total,
            ["batch_common_prefix_per_row"] = new JsonArray(batchAgree.PerRow.Select(x => (JsonNode)x).ToArray()),
            ["genai_row0_batched_vs_alone"] = genAiRow0.Same, ["session_row0_batched_vs_alone"] = oursRow0.Same,
            ["every_row_full_length"] = fullLength,
            ["decode_vs_hooked_tokens_equal"] = decodeVsHooked.Same,
        };
        var ms = new JsonObject();
        var cpuJson = new JsonObject();
        foreach (var v in variants)
        {
            ms[v.Key] = Stats.Describe(times[v.Key]);
            ms[v.Key]!["label"] = v.Label;
            cpuJson[v.Key] = Stats.Describe(cpu[v.Key]);
        }
        j["ms"] = ms;
        j["cpu_ms"] = cpuJson;
        var rates = new JsonObject();
        var ratios = new JsonObject();

        void Rate(string key, double tokens)
        {
            var t = times[key];
            var rate = t.Select(x => tokens / (x / 1000)).ToList();
            rates[key] = Stats.Describe(rate);
            double cores = Stats.Median(cpu[key].Zip(t, (x, y) => x / y).ToList());
            sum.Row($"({key}) ms", Stats.F(Stats.Median(t)),
                $"min {Stats.F(t.Min())}, max {Stats.F(t.Max())}; {Stats.F(Stats.Median(rate))} new tok/s; {Stats.F(cores, 2)} cores busy (CPU/wall); {variants.First(v => v.Key == key).Label}");
        }
        Rate("a", o.NewTokens);
        Rate("b", o.NewTokens);
        sum.Ratio(ratios, "b/a", "(b)/(a) time, batch 1", times["b"], times["a"], 3, "median of per-round time(b)/time(a); target ≤ 1.0");
        Rate("e", o.NewTokens);
        sum.Ratio(ratios, "e/a", "(e)/(a) time, batch 1", times["e"], times["a"], 3, "ModelSession on the same graph as GenAI");
        sum.Ratio(ratios, "b/e", "(b)/(e) time, batch 1", times["b"], times["e"], 3, "what decode.onnx saves (no injection sub-graphs per step)");
        var lockRatios = locked.Select(x => x.Ours / x.GenAi).ToList();
        var passRatios = locked.SelectMany(x => x.PassRatios).ToList();
        ratios["l"] = Stats.Describe(lockRatios);
        ratios["l_pass"] = Stats.Describe(passRatios);
        j["lockstep_ms"] = new JsonObject { ["ours"] = Stats.Describe(locked.Select(x => x.Ours).ToList()), ["genai"] = Stats.Describe(locked.Select(x => x.GenAi).ToList()) };
        sum.Row("(l) lockstep time, batch 1", Stats.F(Stats.Median(lockRatios), 3),
            $"min {Stats.F(lockRatios.Min(), 3)}, max {Stats.F(lockRatios.Max(), 3)}; median of per-round sum(ModelSession passes)/sum(GenAI passes), " +
            $"each pass of one side right after the other's ({Stats.F(Stats.Median(locked.Select(x => x.Ours).ToList()), 0)} vs {Stats.F(Stats.Median(locked.Select(x => x.GenAi).ToList()), 0)} ms)");
        var controlRatios = controlled.Select(x => x.Ours / x.GenAi).ToList();
        ratios["k"] = Stats.Describe(controlRatios);
        sum.Row("(k) lockstep control", Stats.F(Stats.Median(controlRatios), 3),
            $"min {Stats.F(controlRatios.Min(), 3)}, max {Stats.F(controlRatios.Max(), 3)}; as (l) with a second ModelSession in GenAI's place: what the order within a pair is worth (1.0: nothing)");
        var sorted = passRatios.Order().ToList();
        sum.Row("(l) per decode pass", Stats.F(Stats.Median(passRatios), 3),
            $"quartiles {Stats.F(sorted[sorted.Count / 4], 3)}..{Stats.F(sorted[3 * sorted.Count / 4], 3)} over {passRatios.Count} decode passes: ModelSession's pass over GenAI's next one");
        Rate("c", (double)o.Batch * o.NewTokens);
        Rate("d", (double)o.Batch * o.NewTokens);
        sum.Ratio(ratios, "d/c", $"(d)/(c) time, batch {o.Batch}", times["d"], times["c"], 3, "median of per-round time(d)/time(c); target < 1.0");
        j["new_tokens_per_s"] = rates;
        j["ratios"] = ratios;
        sum.Row("check (a) vs (b)", $"{single1.Same}/{single1.Total}", "new tokens equal (common prefix)");
        sum.Row("check (c) vs (d)", $"{batchAgree.Same}/{batchAgree.Total}", $"common prefix per row [{string.Join(", ", batchAgree.PerRow)}]");
        sum.Row("check (b) vs (e)", $"{decodeVsHooked.Same}/{decodeVsHooked.Total}", "decode.onnx and model.onnx: the same tokens");
        sum.Row("check row 0 batched vs alone", $"{genAiRow0.Same}, {oursRow0.Same}", $"of {o.NewTokens}: GenAI (c vs a), ModelSession (d vs b)");
        sum.Row("check full length", fullLength ? "yes" : "NO", $"every row of every variant has {o.NewTokens} new tokens");
        string threads = o.Threads > 0 ? $"{o.Threads} intra-op threads on both" : "threads: each library's default (ORT's for ModelSession, GenAI's max(1, CPUs/2))";
        string spin = o.SpinWhileRunning ? "allow_spinning 1 with force_spinning_stop 1 (spin while a run is in progress) in ModelSession and GenAI"
            : $"allow_spinning 0 in ModelSession{(o.GenAiSpinning ? ", ORT's default (1) in GenAI" : " and GenAI")}";
        sum.Row("sessions", o.SpinWhileRunning ? "spin while running" : o.GenAiSpinning ? "spin: GenAI" : "no spin", $"{threads}; {spin}; GenAI {j["machine"]!["onnxruntime_genai"]}, right-padded batch (AppendTokens of [B, S])");
        sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
        return sum;
    }
}

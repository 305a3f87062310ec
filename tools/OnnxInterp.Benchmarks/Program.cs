using OnnxInterp.Benchmarks;
using OnnxInterp;
using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;

const string Usage = """
usage: dotnet run -c Release --project tools/OnnxInterp.Benchmarks -- <verb> [options]

verbs:
  forward         cost of hook outputs and injection inputs on a full forward (default verb)
  trace           causal tracing, fast path vs the paper's one-pass-per-patch loop (--model HF_DIR, or a random checkpoint)
  export-memory   peak memory of exporting a ~1B-parameter checkpoint, in a child process
  generate        prompt-pass and generation throughput of ModelSession: one at a time vs batched, KV cache vs none
  capture-memory  peak memory of ActivationCapture.ToStore over 1k and 10k prompts, each in a child process
  deploy          int4 vs fp32 and fused vs plain graphs on CPU: prompt and decode speed, peak memory (child processes)
  genai           greedy generation, ModelSession.Generate vs ONNX Runtime GenAI on the same exported folder
  diff            the model diff (per-token KL, logit lens, activation differences) per prompt against a plain forward of both models

model options (every verb; defaults differ, see README.md):
  --hidden N --layers N --heads N --kv-heads N --head-dim N --mlp N --vocab N --tied | --untied
common:
  --seed N        RNG seed (default 1)
  --tmp DIR       where the temporary checkpoint and exports go (default: the system temp folder)
  --keep          keep the temporary files
  --json PATH     also write the summary as JSON
  --provider cpu|cuda   forward and trace: the execution provider (default cpu); cuda needs CUDA 13 and cuDNN 9
forward:
  --batch N (8) --seq N (128) --rounds N (7) --warmup N (2) --threads N (0: ORT default)
  --matmul MxKxN (1024x4096x4096) --spinning (let idle ORT pools spin) --no-defaults (skip d)
  --no-session    skip the ModelSession variants (f, g, h, i)
  --isolate       each variant in a child process of its own (one session per process, as a user runs it), driven round by round
  --only K[,K..]  run only these variants (a is always run: every ratio's baseline)
export-memory:
  --source-dtype f32|bf16 (f32) --poll-ms N (20) --no-hash (skip the source SHA-256, on by default as in the CLI)
  --child-env K=V[,K=V]  environment for both children, e.g. DOTNET_GCConserveMemory=9 or DOTNET_GCHeapHardLimit=0x20000000
generate (model: hidden 1024, 8 layers, as forward):
  --prompts N (32) --min-len N (64) --max-len N (128) --batch N (8)   prompt pass: (a) one at a time, (b) batched, (bs) sorted by length then batched
  --gen-prompts N (8) --gen-min-len N (16) --gen-max-len N (32) --gen-tokens N (32)   generation, (c) vs (d)
  --naive-tokens N (16)   KV cache (e) vs recomputing the sequence (f), 1 prompt
  --rounds N (5) --warmup N (1) --threads N (0: ORT default)
  quick (~15 s): --layers 2 --prompts 8 --gen-prompts 4 --gen-tokens 8 --naive-tokens 4 --rounds 2 --warmup 0
deploy (model: as forward): int4 vs fp32 and fused vs plain ops on CPU, without hook I/O, plus int4 fused after `hook`
  --batch N (1) --seq N (128) prompt pass; --past N (128) decode step of one token on a KV cache of that length
  --rounds N (7) --warmup N (2) --threads N (0) --no-memory (skip the child-process peak RSS) --poll-ms N (20)
  quick (~30 s): --hidden 256 --heads 4 --kv-heads 2 --mlp 704 --vocab 4096 --layers 2 --rounds 3 --warmup 1
genai (model: as forward): batch 1, then a batch of prompts of --min-len..--prompt-len tokens; GenAI (a, c) vs Generate (b, d)
  --prompt-len N (32) --min-len N (3/4 of prompt-len: 24) --new-tokens N (64) --batch N (8) --rounds N (7) --warmup N (2)
  --threads N (logical CPUs; both sessions; 0: each library's default) --genai-spinning (GenAI keeps ORT's spinning pool)
  --spin-while-running (both spin during a run only: ModelSession's SpinWhileRunning, GenAI's allow_spinning 1 + force_spinning_stop 1)
  quick (~15 s): --layers 2 --rounds 2 --warmup 1 --new-tokens 16
diff (model: --base DIR --post DIR, checkpoints or exports; else a random pair of TinyLlama-1.1B's shape, hidden 2048,
      22 layers, 32/4 heads, MLP 5632, carrying --tokenizer DIR's tokenizer and vocabulary):
  --prompts N (8 harmful, 8 harmless, 8 judging) --batch N (8) --rounds N (3) --warmup N (1) --template NAME (default: the post model's)
  family: --base models/base --post models/instruct; quick (~20 s): --base models/base --post models/instruct --prompts 4 --rounds 2
capture-memory (model: hidden 256, 4 layers, 8/4 heads x 32, MLP 688, vocab 4096):
  --counts N[,N...] (1000,10000) --min-len N (16) --max-len N (32) --batch N (32) --poll-ms N (20) --child-env K=V[,K=V]
  quick (~10 s): --counts 100,1000
""";

var ForwardFlags = new HashSet<string> { "tied", "untied", "keep", "spinning", "no-defaults", "no-session", "no-hash", "no-memory", "isolate", "genai-spinning", "spin-while-running", "no-share", "help" };
try
{
    // Quiet ORT's per-input warnings about overridable initializers (sessions ModelSession opens included).
    var env = new Microsoft.ML.OnnxRuntime.EnvironmentCreationOptions { logLevel = Microsoft.ML.OnnxRuntime.OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
    Microsoft.ML.OnnxRuntime.OrtEnv.CreateInstanceWithOptions(ref env);
    if (args.Length > 4 && args[0] == ForwardBench.ChildVerb)
    {
        // __forward-child KEY PLAIN_DIR HOOKED_DIR <the parent's own arguments>
        var ca = new Args(args[4..], ForwardFlags);
        var co = ForwardOptions(ca);
        return ForwardBench.Child(args[1], args[2], args[3], co);
    }
    if (args.Length > 0 && args[0].StartsWith("__", StringComparison.Ordinal))
        return args[0] == DeployBench.ChildVerb ? DeployBench.Child(args[1..])
            : CaptureMemoryBench.IsChildVerb(args[0]) ? CaptureMemoryBench.Child(args[0], args[1..]) : ExportMemoryBench.Child(args[0], args[1..]);

    var a = new Args(args, ForwardFlags);
    if (a.Flag("help")) { Console.WriteLine(Usage); return 0; }
    string verb = a.Positional.Count > 0 ? a.Positional[0] : "forward";
    if (a.Positional.Count > 1) throw new UsageException("unexpected argument: " + a.Positional[1]);
    ulong seed = (ulong)a.Int("seed", 1);
    string? json = a.String("json"), tmp = a.String("tmp");
    bool keep = a.Flag("keep");

    LlamaShape Shape(int hidden, int layers, int heads, int kvHeads, int mlp, int vocab, bool tied) => ShapeOf(a, hidden, layers, heads, kvHeads, mlp, vocab, tied);

    static LlamaShape ShapeOf(Args a, int hidden, int layers, int heads, int kvHeads, int mlp, int vocab, bool tied)
    {
        hidden = a.Int("hidden", hidden);
        heads = a.Int("heads", heads);
        var s = new LlamaShape(hidden, a.Int("layers", layers), heads, a.Int("kv-heads", kvHeads),
            a.Int("head-dim", hidden / Math.Max(1, heads)), a.Int("mlp", mlp), a.Int("vocab", vocab),
            a.Flag("untied") ? false : a.Flag("tied") || tied);
        if (s.Hidden == 0 || s.Layers == 0 || s.Heads == 0 || s.KvHeads == 0 || s.HeadDim == 0 || s.Mlp == 0 || s.Vocab == 0)
            throw new UsageException("model sizes must be positive");
        return s;
    }

    static ForwardBench.Options ForwardOptions(Args a)
    {
        var mmText = a.String("matmul") ?? "1024x4096x4096";
        var mm = mmText.Split('x').Select(x => int.TryParse(x, out var v) && v > 0 ? v : throw new UsageException("--matmul expects MxKxN")).ToArray();
        if (mm.Length != 3) throw new UsageException("--matmul expects MxKxN");
        var only = a.String("only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return new ForwardBench.Options(ShapeOf(a, 1024, 8, 16, 4, 2816, 32000, tied: false),
            Math.Max(1, a.Int("batch", 8)), Math.Max(1, a.Int("seq", 128)), Math.Max(1, a.Int("rounds", 7)), a.Int("warmup", 2),
            (ulong)a.Int("seed", 1), a.Int("threads", 0), a.Flag("spinning"), !a.Flag("no-defaults"), !a.Flag("no-session"),
            (mm[0], mm[1], mm[2]), a.String("tmp"), a.Flag("keep"), a.Flag("isolate"), only, ProviderOf(a));
    }

    // Probed before the checkpoint is written, so a machine without CUDA fails in a second with the missing library named.
    ExecutionProviderKind Provider() => ProviderOf(a);

    static ExecutionProviderKind ProviderOf(Args a)
    {
        var kind = (a.String("provider") ?? "cpu").ToLowerInvariant() switch
        {
            "cpu" => ExecutionProviderKind.Cpu,
            "cuda" => ExecutionProviderKind.Cuda,
            var other => throw new UsageException($"--provider must be cpu or cuda, not {other}"),
        };
        if (kind == ExecutionProviderKind.Cuda && ExecutionProviders.ProbeCuda() is { } why) throw new ExecutionProviderException(why);
        return kind;
    }

    static List<KeyValuePair<string, string>> ChildEnv(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(kv =>
        {
            int eq = kv.IndexOf('=');
            if (eq <= 0) throw new UsageException("--child-env expects KEY=VALUE[,KEY=VALUE...]");
            return new KeyValuePair<string, string>(kv[..eq], kv[(eq + 1)..]);
        }).ToList();

    Summary summary;
    switch (verb)
    {
        case "forward":
            {
                var o = ForwardOptions(a);
                a.CheckAllUsed();
                summary = ForwardBench.Run(o, args);
                summary.Json["provider"] = o.Provider.ToString().ToLowerInvariant();
                break;
            }
        case "export-memory":
            {
                var dt = (a.String("source-dtype") ?? "f32").ToLowerInvariant() switch
                {
                    "f32" or "fp32" or "float32" => TensorDType.F32,
                    "bf16" or "bfloat16" => TensorDType.BF16,
                    var other => throw new UsageException($"--source-dtype must be f32 or bf16, not {other}"),
                };
                var o = new ExportMemoryBench.Options(Shape(2048, 16, 32, 8, 8192, 128256, tied: true), dt, seed,
                    !a.Flag("no-hash"), Math.Max(1, a.Int("poll-ms", 20)), tmp, keep, ChildEnv(a.String("child-env")));
                a.CheckAllUsed();
                summary = ExportMemoryBench.Run(o);
                break;
            }
        case "generate":
            {
                int minLen = Math.Max(1, a.Int("min-len", 64)), genMin = Math.Max(1, a.Int("gen-min-len", 16));
                var o = new GenerateBench.Options(Shape(1024, 8, 16, 4, 2816, 32000, tied: false),
                    Math.Max(1, a.Int("prompts", 32)), minLen, Math.Max(minLen, a.Int("max-len", 128)), Math.Max(1, a.Int("batch", 8)),
                    Math.Max(1, a.Int("gen-prompts", 8)), genMin, Math.Max(genMin, a.Int("gen-max-len", 32)),
                    Math.Max(1, a.Int("gen-tokens", 32)), Math.Max(1, a.Int("naive-tokens", 16)),
                    Math.Max(1, a.Int("rounds", 5)), a.Int("warmup", 1), seed, a.Int("threads", 0), tmp, keep);
                a.CheckAllUsed();
                summary = GenerateBench.Run(o);
                break;
            }
        case "trace":
            {
                var o = new TraceBench.Options(a.String("model"), Shape(1024, 8, 16, 4, 2816, 32000, tied: false),
                    Math.Max(1, a.Int("pairs", 8)), Math.Max(1, a.Int("prefix", 60)), Math.Max(4, a.Int("patched", 14)),
                    Math.Max(1, a.Int("rounds", 2)), seed, tmp, keep, Provider(), !a.Flag("no-share"));
                a.CheckAllUsed();
                summary = TraceBench.Run(o);
                summary.Json["provider"] = o.Provider.ToString().ToLowerInvariant();
                break;
            }
        case "deploy":
            {
                var o = new DeployBench.Options(Shape(1024, 8, 16, 4, 2816, 32000, tied: false),
                    Math.Max(1, a.Int("batch", 1)), Math.Max(1, a.Int("seq", 128)), Math.Max(1, a.Int("past", 128)),
                    Math.Max(1, a.Int("rounds", 7)), a.Int("warmup", 2), seed, a.Int("threads", 0), !a.Flag("no-memory"),
                    Math.Max(1, a.Int("poll-ms", 20)), tmp, keep);
                a.CheckAllUsed();
                summary = DeployBench.Run(o);
                break;
            }
        case "genai":
            {
                int promptLen = Math.Max(1, a.Int("prompt-len", 32));
                var o = new GenAiBench.Options(Shape(1024, 8, 16, 4, 2816, 32000, tied: false),
                    promptLen, Math.Clamp(a.Int("min-len", Math.Max(1, promptLen * 3 / 4)), 1, promptLen), Math.Max(1, a.Int("new-tokens", 64)),
                    Math.Max(1, a.Int("batch", 8)), Math.Max(1, a.Int("rounds", 7)), a.Int("warmup", 2), seed,
                    a.Int("threads", Environment.ProcessorCount), a.Flag("genai-spinning"), tmp, keep, a.Flag("spin-while-running"));
                a.CheckAllUsed();
                summary = GenAiBench.Run(o);
                break;
            }
        case "diff":
            {
                var o = new DiffBench.Options(a.String("base"), a.String("post"), a.String("tokenizer"), Shape(2048, 22, 32, 4, 5632, 32000, tied: false),
                    Math.Max(1, a.Int("prompts", 8)), Math.Max(1, a.Int("batch", 8)), Math.Max(1, a.Int("rounds", 3)), a.Int("warmup", 1),
                    a.String("template"), seed, tmp, keep);
                a.CheckAllUsed();
                summary = DiffBench.Run(o);
                break;
            }
        case "capture-memory":
            {
                var counts = (a.String("counts") ?? "1000,10000").Split(',', StringSplitOptions.RemoveEmptyEntries)
                    .Select(x => int.TryParse(x, out var v) && v > 0 ? v : throw new UsageException("--counts expects positive integers, e.g. 1000,10000")).ToList();
                if (counts.Count == 0) throw new UsageException("--counts expects positive integers, e.g. 1000,10000");
                int minLen = Math.Max(1, a.Int("min-len", 16));
                var o = new CaptureMemoryBench.Options(Shape(256, 4, 8, 4, 688, 4096, tied: false), counts,
                    minLen, Math.Max(minLen, a.Int("max-len", 32)), Math.Max(1, a.Int("batch", 32)), seed,
                    Math.Max(1, a.Int("poll-ms", 20)), tmp, keep, ChildEnv(a.String("child-env")));
                a.CheckAllUsed();
                summary = CaptureMemoryBench.Run(o);
                break;
            }
        default:
            throw new UsageException($"unknown verb '{verb}'");
    }
    summary.Print(Console.Out);
    if (json is not null)
    {
        summary.WriteJson(json);
        Console.WriteLine($"wrote {json}");
    }
    return 0;
}
catch (UsageException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    Console.Error.WriteLine(Usage);
    return 2;
}
catch (OnnxInterpException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 1;
}

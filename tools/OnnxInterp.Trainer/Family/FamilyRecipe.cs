using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Trainer.Family;

/// <summary>How much to train each member. <see cref="Full"/> makes the shipped family; <see cref="Smoke"/> is for CI.</summary>
/// <remarks>
/// The base trains 14,000 steps: judging of held-out facts appears abruptly, somewhere between steps 4,000 and 7,000
/// depending on the run, and keeps rising for thousands of steps after (seed 1: 54% at 6,000, 80% at 7,000, 89% at
/// 9,000, 94% at 11,000); with 7,000 steps in all, runs stopped mid-rise (88%, another train seed 84%).
/// </remarks>
public sealed record FamilyScale(int BaseSteps, int SftSteps, int InstructSteps, int FactDocs, int JudgeDocs, int GenericDocs, int SeqLen, int Batch)
{
    public static FamilyScale Full => new(14000, 500, 500, 36000, 30000, 1500, 96, 16) { FactPhaseSteps = 1000, EvalEvery = 1000, BaseLearningRate = 1e-3, PostLearningRate = 1e-4 };
    public static FamilyScale Smoke => new(12, 4, 4, 200, 200, 50, 64, 8) { FactPhaseSteps = 4 };

    /// <summary>
    /// Base steps on plain documents only, before the judging documents join: the facts are recalled first, so that
    /// judging can be learned as a comparison with what the model already predicts rather than as labels to memorise.
    /// </summary>
    public int FactPhaseSteps { get; init; }

    /// <summary>Measure judging inside the trainer every this many base steps (0: never).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Peak learning rate of base pretraining (3e-3 memorised the judged labels sooner than it learned the rule).</summary>
    public double BaseLearningRate { get; init; } = 3e-3;

    /// <summary>
    /// Peak learning rate of post-training (sft and instruct). The family uses 1e-4: at 1e-3 with weight decay 0.1
    /// (and instruct continuing from sft) the members moved 16–33% from the base (relative Frobenius change), far from
    /// real post-trained models; at 1e-4 without decay they move 2–8% and keep their behaviour (models/README.md).
    /// </summary>
    public double PostLearningRate { get; init; } = 1e-3;

    /// <summary>Decoupled pull of post-training toward the base weights (L2-SP; <see cref="AdamW"/>): 0 lets them drift.</summary>
    public double PostWeightDecay { get; init; }
}

/// <summary>One trained member and how its training went.</summary>
public sealed record MemberLog(string Name, string Template, int Steps, double FirstLoss, double FinalLoss, long Tokens, double Seconds, int Sequences);

/// <summary>
/// Trains the embedded family from one seed: a byte-level BPE tokenizer on the synthetic world, then base
/// (pretraining), sft (Tulu-template dialogues, most harmful requests refused, base documents replayed) and
/// instruct (ChatML dialogues, every harmful request refused), each written as a Hugging Face checkpoint.
/// </summary>
public static class FamilyRecipe
{
    /// <summary>
    /// Many entities, most of them judged: judging carries over to held-out facts only once enough distinct facts are
    /// judged (1,620 cities, 648 animals, 540 inventors here; with 450 cities, each judged many times, the base memorised
    /// the judged labels and judged held-out facts at 54–64%). tools/recipe-search has the comparison that chose it.
    /// </summary>
    public static WorldSize World => WorldSize.Family;

    /// <summary>Six layers of 160 (5 query heads over 1 key-value head of 32): room to recall a fact and then compare it.</summary>
    public static TrainerConfig Model(int vocab) => new()
    {
        Hidden = 160, Intermediate = 448, Layers = 6, Heads = 5, KvHeads = 1, HeadDim = 32, Vocab = vocab, MaxSeq = 256,
    };

    /// <param name="seed">Seeds the world, the tokenizer and the documents (and, unless <paramref name="trainSeed"/> is given, the rest).</param>
    /// <param name="trainSeed">Seeds the initial weights and the order of the batches: the same data, another training run.</param>
    public static IReadOnlyList<MemberLog> Train(string outRoot, int seed, FamilyScale scale, TextWriter log, int? trainSeed = null)
    {
        int ts = trainSeed ?? seed;
        var world = SyntheticWorld.Generate(seed, World);
        var corpus = new FamilyCorpus(world, seed);
        var (tokJson, tok) = TrainTokenizer(corpus);
        int bos = tok.TokenToId(FamilyCorpus.Bos)!.Value, eos = tok.TokenToId(FamilyCorpus.Eos)!.Value, pad = tok.TokenToId(FamilyCorpus.Pad)!.Value;
        var config = Model(tok.VocabSize) with { BosTokenId = bos, EosTokenId = eos };

        var logs = new List<MemberLog>();
        var (plainDocs, judgeDocs) = corpus.BaseDocuments(scale.FactDocs, scale.JudgeDocs, scale.GenericDocs, dialogueRepeats: 2);
        var baseDocs = plainDocs.Concat(judgeDocs).ToList();
        var model = TinyLlama.Create(config, ts);
        log.WriteLine($"tokenizer: {tok.VocabSize} tokens; model: {model.ParameterCount:N0} parameters");
        var probe = scale.EvalEvery > 0 ? new JudgeProbe(corpus, tok, pad, seed) : null;
        // Pretraining rows are packed with documents: no compute goes to padding (fact documents are ~50 tokens).
        var plainBatches = new WeightedSequenceBatches(corpus.Tokenize(tok, plainDocs, []), scale.Batch, scale.SeqLen, ts, pad, pack: true);
        var allBatches = new WeightedSequenceBatches(corpus.Tokenize(tok, baseDocs, []), scale.Batch, scale.SeqLen, ts + 100, pad, pack: true);
        void Probe(int step)
        {
            if (probe is null || step % scale.EvalEvery != 0) return;
            var (held, judged, byDs) = probe.Evaluate(model);
            log.WriteLine($"  base step {step}: judges held-out {held:P1} (" + string.Join(", ", byDs.Select(kv => $"{kv.Key} {kv.Value:P0}")) + $"), judged {judged:P1}");
        }
        logs.Add(Stage("base", FamilyCorpus.BaseTemplate, model, new PhasedBatches(plainBatches, allBatches, scale.FactPhaseSteps), baseDocs.Count,
            scale.BaseSteps, scale.BaseLearningRate, 100, scale, ts, log, Probe));
        Write(outRoot, "base", model, tokJson, FamilyCorpus.BaseTemplate);
        logs.AddRange(PostTrain(outRoot, model, tokJson, tok, world, seed, scale, log, ts));
        return logs;
    }

    /// <summary>
    /// Post-trains sft and instruct from the base already written under <paramref name="outRoot"/> (its weights and
    /// tokenizer), as <see cref="Train"/> does after the base: the same command writes the same files either way.
    /// </summary>
    public static IReadOnlyList<MemberLog> PostTrain(string outRoot, int seed, FamilyScale scale, TextWriter log, int? trainSeed = null)
    {
        string baseDir = Path.Combine(outRoot, "base");
        var model = CheckpointReader.Read(baseDir);
        var tokJson = File.ReadAllText(Path.Combine(baseDir, "tokenizer.json"));
        var tok = HfTokenizer.FromDirectory(baseDir);
        return PostTrain(outRoot, model, tokJson, tok, SyntheticWorld.Generate(seed, World), seed, scale, log, trainSeed ?? seed);
    }

    /// <summary>
    /// sft (Tulu-template dialogues, 70% of harmful requests refused) and instruct (ChatML, every harmful request
    /// refused) each start from the base, as real post-trained models do (not instruct from sft), and stay near it:
    /// a low learning rate, and a decoupled pull toward the base weights (L2-SP) in place of weight decay toward 0.
    /// Both replay a slice of the base documents (about 2,800) so facts and judging stay. Their corpus is a fresh one
    /// from <paramref name="seed"/>, so the data do not depend on what the base's training drew.
    /// </summary>
    static IReadOnlyList<MemberLog> PostTrain(string outRoot, TinyLlama baseModel, string tokJson, HfTokenizer tok, SyntheticWorld world, int seed,
        FamilyScale scale, TextWriter log, int ts)
    {
        var corpus = new FamilyCorpus(world, seed);
        int pad = tok.TokenToId(FamilyCorpus.Pad)!.Value;
        var (plainDocs, judgeDocs) = corpus.BaseDocuments(scale.FactDocs, scale.JudgeDocs, scale.GenericDocs, dialogueRepeats: 2);
        var baseDocs = plainDocs.Concat(judgeDocs).ToList();
        var replay = baseDocs.Where((_, i) => i % Math.Max(1, baseDocs.Count / 2800) == 0).ToList();
        var logs = new List<MemberLog>();
        foreach (var (name, template, refuse, steps, seedOffset) in new[]
        {
            ("sft", FamilyCorpus.SftTemplate, 0.7, scale.SftSteps, 1),
            ("instruct", FamilyCorpus.InstructTemplate, 1.0, scale.InstructSteps, 2),
        })
        {
            var model = baseModel.Clone();
            var data = corpus.Tokenize(tok, replay, corpus.Dialogues(template, refuse, 3));
            var batches = new WeightedSequenceBatches(data, scale.Batch, scale.SeqLen, ts + seedOffset, pad);
            logs.Add(Stage(name, template, model, batches, data.Count, steps, scale.PostLearningRate, 20, scale, ts + seedOffset, log, null,
                scale.PostWeightDecay, baseModel));
            Write(outRoot, name, model, tokJson, template);
        }
        return logs;
    }

    /// <summary>
    /// An experiment toward entropy neurons (Stolfo et al. 2024: they write into an effective null space of the
    /// unembedding and act through the final norm): continues the base written under <paramref name="outRoot"/> on its
    /// own pretraining documents for <paramref name="steps"/> steps with the lm_head columns of the last
    /// <paramref name="nullDims"/> hidden dimensions held at 0, a true null space, and writes it to
    /// <paramref name="outRoot"/>/<paramref name="name"/>. With <paramref name="nullDims"/> 0, the same continued training
    /// without a null space (the control).
    /// </summary>
    public static MemberLog ContinueBase(string outRoot, string name, int seed, FamilyScale scale, int steps, double lr, int nullDims, TextWriter log)
    {
        string baseDir = Path.Combine(outRoot, "base");
        var model = CheckpointReader.Read(baseDir);
        int d = model.Config.Hidden;
        if (nullDims < 0 || nullDims >= d) throw new ArgumentOutOfRangeException(nameof(nullDims), nullDims, $"must lie in [0, {d})");
        var tokJson = File.ReadAllText(Path.Combine(baseDir, "tokenizer.json"));
        var tok = HfTokenizer.FromDirectory(baseDir);
        var corpus = new FamilyCorpus(SyntheticWorld.Generate(seed, World), seed);
        int pad = tok.TokenToId(FamilyCorpus.Pad)!.Value;
        var (plainDocs, judgeDocs) = corpus.BaseDocuments(scale.FactDocs, scale.JudgeDocs, scale.GenericDocs, dialogueRepeats: 2);
        var docs = plainDocs.Concat(judgeDocs).ToList();
        var batches = new WeightedSequenceBatches(corpus.Tokenize(tok, docs, []), scale.Batch, scale.SeqLen, seed + 200, pad, pack: true);
        var head = model.LmHead.Data;
        void Null(int _)
        {
            for (int v = 0; v < model.Config.Vocab; v++) Array.Clear(head, v * d + d - nullDims, nullDims);
        }
        Null(0);
        var result = Stage(name, FamilyCorpus.BaseTemplate, model, batches, docs.Count, steps, lr, 50, scale, seed + 200, log, Null);
        Write(outRoot, name, model, tokJson, FamilyCorpus.BaseTemplate);
        return result;
    }

    /// <summary>The family's byte-level BPE tokenizer (1024 tokens with the special tokens), trained on everything the corpus says.</summary>
    public static (string Json, HfTokenizer Tokenizer) TrainTokenizer(FamilyCorpus corpus)
    {
        string json = BpeTrainer.TrainByteLevel(corpus.TokenizerTexts(), new BpeTrainer.Options(1024, FamilyCorpus.SpecialTokens, FamilyCorpus.Bos));
        var dir = Path.Combine(Path.GetTempPath(), "onnxinterp-family-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
            return (json, HfTokenizer.FromDirectory(dir));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    static MemberLog Stage(string name, string template, TinyLlama model, IBatchSource batches, int sequences, int steps, double lr, int warmup,
        FamilyScale scale, int seed, TextWriter log, Action<int>? afterStep, double weightDecay = 0.1, TinyLlama? anchor = null)
    {
        var sw = Stopwatch.StartNew();
        var options = new TrainingOptions
        {
            Steps = steps, BatchSize = scale.Batch, SeqLen = scale.SeqLen, LearningRate = lr, WarmupSteps = Math.Min(warmup, steps / 4), Seed = seed,
            LogInterval = Math.Max(1, steps / 20), AfterStep = afterStep, WeightDecay = weightDecay, Anchor = anchor,
        };
        var result = Trainer.Train(model, batches, options, new ConsoleProgress(name, log));
        log.WriteLine($"{name}: loss {result.FirstLoss:F3} -> {result.FinalLoss:F3}, {result.Tokens:N0} tokens in {sw.Elapsed.TotalSeconds:F0} s ({result.TokensPerSecond:F0} tokens/s)");
        return new MemberLog(name, template, steps, result.FirstLoss, result.FinalLoss, result.Tokens, sw.Elapsed.TotalSeconds, sequences);
    }

    static void Write(string root, string name, TinyLlama model, string tokJson, string template)
    {
        var config = new JsonObject
        {
            ["add_bos_token"] = true, ["add_eos_token"] = false, ["bos_token"] = FamilyCorpus.Bos, ["eos_token"] = FamilyCorpus.Eos,
            ["pad_token"] = FamilyCorpus.Pad, ["tokenizer_class"] = "PreTrainedTokenizerFast", ["model_max_length"] = 256,
            // Our chat templates are chosen by name (ChatTemplates.Get); this says which one the member was tuned with.
            ["onnxinterp_chat_template"] = template,
        };
        CheckpointWriter.Write(Path.Combine(root, name), model, tokJson, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    sealed class ConsoleProgress(string name, TextWriter log) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress p) =>
            log.WriteLine($"  {name} step {p.Step}/{p.TotalSteps} loss {p.Loss:F4} lr {p.LearningRate:E2} |g| {p.GradNorm:F2} {p.TokensPerSecond:F0} tok/s");
    }
}

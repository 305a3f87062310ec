using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Analysis.Editing;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Checkpoints;
using OnnxInterp.Comparison;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Docs;

/// <summary>
/// The README's C# blocks run here verbatim (between <c>// README:begin N</c> and <c>// README:end N</c>); a test fails
/// if a block of the README and its region here drift apart. This class: export, run and capture, patch, the GPU example.
/// </summary>
public class ReadmeExampleTests
{
    [Test]
    public void ReadmeExportRunPatch_Runs()
    {
        using var tmp = new TempDir();
        using var cwd = new WorkingDirectory(tmp.Path);

        // README:begin 1
        RandomCheckpoint.Write("tiny-hf", new RandomCheckpointSpec());       // or your own checkpoint folder
        ModelExporter.Export("tiny-hf", "tiny-onnx");                         // once per checkpoint
        ModelExporter.Export("tiny-hf", "tiny-fp16", new ExportOptions { DType = ExportDType.Fp16 });              // for CUDA
        ModelExporter.Export("tiny-hf", "tiny-int4", new ExportOptions { Quantization = WeightQuantization.Int4() }); // MatMulNBits, CPU
        // README:end 1

        var fp32 = ModelManifest.Read("tiny-onnx");
        var int4 = ModelManifest.Read("tiny-int4");
        Assert.That(ModelManifest.Read("tiny-fp16").DType, Is.EqualTo(ExportDType.Fp16));
        Assert.That(int4.Quantization?.Bits, Is.EqualTo(4));
        Assert.That(int4.Hooks.Select(h => h.Name), Is.EqualTo(fp32.Hooks.Select(h => h.Name)), "the int4 export has the same hook points");
        Assert.That(new FileInfo(Path.Combine("tiny-int4", int4.DataFile)).Length, Is.LessThan(new FileInfo(Path.Combine("tiny-onnx", fp32.DataFile)).Length / 2));

        // README:begin 2
        using var model = ModelSession.Open("tiny-onnx");                     // CPU by default; SessionConfig picks CUDA
        var tokenizer = HfTokenizer.FromDirectory("tiny-onnx");
        int[] ids = tokenizer.Encode("The city of Paris is in France.");

        var clean = model.Run(new ForwardRequest([ids]) { Hooks = ["blocks.*.hook_resid_post"] });
        FloatTensor h = clean.Cache["blocks.2.hook_resid_post"];             // [batch, seq, d]
        // README:end 2

        Assert.That(h.Shape, Is.EqualTo(new[] { 1, ids.Length, 64 }));
        Assert.That(clean.Cache.Keys.Select(k => k.ToString()), Is.EquivalentTo(Enumerable.Range(0, 4).Select(l => $"blocks.{l}.hook_resid_post")));
        Assert.That(clean.Logits.Shape, Is.EqualTo(new[] { 1, ids.Length, 258 }));

        // README:begin 3
        // Patch the subject (P vs R, position 13) at layer 2 with the other prompt's vector; interventions are plain data (JSON-serialisable).
        int[] other = tokenizer.Encode("The city of Rome is in France.");
        var donor = model.Run(new ForwardRequest([other]) { Hooks = ["blocks.2.hook_resid_post"] }).Cache["blocks.2.hook_resid_post"];
        var patched = model.Run(new ForwardRequest([ids])
        {
            Interventions = [Intervention.Replace("blocks.2.hook_resid_post", donor.Vector(0, 13).ToArray(), positions: [13])],
        });
        // README:end 3

        Assert.That(tokenizer.Decode([ids[13]]), Is.EqualTo("P"), "position 13 is the subject's first byte after BOS");
        Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, 12), clean.Logits.Vector(0, 12)), Is.LessThanOrEqualTo(1e-6));
        Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, ids.Length - 1), clean.Logits.Vector(0, ids.Length - 1)), Is.GreaterThan(1e-4));
    }

    [Test]
    public void ReadmeGpuExample_RunsOnCudaOrFallsBackWithAWarning()
    {
        using var tmp = new TempDir();
        using var cwd = new WorkingDirectory(tmp.Path);
        RandomCheckpoint.Write("tiny-hf", new RandomCheckpointSpec { Layers = 2 });
        ModelExporter.Export("tiny-hf", "tiny-onnx", new ExportOptions { HashSource = false });
        var stderr = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            // README:begin 12
            string? why = ExecutionProviders.ProbeCuda();                      // null when CUDA 13 and cuDNN 9 load
            using var gpu = ModelSession.Open("tiny-onnx", new SessionConfig { Provider = ExecutionProviderKind.Auto },
                warn: message => Console.Error.WriteLine(message));            // Auto: CUDA, else CPU after this warning
            // README:end 12

            var warnings = captured.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(warnings, why is null ? Is.Empty : Is.EqualTo(new[] { "CUDA unavailable, running on CPU: " + why }));
            using var cpu = ModelSession.Open("tiny-onnx");
            var request = new ForwardRequest([[256, 72, 105, 33]]);
            Assert.That(Compare.MaxAbsDiff(gpu.Run(request).Logits.Data, cpu.Run(request).Logits.Data), Is.LessThan(1e-3));
            if (why is not null)
                Assert.That(() => ModelSession.Open("tiny-onnx", new SessionConfig { Provider = ExecutionProviderKind.Cuda }),
                    Throws.TypeOf<ExecutionProviderException>().With.Message.Contains(why));
        }
        finally
        {
            Console.SetError(stderr);
        }
    }

    [Test]
    public void ReadmeCSharpBlocks_AreTheCodeTheseTestsRun()
    {
        var thisFile = SourcePath();
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));
        var readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        var blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        var source = File.ReadAllText(thisFile).ReplaceLineEndings("\n");
        var regions = Regex.Matches(source, @"// README:begin (\d+)\n(.*?)// README:end \1\n", RegexOptions.Singleline)
            .ToDictionary(m => int.Parse(m.Groups[1].Value), m => m.Groups[2].Value);
        static string Norm(string s) => Regex.Replace(s, @"\s+", " ").Trim();

        Assert.That(regions.Keys.Order(), Is.EqualTo(Enumerable.Range(1, blocks.Count)),
            "every C# block of the README (numbered in order) has a region here, and every region a block");
        for (int i = 0; i < blocks.Count; i++)
        {
            var body = string.Join("\n", blocks[i].Split('\n').Where(l => !Regex.IsMatch(l, @"^using [\w.]+;")));
            Assert.That(Norm(regions[i + 1]), Is.EqualTo(Norm(body)), $"README block {i + 1}");
        }
    }

    static string SourcePath([CallerFilePath] string path = "") => path;
}

/// <summary>
/// The README's analysis examples, on two small random models ("base-onnx", "instruct-onnx") that share a BPE vocabulary
/// trained on the synthetic world, so that " TRUE" and " FALSE" are single tokens as for the shipped family. Their outputs
/// are meaningless; the assertions check that each example produced the tables it promises, with finite numbers.
/// </summary>
public class ReadmeAnalysisExampleTests
{
    TempDir _tmp = null!;
    WorkingDirectory? _cwd;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var texts = new[] { SyntheticWorld.Cities, SyntheticWorld.Animals, SyntheticWorld.LargerThan }
            .SelectMany(d => world.ToDataset(d).Statements).Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = BpeTrainer.TrainByteLevel(texts, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed, template) in new[] { ("base", 1, "plain"), ("instruct", 2, "qwen2") })
        {
            var hf = _tmp.Sub(name + "-hf");
            RandomCheckpoint.Write(hf, new RandomCheckpointSpec { Layers = 3, Seed = seed, VocabSize = 600 });
            File.WriteAllText(Path.Combine(hf, "tokenizer.json"), tokenizerJson);
            File.WriteAllText(Path.Combine(hf, "tokenizer_config.json"),
                $$"""{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true, "onnxinterp_chat_template": "{{template}}"}""");
            ModelExporter.Export(hf, _tmp.Sub(name + "-onnx"), new ExportOptions { HashSource = false });
        }
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    [SetUp]
    public void EnterFolder() => _cwd = new WorkingDirectory(_tmp.Path);

    [TearDown]
    public void LeaveFolder() => _cwd?.Dispose();

    [Test]
    public void ReadmeKnowledgeStorage_Runs()
    {
        // README:begin 4
        var world = SyntheticWorld.Generate(1, WorldSize.Family);           // the family's world; or StatementDataset.Read("cities.csv")
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");      // checks that vocabularies and shapes agree
        KnowledgeModel[] models = [new("base", pair.Base), new("instruct", pair.Post)];
        var storage = KnowledgeAnalysis.Run(world.ToDataset("cities"), pair.Tokenizer!, models, world.FewShot("cities"),
            new KnowledgeOptions { Transfer = false, MaxPairs = 8 });       // causal tracing of each model
        KnowledgeReport.Write("knowledge", storage);                        // JSON, CSV and PNG heatmaps
        // README:end 4

        Assert.That(storage.Matrices.Select(m => (m.Model, m.Pairs)), Is.EqualTo(new[] { ("base", 8), ("instruct", 8) }));
        Assert.That(storage.Transfers, Is.Empty);
        Assert.That(storage.Comparisons.Select(c => (c.A, c.B)), Is.EqualTo(new[] { ("base", "instruct") }));
        foreach (var m in storage.Matrices)
        {
            Assert.That((m.Layers, m.Positions), Is.EqualTo((3, m.PositionLabels.Count)));
            Assert.That(m.Values.Cast<double>(), Is.All.Matches<double>(double.IsFinite));
        }
        Assert.That(File.Exists(Path.Combine("knowledge", "knowledge_cities.json")));
    }

    [Test]
    public void ReadmeKnowledgeRepresentation_Runs()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");
        KnowledgeModel[] models = [new("base", pair.Base), new("instruct", pair.Post)];

        // README:begin 5
        var transfer = KnowledgeAnalysis.Run(world.ToDataset("cities"), pair.Tokenizer!, models, world.FewShot("cities"),
            new KnowledgeOptions { Transfer = true, MaxPairs = 8 });        // Transfer is the default
        foreach (var row in transfer.Comparisons)                           // the paper's Table 1
            Console.WriteLine($"{row.A} vs {row.B}: corr {row.Corr:F3}, max |diff| {row.MaxAbsDiff:F3}");
        // README:end 5

        Assert.That(transfer.Transfers.Select(m => m.Model), Is.EqualTo(new[] { "base->instruct", "instruct->base" }));
        Assert.That(transfer.Comparisons.Select(c => (c.A, c.B)),
            Is.EqualTo(new[] { ("base", "instruct"), ("instruct", "base->instruct"), ("base", "instruct->base") }));
        foreach (var c in transfer.Comparisons)
        {
            Assert.That(c.Corr, Is.InRange(-1.0, 1.0));
            Assert.That(c.MaxAbsDiff, Is.InRange(0.0, 1.0));
        }
    }

    [Test]
    public void ReadmeTruthfulness_Runs()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");

        // README:begin 6
        var datasets = new[] { "cities", "animal_class", "larger_than" }
            .Select(d => new TruthDataset(world.ToDataset(d), world.FewShot(d))).ToList();
        var truth = TruthAnalysis.Run(datasets, pair.Tokenizer!, [new TruthModel("base", pair.Base), new TruthModel("instruct", pair.Post)],
            new TruthOptions { MaxStatementsPerDataset = 60, MaxInterventionStatements = 10 });
        TruthReport.Write("truth", truth);         // truth.json, truth.md (probe accuracy, cosines, Tables 2 and 3), figures
        // README:end 6

        Assert.That(truth.Probes.Select(p => p.Model), Is.EqualTo(new[] { "base", "instruct" }));
        foreach (var p in truth.Probes)
        {
            Assert.That(p.Layers.Select(l => l.Layer), Is.EqualTo(new[] { 0, 1, 2 }));
            Assert.That(p.Layers.Select(l => l.MassMean), Is.All.InRange(0.0, 1.0));
        }
        Assert.That(truth.ProbeLayer, Is.EqualTo(truth.Probes[0].BestLayer));
        Assert.That(truth.Transfer.Where(t => t.Model == "instruct").Select(t => t.Dataset), Is.EquivalentTo(new[] { "cities", "animal_class", "larger_than" }));
        Assert.That(truth.CosinesAtProbeLayer.Matrix[0][0], Is.EqualTo(1).Within(1e-9));
        Assert.That(truth.Intervention!.Effects, Has.Count.EqualTo(4));
        Assert.That(truth.Intervention.Effects.Select(e => e.MeanEffect), Is.All.Matches<double>(double.IsFinite));
        Assert.That(File.ReadAllText(Path.Combine("truth", "truth.md")), Does.Contain("Table 2").And.Contain("Table 3"));
    }

    [Test]
    public void ReadmeRefusal_Runs()
    {
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");

        // README:begin 7
        RefusalModel[] chat = [RefusalModel.FromSession("base", pair.Base),       // chat template from tokenizer_config.json
                               RefusalModel.FromSession("instruct", pair.Post)];  // (onnxinterp_chat_template), else plain
        var refusal = RefusalAnalysis.Run(chat, InstructionSet.Synthetic(),        // or InstructionSet.Read("refusal_train.csv")
            new RefusalOptions { MaxTrain = 32, MaxValidation = 8, MaxTest = 8, MaxNewTokens = 8 });
        foreach (var row in refusal.Table())                                       // the paper's Table 4
            Console.WriteLine($"{row.Model}: refuses {row.HarmfulBaseline:P0} of harmful instructions, {row.HarmfulAblated[row.Model]:P0} with its direction ablated");
        RefusalReport.Write("refusal", refusal);                                   // refusal.json, refusal.md with sample completions
        // README:end 7

        Assert.That(refusal.Directions.Select(d => (d.Model, d.Template)), Is.EqualTo(new[] { ("base", "plain"), ("instruct", "qwen2") }));
        Assert.That(refusal.Split.Test.Harmful, Has.Count.EqualTo(8));
        Assert.That(refusal.Cells, Has.Count.EqualTo(2 * (2 + 2 + 2)));
        Assert.That(refusal.Cells.Select(c => c.PrefixScore), Is.All.InRange(0.0, 1.0));
        Assert.That(refusal.Table().Select(r => r.HarmlessAdded.Keys), Is.All.EquivalentTo(new[] { "base", "instruct" }));
        Assert.That(refusal.Cosines[0][0], Is.EqualTo(1).Within(1e-6));
        Assert.That(double.IsFinite(refusal.Cosines[0][1]));
        Assert.That(File.ReadAllText(Path.Combine("refusal", RefusalReport.MarkdownFile)), Does.StartWith("## Refusal"));
    }

    [Test]
    public void ReadmeConfidence_Runs()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");

        // README:begin 8
        var confidence = ConfidenceAnalysis.Run(
            [new ConfidenceModel("base", LastLayerWeights.Read("base-onnx"), pair.Base),        // weights: export or checkpoint
             new ConfidenceModel("instruct", LastLayerWeights.Read("instruct-onnx"), pair.Post)],
            new ConfidenceData(world.ToDataset("cities", heldOutOnly: true), world.FewShot("cities"), pair.Tokenizer!),
            new ConfidenceOptions { MaxStatements = 40 });
        var table14 = confidence.Overlaps[0];                                   // entropy neurons shared by base and instruct
        Console.WriteLine($"overlap {table14.Overlap} of 10, IoU {table14.Iou:F2}");
        ConfidenceReport.Write("confidence", confidence);                       // entropy.json, entropy.md, scatter plots
        // README:end 8

        Assert.That(confidence.Models.Select(m => m.Neurons.Count), Is.All.EqualTo(10));
        Assert.That(confidence.Models.Select(m => m.Layer), Is.All.EqualTo(2));
        Assert.That((table14.A, table14.B), Is.EqualTo(("base", "instruct")));
        Assert.That(table14.Overlap, Is.EqualTo(confidence.Models[0].Indices.Intersect(confidence.Models[1].Indices).Count()));
        Assert.That(confidence.Ablations!.Select(a => a.Prompts), Is.All.EqualTo(40));
        Assert.That(confidence.Ablations!.SelectMany(a => a.Rows).Select(r => r.EntropyChange), Is.All.Matches<double>(double.IsFinite));
        Assert.That(confidence.Ablations!.Select(a => a.Calibration.Ece), Is.All.InRange(0.0, 1.0));
        Assert.That(File.Exists(Path.Combine("confidence", "figures", ConfidenceReport.FigureFile("instruct"))));
    }
    [Test]
    public void ReadmeDiff_Runs()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");

        // README:begin 9
        var corpus = DiffCorpus.Instructions(InstructionSet.Synthetic(), 8)              // chat turns, in the post model's template
            .Concat(DiffCorpus.JudgingPrompts(world.ToDataset("cities", heldOutOnly: true), world.FewShot("cities"), 8)).ToList();
        var diff = DiffAnalysis.Run(new DiffModel("base", pair.Base), [new DiffModel("instruct", pair.Post)], corpus);
        foreach (var t in diff.Pairs[0].Totals.Where(t => t.Source == "all"))            // template vs content tokens
            Console.WriteLine($"{t.TokenClass}: mean KL(instruct ‖ base) {t.MeanKl:F3}, top-1 differs on {t.Top1Disagreement:P0}");
        DiffReport.Write("diff", diff);                                                  // every token and layer as CSV, directions, figures
        // README:end 9

        var p = diff.Pairs.Single();
        Assert.That((p.Base, p.Post, p.Template, p.Prompts.Count), Is.EqualTo(("base", "instruct", "qwen2", 24)));
        Assert.That(p.Totals.Where(t => t.Source == "all").Select(t => t.TokenClass), Is.EqualTo(new[] { "all", "template", "content", "last" }));
        Assert.That(p.Totals.Select(t => t.MeanKl), Is.All.Matches<double>(x => double.IsFinite(x) && x >= 0));
        Assert.That(p.Layers, Has.Count.EqualTo(3));
        Assert.That(p.Directions, Has.Count.EqualTo(3));
        Assert.That(p.Steering.Select(s => s.Steered.Count), Is.All.EqualTo(3));
        Assert.That(File.Exists(Path.Combine("diff", "tokens-instruct.csv")) && File.Exists(Path.Combine("diff", "figures", "diff-instruct-lens-instruct.png")));
    }

    [Test]
    public void ReadmeAttribution_Runs()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        using var pair = ModelPair.Open("base-onnx", "instruct-onnx");

        // README:begin 10
        AttributionModel[] judged = [new("base", pair.Base, pair.Base.ChatTemplate), new("instruct", pair.Post, pair.Post.ChatTemplate)];
        var attribution = AttributionAnalysis.Judging("cities", judged, pair.Tokenizer!, [("The city of Kemefe is in Diso.", true)],
            world.FewShot("cities"), new AttributionOptions { Coalitions = 128 });     // KernelSHAP, occlusion and LIME
        foreach (var m in attribution.Prompts[0].Models)                              // each word's KernelSHAP score, per model
            Console.WriteLine($"{m.Model}: " + string.Join(" ", attribution.Prompts[0].Words.Zip(m.Methods[0].Scores, (w, v) => $"{w} {v:+0.00;-0.00}")));
        var shap = FeatureAttribution.KernelShap(3, coalitions => coalitions.Select(z => z[0] && z[1] ? 2.0 : 0).ToArray());   // any scalar
        // README:end 10

        Assert.That(attribution.Prompts.Single().Words, Is.EqualTo(new[] { "The", "city", "of", "Kemefe", "is", "in", "Diso." }));
        Assert.That(attribution.Prompts[0].Models.Select(m => m.Methods.Select(x => x.Method)), Is.All.EqualTo(new[] { AttributionMethod.KernelShap, AttributionMethod.Occlusion, AttributionMethod.Lime }));
        Assert.That(attribution.Prompts[0].Models.Select(m => m.Methods[0].EfficiencyGap), Is.All.LessThan(1e-6));
        Assert.That(shap.Scores, Is.EqualTo(new[] { 1.0, 1.0, 0.0 }).Within(1e-12), "z0 AND z1 worth 2: the Shapley values split it");
    }

    [Test]
    public void ReadmeEditing_Runs()
    {
        // The example exports into the default cache: keep it in the test's folder.
        var cache = Environment.GetEnvironmentVariable(ModelResolver.CacheVariable);
        Environment.SetEnvironmentVariable(ModelResolver.CacheVariable, _tmp.Sub("cache"));
        try
        {
            Edit();
        }
        finally
        {
            Environment.SetEnvironmentVariable(ModelResolver.CacheVariable, cache);
        }
    }

    static void Edit()
    {
        // README:begin 11
        var edit = ModelEditor.Run(new EditRequest
        {
            Checkpoint = "base-hf", OutputDirectory = "base-edited",                  // a Hugging Face checkpoint; DIR: the edited copy, onnx/, edit.json
            Facts = [new EditFact("Kemefe", "The city of Kemefe is in", "Medali")],     // a subject of the world: it supplies old object, paraphrases, neighbours
        });
        Console.WriteLine($"layer {edit.Record.Method.Layer}: efficacy {edit.Record.Efficacy}, paraphrase {edit.Record.Paraphrase}, specificity {edit.Record.Specificity}");
        // README:end 11

        var f = edit.Record.Facts.Single();
        Assert.That((f.Old, f.OldSource, f.Paraphrases.Count, f.Neighbours.Count), Is.EqualTo(("Diso", "world", 4, 10)));
        Assert.That(new[] { edit.Record.Efficacy, edit.Record.Paraphrase, edit.Record.Specificity }, Is.All.InRange(0.0, 1.0));
        Assert.That(File.Exists(Path.Combine("base-edited", "edit.json")) && File.Exists(Path.Combine("base-edited", "onnx", "manifest.json")));
    }
}

/// <summary>Runs a test inside a folder, as the README's examples do (relative paths), and restores the previous one.</summary>
sealed class WorkingDirectory : IDisposable
{
    readonly string _previous = Environment.CurrentDirectory;

    public WorkingDirectory(string path) => Environment.CurrentDirectory = path;

    public void Dispose() => Environment.CurrentDirectory = _previous;
}

using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Docs;

/// <summary>The README's library example runs here verbatim; a second test fails if the two texts drift apart.</summary>
public class ReadmeExampleTests
{
    [Test]
    public void ReadmeLibraryExample_Runs()
    {
        using var tmp = new TempDir();
        var cwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = tmp.Path;
        try
        {
            // README:begin 1
            RandomCheckpoint.Write("tiny-hf", new RandomCheckpointSpec());       // or your own checkpoint folder
            ModelExporter.Export("tiny-hf", "tiny-onnx");                         // once per checkpoint
            using var model = ModelSession.Open("tiny-onnx");                     // CPU by default; SessionConfig picks CUDA
            var tokenizer = HfTokenizer.FromDirectory("tiny-onnx");
            int[] ids = tokenizer.Encode("The city of Paris is in France.");

            var clean = model.Run(new ForwardRequest([ids]) { Hooks = ["blocks.*.hook_resid_post"] });
            FloatTensor h = clean.Cache["blocks.2.hook_resid_post"];             // [batch, seq, d]

            // Patch the subject (P vs R, position 13) at layer 2 with the other prompt's vector; interventions are plain data (JSON-serialisable).
            int[] other = tokenizer.Encode("The city of Rome is in France.");
            var donor = model.Run(new ForwardRequest([other]) { Hooks = ["blocks.2.hook_resid_post"] }).Cache["blocks.2.hook_resid_post"];
            var patched = model.Run(new ForwardRequest([ids])
            {
                Interventions = [Intervention.Replace("blocks.2.hook_resid_post", donor.Vector(0, 13).ToArray(), positions: [13])],
            });
            // README:end 1

            Assert.That(h.Shape, Is.EqualTo(new[] { 1, ids.Length, 64 }));
            Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, 12), clean.Logits.Vector(0, 12)), Is.LessThanOrEqualTo(1e-6));
            Assert.That(Compare.MaxAbsDiff(patched.Logits.Vector(0, ids.Length - 1), clean.Logits.Vector(0, ids.Length - 1)), Is.GreaterThan(1e-4));
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
        }
    }

    [Test]
    public void ReadmeKnowledgeExample_Runs()
    {
        using var tmp = new TempDir();
        var cwd = Environment.CurrentDirectory;
        Environment.CurrentDirectory = tmp.Path;
        try
        {
            // Two small models sharing a BPE vocabulary in which " TRUE" and " FALSE" are single tokens.
            var texts = SyntheticWorld.Generate(1).ToDataset("cities").Statements.Select(s => s.Text + " This statement is: TRUE FALSE");
            var tokenizerJson = BpeTrainer.TrainByteLevel(texts, new BpeTrainer.Options(600, ["<s>", "</s>"], "<s>"));
            foreach (var (name, seed) in new[] { ("base", 1), ("instruct", 2) })
            {
                RandomCheckpoint.Write(name + "-hf", new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 600 });
                File.WriteAllText(Path.Combine(name + "-hf", "tokenizer.json"), tokenizerJson);
                ModelExporter.Export(name + "-hf", name + "-onnx", new ExportOptions { HashSource = false });
            }

            // README:begin 2
            var world = SyntheticWorld.Generate(1);                              // or StatementDataset.Read("cities.csv")
            using var pair = ModelPair.Open("base-onnx", "instruct-onnx");
            var result = KnowledgeAnalysis.Run(world.ToDataset("cities"), pair.Tokenizer!,
                [new KnowledgeModel("base", pair.Base), new KnowledgeModel("instruct", pair.Post)], world.FewShot("cities"));
            KnowledgeReport.Write("report", result);                            // JSON, CSV and PNG heatmaps
            // README:end 2

            Assert.That(result.Matrices, Has.Count.EqualTo(2));
            Assert.That(result.Comparisons, Has.Count.EqualTo(3));
            Assert.That(File.Exists(Path.Combine("report", "knowledge_cities.json")));
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
        }
    }

    [Test]
    public void ReadmeLibraryExamples_AreTheCodeTheseTestsRun()
    {
        var thisFile = SourcePath();
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var blocks = Regex.Matches(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value).ToList();
        var source = File.ReadAllText(thisFile);
        static string Norm(string s) => Regex.Replace(s, @"\s+", " ").Trim();
        Assert.That(blocks, Has.Count.EqualTo(2), "every C# block of the README has a test here");
        for (int i = 0; i < blocks.Count; i++)
        {
            var body = string.Join("\n", blocks[i].Split('\n').Where(l => !Regex.IsMatch(l, @"^using [\w.]+;")));
            var region = Regex.Match(source, $"// README:begin {i + 1}\n(.*?)// README:end {i + 1}", RegexOptions.Singleline).Groups[1].Value;
            Assert.That(Norm(region), Is.EqualTo(Norm(body)), $"README block {i + 1}");
        }
    }

    static string SourcePath([CallerFilePath] string path = "") => path;
}

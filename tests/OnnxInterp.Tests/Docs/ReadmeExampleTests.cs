using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using OnnxInterp.Checkpoints;
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
            // README:begin
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
            // README:end

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
    public void ReadmeLibraryExample_IsTheCodeThisTestRuns()
    {
        var thisFile = SourcePath();
        var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));
        var readme = File.ReadAllText(Path.Combine(root, "README.md"));
        var block = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        var body = string.Join("\n", block.Split('\n').Where(l => !Regex.IsMatch(l, @"^using [\w.]+;")));
        var source = File.ReadAllText(thisFile);
        var region = Regex.Match(source, "// README:begin\n(.*?)// README:end", RegexOptions.Singleline).Groups[1].Value;
        static string Norm(string s) => Regex.Replace(s, @"\s+", " ").Trim();
        Assert.That(Norm(region), Is.EqualTo(Norm(body)));
    }

    static string SourcePath([CallerFilePath] string path = "") => path;
}

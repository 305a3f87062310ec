using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Reliability;

/// <summary>
/// A child process (the CLI, or the fuzz tool's capture verb) writes over a previous output and is killed in the
/// middle of the write. The previous output must be byte-for-byte intact, nothing but a hidden staging sibling may be
/// left where users look, and the next write of the same target must remove that sibling.
/// </summary>
public class InterruptedWriteTests
{
    static string Dll(string name) => Path.Combine(AppContext.BaseDirectory, name + ".dll");

    static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>
    /// Runs <c>dotnet DLL ARGS</c>, waits until <paramref name="middle"/> holds (given the child's output so far), then
    /// kills the child's process tree. False when the child finished first (the write was too quick to catch).
    /// </summary>
    static bool KillInTheMiddle(string dll, IEnumerable<string> args, Func<string, bool> middle)
    {
        var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string text;
            lock (output) text = output.ToString();
            if (middle(text)) break;
            if (p.HasExited)
            {
                p.WaitForExit();
                Assert.That(p.ExitCode, Is.Zero, "the child failed:\n" + text);
                return false;
            }
            if (clock.Elapsed > TimeSpan.FromMinutes(5))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("the child never reached the middle of its write:\n" + text);
            }
            Thread.Sleep(2);
        }
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
        return true;
    }

    /// <summary>SHA-256 of every file under <paramref name="path"/> (a file or a folder) that a user sees, by relative path.</summary>
    static Dictionary<string, string> Snapshot(string path)
    {
        if (File.Exists(path)) return new() { ["."] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path))) };
        return Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(path, f))
            .Where(r => !r.Split(Path.DirectorySeparatorChar).Any(s => s.StartsWith('.')))
            .ToDictionary(r => r, r => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(Path.Combine(path, r)))));
    }

    /// <summary>Hidden staging siblings of <paramref name="target"/> (.name.PID-GUID.tmp / .partial / .old).</summary>
    static string[] Staging(string target) =>
        Directory.GetFileSystemEntries(Path.GetDirectoryName(target)!, "." + Path.GetFileName(target) + ".*");

    static string[] Visible(string folder) =>
        Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Where(n => !n!.StartsWith('.')).Order().ToArray()!;

    /// <summary>Retries a kill that came too late (the child finished first); three misses fail the test.</summary>
    static void Interrupt(Func<bool> attempt)
    {
        for (int i = 0; i < 3; i++)
            if (attempt()) return;
        Assert.Fail("the child finished its write three times before it could be killed");
    }

    [Test]
    public void Export_KilledMidWrite_PreviousExportIntact_StagingRemovedByNextExport()
    {
        using var tmp = new TempDir();
        // ~11 M parameters (43 MB of weights): the export streams them long enough to be caught in the middle.
        var spec = new RandomCheckpointSpec { HiddenSize = 256, IntermediateSize = 512, Layers = 4, Heads = 4, KvHeads = 2, VocabSize = 16384 };
        RandomCheckpoint.Write(tmp.Sub("hf1"), spec);
        RandomCheckpoint.Write(tmp.Sub("hf2"), spec with { Seed = 2 });
        var target = tmp.Sub("onnx");
        ModelExporter.Export(tmp.Sub("hf1"), target, new ExportOptions { HashSource = false });
        var before = Snapshot(target);

        Interrupt(() => KillInTheMiddle(Dll("OnnxInterp.Cli"), ["export", tmp.Sub("hf2"), "--out", target, "--no-hash"],
            _ => Staging(target).Any(s => new FileInfo(Path.Combine(s, ModelExporter.DataFile)) is { Exists: true, Length: > 1 << 20 })));

        Assert.That(Snapshot(target), Is.EqualTo(before), "the previous export is intact");
        Assert.That(Visible(tmp.Path), Is.EqualTo(new[] { "hf1", "hf2", "onnx" }), "nothing half-written where users look");
        Assert.That(Staging(target).Select(Path.GetFileName), Has.All.Match(@"^\.onnx\.\d+-[0-9a-f]{32}\.partial$"), "only the hidden staging folder is left");
        using (var s = ModelSession.Open(target)) Assert.That(s.Manifest.Config.VocabSize, Is.EqualTo(16384));

        ModelExporter.Export(tmp.Sub("hf2"), target, new ExportOptions { HashSource = false });
        Assert.That(Staging(target), Is.Empty, "the next export removed the dead writer's staging folder");
        Assert.That(Snapshot(target)[ModelExporter.DataFile], Is.Not.EqualTo(before[ModelExporter.DataFile]));
    }

    [TestCase("npy")]
    [TestCase("safetensors")]
    public void CaptureStore_KilledMidWrite_PreviousStoreIntact_StagingRemovedByNextCapture(string format)
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 4 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("model"), new ExportOptions { HashSource = false, LayerGraphs = false });
        var store = tmp.Sub(format == "npy" ? "store" : "store.safetensors");
        var options = new CaptureOptions
        {
            Hooks = ["*"], Positions = [-1],
            Format = format == "npy" ? ActivationStoreFormat.Npy : ActivationStoreFormat.Safetensors,
        };
        int[][] prompts = [[256, 72, 105], [256, 65, 66, 67]];
        using (var m = ModelSession.Open(tmp.Sub("model"))) ActivationCapture.ToStore(m, prompts, store, options);
        var before = Snapshot(store);

        Interrupt(() => KillInTheMiddle(Dll("OnnxInterp.Fuzz"), ["__capture", tmp.Sub("model"), store, format, "20000"],
            output => output.Contains("512/20000") && Staging(store).Length > 0));

        Assert.That(Snapshot(store), Is.EqualTo(before), "the previous store is intact");
        using (var r = ActivationStoreReader.Open(store)) Assert.That(r.Rows, Is.EqualTo(2));
        Assert.That(Visible(tmp.Path), Is.EqualTo(new[] { "hf", "model", Path.GetFileName(store) }));
        Assert.That(Staging(store).Select(Path.GetFileName), Has.All.Match(@"^\.store(\.safetensors)?\.\d+-[0-9a-f]{32}\.(tmp|partial)$"));

        using (var m = ModelSession.Open(tmp.Sub("model"))) ActivationCapture.ToStore(m, [.. prompts, [256, 1]], store, options);
        Assert.That(Staging(store), Is.Empty, "the next capture removed the dead writer's temporary data");
        using (var r = ActivationStoreReader.Open(store)) Assert.That(r.Rows, Is.EqualTo(3));
    }

    [Test]
    public void KnowledgeReport_KilledMidWrite_PreviousReportIntact_StagingRemovedByNextReport()
    {
        using var tmp = new TempDir();
        var texts = OnnxInterp.Data.SyntheticWorld.Generate(1, OnnxInterp.Data.WorldSize.Family).ToDataset("cities").Statements
            .Select(s => s.Text + " This statement is: TRUE FALSE");
        var tokenizerJson = OnnxInterp.Tokenization.BpeTrainer.TrainByteLevel(texts, new OnnxInterp.Tokenization.BpeTrainer.Options(700, ["<s>", "</s>"], "<s>"));
        foreach (var (name, seed) in new[] { ("base", 1), ("post", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed, VocabSize = 700 });
            File.WriteAllText(Path.Combine(tmp.Sub(name + "-hf"), "tokenizer.json"), tokenizerJson);
            ModelExporter.Export(tmp.Sub(name + "-hf"), tmp.Sub(name), new ExportOptions { HashSource = false });
        }
        var report = tmp.Sub("report");
        string[] Trace(string metric) =>
            ["trace", "--base", tmp.Sub("base"), "--post", tmp.Sub("post"), "--dataset", "synthetic:cities", "--max-pairs", "2", "--metric", metric, "--out", report];
        Assert.That(OnnxInterp.Cli.Cli.Run(Trace("logit-diff"), TextWriter.Null, TextWriter.Null), Is.Zero);
        var before = Snapshot(report);
        var own = Path.Combine("data", "knowledge.cities", "knowledge_cities.json");
        Assert.That(before.Keys, Has.Member(own).And.Some.EndsWith(".png").And.Some.EndsWith(".csv"));
        // trace runs through the comparison runner: the step writes into a staging folder of the journal, and
        // KnowledgeReport.Write stages its files inside that.
        var journal = Path.Combine(report, OnnxInterp.Comparison.ResultsJournal.FolderName);
        string[] StepStaging() => Directory.GetDirectories(journal, ".knowledge.cities.*.partial");
        string[] ReportStaging() => StepStaging().SelectMany(s => Staging(Path.Combine(s, "knowledge_cities"))).ToArray();

        // Killed once the report's staging folder holds a finished figure, i.e. while the report's files are being written.
        Interrupt(() => KillInTheMiddle(Dll("OnnxInterp.Cli"), Trace("prob-diff"),
            _ => ReportStaging().Any(s => Directory.Exists(Path.Combine(s, "figures")) && Directory.GetFiles(Path.Combine(s, "figures"), "*.png").Length > 0)));

        Assert.That(Snapshot(report), Is.EqualTo(before), "every file of the previous report is intact");
        Assert.That(ReportStaging().Select(Path.GetFileName), Is.Not.Empty.And.All.Match(@"^\.knowledge_cities\.\d+-[0-9a-f]{32}\.partial$"));

        Assert.That(OnnxInterp.Cli.Cli.Run(Trace("prob-diff"), TextWriter.Null, TextWriter.Null), Is.Zero);
        Assert.That(StepStaging(), Is.Empty, "the next report removed the dead writer's staging folder");
        Assert.That(Snapshot(report)[own], Is.Not.EqualTo(before[own]));
    }
}

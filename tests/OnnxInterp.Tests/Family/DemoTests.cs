using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Text.Json.Nodes;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Family;

/// <summary>The README's first command on the shipped family: under 5 minutes, every section with numbers, a clean page.</summary>
public class DemoTests
{
    [Test]
    public void Demo_ShippedFamily_UnderFiveMinutesWithEverySectionAndACleanPage()
    {
        var family = ShippedFamily.RequireRoot();
        using var tmp = new TempDir();
        var o = new StringWriter();
        var e = new StringWriter();
        var watch = Stopwatch.StartNew();
        // A fresh cache: the time includes exporting the three checkpoints, as a first run does.
        int code = OnnxInterp.Cli.Cli.Run(["demo", "--models", family, "--out", tmp.Sub("demo"), "--cache-dir", tmp.Sub("cache")], o, e);
        watch.Stop();
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), e.ToString());
        TestContext.Out.WriteLine($"demo took {watch.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} cores");
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromMinutes(5)));

        var md = File.ReadAllText(tmp.Sub("demo/report.md"));
        var results = JsonNode.Parse(File.ReadAllText(tmp.Sub("demo/results.json")))!;
        foreach (var step in ComparisonSteps.Select(DemoComparison.Config))
        {
            Assert.That(md, Does.Contain("\n## " + step.Title + "\n"));
            Assert.That(results[step.Name], Is.Not.Null, step.Name);
            var numbers = results["summary"]!.AsArray().Where(s => s!["analysis"]!.GetValue<string>() == step.Name).ToList();
            Assert.That(numbers, Is.Not.Empty, $"{step.Name} reports headline numbers");
            foreach (var s in numbers)
                Assert.That(md, Does.Contain($"| {ComparisonReport.Number(s!["value"]!.GetValue<double>())} |"));
        }
        Assert.That(results["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "base", "sft", "instruct" }));
        foreach (var run in JsonNode.Parse(File.ReadAllText(tmp.Sub("demo/run.json")))!["steps"]!.AsArray())
            TestContext.Out.WriteLine($"  {run!["step"]}: {run["seconds"]} s");

        // Refusal: every model's baselines, every (model, direction) effect, the cosines; the instruct model refuses,
        // and its own direction (the demo's fixed place, the last block's input) moves refusal both ways.
        var refusal = results["refusal"]!;
        var members = new[] { "base", "sft", "instruct" };
        Assert.That(refusal["scores"]!.AsArray().Select(x => x!["model"]!.GetValue<string>()), Is.EqualTo(members));
        Assert.That(refusal["effects"]!.AsArray(), Has.Count.EqualTo(9));
        Assert.That(refusal["cosines"]!.AsArray().Select(x => $"{x!["a"]} {x["b"]}"), Is.EqualTo(new[] { "base sft", "base instruct", "sft instruct" }));
        Assert.That(refusal["directions"]!.AsArray().Select(d => (d!["layer"]!.GetValue<int>(), d["position"]!.GetValue<int>())), Has.All.EqualTo((5, -1)));
        double Number(string path) => MetricPath.Parse(path).Resolve(results, out _).Single().Value!.GetValue<double>();
        Assert.That(Number("refusal.scores[model=instruct].harmful"), Is.GreaterThanOrEqualTo(0.8));
        Assert.That(Number("refusal.effects[model=instruct,direction=instruct].ablationDrop"), Is.GreaterThanOrEqualTo(0.3));
        Assert.That(Number("refusal.effects[model=instruct,direction=instruct].additionRise"), Is.GreaterThanOrEqualTo(0.3));
        foreach (var c in refusal["cosines"]!.AsArray()) Assert.That(c!["cosine"]!.GetValue<double>(), Is.InRange(-1.0, 1.0));

        // Entropy: neurons per model, the three pairs, calibration of every model on held-out statements.
        var entropy = results["entropy"]!;
        Assert.That(entropy["models"]!.AsArray().Select(m => m!["entropyNeurons"]!.AsArray().Count), Has.All.EqualTo(10));
        Assert.That(entropy["overlaps"]!.AsArray().Select(x => $"{x!["a"]} {x["b"]}"), Is.EqualTo(new[] { "base sft", "base instruct", "sft instruct" }));
        foreach (var x in entropy["overlaps"]!.AsArray())
            Assert.That(x!["iou"]!.GetValue<double>(), Is.EqualTo(x["overlap"]!.GetValue<int>() / (20.0 - x["overlap"]!.GetValue<int>())).Within(1e-12));
        Assert.That(entropy["statements"]!.GetValue<int>(), Is.EqualTo(100));
        foreach (var a in entropy["ablations"]!.AsArray())
        {
            Assert.That(a!["ece"]!.GetValue<double>(), Is.InRange(0.0, 1.0));
            Assert.That(a["accuracy"]!.GetValue<double>(), Is.InRange(0.0, 1.0));
            Assert.That(a["neurons"]!.AsArray(), Has.Count.EqualTo(10));
        }
        // The signature of every model: the shipped family's selected neurons have none (models/README.md), and the
        // report says so above the overlaps instead of reading them as a finding.
        Assert.That(entropy["signatures"]!.AsArray().Select(x => x!["model"]!.GetValue<string>()), Is.EqualTo(members));
        foreach (var x in entropy["signatures"]!.AsArray())
        {
            Assert.That(x!["selected"]!.AsArray(), Has.Count.EqualTo(10));
            Assert.That(x["selectedWithSignature"]!.GetValue<int>(), Is.Zero, x["model"]!.GetValue<string>());
            Assert.That(x["prompts"]!.GetValue<int>(), Is.EqualTo(64));
        }
        Assert.That(entropy["noSelectedNeuronHasSignature"]!.GetValue<bool>(), Is.True);
        Assert.That(entropy["overlaps"]!.AsArray().Select(x => x!["noSignature"]!.GetValue<bool>()), Has.All.True);
        Assert.That(md, Does.Contain("**No selected neuron has the entropy-neuron signature**"));
        // models/README.md's figures: the overlaps of noise, and one prediction neuron (88) moving entropy in every member.
        Assert.That(entropy["overlaps"]!.AsArray().Select(x => x!["overlap"]!.GetValue<int>()), Is.EqualTo(new[] { 5, 4, 5 }));
        var medians = new[] { 8.182e-4, 1.005e-3, 9.691e-4 };
        var factors = new[] { 140.4, 105.4, 109.6 };
        for (int i = 0; i < 3; i++)
        {
            var x = entropy["signatures"]![i]!;
            Assert.That(x["medianAbsEntropyChange"]!.GetValue<double>(), Is.EqualTo(medians[i]).Within(0.005 * medians[i]), members[i]);
            Assert.That(x["strongest"]!["index"]!.GetValue<int>(), Is.EqualTo(88), members[i]);
            Assert.That(x["strongest"]!["entropyFactor"]!.GetValue<double>(), Is.EqualTo(factors[i]).Within(0.05), members[i]);
            Assert.That(x["strongest"]!["hasSignature"]!.GetValue<bool>(), Is.False, members[i]);
            Assert.That(x["layerWithSignature"]!.GetValue<int>(), Is.Zero, members[i]);
        }

        // Truth, read at the judgement (the family's base holds none at the bare statement's end): the probes of every
        // model separate true from false on held-out datasets, the directions agree, and the report says why this reading.
        var truth = results["truth"]!;
        Assert.That(truth["reading"]!.GetValue<string>(), Is.EqualTo("Judgement"));
        Assert.That(md, Does.Contain("Truth is read where the judgement is asked for"));
        Assert.That(truth["datasets"]!.AsArray().Select(d => d!["dataset"]!.GetValue<string>()), Is.EqualTo(new[] { "cities", "animal_class", "element_symb" }));
        Assert.That(truth["probes"]!.AsArray().Select(p => p!["model"]!.GetValue<string>()), Is.EqualTo(members));
        foreach (var m in members) Assert.That(Number($"truth.probes[model={m}].bestAccuracy"), Is.GreaterThanOrEqualTo(0.75), m);
        foreach (var m in new[] { "sft", "instruct" })
        {
            Assert.That(Number($"truth.cosines[a=base,b={m}].cosine"), Is.InRange(-1.0, 1.0));
            Assert.That(Number($"truth.transfer[model={m},dataset=mean].difference"), Is.InRange(-1.0, 1.0));
        }
        Assert.That(truth["intervention"]!["effects"]!.AsArray(), Has.Count.EqualTo(9));
        Assert.That(Number("truth.intervention.ownMeanEffect"), Is.GreaterThan(0), "adding/subtracting a model's own direction moves its answers the right way");

        var page = HeadlessChromium.Load(new Uri(tmp.Sub("demo/report.html")).AbsoluteUri);
        Assert.That(page.ConsoleErrors, Is.Empty);

        DemoGolden.AssertSame(File.ReadAllText(tmp.Sub("demo/results.json")));
    }
}

/// <summary>
/// The demo's results.json as commit 9244c84 wrote it (before the model contract of issue 22), with the four things that
/// name the run rather than its results blanked: the tool version (it carries the commit), the model folders' paths and
/// the journal keys (hashes over the tool version). Refactors must keep every other byte.
/// </summary>
static class DemoGolden
{
    static readonly (Regex Pattern, string Replacement)[] RunSpecific =
    [
        (new(@"^(    ""version"": "")[^""]*("",?)$", RegexOptions.Multiline), "$1<tool version>$2"),
        (new(@"^(      ""source"": "")[^""]*("",?)$", RegexOptions.Multiline), "$1<source>$2"),
        (new(@"^(      ""exported"": "")[^""]*("",?)$", RegexOptions.Multiline), "$1<exported>$2"),
        (new(@"^(      ""key"": "")[0-9a-f]{64}("",?)$", RegexOptions.Multiline), "$1<journal key>$2"),
    ];

    public static string Normalise(string results) =>
        RunSpecific.Aggregate(results.ReplaceLineEndings("\n"), (text, r) => r.Pattern.Replace(text, r.Replacement));

    /// <summary>
    /// The golden was written on an x86-64 CPU with AVX-512. ONNX Runtime's CPU kernels (MLAS) pick code paths by
    /// instruction set, so on a CPU without AVX-512 (or not x86) sums may round differently: there every string,
    /// integer and boolean must still match and every other number agree to 1e-4 (relative, or absolute near 0).
    /// </summary>
    static bool SameInstructionSet => System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.X86.Avx2.IsSupported;

    public static void AssertSame(string results)
    {
        var golden = File.ReadAllText(Path.Combine(ShippedFamily.RepositoryRoot, "tests/OnnxInterp.Tests/Goldens/demo/results.json"));
        var actual = Normalise(results);
        if (actual == golden) return;
        if (!SameInstructionSet)
        {
            TestContext.Out.WriteLine("results.json compared with a tolerance: this CPU's instruction set differs from the golden's (AVX-512)");
            AssertClose(JsonNode.Parse(golden), JsonNode.Parse(actual), "$");
            return;
        }
        var a = actual.Split('\n');
        var g = golden.Split('\n');
        int line = Enumerable.Range(0, Math.Min(a.Length, g.Length)).FirstOrDefault(i => a[i] != g[i], Math.Min(a.Length, g.Length));
        Assert.Fail($"results.json differs from Goldens/demo/results.json first at line {line + 1}:\n  golden: {(line < g.Length ? g[line] : "<end>")}\n  actual: {(line < a.Length ? a[line] : "<end>")}");
    }

    static void AssertClose(JsonNode? g, JsonNode? a, string path)
    {
        switch (g)
        {
            case JsonObject go:
                var ao = a as JsonObject ?? throw new AssertionException($"{path}: not an object");
                Assert.That(ao.Select(p => p.Key), Is.EqualTo(go.Select(p => p.Key)), path);
                foreach (var (k, v) in go) AssertClose(v, ao[k], $"{path}.{k}");
                break;
            case JsonArray ga:
                var aa = a as JsonArray ?? throw new AssertionException($"{path}: not an array");
                Assert.That(aa, Has.Count.EqualTo(ga.Count), path);
                for (int i = 0; i < ga.Count; i++) AssertClose(ga[i], aa[i], $"{path}[{i}]");
                break;
            case JsonValue gv when gv.GetValueKind() == System.Text.Json.JsonValueKind.Number && gv.ToJsonString().IndexOfAny(['.', 'e', 'E']) >= 0:
                double x = gv.GetValue<double>(), y = a!.GetValue<double>();
                Assert.That(y, Is.EqualTo(x).Within(1e-4 * Math.Max(1, Math.Abs(x))), path);
                break;
            default:
                Assert.That(a?.ToJsonString(), Is.EqualTo(g?.ToJsonString()), path);
                break;
        }
    }
}

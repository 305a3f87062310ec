using System.Runtime.InteropServices;
using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tests.Tokenization;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// Checkpoints written by Hugging Face transformers 5 itself (save_pretrained, config.json as v5 writes it) and the
/// activations transformers computed on them (eager attention, fp32, forward hooks), made by
/// tools/goldens/transformers-goldens.py into Goldens/transformers/&lt;case&gt;/. Each case is exported as a user would,
/// run on the same left-padded batch with every hook, and greedy-decoded.
/// </summary>
public class TransformersGoldenTests
{
    /// <summary>
    /// Both sides compute in fp32 from identical weights (fp16/bf16 checkpoints widen exactly), so they differ only by
    /// summation order and kernel choice: about 1e-6 of each vector's largest magnitude (at least 1) is typical. 1e-4 is
    /// the bound ExportFidelityTests holds against the double-precision reference; a wrong rope variant, window, bias or
    /// mask costs 1e-2 or more.
    /// </summary>
    const double Tolerance = 1e-4;

    const string Missing = "(no goldens)";

    static string GoldenRoot => Path.Combine(TokenizerTestPaths.RepoRoot, "tests", "OnnxInterp.Tests", "Goldens", "transformers");

    /// <summary>One case per folder; a missing or empty goldens folder yields a case that fails (it must never pass silently).</summary>
    public static IEnumerable<TestCaseData> Cases()
    {
        var dirs = Directory.Exists(GoldenRoot)
            ? Directory.GetDirectories(GoldenRoot).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()
            : [];
        if (dirs.Count == 0)
        {
            yield return new TestCaseData(Missing).SetArgDisplayNames("missing");
            yield break;
        }
        foreach (var d in dirs) yield return new TestCaseData(d!).SetArgDisplayNames(d!);
    }

    static string CaseDir(string name)
    {
        if (name == Missing)
            Assert.Fail($"no transformers goldens under {GoldenRoot}: run `python3 tools/goldens/transformers-goldens.py` "
                + "from the repository root on a machine with torch and transformers 5, and commit the folders it writes");
        return Path.Combine(GoldenRoot, name);
    }

    [TestCaseSource(nameof(Cases))]
    public void Export_TransformersCheckpoint_MatchesTransformersInLogitsAndEveryHook(string name)
    {
        string src = CaseDir(name);
        var before = Snapshot(src);
        using var tmp = new TempDir();
        var exported = ModelExporter.Export(src, tmp.Sub("onnx"));
        Assert.That(Snapshot(src), Is.EqualTo(before), "the export must not touch the checkpoint folder");
        using var session = ModelSession.Open(exported.Directory);
        using var expected = SafetensorsFile.Open(Path.Combine(src, "expected.safetensors"));

        var ids = Int64Matrix(expected, "input_ids");
        var mask = Int64Matrix(expected, "attention_mask");
        var positions = Int64Matrix(expected, "position_ids");
        // Our batching must rebuild transformers' batch from the bare prompts: the same left padding, mask and positions.
        var prompts = ids.Select((row, b) => row.Where((_, s) => mask[b][s] == 1).ToArray()).ToArray();
        var request = ForwardRequest.FromPrompts(prompts, padTokenId: 0) with { Hooks = ["*"] };
        Assert.That(request.InputIds, Is.EqualTo(ids), "input_ids");
        Assert.That(request.AttentionMask, Is.EqualTo(mask), "attention_mask");
        Assert.That(ForwardRequest.DefaultPositions(mask), Is.EqualTo(positions), "position_ids");

        var actual = session.Run(request);
        var hookNames = expected.Tensors.Select(t => t.Name).Where(n => n.StartsWith("blocks.", StringComparison.Ordinal)).ToList();
        Assert.That(actual.Cache.Keys.Select(k => k.ToString()), Is.EquivalentTo(hookNames), "hook names");
        Assert.That(hookNames, Has.Count.EqualTo(4 * session.Manifest.Config.NumLayers), "four hooks per layer");

        var errors = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["logits"] = Compare.MaxRelativeError(actual.Logits, Float3(expected, "logits"), mask),
        };
        foreach (var hook in hookNames) errors[hook] = Compare.MaxRelativeError(actual.Cache[hook], Float3(expected, hook), mask);
        TestContext.Out.WriteLine($"{name}: max relative error logits {errors["logits"]:E2}, worst hook {errors.Where(e => e.Key != "logits").Max(e => e.Value):E2}");
        Assert.Multiple(() =>
        {
            foreach (var (tensor, error) in errors) Assert.That(error, Is.LessThanOrEqualTo(Tolerance), tensor);
        });
    }

    [TestCaseSource(nameof(Cases))]
    public void Generate_TransformersCheckpoint_MatchesTransformersGreedyTokensAndScores(string name)
    {
        string src = CaseDir(name);
        using var tmp = new TempDir();
        var exported = ModelExporter.Export(src, tmp.Sub("onnx"));
        using var session = ModelSession.Open(exported.Directory);
        using var expected = SafetensorsFile.Open(Path.Combine(src, "expected.safetensors"));
        var prompt = Int64Vector(expected, "generation_prompt");
        var tokens = Int64Vector(expected, "generated_ids");

        // transformers' loop did not stop at eos; neither may ours. The goldens keep every step's top-1 margin above 0.02.
        var generated = session.Generate([prompt], new GenerationOptions { MaxNewTokens = tokens.Length, StopTokens = [] });
        Assert.That(generated.Tokens[0], Is.EqualTo(tokens), "greedy tokens");

        // Generate exposes no per-step logits: score the same steps with one forward over prompt + generated tokens.
        int[] sequence = [.. prompt, .. tokens[..^1]];
        var steps = Enumerable.Range(prompt.Length - 1, tokens.Length).ToArray();
        var logits = session.Run(new ForwardRequest([sequence]) { LogitPositions = steps }).Logits;
        var scores = Float2(expected, "generated_scores");
        double error = Compare.MaxRelativeError(logits, [scores], [Enumerable.Repeat(1, tokens.Length).ToArray()]);
        TestContext.Out.WriteLine($"{name}: generated [{string.Join(",", tokens)}], scores max relative error {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(Tolerance), "per-step scores");
    }

    /// <summary>The goldens cover every feature the exporter claims for the three families, as transformers 5 writes them.</summary>
    [Test]
    public void Goldens_CoverEveryExportedFeature()
    {
        var dirs = Cases().Select(c => (string)c.Arguments[0]!).ToList();
        if (dirs.Contains(Missing)) CaseDir(Missing);
        var configs = dirs.Select(d => (Dir: Path.Combine(GoldenRoot, d), Config: ModelConfigReader.ReadFile(Path.Combine(GoldenRoot, d, "config.json")))).ToList();
        bool Any(Func<ModelConfig, bool> p) => configs.Any(c => p(c.Config));
        Assert.Multiple(() =>
        {
            Assert.That(Any(c => c.Family == ModelFamilies.Llama && c.NumKvHeads > 1 && c.NumKvHeads < c.NumHeads && !c.TieWordEmbeddings), "llama GQA untied");
            Assert.That(Any(c => c.Family == ModelFamilies.Llama && c.TieWordEmbeddings && c.RopeScaling?.Type == "llama3"), "llama tied + llama3 rope");
            Assert.That(Any(c => c.RopeScaling?.Type == "linear" && c.NumKvHeads == c.NumHeads), "linear rope, MHA");
            Assert.That(Any(c => c.OProjBias && c.MlpBias), "llama attention_bias + mlp_bias");
            Assert.That(Any(c => c.HeadDim * c.NumHeads != c.HiddenSize), "head_dim != hidden / heads");
            Assert.That(Any(c => c.Family == ModelFamilies.Mistral && c.SlidingWindow < 9), "mistral window below the prompt length");
            Assert.That(Any(c => c.Family == ModelFamilies.Qwen2 && c.TieWordEmbeddings && c.QkvBias), "qwen2 tied with biases");
            Assert.That(Any(c => c.Family == ModelFamilies.Qwen2 && c.SlidingLayers.Contains(true) && c.SlidingLayers.Contains(false) && c.NumKvHeads == 1),
                "qwen2 mixed full/sliding layers, MQA");
            foreach (var dtype in new[] { "float32", "bfloat16", "float16" }) Assert.That(Any(c => c.TorchDtype == dtype), dtype);
            Assert.That(configs.Any(c => File.Exists(Path.Combine(c.Dir, HfCheckpoint.IndexFile))), "a sharded checkpoint");
        });
    }

    static List<(string, long, DateTime)> Snapshot(string dir) =>
        Directory.GetFiles(dir).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), new FileInfo(f).Length, File.GetLastWriteTimeUtc(f))).ToList();

    static TensorInfo Tensor(SafetensorsFile f, string name, TensorDType dtype, int rank)
    {
        Assert.That(f.TryGet(name, out var t), Is.True, $"expected.safetensors has no {name}");
        Assert.That((t.DType, t.Shape.Length), Is.EqualTo((dtype, rank)), $"{name} dtype and rank");
        return t;
    }

    static int[] Int64Vector(SafetensorsFile f, string name) =>
        MemoryMarshal.Cast<byte, long>(f.GetSpan(Tensor(f, name, TensorDType.I64, 1))).ToArray().Select(v => checked((int)v)).ToArray();

    static int[][] Int64Matrix(SafetensorsFile f, string name)
    {
        var t = Tensor(f, name, TensorDType.I64, 2);
        var flat = MemoryMarshal.Cast<byte, long>(f.GetSpan(t)).ToArray();
        int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
        return Enumerable.Range(0, rows).Select(r => flat.Skip(r * cols).Take(cols).Select(v => checked((int)v)).ToArray()).ToArray();
    }

    static double[][] Float2(SafetensorsFile f, string name)
    {
        var t = Tensor(f, name, TensorDType.F32, 2);
        var flat = f.ReadFloat32(name);
        int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
        return Enumerable.Range(0, rows).Select(r => flat.AsSpan(r * cols, cols).ToArray().Select(v => (double)v).ToArray()).ToArray();
    }

    static double[][][] Float3(SafetensorsFile f, string name)
    {
        var t = Tensor(f, name, TensorDType.F32, 3);
        var flat = f.ReadFloat32(name);
        int b = (int)t.Shape[0], s = (int)t.Shape[1], d = (int)t.Shape[2];
        return Enumerable.Range(0, b).Select(i => Enumerable.Range(0, s)
            .Select(j => flat.AsSpan((i * s + j) * d, d).ToArray().Select(v => (double)v).ToArray()).ToArray()).ToArray();
    }
}

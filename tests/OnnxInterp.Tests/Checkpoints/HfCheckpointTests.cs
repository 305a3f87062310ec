using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Checkpoints;

public class HfCheckpointTests
{
    static TinyCheckpoint Tiny() => TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 2 });

    [Test]
    public void Open_ShardedIndex_FindsEveryTensor()
    {
        using var tmp = new TempDir();
        var ckpt = Tiny();
        var dir = TestCheckpoints.Write(ckpt, tmp.Sub("hf"), TensorDType.BF16, shards: 3);
        using var hf = HfCheckpoint.Open(dir);
        Assert.That(hf.Files, Has.Count.EqualTo(3));
        Assert.That(hf.TensorNames, Is.EquivalentTo(ckpt.Weights.Keys));
        var expected = TestCheckpoints.Rounded(ckpt, TensorDType.BF16)[WeightNames.Embed];
        Assert.That(hf.ReadFloat32(WeightNames.Embed), Is.EqualTo(expected));
    }

    [Test]
    public void Open_MissingTensor_NamesIt()
    {
        using var tmp = new TempDir();
        var ckpt = Tiny();
        ckpt.Weights.Remove("model.layers.1.mlp.up_proj.weight");
        var dir = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        var e = Assert.Throws<ModelMismatchException>(() => HfCheckpoint.Open(dir))!;
        Assert.That(e.Field, Is.EqualTo("model.layers.1.mlp.up_proj.weight"));
    }

    [Test]
    public void Open_ShapeDisagreesWithConfig_NamesFileTensorAndShape()
    {
        using var tmp = new TempDir();
        var ckpt = Tiny();
        var dir = TestCheckpoints.Write(ckpt, tmp.Sub("hf"));
        File.WriteAllText(Path.Combine(dir, "config.json"), ckpt.ConfigJson.Replace("\"intermediate_size\": 96", "\"intermediate_size\": 80"));
        var e = Assert.Throws<ModelMismatchException>(() => HfCheckpoint.Open(dir))!;
        Assert.That(e.File, Does.EndWith("model.safetensors"));
        Assert.That(e.Field, Is.EqualTo("model.layers.0.mlp.gate_proj.weight"));
        Assert.That(e.Value, Is.EqualTo("[96,64]"));
    }

    [Test]
    public void Open_IndexPointsOutsideFolder_Rejected()
    {
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Write(Tiny(), tmp.Sub("hf"), shards: 2);
        var index = Path.Combine(dir, HfCheckpoint.IndexFile);
        File.WriteAllText(index, File.ReadAllText(index).Replace("model-00001-of-00002.safetensors", "../evil.safetensors"));
        var e = Assert.Throws<InvalidFileException>(() => HfCheckpoint.Open(dir))!;
        Assert.That(e.Value, Is.EqualTo("../evil.safetensors"));
    }

    [Test]
    public void Export_FailingCheckpoint_LeavesExistingOutputIntactAndNoPartialFolder()
    {
        using var tmp = new TempDir();
        var good = TestCheckpoints.Write(Tiny(), tmp.Sub("good"));
        var outDir = tmp.Sub("out");
        ModelExporter.Export(good, outDir);
        var before = File.ReadAllBytes(Path.Combine(outDir, ModelExporter.ModelFile));

        var badCkpt = Tiny();
        badCkpt.Weights.Remove("model.norm.weight");
        var bad = TestCheckpoints.Write(badCkpt, tmp.Sub("bad"));
        Assert.Throws<ModelMismatchException>(() => ModelExporter.Export(bad, outDir));
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, ModelExporter.ModelFile)), Is.EqualTo(before));
        Assert.That(Directory.GetDirectories(tmp.Path).Select(Path.GetFileName), Is.EquivalentTo(new[] { "good", "out", "bad" }), "no staging folder left");
    }

    [Test]
    public void Export_Graph_HasNoUnusedInitializersAndOnlyRealOutputs()
    {
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Write(Tiny(), tmp.Sub("hf"));
        foreach (var (name, options) in new[] { ("full", new ExportOptions()), ("plain", ExportOptions.Plain) })
        {
            ModelExporter.Export(dir, tmp.Sub(name), options);
            var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(tmp.Sub(name), ModelExporter.ModelFile)));
            var used = model.Graph.Node.SelectMany(n => n.Input).ToHashSet();
            var unused = model.Graph.Initializer.Select(i => i.Name).Where(n => !used.Contains(n)).ToList();
            Assert.That(unused, Is.Empty, name);
            var produced = model.Graph.Node.SelectMany(n => n.Output).ToHashSet();
            Assert.That(model.Graph.Output.Select(o => o.Name).Where(o => !produced.Contains(o)), Is.Empty, name);
            if (name == "full") Assert.That(model.Graph.Node.Count(n => n.OpType == "Identity"), Is.Zero, "hook outputs need no copy");
        }
    }

    [Test]
    public void Export_WritesManifestGenAiConfigAndHash()
    {
        using var tmp = new TempDir();
        var dir = TestCheckpoints.Write(Tiny(), tmp.Sub("hf"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{}");
        var r = ModelExporter.Export(dir, tmp.Sub("onnx"));
        var m = ModelManifest.Read(r.Directory);
        Assert.That(m.Hooks, Has.Count.EqualTo(2 * 4));
        Assert.That(m.Hooks.Select(h => h.Name.ToString()).Take(4), Is.EqualTo(new[] { "blocks.0.hook_resid_pre", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_post", "blocks.0.hook_resid_post" }));
        Assert.That(m.SourceHash, Does.Match("^sha256:[0-9a-f]{64}$"));
        using (var hf = HfCheckpoint.Open(dir)) Assert.That(m.SourceHash, Is.EqualTo("sha256:" + hf.ComputeHash()));
        Assert.That(m.Inputs, Does.Contain("past_key_values.1.value").And.Contain("blocks.1.hook_resid_post.shift"));
        Assert.That(m.Outputs, Does.Contain("present.0.key").And.Contain("blocks.1.mlp.hook_post"));
        Assert.That(File.Exists(Path.Combine(r.Directory, "tokenizer_config.json")));
        using var genai = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(r.Directory, ModelExporter.GenAiConfigFile)));
        var dec = genai.RootElement.GetProperty("model").GetProperty("decoder");
        Assert.That(dec.GetProperty("num_hidden_layers").GetInt32(), Is.EqualTo(2));
        Assert.That(dec.GetProperty("inputs").GetProperty("past_key_names").GetString(), Is.EqualTo("past_key_values.%d.key"));
    }
}

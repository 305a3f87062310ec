using OnnxInterp.Checkpoints;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Checkpoints;

/// <summary>The edited copy of a checkpoint: one tensor replaced in its own dtype, everything else byte for byte, typed errors.</summary>
public class CheckpointEditorTests
{
    [TestCase(TensorDType.F16, 1)]
    [TestCase(TensorDType.BF16, 2)]
    [TestCase(TensorDType.F32, 3)]
    public void WriteCopy_ReplacesOneTensorInItsDType_AndCopiesTheRest(TensorDType dtype, int shards)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec());
        var source = TestCheckpoints.Write(ckpt, tmp.Sub("src"), dtype, shards);
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), "{}");
        const string name = "model.layers.1.mlp.down_proj.weight";
        var replacement = ckpt.Weights[name].Select(x => x * 2 + 0.125f).ToArray();
        CheckpointEditor.WriteCopy(source, tmp.Sub("dst"), new Dictionary<string, float[]> { [name] = replacement }, new Dictionary<string, string> { ["note"] = "edited" });

        using var a = HfCheckpoint.Open(source);
        using var b = HfCheckpoint.Open(tmp.Sub("dst"));
        Assert.That(b.Files.Select(f => Path.GetFileName(f.Path)), Is.EqualTo(a.Files.Select(f => Path.GetFileName(f.Path))));
        foreach (var t in a.TensorNames)
        {
            Assert.That(b.Info(t).DType, Is.EqualTo(dtype), t);
            Assert.That(b.Info(t).Shape, Is.EqualTo(a.Info(t).Shape), t);
            if (t != name) Assert.That(b.ReadFloat32(t), Is.EqualTo(a.ReadFloat32(t)), t);
        }
        var written = b.ReadFloat32(name);
        var tolerance = dtype switch { TensorDType.F16 => 2e-3, TensorDType.BF16 => 1.6e-2, _ => 0 };
        for (int i = 0; i < written.Length; i++) Assert.That(written[i], Is.EqualTo(replacement[i]).Within(tolerance * Math.Abs(replacement[i]) + 1e-7));
        Assert.That(b.Files.All(f => f.Metadata.GetValueOrDefault("note") == "edited"));
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("dst"), "config.json")), Is.EqualTo(File.ReadAllText(Path.Combine(source, "config.json"))));
        Assert.That(File.Exists(Path.Combine(tmp.Sub("dst"), "tokenizer_config.json")));
        Assert.That(File.Exists(Path.Combine(tmp.Sub("dst"), HfCheckpoint.IndexFile)), Is.EqualTo(shards > 1));
    }

    [Test]
    public void WriteCopy_UnknownTensorOrWrongSize_TypedErrors()
    {
        using var tmp = new TempDir();
        var source = TestCheckpoints.Write(TinyCheckpointFactory.Create(new TinyCheckpointSpec()), tmp.Sub("src"));
        var missing = Assert.Throws<ModelMismatchException>(() => CheckpointEditor.WriteCopy(source, tmp.Sub("a"), new Dictionary<string, float[]> { ["model.layers.9.mlp.down_proj.weight"] = [1f] }))!;
        Assert.That(missing.Field, Is.EqualTo("model.layers.9.mlp.down_proj.weight"));
        var size = Assert.Throws<InvalidArgumentException>(() => CheckpointEditor.WriteCopy(source, tmp.Sub("b"), new Dictionary<string, float[]> { ["model.norm.weight"] = [1f, 2f] }))!;
        Assert.That((size.Field, size.Value), Is.EqualTo(("model.norm.weight", "2")));
        Assert.That(Directory.Exists(tmp.Sub("a")) || Directory.Exists(tmp.Sub("b")), Is.False, "checked before anything is written");
    }
}

using OnnxInterp.Checkpoints;
using OnnxInterp.Comparison;
using OnnxInterp.Export;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

public class ModelResolverTests
{
    [Test]
    public void Resolve_Checkpoint_ExportsOnceIntoTheCacheThenReuses()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 1, Seed = 5 });
        var resolver = new ModelResolver(tmp.Sub("cache"));
        var log = new List<string>();
        var first = resolver.Resolve(new ModelSpec("m", tmp.Sub("hf")), log: log.Add);
        Assert.That(log.Single(), Does.StartWith("exporting m"));
        using (var ckpt = HfCheckpoint.Open(tmp.Sub("hf")))
            Assert.That(first.Hash, Is.EqualTo("sha256:" + ckpt.ComputeHash()));
        Assert.That(ModelManifest.Read(first.Exported).SourceHash, Is.EqualTo(first.Hash), "the cached export's manifest names its source");
        Assert.That(Path.GetDirectoryName(first.Exported), Is.EqualTo(Path.Combine(tmp.Sub("cache"), "exports")));
        var stamp = File.GetLastWriteTimeUtc(Path.Combine(first.Exported, "model.onnx"));

        log.Clear();
        var second = new ModelResolver(tmp.Sub("cache")).Resolve(new ModelSpec("m", tmp.Sub("hf")), log: log.Add);
        Assert.That(log.Single(), Does.StartWith("m: using the cached export"));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(File.GetLastWriteTimeUtc(Path.Combine(first.Exported, "model.onnx")), Is.EqualTo(stamp));
        Assert.That(Directory.GetDirectories(Path.Combine(tmp.Sub("cache"), "exports")), Has.Length.EqualTo(1));
    }

    [Test]
    public void Resolve_CheckpointRewritten_HashAndCacheEntryChange()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 1, Seed = 5 });
        var resolver = new ModelResolver(tmp.Sub("cache"));
        var before = resolver.Resolve(new ModelSpec("m", tmp.Sub("hf")));
        // Same sizes, new weights: the remembered hash must not be reused.
        RandomCheckpoint.Write(tmp.Sub("hf2"), new RandomCheckpointSpec { Layers = 1, Seed = 6 });
        File.Copy(tmp.Sub("hf2/model.safetensors"), tmp.Sub("hf/model.safetensors"), overwrite: true);
        File.SetLastWriteTimeUtc(tmp.Sub("hf/model.safetensors"), DateTime.UtcNow.AddMinutes(1));
        var after = resolver.Resolve(new ModelSpec("m", tmp.Sub("hf")));
        using (var ckpt = HfCheckpoint.Open(tmp.Sub("hf")))
            Assert.That(after.Hash, Is.EqualTo("sha256:" + ckpt.ComputeHash()));
        Assert.That(after.Hash, Is.Not.EqualTo(before.Hash));
        Assert.That(after.Exported, Is.Not.EqualTo(before.Exported));
    }

    [Test]
    public void Resolve_AbandonedStagingFolder_RemovedOnlyWhenStale()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 1, Seed = 5 });
        var key = Path.GetFileName(new ModelResolver(tmp.Sub("probe")).Resolve(new ModelSpec("m", tmp.Sub("hf"))).Exported);
        var exports = Path.Combine(tmp.Sub("cache"), "exports");
        var stale = Path.Combine(exports, $".{key}.killed.partial");
        var fresh = Path.Combine(exports, $".{key}.running.partial");
        foreach (var d in new[] { stale, fresh })
        {
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, "model.onnx.data"), "x");
        }
        File.SetLastWriteTimeUtc(Path.Combine(stale, "model.onnx.data"), DateTime.UtcNow.AddDays(-2));
        Directory.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-2));
        new ModelResolver(tmp.Sub("cache")).Resolve(new ModelSpec("m", tmp.Sub("hf")));
        Assert.That(Directory.Exists(stale), Is.False);
        Assert.That(Directory.Exists(fresh), Is.True, "a staging folder written recently may be another run's export");
    }

    [Test]
    public void Resolve_ExportedFolder_UsedInPlaceWithItsSourceHash()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 1, Seed = 5 });
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx"));
        ModelExporter.Export(tmp.Sub("hf"), tmp.Sub("onnx-nohash"), new ExportOptions { HashSource = false });
        var resolver = new ModelResolver(tmp.Sub("cache"));
        var r = resolver.Resolve(new ModelSpec("m", tmp.Sub("onnx")));
        Assert.That((r.Format, r.Exported), Is.EqualTo(("export", tmp.Sub("onnx"))));
        Assert.That(r.Hash, Is.EqualTo(ModelManifest.Read(tmp.Sub("onnx")).SourceHash));
        var n = resolver.Resolve(new ModelSpec("m", tmp.Sub("onnx-nohash")));
        Assert.That(n.Hash, Does.StartWith("sha256:").And.Not.EqualTo(r.Hash), "without a source hash, the export's own bytes are hashed");
        Assert.That(Directory.Exists(tmp.Sub("cache/exports")), Is.False, "nothing exported");
    }

    [Test]
    public void Resolve_NotAModelFolder_NamesTheFolder()
    {
        using var tmp = new TempDir();
        var e = Assert.Throws<InvalidArgumentException>(() => new ModelResolver(tmp.Sub("c")).Resolve(new ModelSpec("post", tmp.Path)));
        Assert.That(e!.Message, Does.Contain("neither manifest.json").And.Contain(tmp.Path));
        Assert.That(e.Field, Is.EqualTo("post"));
    }

    [Test]
    public void ModelSpec_Parse_NameEqualsDirOrDir()
    {
        Assert.That(ModelSpec.Parse("it=/x/y", "post"), Is.EqualTo(new ModelSpec("it", "/x/y")));
        Assert.That(ModelSpec.Parse("/x/y", "base"), Is.EqualTo(new ModelSpec("base", "/x/y")));
        Assert.Throws<InvalidArgumentException>(() => ModelSpec.Parse("a b=/x", "base"));
    }
}

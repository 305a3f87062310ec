using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class ActivationCaptureTests
{
    static TempDir _tmp = null!;
    static ModelSession _model = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        RandomCheckpoint.Write(_tmp.Sub("hf"), new RandomCheckpointSpec { Layers = 2, Seed = 5 });
        OnnxInterp.Export.ModelExporter.Export(_tmp.Sub("hf"), _tmp.Sub("onnx"), new OnnxInterp.Export.ExportOptions { HashSource = false });
        _model = ModelSession.Open(_tmp.Sub("onnx"));
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _model.Dispose();
        _tmp.Dispose();
    }

    static List<int[]> Prompts(int n)
    {
        var rng = new Random(3);
        return Enumerable.Range(0, n).Select(_ => new[] { 256 }.Concat(Enumerable.Range(0, rng.Next(2, 12)).Select(_ => rng.Next(32, 127))).ToArray()).ToList();
    }

    [TestCase(ActivationStoreFormat.Safetensors)]
    [TestCase(ActivationStoreFormat.Npy)]
    public void ToStore_RowsEqualSinglePromptRuns(ActivationStoreFormat format)
    {
        var prompts = Prompts(23);
        var path = _tmp.Sub("store-" + format);
        var seen = new List<CaptureProgress>();
        ActivationCapture.ToStore(_model, prompts, path,
            new CaptureOptions { Hooks = ["blocks.*.hook_resid_post"], Positions = [-2, -1], BatchSize = 5, Format = format },
            new SyncProgress<CaptureProgress>(seen.Add));
        Assert.That(seen.Select(p => p.PromptsDone), Is.EqualTo(new[] { 5, 10, 15, 20, 23 }));

        using var store = ActivationStoreReader.Open(path);
        Assert.That(store.Rows, Is.EqualTo(23));
        foreach (int i in new[] { 0, 4, 5, 13, 22 })
        {
            var alone = _model.Run(new ForwardRequest([prompts[i]]) { Hooks = ["blocks.1.hook_resid_post"] })[HookName.ResidPost(1)];
            var row = store.ReadRows("blocks.1.hook_resid_post", i, 1);
            int len = prompts[i].Length;
            Assert.That(Compare.MaxAbsDiff(row.Vector(0, 0), alone.Vector(0, len - 2)), Is.LessThanOrEqualTo(1e-5), $"prompt {i}, −2");
            Assert.That(Compare.MaxAbsDiff(row.Vector(0, 1), alone.Vector(0, len - 1)), Is.LessThanOrEqualTo(1e-5), $"prompt {i}, −1");
        }
    }

    [Test]
    public void ToStore_Cancelled_LeavesNoFile()
    {
        var path = _tmp.Sub("cancelled.safetensors");
        using var cts = new CancellationTokenSource();
        Assert.Throws<OperationCanceledException>(() => ActivationCapture.ToStore(_model, Prompts(40), path,
            new CaptureOptions { Hooks = ["blocks.0.hook_resid_pre"], BatchSize = 4 },
            new SyncProgress<CaptureProgress>(p => { if (p.PromptsDone >= 8) cts.Cancel(); }), cts.Token));
        Assert.That(File.Exists(path), Is.False);
        Assert.That(Directory.GetFiles(_tmp.Path).Where(f => f.Contains("cancelled")), Is.Empty, "no temporary file left");
    }

    [Test]
    public void ToStore_PositionsMustCountFromTheEnd()
    {
        var e = Assert.Throws<InvalidArgumentException>(() => ActivationCapture.ToStore(_model, Prompts(3), _tmp.Sub("x.safetensors"),
            new CaptureOptions { Hooks = ["blocks.0.hook_resid_pre"], Positions = [0] }))!;
        Assert.That(e.Field, Is.EqualTo("positions"));
    }
}

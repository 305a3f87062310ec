using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

/// <summary>The runtime side of the model contract: the weights reader, the batched loop, and ModelSession's IHookedModel members.</summary>
public class ModelContractTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void Weights_CheckpointAndExport_SameTensorsInHfLayout(bool tied)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Tied = tied, NumLayers = 2, Seed = tied ? 3 : 4 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false });
        IModelWeights hf = ModelWeights.Open(tmp.Sub("hf")), ex = ModelWeights.Open(onnx);
        Assert.That(hf, Is.InstanceOf<CheckpointWeights>());
        Assert.That(ex, Is.InstanceOf<ExportWeights>());
        for (int l = 0; l < 2; l++)
        {
            var down = ex.MlpDown(l);
            Assert.That(down.Shape, Is.EqualTo(new[] { 64, 96 }));
            Assert.That(down.Data, Is.EqualTo(ckpt.Weights[WeightNames.Layer(l, "mlp.down_proj.weight")]), $"layer {l}");
            Assert.That(hf.MlpDown(l).Data, Is.EqualTo(down.Data));
            Assert.That(ex.NameOf(WeightTensor.MlpDown, l), Is.EqualTo(WeightNames.Layer(l, "mlp.down_proj.weight")));
        }
        Assert.That(ex.FinalNorm().Data, Is.EqualTo(ckpt.Weights[WeightNames.FinalNorm]));
        Assert.That(ex.Embedding().Data, Is.EqualTo(ckpt.Weights[WeightNames.Embed]));
        Assert.That(ex.Unembedding().Data, Is.EqualTo(ckpt.Weights[tied ? WeightNames.Embed : WeightNames.LmHead]));
        Assert.That(hf.Unembedding().Data, Is.EqualTo(ex.Unembedding().Data));
        Assert.That(ex.NameOf(WeightTensor.Unembedding), Is.EqualTo(tied ? WeightNames.Embed : WeightNames.LmHead));
        Assert.That(hf.Config, Is.EqualTo(ex.Config));

        // The session hands out the same reader.
        using var session = ModelSession.Open(onnx);
        Assert.That(session.Weights.MlpDown(1).Data, Is.EqualTo(down1(ckpt)));
        static float[] down1(TinyCheckpoint c) => c.Weights[WeightNames.Layer(1, "mlp.down_proj.weight")];
    }

    [Test]
    public void Weights_Int4Export_DequantizedWithinTheBlockQuantizersError()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1, Seed = 5 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Quantization = new WeightQuantization { Bits = 4, BlockSize = 32 } });
        var down = ModelWeights.Open(onnx).MlpDown(0);
        var exact = ckpt.Weights[WeightNames.Layer(0, "mlp.down_proj.weight")];
        Assert.That(down.Shape, Is.EqualTo(new[] { 64, 96 }));
        // Symmetric 4-bit blocks: step = max|block| / 8; rounding errs by half a step, except the block's largest positive
        // value, which clamps from +8 to +7 steps: a whole step. So every value is within max|w| / 8 of the original.
        double maxAbs = exact.Max(Math.Abs);
        Assert.That(Compare.MaxAbsDiff(down.Data, exact), Is.LessThanOrEqualTo(maxAbs / 8 + 1e-6));
        Assert.That(down.Data, Is.Not.EqualTo(exact), "quantization changed the weights");
    }

    [Test]
    public void Weights_BadLayerOrFolder_TypedErrors()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 2, Seed = 6 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false });
        var e = Assert.Throws<InvalidArgumentException>(() => ModelWeights.Open(onnx).MlpDown(2))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("layer", "2")));
        Assert.Throws<InvalidArgumentException>(() => ModelWeights.Open(tmp.Sub("hf")).MlpDown(-1));
        Assert.Throws<InvalidArgumentException>(() => ModelWeights.Open(tmp.Sub("nowhere")));
        Directory.CreateDirectory(tmp.Sub("empty"));
        Assert.Throws<InvalidFileException>(() => ModelWeights.Open(tmp.Sub("empty")));
    }

    [Test]
    public void Session_ContractMembers_ComeFromTheFolderOnce()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 2, Seed = 8 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false });
        using var session = ModelSession.Open(onnx);
        IHookedModel model = session;
        Assert.That(model.Config, Is.EqualTo(session.Manifest.Config));
        Assert.That(model.Hooks.Select(h => h.Name), Is.EqualTo(session.Manifest.Hooks.Select(h => h.Name)));
        Assert.That(model.Hooks.Select(h => h.Name).Order(), Is.EqualTo(model.Hooks.Select(h => h.Name)), "graph order");
        Assert.That(model.Hooks.Where(h => h.Projection).Select(h => h.Name.IsResidual), Has.All.True);
        Assert.That(model.Hooks.All(h => h.Injectable), Is.True);
        Assert.That(model.Source, Is.EqualTo(onnx));
        if (File.Exists(Path.Combine(onnx, "tokenizer.json")))
        {
            var first = model.Tokenizer;
            Assert.That(model.Tokenizer, Is.SameAs(first), "read once");
        }
        Assert.That(model.Layers, session.HasLayerGraphs ? Is.SameAs(session) : Is.Null);
    }

    [Test]
    public void Batches_Run_InOrderWithProgressAndCancellation()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1, Seed = 9 });
        using var session = ModelSession.Open(TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false }));
        var prompts = Enumerable.Range(0, 7).Select(i => Enumerable.Range(1, 3 + i % 3).Select(t => (t * 7 + i) % 90 + 1).ToArray()).ToArray();
        var seen = new List<(int Start, int Count, int Rows)>();
        var progress = new List<BatchProgress>();
        Batches.Run(session, prompts, 3, batch => ForwardRequest.FromPrompts(batch) with { LogitPositions = [-1] },
            (start, batch, r) => seen.Add((start, batch.Count, r.Logits.Shape[0])), new SyncProgress<BatchProgress>(progress.Add));
        Assert.That(seen, Is.EqualTo(new[] { (0, 3, 3), (3, 3, 3), (6, 1, 1) }));
        Assert.That(progress, Is.EqualTo(new[] { new BatchProgress(3, 7), new BatchProgress(6, 7), new BatchProgress(7, 7) }));

        // Each batch's logits are those of the prompts run alone (left padding, masks).
        var last = new float[7][];
        Batches.Run(session, prompts, 3, batch => ForwardRequest.FromPrompts(batch) with { LogitPositions = [-1] },
            (start, batch, r) => { for (int b = 0; b < batch.Count; b++) last[start + b] = r.Logits.Vector(b, 0).ToArray(); });
        for (int i = 0; i < 7; i++)
            Assert.That(Compare.MaxAbsDiff(last[i], session.Run(new ForwardRequest([prompts[i]]) { LogitPositions = [-1] }).Logits.Vector(0, 0).ToArray()),
                Is.LessThanOrEqualTo(1e-5), $"prompt {i}");

        using var cts = new CancellationTokenSource();
        int batches = 0;
        Assert.Throws<OperationCanceledException>(() => Batches.Run(session, prompts, 2, batch => ForwardRequest.FromPrompts(batch),
            (_, _, _) => { if (++batches == 2) cts.Cancel(); }, cancellation: cts.Token));
        Assert.That(batches, Is.EqualTo(2));
        Assert.Throws<InvalidArgumentException>(() => Batches.Run(session, prompts, 0, batch => ForwardRequest.FromPrompts(batch), (_, _, _) => { }));
    }
}

using OnnxInterp.Checkpoints;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Runtime;

public class LayerGraphTests
{
    [TestCase("llama", false)]
    [TestCase("qwen2", true)]
    public void ChainingLayerGraphsAndHead_EqualsTheWholeModel(string family, bool tied)
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec(family) { Tied = tied, Seed = 77 });
        using var tmp = new TempDir();
        using var model = ModelSession.Open(TestCheckpoints.Export(ckpt, tmp));
        Assert.That(model.HasLayerGraphs);
        int[] tokens = [3, 14, 15, 92, 65, 35, 89, 79];
        int L = ckpt.Config.NumLayers, kv = ckpt.Config.NumKvHeads, hd = ckpt.Config.HeadDim;
        var full = model.Run(new ForwardRequest([tokens]) { Hooks = ["*"], ReturnPresent = true });

        // From the embeddings through every layer graph and the head.
        var h = full[HookName.ResidPre(0)];
        int[][] mask = [Enumerable.Repeat(1, 8).ToArray()], pos = [Enumerable.Range(0, 8).ToArray()];
        for (int l = 0; l < L; l++)
        {
            h = model.RunLayer(l, h, FloatTensor.Zeros(1, kv, 0, hd), FloatTensor.Zeros(1, kv, 0, hd), mask, pos);
            Assert.That(Compare.MaxAbsDiff(h.Data, full[HookName.ResidPost(l)].Data), Is.LessThanOrEqualTo(1e-5), $"layer {l}");
        }
        Assert.That(Compare.MaxAbsDiff(model.RunHead(h).Data, full.Logits.Data), Is.LessThanOrEqualTo(1e-5));

        // Restarting at layer 2 for the last 3 tokens, on the full run's cache of the first 5.
        var start = FloatTensor.Zeros(1, 3, ckpt.Config.HiddenSize);
        for (int j = 0; j < 3; j++) full[HookName.ResidPost(1)].Vector(0, 5 + j).CopyTo(start.Vector(0, j));
        var top = model.RunLayer(2, start, KvCache.Slice(full.Present!.Keys[2], 0, 5, 1), KvCache.Slice(full.Present!.Values[2], 0, 5, 1),
            mask, [[5, 6, 7]]);
        for (int j = 0; j < 3; j++)
            Assert.That(Compare.MaxAbsDiff(top.Vector(0, j), full[HookName.ResidPost(2)].Vector(0, 5 + j)), Is.LessThanOrEqualTo(1e-5));

        // Interventions reach the layer graph's own hooks; other layers' hooks are refused.
        var d = ckpt.Config.HiddenSize;
        var shifted = model.RunLayer(2, start, KvCache.Slice(full.Present!.Keys[2], 0, 5, 1), KvCache.Slice(full.Present!.Values[2], 0, 5, 1),
            mask, [[5, 6, 7]], [Intervention.Add("blocks.2.hook_resid_post", Enumerable.Repeat(1f, d).ToArray())]);
        Assert.That(shifted.Data.Zip(top.Data, (a, b) => a - b), Is.All.EqualTo(1f).Within(1e-5));
        Assert.Throws<InvalidArgumentException>(() => model.RunLayer(2, start, KvCache.Slice(full.Present!.Keys[2], 0, 5, 1),
            KvCache.Slice(full.Present!.Values[2], 0, 5, 1), mask, [[5, 6, 7]], [Intervention.Add("blocks.1.hook_resid_post", new float[d])]));
    }

    [Test]
    public void PlainExport_HasNoLayerGraphs()
    {
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1 });
        using var tmp = new TempDir();
        using var model = ModelSession.Open(TestCheckpoints.Export(ckpt, tmp, OnnxInterp.Export.ExportOptions.Plain));
        Assert.That(model.HasLayerGraphs, Is.False);
        Assert.Throws<InvalidArgumentException>(() => model.RunHead(FloatTensor.Zeros(1, 1, ckpt.Config.HiddenSize)));
    }
}

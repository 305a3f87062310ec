using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class LastLayerWeightsTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void Read_CheckpointAndExport_GiveTheSameWeights(bool tied)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Tied = tied, NumLayers = 2, Seed = tied ? 7 : 8 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false });
        var fromHf = LastLayerWeights.Read(tmp.Sub("hf"));
        var fromOnnx = LastLayerWeights.Read(onnx);

        Assert.That((fromOnnx.Layer, fromOnnx.Neurons, fromOnnx.Hidden, fromOnnx.Vocab, fromOnnx.Tied), Is.EqualTo((1, 96, 64, 97, tied)));
        Assert.That(fromOnnx.WOut, Is.EqualTo(fromHf.WOut));
        Assert.That(fromOnnx.FinalNorm, Is.EqualTo(fromHf.FinalNorm));
        Assert.That(fromOnnx.Unembed, Is.EqualTo(fromHf.Unembed));
        Assert.That(fromOnnx.RmsNormEps, Is.EqualTo(fromHf.RmsNormEps));

        // And both are the factory's weights: w_out of neuron i is column i of down_proj [hidden, neurons].
        var down = ckpt.Weights["model.layers.1.mlp.down_proj.weight"];
        for (int i = 0; i < 96; i += 17)
            for (int r = 0; r < 64; r += 9)
                Assert.That(fromHf.NeuronOut(i)[r], Is.EqualTo(down[r * 96 + i]), $"neuron {i}, row {r}");
        Assert.That(fromHf.Unembed, Is.EqualTo(ckpt.Weights[tied ? WeightNames.Embed : WeightNames.LmHead]));
        Assert.That(fromHf.FinalNorm, Is.EqualTo(ckpt.Weights[WeightNames.FinalNorm]));
    }

    [Test]
    public void Read_Fp16Export_EqualsTheCheckpointRoundedToFp16()
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { NumLayers = 1, Seed = 9 });
        var onnx = TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, DType = ExportDType.Fp16 });
        var hf = LastLayerWeights.Read(tmp.Sub("hf"));
        var x = LastLayerWeights.Read(onnx);
        Assert.That(x.WOut, Is.EqualTo(hf.WOut.Select(v => (float)(Half)v).ToArray()));
        Assert.That(x.Unembed, Is.EqualTo(hf.Unembed.Select(v => (float)(Half)v).ToArray()));
    }

    [Test]
    public void Read_BrokenExport_IsTypedError()
    {
        using var tmp = new TempDir();
        var onnx = TestCheckpoints.Export(TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1 }), tmp,
            new ExportOptions { HashSource = false });
        var data = Path.Combine(onnx, ModelExporter.DataFile);
        using (var fs = new FileStream(data, FileMode.Open)) fs.SetLength(fs.Length / 2);
        var e = Assert.Throws<InvalidFileException>(() => LastLayerWeights.Read(onnx));
        Assert.That(e!.Message, Does.Contain("outside the file"));

        File.WriteAllBytes(Path.Combine(onnx, ModelExporter.ModelFile), [1, 2, 3, 4, 5]);
        Assert.Throws<InvalidFileException>(() => LastLayerWeights.Read(onnx));
        Assert.Throws<InvalidArgumentException>(() => LastLayerWeights.Read(tmp.Sub("nope")));
    }
}

using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Tests.Export;
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

    /// <summary>
    /// A quantized export holds down_proj and the head as MatMulNBits initializers: read back, they are dequantize(quantize(w))
    /// computed naively from the quantizer's output (the weights the model computes with); the final norm stays fp32.
    /// </summary>
    [TestCase(false, false, 4, true, false)]
    [TestCase(true, false, 4, true, false)]
    [TestCase(false, true, 4, true, false)]
    [TestCase(false, false, 8, false, false)]
    [TestCase(false, false, 4, true, true)]
    public void Read_QuantizedExport_EqualsDequantizedWeights(bool fused, bool tied, int bits, bool symmetric, bool floatHead)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Tied = tied, NumLayers = 2, Seed = 5 + bits });
        var q = new WeightQuantization { Bits = bits, BlockSize = 32, Symmetric = symmetric, Head = !floatHead };
        var x = LastLayerWeights.Read(TestCheckpoints.Export(ckpt, tmp, new ExportOptions { HashSource = false, Fused = fused, Quantization = q }));

        float[] Naive(string name, int n, int k) =>
            BlockQuantizerTests.NaiveDequantize(BlockQuantizer.Quantize(ckpt.Weights[name], n, k, q), bits, 32).Select(v => (float)v).ToArray();
        var down = Naive("model.layers.1.mlp.down_proj.weight", 64, 96);  // [hidden, neurons]
        var expectedOut = new float[96 * 64];
        for (int i = 0; i < 96; i++)
            for (int r = 0; r < 64; r++)
                expectedOut[i * 64 + r] = down[r * 96 + i];
        string head = tied ? WeightNames.Embed : WeightNames.LmHead;
        Assert.That((x.Layer, x.Neurons, x.Hidden, x.Vocab, x.Tied), Is.EqualTo((1, 96, 64, 97, tied)));
        Assert.That(x.WOut, Is.EqualTo(expectedOut));
        Assert.That(x.Unembed, Is.EqualTo(floatHead ? ckpt.Weights[head] : Naive(head, 97, 64)));
        Assert.That(x.FinalNorm, Is.EqualTo(ckpt.Weights[WeightNames.FinalNorm]));
        Assert.That(x.WOut, Is.Not.EqualTo(LastLayerWeights.Read(tmp.Sub("hf")).WOut), "quantization changed the weights");
    }

    [Test]
    public void Read_QuantizedExportWithoutItsInitializer_IsTypedErrorNamingIt()
    {
        using var tmp = new TempDir();
        var onnx = TestCheckpoints.Export(TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { NumLayers = 1 }), tmp,
            new ExportOptions { HashSource = false, Quantization = WeightQuantization.Int4() });
        var path = Path.Combine(onnx, ModelExporter.ModelFile);
        var model = Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        const string name = "model.layers.0.mlp.down_proj.weight_Q4";
        model.Graph.Initializer.Single(t => t.Name == name).Name = "renamed";
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(model));
        var e = Assert.Throws<ModelMismatchException>(() => LastLayerWeights.Read(onnx));
        Assert.That(e!.Message, Does.Contain(name).And.Contain("int4-b32").And.Not.Contain("no such initializer"));
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

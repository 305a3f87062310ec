using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Export;
using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>
/// A model's weights as analyses read them: fp32, in Hugging Face's layout ([out, in] for linear weights), whatever
/// holds them (a checkpoint's safetensors, an export's ONNX initializers, int4 MatMulNBits blocks read dequantized as
/// the kernel computes with them). Each call reads from disk; keep what you need.
/// </summary>
public interface IModelWeights
{
    /// <summary>The folder the weights come from (for messages).</summary>
    string Source { get; }

    ModelConfig Config { get; }

    /// <summary>mlp.down_proj.weight of <paramref name="layer"/>, [hidden, intermediate].</summary>
    FloatTensor MlpDown(int layer);

    /// <summary>The final RMSNorm's weight, [hidden].</summary>
    FloatTensor FinalNorm();

    /// <summary>The input embedding, [vocab, hidden].</summary>
    FloatTensor Embedding();

    /// <summary>The unembedding as lm_head stores it, [vocab, hidden] (the embedding when the head is tied).</summary>
    FloatTensor Unembedding();

    /// <summary>The checkpoint's name of the tensor a method reads (for messages), e.g. model.layers.3.mlp.down_proj.weight.</summary>
    string NameOf(WeightTensor tensor, int layer = 0);
}

/// <summary>The tensors <see cref="IModelWeights"/> reads, by its method names.</summary>
public enum WeightTensor { MlpDown, FinalNorm, Embedding, Unembedding }

/// <summary>Opens the weights of an exported folder (manifest.json) or a Hugging Face checkpoint folder (config.json).</summary>
public static class ModelWeights
{
    public static IModelWeights Open(string folder)
    {
        if (!Directory.Exists(folder)) Throw.Argument("model folder does not exist", "model", folder);
        if (File.Exists(Path.Combine(folder, ModelManifest.FileName))) return new ExportWeights(folder);
        return new CheckpointWeights(folder);  // opening the checkpoint fails, typed, on a folder that is neither
    }
}

/// <summary>A Hugging Face checkpoint's tensors, read as fp32.</summary>
public sealed class CheckpointWeights : IModelWeights
{
    public CheckpointWeights(string folder)
    {
        Source = Path.GetFullPath(folder);
        using var ckpt = HfCheckpoint.Open(folder);
        Config = ckpt.Config;
    }

    public string Source { get; }
    public ModelConfig Config { get; }

    FloatTensor Read(string name, params int[] shape)
    {
        using var ckpt = HfCheckpoint.Open(Source);
        return new FloatTensor(ckpt.ReadFloat32(name), shape);
    }

    public FloatTensor MlpDown(int layer) => Read(NameOf(WeightTensor.MlpDown, CheckLayer(Config, layer)), Config.HiddenSize, Config.IntermediateSize);
    public FloatTensor FinalNorm() => Read(NameOf(WeightTensor.FinalNorm), Config.HiddenSize);
    public FloatTensor Embedding() => Read(NameOf(WeightTensor.Embedding), Config.VocabSize, Config.HiddenSize);
    public FloatTensor Unembedding() => Read(NameOf(WeightTensor.Unembedding), Config.VocabSize, Config.HiddenSize);

    /// <summary>The name the checkpoint's family gives the tensor.</summary>
    public string NameOf(WeightTensor tensor, int layer = 0) => Names(Config, Config.Family.Tensors, tensor, layer);

    internal static string Names(ModelConfig c, TensorNames names, WeightTensor tensor, int layer) => tensor switch
    {
        WeightTensor.MlpDown => names.Weight(layer, names.DownProj),
        WeightTensor.FinalNorm => names.FinalNorm,
        WeightTensor.Embedding => names.Embed,
        WeightTensor.Unembedding => c.TieWordEmbeddings ? names.Embed : names.LmHead,
        _ => throw new InvalidArgumentException("unknown weight tensor", "tensor", tensor.ToString()),
    };

    internal static int CheckLayer(ModelConfig c, int layer) =>
        (uint)layer < (uint)c.NumLayers ? layer : throw new InvalidArgumentException($"layer outside 0..{c.NumLayers - 1}", "layer", layer.ToString());
}

/// <summary>
/// An exported folder's weights, from model.onnx's initializers and its external data. The exporter stores down_proj
/// transposed ([intermediate, hidden], under the HF name), the norms, the embedding and the head as HF does; a tied
/// head is the embedding initializer. In a quantized export (<see cref="ModelManifest.Quantization"/>) down_proj and
/// the head (when quantized) are the MatMulNBits initializers <c>{name}_Q{bits}</c>, <c>{name}_scales</c> (and
/// <c>{name}_zero_points</c>), read dequantized. Layouts that do not match are <see cref="ModelMismatchException"/>s
/// naming the initializer.
/// </summary>
public sealed class ExportWeights : IModelWeights
{
    readonly ModelManifest _manifest;
    readonly string _modelPath;
    OnnxInitializers? _init;

    public ExportWeights(string folder)
    {
        Source = Path.GetFullPath(folder);
        _manifest = ModelManifest.Read(folder);
        _modelPath = Path.Combine(Source, _manifest.ModelFile);
    }

    public string Source { get; }
    public ModelConfig Config => _manifest.Config;

    OnnxInitializers Init => _init ??= OnnxInitializers.Open(_modelPath);

    /// <summary>The initializer's name: exports name weights as <see cref="WeightNames"/> does, whatever the family.</summary>
    public string NameOf(WeightTensor tensor, int layer = 0) => tensor switch
    {
        WeightTensor.MlpDown => WeightNames.Layer(layer, "mlp.down_proj.weight"),
        WeightTensor.FinalNorm => WeightNames.FinalNorm,
        WeightTensor.Embedding => WeightNames.Embed,
        WeightTensor.Unembedding => Config.TieWordEmbeddings ? WeightNames.Embed : WeightNames.LmHead,
        _ => throw new InvalidArgumentException("unknown weight tensor", "tensor", tensor.ToString()),
    };

    public FloatTensor MlpDown(int layer)
    {
        var c = Config;
        int d = c.HiddenSize, n = c.IntermediateSize;
        string name = NameOf(WeightTensor.MlpDown, CheckpointWeights.CheckLayer(c, layer));
        // MatMulNBits' B is down_proj as HF stores it, [hidden, neurons].
        if (_manifest.Quantization is { } q) return new FloatTensor(Dequantized(name, q, n: d, k: n), d, n);
        Expect(name, [n, d]);
        var stored = Init.ReadFloat32(name);
        var down = new float[(long)d * n];
        for (int i = 0; i < n; i++)
            for (int r = 0; r < d; r++)
                down[(long)r * n + i] = stored[(long)i * d + r];
        return new FloatTensor(down, d, n);
    }

    public FloatTensor FinalNorm()
    {
        Expect(WeightNames.FinalNorm, [Config.HiddenSize]);
        return new FloatTensor(Init.ReadFloat32(WeightNames.FinalNorm), Config.HiddenSize);
    }

    public FloatTensor Embedding()
    {
        Expect(WeightNames.Embed, [Config.VocabSize, Config.HiddenSize]);
        return new FloatTensor(Init.ReadFloat32(WeightNames.Embed), Config.VocabSize, Config.HiddenSize);
    }

    public FloatTensor Unembedding()
    {
        var c = Config;
        // A quantized head is B = [vocab, hidden] under lm_head's name, tied or not (the exporter quantizes a copy of the embedding).
        if (_manifest.Quantization is { Head: true } q)
            return new FloatTensor(Dequantized(WeightNames.LmHead, q, n: c.VocabSize, k: c.HiddenSize), c.VocabSize, c.HiddenSize);
        string name = c.TieWordEmbeddings ? WeightNames.Embed : WeightNames.LmHead;
        Expect(name, [c.VocabSize, c.HiddenSize]);
        return new FloatTensor(Init.ReadFloat32(name), c.VocabSize, c.HiddenSize);
    }

    /// <summary>The MatMulNBits weight B [n, k] registered under <paramref name="name"/>, dequantized as the kernel does.</summary>
    float[] Dequantized(string name, WeightQuantization q, int n, int k)
    {
        var names = WeightStreamer.QuantizedNames(name, q);
        int kBlocks = (k + q.BlockSize - 1) / q.BlockSize, blob = q.BlockSize * q.Bits / 8, zpRow = (kBlocks * q.Bits + 7) / 8;
        string layout = $" (the manifest says {q}: MatMulNBits weights {names.Packed}, {names.Scales}{(names.ZeroPoints is null ? "" : ", " + names.ZeroPoints)})";
        Expect(names.Packed, [n, kBlocks, blob], layout);
        Expect(names.Scales, [(long)n * kBlocks], layout);
        if (names.ZeroPoints is { } z) Expect(z, [(long)n * zpRow], layout);
        var m = new QuantizedMatrix(n, k, q.Bits, q.BlockSize, Init.ReadUInt8(names.Packed), Init.ReadFloat32(names.Scales),
            names.ZeroPoints is { } zp ? Init.ReadUInt8(zp) : null);
        return BlockQuantizer.Dequantize(m);
    }

    void Expect(string name, long[] shape, string layout = "")
    {
        if (!Init.Contains(name))
            Throw.Mismatch($"the exported model has no initializer {name}{layout}; not a layout ModelExporter writes (exported by another version, or hooked from another tool?)", _modelPath, name);
        var dims = Init.Dims(name);
        if (!dims.AsSpan().SequenceEqual(shape))
            Throw.Mismatch($"initializer shape disagrees with the manifest's config (expected [{string.Join(",", shape)}])", _modelPath, name,
                "[" + string.Join(",", dims) + "]");
    }
}

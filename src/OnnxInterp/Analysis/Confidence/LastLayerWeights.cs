using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// The weights the entropy-neuron analysis reads, as fp32 copies: the last MLP layer's output weights
/// <see cref="WOut"/> [neurons, hidden] (row i is w_out of neuron i: column i of HF's down_proj, row i of
/// TransformerLens' W_out[-1]), the final RMSNorm weight [hidden] and the unembedding [vocab, hidden] as HF's
/// lm_head stores it (the input embedding when the head is tied). Read from a Hugging Face checkpoint or from an
/// exported folder's ONNX initializers; both give the same numbers (fp16 exports rounded to fp16).
/// </summary>
public sealed record LastLayerWeights(
    string Source,
    int Layer,
    int Neurons,
    int Hidden,
    int Vocab,
    float[] WOut,
    float[] FinalNorm,
    float[] Unembed,
    bool Tied,
    double RmsNormEps)
{
    /// <summary>An exported folder (manifest.json) or a Hugging Face checkpoint folder (config.json + safetensors).</summary>
    public static LastLayerWeights Read(string folder)
    {
        if (!Directory.Exists(folder)) Throw.Argument("model folder does not exist", "model", folder);
        if (File.Exists(Path.Combine(folder, ModelManifest.FileName))) return FromExport(folder);
        using var ckpt = HfCheckpoint.Open(folder);
        return FromCheckpoint(ckpt);
    }

    public static LastLayerWeights FromCheckpoint(HfCheckpoint ckpt)
    {
        var c = ckpt.Config;
        var names = c.Family.Tensors;
        int layer = c.NumLayers - 1, d = c.HiddenSize, n = c.IntermediateSize;
        var down = ckpt.ReadFloat32(names.Weight(layer, names.DownProj));  // [hidden, neurons]
        var wOut = new float[(long)n * d];
        for (int r = 0; r < d; r++)
            for (int i = 0; i < n; i++)
                wOut[(long)i * d + r] = down[(long)r * n + i];
        var head = ckpt.ReadFloat32(c.TieWordEmbeddings ? names.Embed : names.LmHead);
        return new LastLayerWeights(ckpt.Directory, layer, n, d, c.VocabSize, wOut, ckpt.ReadFloat32(names.FinalNorm), head,
            c.TieWordEmbeddings, c.RmsNormEps);
    }

    /// <summary>
    /// From model.onnx's initializers and its external data: the exporter stores down_proj transposed ([neurons,
    /// hidden], under the HF name), the norm and the head as HF does; a tied head is the embedding initializer. In a
    /// quantized export (<see cref="ModelManifest.Quantization"/>) down_proj and the head (when quantized) are the
    /// MatMulNBits initializers <c>{name}_Q{bits}</c>, <c>{name}_scales</c> (and <c>{name}_zero_points</c>), read
    /// dequantized: the weights the model computes with. The final norm stays fp32.
    /// </summary>
    public static LastLayerWeights FromExport(string folder)
    {
        var manifest = ModelManifest.Read(folder);
        var c = manifest.Config;
        var modelPath = Path.Combine(folder, manifest.ModelFile);
        var init = OnnxInitializers.Open(modelPath);
        int layer = c.NumLayers - 1, d = c.HiddenSize, n = c.IntermediateSize;
        string downName = WeightNames.Layer(layer, "mlp.down_proj.weight");
        Expect(init, modelPath, WeightNames.FinalNorm, [d]);
        float[] wOut, head;
        if (manifest.Quantization is { } q)
        {
            // MatMulNBits' B is down_proj as HF stores it, [hidden, neurons]; w_out rows are its columns.
            var down = Dequantized(init, modelPath, downName, q, n: d, k: n);
            wOut = new float[(long)n * d];
            for (int r = 0; r < d; r++)
                for (int i = 0; i < n; i++)
                    wOut[(long)i * d + r] = down[(long)r * n + i];
            // A quantized head is B = [vocab, hidden] under lm_head's name, tied or not (the exporter quantizes a copy of the embedding).
            head = q.Head ? Dequantized(init, modelPath, WeightNames.LmHead, q, n: c.VocabSize, k: d) : FloatHead(init, modelPath, c);
        }
        else
        {
            Expect(init, modelPath, downName, [n, d]);
            wOut = init.ReadFloat32(downName);
            head = FloatHead(init, modelPath, c);
        }
        return new LastLayerWeights(Path.GetFullPath(folder), layer, n, d, c.VocabSize, wOut,
            init.ReadFloat32(WeightNames.FinalNorm), head, c.TieWordEmbeddings, c.RmsNormEps);
    }

    static float[] FloatHead(OnnxInitializers init, string modelPath, ModelConfig c)
    {
        string headName = c.TieWordEmbeddings ? WeightNames.Embed : WeightNames.LmHead;
        Expect(init, modelPath, headName, [c.VocabSize, c.HiddenSize]);
        return init.ReadFloat32(headName);
    }

    /// <summary>The MatMulNBits weight B [n, k] registered under <paramref name="name"/>, dequantized as the kernel does.</summary>
    static float[] Dequantized(OnnxInitializers init, string modelPath, string name, WeightQuantization q, int n, int k)
    {
        var names = WeightStreamer.QuantizedNames(name, q);
        int kBlocks = (k + q.BlockSize - 1) / q.BlockSize, blob = q.BlockSize * q.Bits / 8, zpRow = (kBlocks * q.Bits + 7) / 8;
        string layout = $" (the manifest says {q}: MatMulNBits weights {names.Packed}, {names.Scales}{(names.ZeroPoints is null ? "" : ", " + names.ZeroPoints)})";
        Expect(init, modelPath, names.Packed, [n, kBlocks, blob], layout);
        Expect(init, modelPath, names.Scales, [(long)n * kBlocks], layout);
        if (names.ZeroPoints is { } z) Expect(init, modelPath, z, [(long)n * zpRow], layout);
        var m = new QuantizedMatrix(n, k, q.Bits, q.BlockSize, init.ReadUInt8(names.Packed), init.ReadFloat32(names.Scales),
            names.ZeroPoints is { } zp ? init.ReadUInt8(zp) : null);
        return BlockQuantizer.Dequantize(m);
    }

    static void Expect(OnnxInitializers init, string path, string name, long[] shape, string layout = "")
    {
        if (!init.Contains(name))
            Throw.Mismatch($"the exported model has no initializer {name}{layout}; not a layout ModelExporter writes (exported by another version, or hooked from another tool?)", path, name);
        var dims = init.Dims(name);
        if (!dims.AsSpan().SequenceEqual(shape))
            Throw.Mismatch($"initializer shape disagrees with the manifest's config (expected [{string.Join(",", shape)}])", path, name,
                "[" + string.Join(",", dims) + "]");
    }

    /// <summary>w_out of one neuron.</summary>
    public ReadOnlySpan<float> NeuronOut(int neuron) => WOut.AsSpan(checked(neuron * Hidden), Hidden);
}

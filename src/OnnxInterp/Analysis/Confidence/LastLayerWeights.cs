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
        int layer = c.NumLayers - 1, d = c.HiddenSize, n = c.IntermediateSize;
        var down = ckpt.ReadFloat32(WeightNames.Layer(layer, "mlp.down_proj.weight"));  // [hidden, neurons]
        var wOut = new float[(long)n * d];
        for (int r = 0; r < d; r++)
            for (int i = 0; i < n; i++)
                wOut[(long)i * d + r] = down[(long)r * n + i];
        var head = ckpt.ReadFloat32(c.TieWordEmbeddings ? WeightNames.Embed : WeightNames.LmHead);
        return new LastLayerWeights(ckpt.Directory, layer, n, d, c.VocabSize, wOut, ckpt.ReadFloat32(WeightNames.FinalNorm), head,
            c.TieWordEmbeddings, c.RmsNormEps);
    }

    /// <summary>
    /// From model.onnx's initializers and its external data: the exporter stores down_proj transposed ([neurons,
    /// hidden], under the HF name), the norm and the head as HF does; a tied head is the embedding initializer.
    /// </summary>
    public static LastLayerWeights FromExport(string folder)
    {
        var manifest = ModelManifest.Read(folder);
        var c = manifest.Config;
        var modelPath = Path.Combine(folder, manifest.ModelFile);
        var init = OnnxInitializers.Open(modelPath);
        int layer = c.NumLayers - 1, d = c.HiddenSize, n = c.IntermediateSize;
        string downName = WeightNames.Layer(layer, "mlp.down_proj.weight");
        string headName = c.TieWordEmbeddings ? WeightNames.Embed : WeightNames.LmHead;
        Expect(init, modelPath, downName, [n, d]);
        Expect(init, modelPath, WeightNames.FinalNorm, [d]);
        Expect(init, modelPath, headName, [c.VocabSize, d]);
        return new LastLayerWeights(Path.GetFullPath(folder), layer, n, d, c.VocabSize, init.ReadFloat32(downName),
            init.ReadFloat32(WeightNames.FinalNorm), init.ReadFloat32(headName), c.TieWordEmbeddings, c.RmsNormEps);
    }

    static void Expect(OnnxInitializers init, string path, string name, long[] shape)
    {
        if (!init.Contains(name)) Throw.Mismatch("the exported model has no such initializer (exported by another version?)", path, name);
        var dims = init.Dims(name);
        if (!dims.AsSpan().SequenceEqual(shape))
            Throw.Mismatch($"initializer shape disagrees with the manifest's config (expected [{string.Join(",", shape)}])", path, name,
                "[" + string.Join(",", dims) + "]");
    }

    /// <summary>w_out of one neuron.</summary>
    public ReadOnlySpan<float> NeuronOut(int neuron) => WOut.AsSpan(checked(neuron * Hidden), Hidden);
}

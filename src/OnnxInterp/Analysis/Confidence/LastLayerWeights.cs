using OnnxInterp.Runtime;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// The weights the entropy-neuron analysis reads, as fp32 copies: the last MLP layer's output weights
/// <see cref="WOut"/> [neurons, hidden] (row i is w_out of neuron i: column i of HF's down_proj, row i of
/// TransformerLens' W_out[-1]), the final RMSNorm weight [hidden] and the unembedding [vocab, hidden] as HF's
/// lm_head stores it (the input embedding when the head is tied). Read through <see cref="IModelWeights"/> from a Hugging
/// Face checkpoint or from an exported folder; both give the same numbers (fp16 exports rounded to fp16).
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
    /// <summary>The checkpoint's names of <see cref="WOut"/> (down_proj), <see cref="FinalNorm"/> and <see cref="Unembed"/>, for messages.</summary>
    public (string WOut, string FinalNorm, string Unembed) Names { get; init; } =
        ($"model.layers.{Layer}.mlp.down_proj.weight", "model.norm.weight", Tied ? "model.embed_tokens.weight" : "lm_head.weight");

    /// <summary>An exported folder (manifest.json) or a Hugging Face checkpoint folder (config.json + safetensors).</summary>
    public static LastLayerWeights Read(string folder) => Read(ModelWeights.Open(folder));

    /// <summary>
    /// From any weights reader (a checkpoint, an export, int4 blocks read dequantized: the weights the model computes
    /// with; fp16 exports rounded to fp16). w_out rows are down_proj's columns.
    /// </summary>
    public static LastLayerWeights Read(IModelWeights weights)
    {
        var c = weights.Config;
        int layer = c.NumLayers - 1, d = c.HiddenSize, n = c.IntermediateSize;
        var norm = weights.FinalNorm();
        var down = weights.MlpDown(layer).Data;  // [hidden, neurons]
        var wOut = new float[(long)n * d];
        for (int r = 0; r < d; r++)
            for (int i = 0; i < n; i++)
                wOut[(long)i * d + r] = down[(long)r * n + i];
        var head = weights.Unembedding().Data;
        return new LastLayerWeights(weights.Source, layer, n, d, c.VocabSize, wOut, norm.Data, head, c.TieWordEmbeddings, c.RmsNormEps)
        {
            Names = (weights.NameOf(WeightTensor.MlpDown, layer), weights.NameOf(WeightTensor.FinalNorm), weights.NameOf(WeightTensor.Unembedding)),
        };
    }

    /// <summary>w_out of one neuron.</summary>
    public ReadOnlySpan<float> NeuronOut(int neuron) => WOut.AsSpan(checked(neuron * Hidden), Hidden);
}

using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Checkpoints;

/// <summary>
/// Names of the exported graph's weight initializers: one layout for every family (transformers' Llama names), so
/// readers of an export need not know where the family's checkpoint kept them. And the tensors a checkpoint must hold,
/// in its family's names (<see cref="TensorNames"/>), with the shapes config.json implies for them.
/// </summary>
public static class WeightNames
{
    public const string Embed = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Layer(int l, string suffix) => $"model.layers.{l}.{suffix}";

    /// <summary>Every tensor the model needs, in the checkpoint's names, with its expected shape, in the order the graph uses them.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(ModelConfig c)
    {
        var n = c.Family.Tensors;
        long d = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim, i = c.IntermediateSize;
        yield return (n.Embed, [c.VocabSize, d]);
        for (int l = 0; l < c.NumLayers; l++)
        {
            yield return (n.InLayer(l, n.InputNorm), [d]);
            yield return (n.Weight(l, n.QProj), [q, d]);
            yield return (n.Weight(l, n.KProj), [kv, d]);
            yield return (n.Weight(l, n.VProj), [kv, d]);
            if (c.QkvBias)
            {
                yield return (n.Bias(l, n.QProj), [q]);
                yield return (n.Bias(l, n.KProj), [kv]);
                yield return (n.Bias(l, n.VProj), [kv]);
            }
            yield return (n.Weight(l, n.OProj), [d, q]);
            if (c.OProjBias) yield return (n.Bias(l, n.OProj), [d]);
            yield return (n.InLayer(l, n.PostAttentionNorm), [d]);
            yield return (n.Weight(l, n.GateProj), [i, d]);
            yield return (n.Weight(l, n.UpProj), [i, d]);
            yield return (n.Weight(l, n.DownProj), [d, i]);
            if (c.MlpBias)
            {
                yield return (n.Bias(l, n.GateProj), [i]);
                yield return (n.Bias(l, n.UpProj), [i]);
                yield return (n.Bias(l, n.DownProj), [d]);
            }
        }
        yield return (n.FinalNorm, [d]);
        if (!c.TieWordEmbeddings) yield return (n.LmHead, [c.VocabSize, d]);
    }
}

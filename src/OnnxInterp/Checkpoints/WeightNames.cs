namespace OnnxInterp.Checkpoints;

/// <summary>Hugging Face tensor names of the Llama-family decoder, and the shapes config.json implies for them.</summary>
public static class WeightNames
{
    public const string Embed = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";

    public static string Layer(int l, string suffix) => $"model.layers.{l}.{suffix}";

    /// <summary>Every tensor the model needs, with its expected shape, in the order the graph uses them.</summary>
    public static IEnumerable<(string Name, long[] Shape)> Expected(ModelConfig c)
    {
        long d = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim, i = c.IntermediateSize;
        yield return (Embed, [c.VocabSize, d]);
        for (int l = 0; l < c.NumLayers; l++)
        {
            yield return (Layer(l, "input_layernorm.weight"), [d]);
            yield return (Layer(l, "self_attn.q_proj.weight"), [q, d]);
            yield return (Layer(l, "self_attn.k_proj.weight"), [kv, d]);
            yield return (Layer(l, "self_attn.v_proj.weight"), [kv, d]);
            if (c.QkvBias)
            {
                yield return (Layer(l, "self_attn.q_proj.bias"), [q]);
                yield return (Layer(l, "self_attn.k_proj.bias"), [kv]);
                yield return (Layer(l, "self_attn.v_proj.bias"), [kv]);
            }
            yield return (Layer(l, "self_attn.o_proj.weight"), [d, q]);
            if (c.OProjBias) yield return (Layer(l, "self_attn.o_proj.bias"), [d]);
            yield return (Layer(l, "post_attention_layernorm.weight"), [d]);
            yield return (Layer(l, "mlp.gate_proj.weight"), [i, d]);
            yield return (Layer(l, "mlp.up_proj.weight"), [i, d]);
            yield return (Layer(l, "mlp.down_proj.weight"), [d, i]);
            if (c.MlpBias)
            {
                yield return (Layer(l, "mlp.gate_proj.bias"), [i]);
                yield return (Layer(l, "mlp.up_proj.bias"), [i]);
                yield return (Layer(l, "mlp.down_proj.bias"), [d]);
            }
        }
        yield return (FinalNorm, [d]);
        if (!c.TieWordEmbeddings) yield return (LmHead, [c.VocabSize, d]);
    }
}

namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// transformers' LlamaForCausalLM (Llama 2 and 3, TinyLlama, Tulu 3, ...): attention_bias puts biases on q, k, v and o,
/// mlp_bias on gate, up and down; full attention. The model builder's Phi-3 graphs read as this block.
/// </summary>
static class LlamaFamily
{
    /// <summary>LlamaModel's module names, which MistralModel and Qwen2Model keep.</summary>
    public static TensorNames Tensors { get; } = new()
    {
        Embed = "model.embed_tokens.weight",
        FinalNorm = "model.norm.weight",
        LmHead = "lm_head.weight",
        Layer = "model.layers.{0}",
        InputNorm = "input_layernorm.weight",
        PostAttentionNorm = "post_attention_layernorm.weight",
        QProj = "self_attn.q_proj",
        KProj = "self_attn.k_proj",
        VProj = "self_attn.v_proj",
        OProj = "self_attn.o_proj",
        GateProj = "mlp.gate_proj",
        UpProj = "mlp.up_proj",
        DownProj = "mlp.down_proj",
    };

    public static ModelFamily Family { get; } = new()
    {
        Name = "Llama",
        ModelType = "llama",
        Architectures = ["LlamaForCausalLM"],
        Tensors = Tensors,
        QkvBias = BiasRule.FromField("attention_bias"),
        OProjBias = BiasRule.FromField("attention_bias"),
        MlpBias = BiasRule.FromField("mlp_bias"),
        TieWordEmbeddingsDefault = false,
        RopeTypes = ["default", "linear", "llama3"],
        GenAiModelType = "llama",
        // Phi-3's decoder block is Llama's once the builder has split its fused projections.
        DeployedAliases = [new DeployedAlias("phi3", "Phi3ForCausalLM", "Phi-3")],
    };
}

namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// transformers' Qwen2ForCausalLM: q, k and v always have biases, o and the MLP never (attention_bias and mlp_bias are
/// not read). The window applies only with use_sliding_window, to layers from max_window_layers on (Qwen2Config's
/// default 28), unless layer_types lists them; sliding_window defaults to 4096.
/// </summary>
static class Qwen2Family
{
    public static ModelFamily Family { get; } = new()
    {
        Name = "Qwen2",
        ModelType = "qwen2",
        Architectures = ["Qwen2ForCausalLM"],
        Tensors = LlamaFamily.Tensors,
        QkvBias = BiasRule.Present,
        OProjBias = BiasRule.None,
        MlpBias = BiasRule.None,
        SlidingWindow = new SlidingWindowRule
        {
            Field = "sliding_window",
            DefaultWindow = 4096,
            EnabledBy = "use_sliding_window",
            FromLayerField = "max_window_layers",
            FromLayerDefault = 28,
            LayerTypesField = "layer_types",
        },
        TieWordEmbeddingsDefault = false,
        RopeTypes = ["default", "linear", "llama3"],
        GenAiModelType = "qwen2",
    };
}

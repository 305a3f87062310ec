namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// transformers' MistralForCausalLM: no biases (MistralConfig has no bias fields), and a sliding window on every layer
/// that defaults to 4096 tokens when config.json omits sliding_window; an explicit null turns it off.
/// </summary>
static class MistralFamily
{
    public static ModelFamily Family { get; } = new()
    {
        Name = "Mistral",
        ModelType = "mistral",
        Architectures = ["MistralForCausalLM"],
        Tensors = LlamaFamily.Tensors,
        QkvBias = BiasRule.None,
        OProjBias = BiasRule.None,
        MlpBias = BiasRule.None,
        SlidingWindow = new SlidingWindowRule { Field = "sliding_window", DefaultWindow = 4096 },
        TieWordEmbeddingsDefault = false,
        RopeTypes = ["default", "linear", "llama3"],
        GenAiModelType = "mistral",
    };
}

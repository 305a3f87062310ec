using OnnxInterp.Checkpoints;
using OnnxInterp.Checkpoints.Families;

namespace OnnxInterp.Analysis;

/// <summary>
/// Which protocol an analysis follows. <see cref="Default"/> is OnnxInterp's (searches where the paper fixes, pools
/// where it splits); <see cref="Paper"/> reproduces Du et al. (2025)'s public code, HZD01/post-training-mechanistic-analysis,
/// setting by setting (each analysis's options name the file and line each setting comes from).
/// </summary>
public enum AnalysisProtocol
{
    Default,
    Paper,
}

/// <summary>What post-training a model in a comparison had: the base (the first model), supervised fine-tuning, or instruct tuning.</summary>
public enum PostTraining
{
    Base,
    Sft,
    Instruct,
}

/// <summary>The paper's model families: they decide the curation patterns (token counts of subject and object) and the settings tables.</summary>
public enum PaperFamily
{
    Llama3,
    Llama2,
    Mistral,

    /// <summary>A model the paper did not study: each analysis applies its documented rule instead of a table row.</summary>
    Other,
}

/// <summary>
/// A model as the paper's settings tables know it: the model name its scripts take (e.g. "llama-3.1-8b-instruct",
/// "llama-3.1-8b-sft"; config.ini names two sections differently, [llama-tulu3-8b-sft] and [mistral-7B-sft], which the
/// truth table maps), or for a model the paper did not study, a description and <see cref="InTable"/> false.
/// </summary>
public sealed record PaperModel(string Key, PaperFamily Family, PostTraining Role, int NumLayers, bool InTable)
{
    /// <summary>
    /// The rule for a model outside the table: a layer the paper fixes on its main model (Llama-3.1-8B, 32 layers) is
    /// taken at the same relative depth, round(layer · L / 32), clamped to the model's layers.
    /// </summary>
    public int ScaleLayer(int paperLayerOf32) =>
        InTable ? paperLayerOf32 : Math.Clamp((int)Math.Round(paperLayerOf32 * NumLayers / 32.0, MidpointRounding.AwayFromZero), 0, NumLayers - 1);
}

/// <summary>
/// Identifies the paper's models from their config.json shape (the paper's checkpoints: Llama-3.1-8B and its Tulu-3 SFT
/// and Instruct versions; Llama-2-13B and its chat version; Mistral-7B-v0.3, its Tulu-2 SFT and Instruct-v0.3), so that
/// `--preset paper` can look up the settings the paper's code uses for each (Knowledge+Truthfulness/config.ini,
/// Refusal/extract_refusal_dir.py, Refusal/apply_refusal_dir.py).
/// </summary>
public static class PaperModels
{
    /// <summary>
    /// The paper's model for this shape and role, or an <see cref="PaperFamily.Other"/> model (InTable false) that the
    /// analyses treat by their documented rules.
    /// </summary>
    public static PaperModel Identify(ModelConfig config, PostTraining role)
    {
        ArgumentNullException.ThrowIfNull(config);
        var family = FamilyOf(config);
        string? size = family switch
        {
            PaperFamily.Llama3 => "llama-3.1-8b",
            PaperFamily.Llama2 => "llama-2-13b",
            PaperFamily.Mistral => "mistral-7B",
            _ => null,
        };
        if (size is null) return new PaperModel($"{config.Architecture}, {config.NumLayers} layers, hidden {config.HiddenSize}", family, role, config.NumLayers, false);
        string key = (family, role) switch
        {
            (_, PostTraining.Base) => size,
            (PaperFamily.Llama3, PostTraining.Sft) => "llama-3.1-8b-sft",
            (PaperFamily.Mistral, PostTraining.Sft) => "mistral-7B-SFT",
            (PaperFamily.Llama2, PostTraining.Sft) => "llama-2-13b-instruct",  // the paper has no Llama-2 SFT; its chat model stands in
            _ => size + "-instruct",
        };
        return new PaperModel(key, family, role, config.NumLayers, true);
    }

    /// <summary>
    /// The family of the paper's shapes: Llama-3.1-8B (Llama, hidden 4096, 32 layers, 8 KV heads, vocabulary 128,256),
    /// or 128,264 for Tulu-3, which adds 8 tokens), Llama-2-13B (Llama, hidden 5120, 40 layers, vocabulary 32,000), Mistral-7B-v0.3 (Mistral, hidden 4096, 32 layers,
    /// vocabulary 32,768). Anything else is <see cref="PaperFamily.Other"/>.
    /// </summary>
    public static PaperFamily FamilyOf(ModelConfig c) => (c.HiddenSize, c.NumLayers, c.VocabSize) switch
    {
        (4096, 32, 128256 or 128264) when c.Family == ModelFamilies.Llama && c.NumKvHeads == 8 => PaperFamily.Llama3,  // Tulu-3 adds 8 tokens
        (5120, 40, 32000) when c.Family == ModelFamilies.Llama => PaperFamily.Llama2,
        (4096, 32, 32768) when c.Family == ModelFamilies.Mistral => PaperFamily.Mistral,
        _ => PaperFamily.Other,
    };

    /// <summary>
    /// The tokenizer family for curation patterns, from the vocabulary when the model is not one of the paper's:
    /// 128,256 tokens is Llama-3's, 32,000 Llama-2's (TinyLlama shares it), 32,768 Mistral-v0.3's.
    /// </summary>
    public static PaperFamily TokenizerFamilyOf(ModelConfig c) => FamilyOf(c) is var f and not PaperFamily.Other ? f : c.VocabSize switch
    {
        128256 or 128264 => PaperFamily.Llama3,
        32000 => PaperFamily.Llama2,
        32768 => PaperFamily.Mistral,
        _ => PaperFamily.Other,
    };

    /// <summary>The role of a post-trained model from its chat template: Tulu's format marks the paper's SFT models, any other an instruct model.</summary>
    public static PostTraining RoleOf(int index, string? chatTemplate) =>
        index == 0 ? PostTraining.Base : chatTemplate == "tulu" ? PostTraining.Sft : PostTraining.Instruct;
}

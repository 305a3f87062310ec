using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Diff;

/// <summary>The diff of each post-trained model against the base on one corpus (<paramref name="Tokenizer"/>: the models' shared one, for display).</summary>
public sealed record DiffResult(DiffOptions Options, IReadOnlyList<DiffPairResult> Pairs, HfTokenizer Tokenizer)
{
    /// <summary>One token as text (special tokens included), for display.</summary>
    public string TokenText(int id) => Tokenizer.Decode([id]);
}

/// <summary>
/// One base → post-trained pair: the corpus as both read it, every token's divergence, per-layer activation and lens
/// statistics, per-prompt grids (layers × tokens) for the figures, the principal directions of the differences and the
/// steered generations.
/// </summary>
public sealed record DiffPairResult(string Base, string Post, string Template, IReadOnlyList<CorpusPrompt> Prompts)
{
    /// <summary>Every token of every prompt, in prompt order.</summary>
    public required IReadOnlyList<TokenDiff> Tokens { get; init; }

    /// <summary>Totals by source and token class (source "all", class "all" for every token; class "last" for each prompt's last token).</summary>
    public required IReadOnlyList<DiffTotal> Totals { get; init; }

    public required IReadOnlyList<LayerDiff> Layers { get; init; }

    /// <summary>Where each model's prediction forms and where the two split (null without the lens).</summary>
    public LensSummary? Lens { get; init; }

    /// <summary>Per prompt, [layers, tokens] grids.</summary>
    public required IReadOnlyList<PromptGrid> Grids { get; init; }

    /// <summary>The principal directions of the differences at <see cref="DirectionLayer"/>.</summary>
    public IReadOnlyList<DiffDirection> Directions { get; init; } = [];

    public int DirectionLayer { get; init; }

    /// <summary>The added vector's norm in the steered generations.</summary>
    public double SteeringNorm { get; init; }

    public IReadOnlyList<SteeredPrompt> Steering { get; init; } = [];

    /// <summary>The token texts of each prompt (decoded in context), for listings and highlighted text.</summary>
    public required IReadOnlyList<string[]> TokenTexts { get; init; }
}

/// <summary>
/// One token of the corpus: <see cref="Kl"/> = KL(post ‖ base) of the next-token distributions at this position, each
/// model's top-1, and the change in log-probability of the token that follows in the text (NaN at the last position).
/// <see cref="BaseForms"/>/<see cref="PostForms"/>: the first layer from which the model's lens top-1 stays its final
/// top-1 (−1 without the lens); <see cref="Split"/>: where the outputs disagree, the first layer from which the two
/// lenses' top-1 stay different (−1 otherwise).
/// </summary>
public readonly record struct TokenDiff(int Prompt, int Position, int Token, TokenClass Class, bool Last, float Kl, int BaseTop1, int PostTop1,
    float NextTokenGain, int BaseForms, int PostForms, int Split)
{
    public bool Disagree => BaseTop1 != PostTop1;
}

/// <summary>Mean KL(post ‖ base) per token, its share of the corpus's total, top-1 disagreement and mean log-probability gain of the next text token.</summary>
public sealed record DiffTotal(string Source, string TokenClass, int Tokens, double MeanKl, double KlShare, double Top1Disagreement, double? MeanNextTokenGain);

/// <summary>
/// One layer's resid_post over the corpus (the first token of each prompt left out of the activation statistics: it sees
/// only itself, and real models park outsized norms there): mean ‖h_post − h_base‖, mean ‖h_base‖, the mean of
/// ‖h_post − h_base‖ / ‖h_base‖ (for all, template and content tokens), mean cosine(h_post, h_base); and the lens.
/// </summary>
public sealed record LayerDiff(int Layer, double DiffNorm, double BaseNorm, double Relative, double? RelativeTemplate, double? RelativeContent, double Cosine)
{
    public LensLayer? BaseLens { get; init; }
    public LensLayer? PostLens { get; init; }

    /// <summary>Mean KL(post lens ‖ base lens) at this layer (at the last layer: the output KL).</summary>
    public double? LensKl { get; init; }

    /// <summary>Share of tokens whose two lens top-1 agree.</summary>
    public double? LensAgreement { get; init; }

    /// <summary>The post-trained model's residual stream through the base model's head.</summary>
    public CrossLens? PostThroughBaseHead { get; init; }

    /// <summary>The base model's residual stream through the post-trained model's head.</summary>
    public CrossLens? BaseThroughPostHead { get; init; }
}

/// <summary>A model's lens at a layer: mean KL(output ‖ lens), median rank of its final top-1 token, share of tokens whose lens top-1 is its final top-1.</summary>
public sealed record LensLayer(double KlToOutput, double MedianRank, double Top1Agreement);

/// <summary>
/// One model's residual stream read through the other's head: mean KL from the residual stream's own model's output
/// (<see cref="KlToOwn"/>) and from the head's model's output (<see cref="KlToHead"/>).
/// </summary>
public sealed record CrossLens(double KlToOwn, double KlToHead);

/// <summary>Mean formation layers over every token, and the mean split layer over the tokens whose outputs disagree.</summary>
public sealed record LensSummary(double BaseForms, double PostForms, double? Split, int SplitTokens);

/// <summary>
/// Per prompt, [layers, tokens]: the relative activation difference, each model's lens KL to its output, KL(post lens ‖
/// base lens) and each model's lens top-1 (empty without the lens).
/// </summary>
public sealed record PromptGrid(float[,] Relative, float[,]? BaseLensKl, float[,]? PostLensKl, float[,]? LensKl, int[,]? BaseTop, int[,]? PostTop);

/// <summary>
/// A principal direction of the differences: its share of ‖D‖²_F, its cosine with the mean difference, and the tokens
/// its logit lens (the base model's final norm and unembedding) promotes and suppresses.
/// </summary>
public sealed record DiffDirection(int Index, double Share, double MeanCosine, IReadOnlyList<string> Promoted, IReadOnlyList<string> Suppressed)
{
    /// <summary>The unit vector (d), for steering and for library users.</summary>
    public required float[] Vector { get; init; }
}

/// <summary>A steered prompt: the base's and the post-trained model's greedy completions, and the base's with each direction added.</summary>
public sealed record SteeredPrompt(string Source, string Prompt, string Base, string Post, IReadOnlyList<string> Steered);

namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// What the model diff computes on a corpus (<see cref="DiffAnalysis.Run"/>): per-token divergence, the logit lens of
/// both models and across them, activation differences per layer, their principal directions and steered generations.
/// </summary>
public record DiffOptions
{
    /// <summary>Prompts per forward pass.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Prompts longer than this are cut to their first MaxTokens tokens.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>The tokens with the largest KL(post ‖ base) listed with their contexts.</summary>
    public int TopTokens { get; init; } = 20;

    /// <summary>Tokens of context shown before each listed token.</summary>
    public int ContextTokens { get; init; } = 10;

    /// <summary>Prompts shown as highlighted text (those holding the largest KL).</summary>
    public int HighlightPrompts { get; init; } = 3;

    /// <summary>
    /// The logit lens of both models: each layer's residual stream through the model's own final norm and unembedding
    /// (its head graph), compared with its output and across the two models. Costs two head products per layer per token.
    /// </summary>
    public bool Lens { get; init; } = true;

    /// <summary>The cross-model lens: the post-trained model's residual stream through the base model's head, and the reverse (two more head products per layer).</summary>
    public bool CrossLens { get; init; } = true;

    /// <summary>The layer whose resid_post differences give the principal directions and take the steering; null: (layers − 1) / 2, the middle of the stack.</summary>
    public int? DirectionLayer { get; init; }

    /// <summary>Principal directions of the differences (0: none, and no steering).</summary>
    public int Directions { get; init; } = 3;

    /// <summary>Tokens listed per direction at each end of its logit lens.</summary>
    public int DirectionTokens { get; init; } = 8;

    /// <summary>At most this many difference vectors enter the principal directions: the first ones the batches reach (batches run the shortest prompts first).</summary>
    public int MaxDirectionSamples { get; init; } = 4096;

    public SteeringOptions Steering { get; init; } = new();
}

/// <summary>Greedy generations of the base model with each direction added at the direction layer (every position), beside the unsteered base and post-trained model.</summary>
public sealed record SteeringOptions
{
    /// <summary>Prompts steered: the first prompt of each source in turn (0: no steering).</summary>
    public int Prompts { get; init; } = 2;

    public int MaxNewTokens { get; init; } = 12;

    /// <summary>The added vector is Scale × (mean ‖h_post − h_base‖ at the layer) × the unit direction.</summary>
    public double Scale { get; init; } = 8;
}

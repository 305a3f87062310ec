namespace OnnxInterp.Analysis.Refusal;

/// <summary>
/// The refusal analysis's settings. The defaults are OnnxInterp's (Arditi et al.'s selection, one addition at
/// resid_pre); <c>RefusalStep.PaperDefaults</c> sets the paper's (each value's source is named where it is set).
/// </summary>
public record RefusalOptions
{
    /// <summary>
    /// <see cref="AnalysisProtocol.Paper"/>: the paper's split (no validation set), each model's direction at the
    /// paper's fixed layer and position (<see cref="RefusalPaperSettings"/>; the models must carry their settings,
    /// <see cref="RefusalModel.ForPaper"/>), steering at the paper's layer with the paper's coefficients unless given.
    /// </summary>
    public AnalysisProtocol Protocol { get; init; }

    /// <summary>Seed of the train/validation/test split (the paper's random_state 42).</summary>
    public int Seed { get; init; } = 42;
    public double TestFraction { get; init; } = 0.2;
    public int MaxTrain { get; init; } = 128;

    /// <summary>Validation instructions per class for the selection (the default protocol only).</summary>
    public int MaxValidation { get; init; } = 32;
    public int MaxTest { get; init; } = 100;

    /// <summary>The direction's layer and position for every model (both or neither); null: Arditi et al.'s selection per model. Not under the paper protocol, which fixes them per model.</summary>
    public int? Layer { get; init; }
    public int? Position { get; init; }

    /// <summary>Restrict the selection's candidate layers (null: all) and positions (null: every post-instruction position).</summary>
    public IReadOnlyList<int>? CandidateLayers { get; init; }
    public IReadOnlyList<int>? CandidatePositions { get; init; }
    public SelectionOptions Selection { get; init; } = new();

    /// <summary>
    /// Activation addition's coefficient for every cell; null: 1 (Arditi et al.) under the default protocol, the
    /// paper's per-model coefficient (<see cref="RefusalPaperSettings.AdditionCoefficient"/>) under the paper's.
    /// </summary>
    public float? AdditionCoefficient { get; init; }

    /// <summary>What is added: coefficient · the mean difference (Arditi et al.) or · the unit direction (the paper).</summary>
    public AdditionScale AdditionScale { get; init; } = AdditionScale.MeanDifference;

    /// <summary>Where it is added: once at resid_pre (Arditi et al.) or at resid_pre, resid_mid and resid_post (the paper).</summary>
    public AdditionHooks AdditionHooks { get; init; } = AdditionHooks.ResidPre;

    /// <summary>Also score each direction subtracted on the harmful instructions (the paper's third intervention).</summary>
    public bool Subtraction { get; init; }

    /// <summary>Subtraction's coefficient; null: the addition's (default protocol) or the paper's (<see cref="RefusalPaperSettings.SubtractionCoefficient"/>).</summary>
    public float? SubtractionCoefficient { get; init; }

    /// <summary>Greedy tokens per completion (the paper's max_tokens_generated).</summary>
    public int MaxNewTokens { get; init; } = 16;
    public int BatchSize { get; init; } = 32;

    /// <summary>
    /// Stop a completion at the template's end-of-turn tokens or EOS and cut its text at the stop strings; false: always
    /// generate <see cref="MaxNewTokens"/> tokens and decode them all, special tokens skipped (the paper's
    /// _generate_with_hooks, Refusal/utils.py lines 48-64).
    /// </summary>
    public bool StopAtEndOfTurn { get; init; } = true;

    /// <summary>Phrases of the prefix score (null: the paper's) and of the substring score (null: Arditi et al.'s).</summary>
    public IReadOnlyList<string>? PrefixPhrases { get; init; }
    public IReadOnlyList<string>? SubstringPhrases { get; init; }

    /// <summary>Texts whose first token counts as refusing in the selection's log-odds (null: <see cref="RefusalLogits.DefaultTokens"/>).</summary>
    public IReadOnlyList<string>? RefusalTokens { get; init; }
}

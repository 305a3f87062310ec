namespace OnnxInterp.Analysis.Editing;

/// <summary>Settings of a ROME edit; defaults here.</summary>
public sealed record EditOptions
{
    /// <summary>The value search stops once the new object's mean token log-probability beats the old one's by this many nats.</summary>
    public double Margin { get; init; } = 2;

    /// <summary>The largest step toward the donors (1 moves the subject's state to the donors' mean state).</summary>
    public double MaxScale { get; init; } = 4;

    /// <summary>‖δ‖ may be at most this many times ‖W k*‖, the layer's original output at the key (ROME's clamp_norm_factor, 4).</summary>
    public double ClampNormFactor { get; init; } = 4;

    /// <summary>Bisection steps of the value search once the margin is bracketed.</summary>
    public int SearchSteps { get; init; } = 12;

    /// <summary>
    /// Rounds of finite-difference gradient ascent when there are no donors or their direction falls short (each costs 2 × hidden
    /// rows of the prompt); 0 keeps the donor step alone.
    /// </summary>
    public int GradientRounds { get; init; } = 6;

    /// <summary>Neighbourhood prompts per world fact (other subjects, those sharing the old object first).</summary>
    public int Neighbours { get; init; } = 10;

    /// <summary>Donor subjects per world fact (subjects whose answer is the target) the value direction is averaged over.</summary>
    public int Donors { get; init; } = 20;

    /// <summary>Greedy tokens generated after each prompt, before and after the edit.</summary>
    public int GenerateTokens { get; init; } = 8;

    /// <summary>Rows per forward pass (covariance, scores).</summary>
    public int BatchSize { get; init; } = 32;
}

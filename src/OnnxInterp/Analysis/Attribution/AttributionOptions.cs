using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>The attribution analysis's options (config key "attribution"); defaults here.</summary>
public sealed record AttributionOptions
{
    /// <summary>The methods, the first one the headline (agreement between models, the verb's summary).</summary>
    public IReadOnlyList<AttributionMethod> Methods { get; init; } = [AttributionMethod.KernelShap, AttributionMethod.Occlusion, AttributionMethod.Lime];

    /// <summary>Statements per dataset whose judging answer is attributed (half true, half false); 0 attributes none.</summary>
    public int Statements { get; init; } = 4;

    /// <summary>Harmful instructions of the synthetic world whose refusal score is attributed (the "refusal" part); 0 skips the part.</summary>
    public int RefusalPrompts { get; init; } = 4;

    /// <summary>Coalitions KernelSHAP and LIME evaluate besides the input and the baseline.</summary>
    public int Coalitions { get; init; } = 256;

    public int Seed { get; init; } = 1;

    /// <summary>The token that replaces an absent word's tokens, as the vocabulary spells it; null: the pad token, else the first EOS.</summary>
    public string? BaselineToken { get; init; }

    /// <summary>Coalitions per forward pass.</summary>
    public int BatchSize { get; init; } = 64;

    public double LimeKernelWidth { get; init; } = 0.25;

    /// <summary>LIME's ridge penalty; 0 (weighted least squares) recovers a linear scalar exactly, LIME's own default is 1.</summary>
    public double LimeRidge { get; init; }

    public string TrueAnswer { get; init; } = JudgingAnswers.True;
    public string FalseAnswer { get; init; } = JudgingAnswers.False;

    public AttributionSampling ToSampling() => new() { Coalitions = Coalitions, Seed = Seed, LimeKernelWidth = LimeKernelWidth, LimeRidge = LimeRidge };
}

namespace OnnxInterp.Analysis.Attribution;

/// <summary>
/// One part's "attribution" section of results.json: a judging dataset (the TRUE/FALSE answer) or "refusal" (the refusal
/// score of harmful instructions under each model's chat template), with every prompt's word scores per model and method.
/// </summary>
public sealed record AttributionSection(
    string Part,
    AttributionScalarKind Scalar,
    string Baseline,
    IReadOnlyList<AttributionMethod> Methods,
    int Coalitions,
    IReadOnlyList<AttributedPrompt> Prompts,
    IReadOnlyList<AttributionAgreement> Agreement);

/// <summary>A prompt's attributed words (the statement's or instruction's, in order) and each model's scores of them.</summary>
public sealed record AttributedPrompt(string Text, bool? Label, IReadOnlyList<string> Words, IReadOnlyList<ModelAttribution> Models);

/// <summary>One model's scalar at the prompt (<see cref="Full"/>) and with every word at the baseline, and each method's word scores.</summary>
public sealed record ModelAttribution(string Model, double Full, double Baseline, IReadOnlyList<MethodAttribution> Methods);

/// <summary>A method's score per word, the runs it took, and |Σ scores − (full − baseline)|.</summary>
public sealed record MethodAttribution(AttributionMethod Method, IReadOnlyList<double> Scores, int Evaluations, double EfficiencyGap);

/// <summary>
/// How a post-trained model's attributions agree with the base's under the headline method (the first listed): the mean over
/// prompts of the Spearman correlation of the word scores (prompts where either is constant left out; null when none is
/// left), and the fraction of prompts whose top word (largest |score|) is the same.
/// </summary>
public sealed record AttributionAgreement(string Model, AttributionMethod Method, double? MeanSpearman, double TopWordAgreement);

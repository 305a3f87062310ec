using System.Text.Json.Serialization;
using OnnxInterp.Data;
using OnnxInterp.Internals;
using OnnxInterp.Runtime;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>Which scalar of a run is attributed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttributionScalarKind>))]
public enum AttributionScalarKind
{
    /// <summary>logit(" TRUE") − logit(" FALSE") at the last position: the judging answer.</summary>
    Judgement,

    /// <summary>Σ log p(answer token | everything before it) over an answer appended to the prompt.</summary>
    AnswerLogProb,

    /// <summary>The refusal score: log-odds of the refusal tokens' probability mass at the last position (Arditi et al.).</summary>
    Refusal,
}

/// <summary>A scalar of a run, read from the logits at the positions it needs.</summary>
public sealed record AttributionScalar(AttributionScalarKind Kind)
{
    /// <summary>The tokens compared by <see cref="AttributionScalarKind.Judgement"/> (TRUE, FALSE).</summary>
    public (int True, int False) Judging { get; init; }

    /// <summary>The tokens whose mass <see cref="AttributionScalarKind.Refusal"/> scores.</summary>
    public IReadOnlyList<int> RefusalTokens { get; init; } = [];

    /// <summary>logit(TRUE) − logit(FALSE) with the answers' last tokens (<see cref="JudgingAnswers.Tokens"/>).</summary>
    public static AttributionScalar Judgement(HfTokenizer tokenizer, string trueAnswer = JudgingAnswers.True, string falseAnswer = JudgingAnswers.False) =>
        new(AttributionScalarKind.Judgement) { Judging = JudgingAnswers.Tokens(tokenizer, trueAnswer, falseAnswer, "attribution") };

    public static AttributionScalar AnswerLogProb() => new(AttributionScalarKind.AnswerLogProb);

    /// <summary>
    /// The refusal score over the first tokens of refusal openings (the synthetic world's: "I'm sorry", "I cannot", "As an AI"),
    /// as an answer's first word and after a space; <paramref name="openings"/> replaces them.
    /// </summary>
    public static AttributionScalar Refusal(HfTokenizer tokenizer, IReadOnlyList<string>? openings = null)
    {
        var texts = (openings ?? SyntheticWorld.RefusalOpenings).SelectMany(p => new[] { p, " " + p });
        return new AttributionScalar(AttributionScalarKind.Refusal)
        {
            RefusalTokens = LogitScores.FirstTokens(tokenizer, texts, "a refusal opening encodes to no token", "attribution.refusal"),
        };
    }

    /// <summary>The logit positions a row needs (negative: from the end), given the answer's length.</summary>
    public int[] LogitPositions(int answerLength) => Kind == AttributionScalarKind.AnswerLogProb
        ? Enumerable.Range(0, answerLength).Select(j => j - answerLength - 1).ToArray()
        : [-1];

    /// <summary>The scalar of batch row <paramref name="row"/> from logits kept at <see cref="LogitPositions"/>.</summary>
    public double Read(FloatTensor logits, int row, int[] answer)
    {
        switch (Kind)
        {
            case AttributionScalarKind.Judgement:
                {
                    var l = logits.Vector(row, logits.Shape[1] - 1);
                    return (double)l[Judging.True] - l[Judging.False];
                }
            case AttributionScalarKind.Refusal:
                return LogitScores.LogOdds(logits.Vector(row, logits.Shape[1] - 1), RefusalTokens);
            default:
                {
                    double sum = 0;
                    for (int j = 0; j < answer.Length; j++)
                        sum += Math.Log(Math.Max(LogitScores.Softmax(logits.Vector(row, logits.Shape[1] - answer.Length + j))[answer[j]], double.Epsilon));
                    return sum;
                }
        }
    }
}

/// <summary>
/// Runs coalitions of a <see cref="FeaturePrompt"/> on a model: the tokens before the first feature once (their KV cache),
/// then every coalition's masked rest as batches on that cache (<see cref="Batches.Run{T}"/>), all rows of equal length.
/// </summary>
public static class CoalitionRunner
{
    public static CoalitionFunction For(IHookedModel model, FeaturePrompt prompt, AttributionScalar scalar, int baselineToken,
        int batchSize = 64, CancellationToken cancellation = default)
    {
        if ((uint)baselineToken >= (uint)model.Config.VocabSize)
            Throw.Argument($"the baseline token is outside the vocabulary of {model.Config.VocabSize}", "attribution.baselineToken", baselineToken);
        if (scalar.Kind == AttributionScalarKind.AnswerLogProb && prompt.Answer.Length == 0)
            Throw.Argument("an answer's log-probability needs answer tokens", "answer", 0);
        int prefix = prompt.PrefixLength;
        KvCache? past = null;
        return coalitions =>
        {
            if (prefix > 0 && past is null)
                past = model.Run(new ForwardRequest([prompt.Tokens[..prefix]]) { ReturnPresent = true, LogitPositions = [-1] }, cancellation).Present;
            var values = new double[coalitions.Count];
            int rest = prompt.Tokens.Length - prefix + prompt.Answer.Length;
            var positions = Enumerable.Range(prefix, rest).ToArray();
            var logitPositions = scalar.LogitPositions(prompt.Answer.Length);
            Batches.Run(model, coalitions, batchSize, batch => new ForwardRequest(batch.Select(z => (int[])[.. prompt.Masked(z, baselineToken)[prefix..], .. prompt.Answer]).ToArray())
            {
                Past = past?.Take(0, prefix, batch.Count),
                AttentionMask = batch.Select(_ => Enumerable.Repeat(1, prefix + rest).ToArray()).ToArray(),
                PositionIds = batch.Select(_ => positions).ToArray(),
                LogitPositions = logitPositions,
            }, (start, batch, result) =>
            {
                for (int r = 0; r < batch.Count; r++) values[start + r] = scalar.Read(result.Logits, r, prompt.Answer);
            }, cancellation: cancellation);
            return values;
        };
    }
}

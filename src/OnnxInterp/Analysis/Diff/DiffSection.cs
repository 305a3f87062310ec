namespace OnnxInterp.Analysis.Diff;

/// <summary>
/// results.json's "diff" section (docs/results-schema.md): the corpus, and per post-trained model its diff against the
/// base: totals by source and token class, the tokens where predictions changed most, the layers (activation
/// differences, logit lens, cross-model lens), where predictions form and split, the principal directions of the
/// differences and the steered generations.
/// </summary>
public sealed record DiffSection(string Corpus, IReadOnlyList<DiffSource> Sources, IReadOnlyList<DiffPairSection> Pairs)
{
    public static DiffSection From(DiffResult r, string corpus) => new(corpus,
        r.Pairs.Count == 0 ? [] : r.Pairs[0].Prompts.GroupBy(p => p.Source).Select(g => new DiffSource(g.Key, g.Count(), g.First().Text)).ToList(),
        r.Pairs.Select(p => DiffPairSection.From(r, p)).ToList());
}

/// <summary>A source of the corpus (harmful, harmless, judging, text), its prompts and its first prompt as the first pair rendered it.</summary>
public sealed record DiffSource(string Source, int Prompts, string Example);

/// <summary>One base → post pair; <see cref="Template"/>: the chat template its chat texts were rendered in.</summary>
public sealed record DiffPairSection(string Base, string Post, string Template, int Prompts, int Tokens,
    IReadOnlyList<DiffTotal> Totals, IReadOnlyList<DiffTopToken> TopTokens, IReadOnlyList<LayerDiff> Layers, LensSummary? Lens,
    int DirectionLayer, double SteeringNorm, IReadOnlyList<DiffDirectionSection> Directions, IReadOnlyList<SteeredPrompt> Steering)
{
    public static DiffPairSection From(DiffResult r, DiffPairResult p) => new(p.Base, p.Post, p.Template, p.Prompts.Count, p.Tokens.Count,
        p.Totals, Top(r, p), p.Layers, p.Lens, p.DirectionLayer, p.SteeringNorm,
        p.Directions.Select(d => new DiffDirectionSection(d.Index, d.Share, d.MeanCosine, d.Promoted, d.Suppressed)).ToList(), p.Steering);

    /// <summary>The tokens with the largest KL (ties: corpus order), with the text before them.</summary>
    public static IReadOnlyList<DiffTopToken> Top(DiffResult r, DiffPairResult p) =>
        p.Tokens.Select((t, i) => (t, i)).OrderByDescending(x => x.t.Kl).ThenBy(x => x.i).Take(r.Options.TopTokens).Select((x, rank) =>
        {
            var t = x.t;
            var texts = p.TokenTexts[t.Prompt];
            string context = string.Concat(texts.Skip(Math.Max(0, t.Position - r.Options.ContextTokens)).Take(Math.Min(t.Position, r.Options.ContextTokens)));
            return new DiffTopToken(rank + 1, p.Prompts[t.Prompt].Source, t.Prompt, t.Position, t.Class == TokenClass.Template ? "template" : "content",
                texts[t.Position], context, t.Kl, r.TokenText(t.BaseTop1), r.TokenText(t.PostTop1), float.IsNaN(t.NextTokenGain) ? null : t.NextTokenGain);
        }).ToList();
}

/// <summary>
/// A token where post-training changed the prediction most: KL(post ‖ base) of the next-token distributions after it,
/// both models' top-1 there, and the change in log-probability of the text's next token (null at a prompt's end).
/// </summary>
public sealed record DiffTopToken(int Rank, string Source, int Prompt, int Position, string TokenClass, string Token, string Context, double Kl,
    string BaseTop1, string PostTop1, double? NextTokenGain);

/// <summary>A principal direction of the differences (without its vector: data/diff/directions-POST.json holds it).</summary>
public sealed record DiffDirectionSection(int Index, double Share, double MeanCosine, IReadOnlyList<string> Promoted, IReadOnlyList<string> Suppressed);

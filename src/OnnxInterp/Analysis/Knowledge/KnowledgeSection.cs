namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// One dataset's part of results.json's "knowledge" section (docs/results-schema.md): the curation, every matrix (raw and
/// normalised, each model's own tracing then the cross-model transfers) and the paper's Table 1 rows.
/// </summary>
public sealed record KnowledgeSection(
    string Dataset,
    int PairsCurated,
    string Curation,
    int PairsTraced,
    int SubjectTokens,
    int ObjectTokens,
    string Protocol,
    TracingMetric Metric,
    IReadOnlyList<string> Labels,
    IReadOnlyList<KnowledgeSectionMatrix> Matrices,
    IReadOnlyList<KnowledgeComparisonRow> Comparisons)
{
    public static KnowledgeSection From(KnowledgeResult r) => new(
        r.Dataset,
        r.Curation.Pairs.Count,
        r.Curation.Rule,
        r.Prompts.Count,
        r.SubjectTokens,
        r.ObjectTokens,
        r.Options.Protocol.ToString().ToLowerInvariant(),
        r.Options.Metric,
        r.Matrices[0].PositionLabels,
        [.. r.Matrices.Select(m => KnowledgeSectionMatrix.From(m, KnowledgeSectionMatrix.OwnKind)),
         .. r.Transfers.Select(m => KnowledgeSectionMatrix.From(m, KnowledgeSectionMatrix.TransferKind))],
        r.Comparisons);

    /// <summary>The row comparing matrix <paramref name="a"/> with matrix <paramref name="b"/>, if any.</summary>
    public KnowledgeComparisonRow? Row(string a, string b) => Comparisons.FirstOrDefault(c => c.A == a && c.B == b);
}

/// <summary>A [layers × positions] matrix of the section: <see cref="Kind"/> "model" (a model's own tracing) or "transfer" (A->B).</summary>
public sealed record KnowledgeSectionMatrix(string Model, string Kind, int Pairs, double[][] Raw, double[][] Normalized)
{
    public const string OwnKind = "model", TransferKind = "transfer";

    public static KnowledgeSectionMatrix From(KnowledgeMatrix m, string kind) => new(m.Model, kind, m.Pairs, m.ToJagged(), m.Normalized().ToJagged());
}

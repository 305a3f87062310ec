namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// results.json's "entropy" section (docs/results-schema.md): each model's entropy neurons, the Table 14 rows (with
/// the authors' numbers when known), and when the ablation ran each model's calibration, ablation effects and
/// entropy-neuron signature.
/// </summary>
public sealed record ConfidenceSection(
    AnalysisProtocol Protocol,
    EntropyRatio Ratio,
    string? Dataset,
    int? Statements,
    IReadOnlyList<ConfidenceSectionModel> Models,
    IReadOnlyList<ConfidenceSectionOverlap> Overlaps,
    IReadOnlyList<ConfidenceSectionAblation>? Ablations,
    SignatureThresholds? Signature,
    bool? NoSelectedNeuronHasSignature,
    IReadOnlyList<ConfidenceSectionSignature>? Signatures)
{
    public static ConfidenceSection From(ConfidenceResult r) => new(
        r.Options.Protocol,
        r.Options.Selection.Ratio,
        r.Dataset,
        r.Ablations?.FirstOrDefault()?.Prompts,
        r.Models.Select(m => new ConfidenceSectionModel(m.Model, m.Paper is { InTable: true } p ? p.Key : null, m.Layer, m.Norms.Length,
            m.NormThreshold, m.Candidates, m.Neurons.Select(x => new ConfidenceSectionNeuron(x.Index, x.Norm, x.LogitVar, x.Ratio)).ToList())).ToList(),
        r.Overlaps.Select(o => new ConfidenceSectionOverlap(o.A, o.B, o.Overlap, o.Shared, o.Iou, o.MeanAbsRatioDiff, o.MeanAbsRatio,
            o.MeanAbsRatioA, o.MeanAbsRatioB, o.Published is { } p ? ConfidenceSectionPublished.From(p) : null,
            // Neither model's selection has a neuron with the entropy-neuron signature: this overlap compares noise (null: not measured).
            r.SignatureOf(o.A) is { } sa && r.SignatureOf(o.B) is { } sb ? sa.NoneSelectedHasSignature && sb.NoneSelectedHasSignature : null)).ToList(),
        r.Ablations?.Select(ConfidenceSectionAblation.From).ToList(),
        r.Signatures is null ? null : new SignatureThresholds(r.Options.Signature.EntropyFactor, r.Options.Signature.NormZ, r.Options.Signature.LogitVarZ),
        r.Signatures is null ? null : r.NoSelectedNeuronHasSignature,
        r.Signatures?.Select(x => new ConfidenceSectionSignature(x.Model, x.Prompts, x.Tokens, x.MedianAbsEntropyChange, x.NormCv, x.MinLogitVar,
            x.MaxLogitVar, x.SelectedWithSignature, x.LayerWithSignature, x.Selected.Select(ConfidenceSectionSignatureNeuron.From).ToList(),
            ConfidenceSectionSignatureNeuron.From(x.Strongest))).ToList());
}

/// <summary>A model's last layer: its width, the norm threshold, the candidates above it and the selected entropy neurons.</summary>
public sealed record ConfidenceSectionModel(string Model, string? PaperModel, int Layer, int Neurons, double NormThreshold, int Candidates,
    IReadOnlyList<ConfidenceSectionNeuron> EntropyNeurons);

public sealed record ConfidenceSectionNeuron(int Index, double Norm, double LogitVar, double Ratio);

/// <summary>A row of Table 14: the shared neurons of two models, IoU and the ratio aggregates; <see cref="NoSignature"/>: it compares noise.</summary>
public sealed record ConfidenceSectionOverlap(string A, string B, int Overlap, int[] Shared, double Iou, double? MeanAbsRatioDiff, double MeanAbsRatio,
    double MeanAbsRatioA, double MeanAbsRatioB, ConfidenceSectionPublished? Paper, bool? NoSignature);

/// <summary>The authors' numbers for a pair: their IoU as recorded and the overlap and ratio aggregates of their neurons.</summary>
public sealed record ConfidenceSectionPublished(string Source, EntropyRatio Ratio, double Iou, int Overlap, int[] Shared, double? MeanAbsRatioDiff, double MeanAbsRatio)
{
    public static ConfidenceSectionPublished From(PublishedEntropyPair p)
    {
        var o = p.Overlap;
        return new(p.Source, p.Ratio, p.Iou, o.Overlap, o.Shared, o.MeanAbsRatioDiff, o.MeanAbsRatio);
    }
}

/// <summary>The signature's thresholds: |ΔH| factor over the median neuron's, norm and ln LogitVar z-scores.</summary>
public sealed record SignatureThresholds(double EntropyFactor, double NormZ, double LogitVarZ);

/// <summary>A model's entropy-neuron signature measurement.</summary>
public sealed record ConfidenceSectionSignature(string Model, int Prompts, int Tokens, double MedianAbsEntropyChange, double NormCv, double MinLogitVar,
    double MaxLogitVar, int SelectedWithSignature, int LayerWithSignature, IReadOnlyList<ConfidenceSectionSignatureNeuron> Selected,
    ConfidenceSectionSignatureNeuron Strongest);

public sealed record ConfidenceSectionSignatureNeuron(int Index, double NormZ, double LogitVarZ, double AbsEntropyChange, double EntropyFactor, bool HasSignature)
{
    public static ConfidenceSectionSignatureNeuron From(NeuronSignature x) => new(x.Index, x.NormZ, x.LogitVarZ, x.AbsEntropyChange, x.EntropyFactor, x.HasSignature);
}

/// <summary>A model's mean ablation: its clean baseline and calibration, every entropy neuron ablated together and each alone.</summary>
public sealed record ConfidenceSectionAblation(string Model, int Prompts, int Tokens, double CleanEntropy, double CleanResidNorm, double CleanAnswerEntropy,
    double Accuracy, double MeanConfidence, double Ece, AblationEffects AllAblated, IReadOnlyList<NeuronAblationEffects> Neurons)
{
    public static ConfidenceSectionAblation From(ModelAblation a) => new(a.Model, a.Prompts, a.Tokens, a.CleanEntropy, a.CleanResidNorm, a.CleanAnswerEntropy,
        a.Calibration.Accuracy, a.Calibration.MeanConfidence, a.Calibration.Ece,
        // The last row ablates every entropy neuron together (with a single neuron, it is that neuron's row).
        AblationEffects.From(a.Rows[^1]),
        a.Rows.Where(x => x.Neurons.Length == 1).Select(NeuronAblationEffects.From).ToList());
}

/// <summary>What ablating changed: output entropy (all, direct), final residual norm, the answer's entropy and confidence; the calibration after.</summary>
public sealed record AblationEffects(double EntropyChange, double AbsEntropyChange, double DirectEntropyChange, double ResidNormChange,
    double AnswerEntropyChange, double ConfidenceChange, double Accuracy, double MeanConfidence, double Ece)
{
    public static AblationEffects From(NeuronAblationRow r) => new(r.EntropyChange, r.AbsEntropyChange, r.DirectEntropyChange, r.ResidNormChange,
        r.AnswerEntropyChange, r.ConfidenceChange, r.Calibration.Accuracy, r.Calibration.MeanConfidence, r.Calibration.Ece);
}

/// <summary><see cref="AblationEffects"/> of one neuron, after its index and the mean it was set to.</summary>
public sealed record NeuronAblationEffects(int Neuron, float Mean, double EntropyChange, double AbsEntropyChange, double DirectEntropyChange,
    double ResidNormChange, double AnswerEntropyChange, double ConfidenceChange, double Accuracy, double MeanConfidence, double Ece)
{
    public static NeuronAblationEffects From(NeuronAblationRow r) => new(r.Neurons[0], r.Means[0], r.EntropyChange, r.AbsEntropyChange,
        r.DirectEntropyChange, r.ResidNormChange, r.AnswerEntropyChange, r.ConfidenceChange, r.Calibration.Accuracy, r.Calibration.MeanConfidence,
        r.Calibration.Ece);
}

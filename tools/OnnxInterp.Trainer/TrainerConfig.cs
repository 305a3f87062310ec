namespace OnnxInterp.Trainer;

/// <summary>Sizes of a Llama decoder to train. Immutable; <see cref="Validate"/> names the bad value and the allowed range.</summary>
public sealed record TrainerConfig
{
    public int Hidden { get; init; } = 256;
    public int Intermediate { get; init; } = 688;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 8;
    public int KvHeads { get; init; } = 4;

    /// <summary>Any even size works in the kernels; the family uses multiples of 16.</summary>
    public int HeadDim { get; init; } = 32;
    public int Vocab { get; init; } = 1024;
    public double RopeTheta { get; init; } = 10000;
    public double RmsNormEps { get; init; } = 1e-5;
    public int MaxSeq { get; init; } = 256;
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;

    public int QDim => Heads * HeadDim;
    public int KvDim => KvHeads * HeadDim;

    /// <summary>The family's reference size: hidden 256, 4 layers, 8 heads over 4 KV heads of 32, MLP 688.</summary>
    public static TrainerConfig Family => new();

    public TrainerConfig Validate()
    {
        Positive(Hidden, nameof(Hidden));
        Positive(Intermediate, nameof(Intermediate));
        Positive(Layers, nameof(Layers));
        Positive(Heads, nameof(Heads));
        Positive(KvHeads, nameof(KvHeads));
        Positive(Vocab, nameof(Vocab));
        Positive(MaxSeq, nameof(MaxSeq));
        if (Heads % KvHeads != 0) throw new ArgumentOutOfRangeException(nameof(KvHeads), KvHeads, $"must divide Heads ({Heads})");
        if (HeadDim <= 0 || HeadDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(HeadDim), HeadDim, "must be a positive even number");
        if (!(RopeTheta > 1)) throw new ArgumentOutOfRangeException(nameof(RopeTheta), RopeTheta, "must be above 1");
        if (!(RmsNormEps > 0 && RmsNormEps < 1)) throw new ArgumentOutOfRangeException(nameof(RmsNormEps), RmsNormEps, "must lie in (0, 1)");
        if (BosTokenId < 0 || BosTokenId >= Vocab) throw new ArgumentOutOfRangeException(nameof(BosTokenId), BosTokenId, $"must lie in [0, {Vocab})");
        if (EosTokenId < 0 || EosTokenId >= Vocab) throw new ArgumentOutOfRangeException(nameof(EosTokenId), EosTokenId, $"must lie in [0, {Vocab})");
        return this;
    }

    static void Positive(int v, string name)
    {
        if (v <= 0) throw new ArgumentOutOfRangeException(name, v, "must be positive");
    }
}

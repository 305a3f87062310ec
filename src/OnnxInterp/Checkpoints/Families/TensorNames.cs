using System.Globalization;

namespace OnnxInterp.Checkpoints.Families;

/// <summary>
/// Where one family's checkpoint stores each tensor of the decoder block, as pyvene maps a model's components to its
/// module paths. <see cref="Layer"/> is a format whose {0} is the layer index; the per-layer names are relative to it,
/// and a projection's tensors are <c>{module}.weight</c> and <c>{module}.bias</c>. The exported graph names its
/// initializers in one layout whatever the family (<see cref="WeightNames"/>), so only reading a checkpoint uses these.
/// </summary>
public sealed record TensorNames
{
    public required string Embed { get; init; }
    public required string FinalNorm { get; init; }
    public required string LmHead { get; init; }

    /// <summary>The layer's prefix as a format of the layer index, e.g. "model.layers.{0}".</summary>
    public required string Layer { get; init; }

    public required string InputNorm { get; init; }
    public required string PostAttentionNorm { get; init; }
    public required string QProj { get; init; }
    public required string KProj { get; init; }
    public required string VProj { get; init; }
    public required string OProj { get; init; }
    public required string GateProj { get; init; }
    public required string UpProj { get; init; }
    public required string DownProj { get; init; }

    /// <summary>The name of <paramref name="relative"/> (one of this record's per-layer names plus its suffix) in layer <paramref name="layer"/>.</summary>
    public string InLayer(int layer, string relative) => string.Format(CultureInfo.InvariantCulture, Layer, layer) + "." + relative;

    public string Weight(int layer, string module) => InLayer(layer, module + ".weight");

    public string Bias(int layer, string module) => InLayer(layer, module + ".bias");

    /// <summary>Every name set and the layer format taking the index: what <see cref="ModelFamilies.Register"/> checks.</summary>
    internal IEnumerable<(string Field, string? Value)> Fields() =>
    [
        (nameof(Embed), Embed), (nameof(FinalNorm), FinalNorm), (nameof(LmHead), LmHead), (nameof(Layer), Layer),
        (nameof(InputNorm), InputNorm), (nameof(PostAttentionNorm), PostAttentionNorm), (nameof(QProj), QProj), (nameof(KProj), KProj),
        (nameof(VProj), VProj), (nameof(OProj), OProj), (nameof(GateProj), GateProj), (nameof(UpProj), UpProj), (nameof(DownProj), DownProj),
    ];
}

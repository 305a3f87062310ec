using System.Text.Json.Serialization;

namespace OnnxInterp.Export;

/// <summary>Where in a block a hook sits, in TransformerLens' vocabulary.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HookKind>))]
public enum HookKind
{
    /// <summary>The block's input: <c>blocks.{l}.hook_resid_pre</c>.</summary>
    ResidPre,

    /// <summary>After the attention residual add: <c>blocks.{l}.hook_resid_mid</c>.</summary>
    ResidMid,

    /// <summary>The block's output: <c>blocks.{l}.hook_resid_post</c>.</summary>
    ResidPost,

    /// <summary>The MLP activation entering down_proj, silu(gate) * up: <c>blocks.{l}.mlp.hook_post</c>.</summary>
    MlpPost,
}

/// <summary>
/// One hook point and its graph I/O. The output carries the value after any injection at this point (what
/// the rest of the model sees). The injection inputs, all optional (their defaults make a no-op), compute
/// h' = (h − ((h·Pᵀ) ⊙ M) P) ⊙ scale + shift, with P the rows of <see cref="ProjInput"/> (orthonormal
/// directions to project out, [B|1, k, d]), M = <see cref="ProjMaskInput"/> ([B|1, S|1, 1], which positions
/// the projection applies to), scale [B|1, S|1, 1|d] and shift [B|1, S|1, d]. Only residual hooks have the
/// projection inputs (<see cref="HasProjection"/>).
/// Replacing a vector v at (b, s) is scale = 0, shift = v there; adding is shift alone.
/// </summary>
public sealed record HookPoint(string Name, HookKind Kind, int Layer, int Dim)
{
    public string Output => Name;
    public string ScaleInput => Name + ".scale";
    public string ShiftInput => Name + ".shift";
    public string ProjInput => Name + ".proj";
    public string ProjMaskInput => Name + ".proj_mask";

    public bool IsResidual => Kind != HookKind.MlpPost;

    /// <summary>Residual hooks take directions to project out; the MLP hook only scale and shift.</summary>
    public bool HasProjection => IsResidual;

    public static string NameOf(HookKind kind, int layer) => kind switch
    {
        HookKind.ResidPre => $"blocks.{layer}.hook_resid_pre",
        HookKind.ResidMid => $"blocks.{layer}.hook_resid_mid",
        HookKind.ResidPost => $"blocks.{layer}.hook_resid_post",
        HookKind.MlpPost => $"blocks.{layer}.mlp.hook_post",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static HookPoint Create(HookKind kind, int layer, int dim) => new(NameOf(kind, layer), kind, layer, dim);
}

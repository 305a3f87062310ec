namespace OnnxInterp.Export;

/// <summary>
/// One hook point and its graph I/O, named by <see cref="Name"/>'s text. The output carries the value after any
/// injection at this point (what the rest of the model sees). The injection inputs, all optional (their defaults make a
/// no-op), compute h' = (h − ((h·Pᵀ) ⊙ M) P) ⊙ scale + shift, with P the rows of <see cref="ProjInput"/> (orthonormal
/// directions to project out, [B|1, k, d]), M = <see cref="ProjMaskInput"/> ([B|1, S|1, 1], which positions
/// the projection applies to), scale [B|1, S|1, 1|d] and shift [B|1, S|1, d]. Only residual hooks have the
/// projection inputs (<see cref="HasProjection"/>).
/// Replacing a vector v at (b, s) is scale = 0, shift = v there; adding is shift alone.
/// </summary>
public sealed record HookPoint(HookName Name, int Dim)
{
    public HookKind Kind => Name.Kind;
    public int Layer => Name.Layer;

    public string Output => Name.ToString();
    public string ScaleInput => InputName(Name, "scale");
    public string ShiftInput => InputName(Name, "shift");
    public string ProjInput => InputName(Name, "proj");
    public string ProjMaskInput => InputName(Name, "proj_mask");

    public bool IsResidual => Name.IsResidual;

    /// <summary>Residual hooks take directions to project out; the MLP hook only scale and shift.</summary>
    public bool HasProjection => IsResidual;

    /// <summary>The graph input of an injection at a hook: <c>{name}.{what}</c> (scale, shift, proj, proj_mask).</summary>
    public static string InputName(HookName name, string what) => $"{name}.{what}";

    public static HookPoint Create(HookKind kind, int layer, int dim) => new(new HookName(kind, layer), dim);
}

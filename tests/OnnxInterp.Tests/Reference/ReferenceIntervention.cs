namespace OnnxInterp.Tests.Reference;

/// <summary>
/// An edit applied to the activation at hook <see cref="Hook"/>, batch row <see cref="Row"/>, sequence index
/// <see cref="Position"/>. Applied in this order: project out each (orthonormal) direction of
/// <see cref="ProjectOut"/>; multiply elementwise by <see cref="Scale"/>; replace by <see cref="Replace"/>;
/// add <see cref="Add"/>.
/// </summary>
public sealed record ReferenceIntervention(
    string Hook,
    int Row,
    int Position,
    double[]? Replace = null,
    double[]? Add = null,
    double[][]? ProjectOut = null,
    double[]? Scale = null);

/// <summary>Logits [batch][seq][vocab] and hook values [batch][seq][dim] (after any interventions).</summary>
public sealed record ReferenceOutput(double[][][] Logits, IReadOnlyDictionary<string, double[][][]> Hooks);

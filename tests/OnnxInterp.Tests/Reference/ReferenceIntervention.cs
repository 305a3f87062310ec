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
public sealed record ReferenceOutput(double[][][] Logits, IReadOnlyDictionary<string, double[][][]> Hooks)
{
    /// <summary>Keys and values of the past and this call's tokens, to pass as the next call's past.</summary>
    public ReferenceKv? Present { get; init; }
}

/// <summary>Per-layer keys (after RoPE) and values, [layer][row][kvHead][cache index][headDim].</summary>
public sealed record ReferenceKv(double[][][][][] Keys, double[][][][][] Values)
{
    public int Length => Keys.Length == 0 || Keys[0].Length == 0 || Keys[0][0].Length == 0 ? 0 : Keys[0][0][0].Length;

    public bool Fits(int layers, int batch, int kvHeads, int headDim)
    {
        int t = Length;
        foreach (var layer in new[] { Keys, Values })
        {
            if (layer.Length != layers) return false;
            foreach (var rows in layer)
            {
                if (rows.Length != batch) return false;
                foreach (var heads in rows)
                {
                    if (heads.Length != kvHeads) return false;
                    foreach (var positions in heads)
                    {
                        if (positions.Length != t) return false;
                        foreach (var x in positions) if (x.Length != headDim) return false;
                    }
                }
            }
        }
        return true;
    }
}

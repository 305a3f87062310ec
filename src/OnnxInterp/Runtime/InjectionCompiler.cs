using OnnxInterp.Internals;

namespace OnnxInterp.Runtime;

/// <summary>The injection tensors for one hook point; null means "use the graph's no-op default".</summary>
public sealed record HookInjection(HookName Hook, FloatTensor? Scale, FloatTensor? Shift, FloatTensor? Proj, FloatTensor? ProjMask);

/// <summary>
/// Turns interventions (data) into the graph's injection tensors for a batch of shape [B, S]:
/// scale [B, S, 1|d], shift [B, S, d], proj [B, k, d] (orthonormal rows), proj_mask [B, S, 1].
/// Only hooks that are touched get tensors; the rest keep their no-op defaults.
/// </summary>
public static class InjectionCompiler
{
    /// <summary>Compiles for a batch of shape [batch, seq]; <paramref name="hooks"/> gives each hook's dimension and whether it accepts projections.</summary>
    public static IReadOnlyList<HookInjection> Compile(IReadOnlyList<Intervention> interventions,
        IReadOnlyDictionary<HookName, (int Dim, bool Projection)> hooks, int batch, int seq)
    {
        var result = new List<HookInjection>();
        foreach (var group in interventions.GroupBy(i => i.Hook))
        {
            if (!hooks.TryGetValue(group.Key, out var hook))
                Throw.Argument("no such hook point in this model", "intervention.hook", group.Key);
            if (!hook.Projection && group.Any(i => i.Op == InterventionOp.ProjectOut))
                Throw.Argument("this hook point takes no projections (only residual-stream hooks do)", "intervention.hook", group.Key);
            result.Add(CompileHook(group.Key, group.ToList(), hook.Dim, batch, seq));
        }
        return result;
    }

    static HookInjection CompileHook(HookName name, List<Intervention> list, int d, int batch, int seq)
    {
        string hook = name.ToString();
        FloatTensor? scale = null, shift = null, proj = null, mask = null;
        bool vectorScale = list.Any(i => i.Op == InterventionOp.Scale && i.Vector is not null);

        // Projections first: per row, the union of directions (orthonormalised) and the positions they apply to.
        var projections = list.Where(i => i.Op == InterventionOp.ProjectOut).ToList();
        if (projections.Count > 0)
        {
            var perRow = new List<float[]>[batch];
            var rowPositions = new bool[batch][];
            for (int b = 0; b < batch; b++) perRow[b] = [];
            foreach (var p in projections)
            {
                if (p.Directions is null || p.Directions.Length == 0) Throw.Argument("ProjectOut needs at least one direction", hook + ".directions", 0);
                foreach (var u in p.Directions) CheckLength(hook, u, d, "directions");
                var positions = Positions(hook, p.Positions, seq);
                foreach (int b in Rows(hook, p.Rows, batch))
                {
                    if (rowPositions[b] is { } existing && !existing.AsSpan().SequenceEqual(positions))
                        Throw.Argument("ProjectOut interventions on one hook and row must share their positions", hook + ".positions", b);
                    rowPositions[b] = positions;
                    perRow[b].AddRange(p.Directions);
                }
            }
            var bases = perRow.Select(dirs => Orthonormalize(dirs, hook)).ToArray();
            int k = Math.Max(1, bases.Max(x => x.Count));
            proj = FloatTensor.Zeros(batch, k, d);
            mask = FloatTensor.Zeros(batch, seq, 1);
            for (int b = 0; b < batch; b++)
            {
                for (int j = 0; j < bases[b].Count; j++) bases[b][j].CopyTo(proj.Vector(b, j));
                if (rowPositions[b] is { } pos)
                    for (int s = 0; s < seq; s++) mask[b, s, 0] = pos[s] ? 1f : 0f;
            }
        }

        // Affine part composed in list order: h ↦ h ⊙ scale + shift.
        foreach (var iv in list.Where(i => i.Op != InterventionOp.ProjectOut))
        {
            scale ??= Ones(batch, seq, vectorScale ? d : 1);
            var positions = Positions(hook, iv.Positions, seq);
            if (iv.Vector is not null) CheckLength(hook, iv.Vector, d, "vector");
            foreach (int b in Rows(hook, iv.Rows, batch))
            {
                for (int s = 0; s < seq; s++)
                {
                    if (!positions[s]) continue;
                    var sc = scale.Vector(b, s);
                    switch (iv.Op)
                    {
                        case InterventionOp.Replace:
                            if (iv.Vector is null) Throw.Argument("Replace needs a vector", hook + ".vector", null);
                            sc.Clear();
                            iv.Vector.CopyTo(EnsureShift(ref shift, batch, seq, d).Vector(b, s));
                            break;
                        case InterventionOp.Add:
                            {
                                if (iv.Vector is null) Throw.Argument("Add needs a vector", hook + ".vector", null);
                                var t = EnsureShift(ref shift, batch, seq, d).Vector(b, s);
                                for (int i = 0; i < d; i++) t[i] += iv.Factor * iv.Vector[i];
                                break;
                            }
                        case InterventionOp.Scale:
                            {
                                for (int i = 0; i < sc.Length; i++) sc[i] *= iv.Vector is null ? iv.Factor : iv.Vector[i];
                                if (shift is not null)
                                {
                                    var t = shift.Vector(b, s);
                                    for (int i = 0; i < d; i++) t[i] *= iv.Vector is null ? iv.Factor : iv.Vector[i];
                                }
                                break;
                            }
                    }
                }
            }
        }
        return new HookInjection(name, scale, shift, proj, mask);
    }

    static FloatTensor EnsureShift(ref FloatTensor? shift, int batch, int seq, int d) => shift ??= FloatTensor.Zeros(batch, seq, d);

    static FloatTensor Ones(params int[] shape)
    {
        var t = FloatTensor.Zeros(shape);
        t.Data.AsSpan().Fill(1f);
        return t;
    }

    static void CheckLength(string hook, float[] v, int d, string what)
    {
        if (v.Length != d) Throw.Argument($"vector length must equal the hook's dimension {d}", $"{hook}.{what}", v.Length);
        foreach (var x in v) if (!float.IsFinite(x)) Throw.Argument("vector holds a non-finite value", $"{hook}.{what}", x);
    }

    static IEnumerable<int> Rows(string hook, int[]? rows, int batch)
    {
        if (rows is null) return Enumerable.Range(0, batch);
        foreach (var r in rows) if ((uint)r >= (uint)batch) Throw.Argument($"row outside the batch of {batch}", hook + ".rows", r);
        return rows.Distinct();
    }

    static bool[] Positions(string hook, int[]? positions, int seq)
    {
        var mask = new bool[seq];
        if (positions is null) { mask.AsSpan().Fill(true); return mask; }
        foreach (var p in positions)
        {
            int q = p < 0 ? seq + p : p;
            if ((uint)q >= (uint)seq) Throw.Argument($"position outside the sequence of {seq}", hook + ".positions", p);
            mask[q] = true;
        }
        return mask;
    }

    /// <summary>Modified Gram–Schmidt in double; drops directions that are (numerically) in the span of earlier ones.</summary>
    static List<float[]> Orthonormalize(List<float[]> dirs, string hook)
    {
        var basis = new List<double[]>();
        foreach (var u in dirs)
        {
            var v = u.Select(x => (double)x).ToArray();
            double original = Math.Sqrt(v.Sum(x => x * x));
            if (original == 0) Throw.Argument("ProjectOut direction is the zero vector", hook + ".directions", 0);
            foreach (var e in basis)
            {
                double dot = 0;
                for (int i = 0; i < v.Length; i++) dot += v[i] * e[i];
                for (int i = 0; i < v.Length; i++) v[i] -= dot * e[i];
            }
            double norm = Math.Sqrt(v.Sum(x => x * x));
            if (norm <= 1e-6 * original) continue;
            for (int i = 0; i < v.Length; i++) v[i] /= norm;
            basis.Add(v);
        }
        return basis.Select(b => b.Select(x => (float)x).ToArray()).ToList();
    }
}

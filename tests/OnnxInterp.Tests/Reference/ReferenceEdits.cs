using OnnxInterp.Runtime;

namespace OnnxInterp.Tests.Reference;

/// <summary>
/// Translates <see cref="Intervention"/>s (the runtime's data) into the reference transformer's per (hook, row,
/// position) edits, with the semantics <see cref="Intervention"/> documents and InjectionCompiler implements: at one
/// hook, ProjectOut first (per row, the union of its directions orthonormalised by Gram–Schmidt, at the positions they
/// name), then Scale, Replace and Add in list order; rows null means every row, positions null every position,
/// negative positions count from the end. Written apart from InjectionCompiler on purpose: it is the oracle.
/// </summary>
public static class ReferenceEdits
{
    /// <summary>
    /// The edits for a block of <paramref name="seq"/> tokens of a batch of <paramref name="batch"/> rows, the block's
    /// first token at index <paramref name="offset"/> of the reference's sequence (generation appends blocks).
    /// </summary>
    public static List<ReferenceIntervention> Translate(IReadOnlyList<Intervention> interventions,
        IReadOnlyDictionary<HookName, HookInfo> hooks, int batch, int seq, int offset = 0)
    {
        var edits = new List<ReferenceIntervention>();
        foreach (var group in interventions.GroupBy(i => i.Hook))
        {
            string hook = group.Key.ToString();
            if (!hooks.TryGetValue(group.Key, out var info)) throw new InvalidArgumentException("no such hook point in this model", "intervention.hook", hook);
            if (!info.Injectable) throw new InvalidArgumentException("this hook point takes no interventions", "intervention.hook", hook);
            var list = group.ToList();
            var (basis, projected) = Projections(hook, list.Where(i => i.Op == InterventionOp.ProjectOut).ToList(), info, batch, seq);
            var affine = list.Where(i => i.Op != InterventionOp.ProjectOut)
                .Select(i => (Op: i, Rows: Rows(hook, i.Rows, batch), Positions: Positions(hook, i.Positions, seq), Edit: Affine(hook, i, info.Dim)))
                .ToList();
            for (int b = 0; b < batch; b++)
                for (int s = 0; s < seq; s++)
                {
                    if (projected[b] is { } at && at[s] && basis[b].Length > 0)
                        edits.Add(new ReferenceIntervention(hook, b, offset + s, ProjectOut: basis[b]));
                    foreach (var a in affine)
                        if (a.Rows.Contains(b) && a.Positions[s]) edits.Add(a.Edit with { Row = b, Position = offset + s });
                }
        }
        return edits;
    }

    /// <summary>Per row: the orthonormal basis of its ProjectOut directions and the positions it applies at (null: none).</summary>
    static (double[][][] Basis, bool[]?[] Positions) Projections(string hook, List<Intervention> projections, HookInfo info, int batch, int seq)
    {
        var directions = new List<float[]>[batch];
        var positions = new bool[batch][];
        for (int b = 0; b < batch; b++) directions[b] = [];
        if (projections.Count > 0 && !info.Projection)
            throw new InvalidArgumentException("this hook point takes no projections (only residual-stream hooks do)", "intervention.hook", hook);
        foreach (var p in projections)
        {
            if (p.Directions is not { Length: > 0 }) throw new InvalidArgumentException("ProjectOut needs at least one direction", hook + ".directions", "0");
            foreach (var u in p.Directions) CheckVector(hook, u, info.Dim, "directions");
            var at = Positions(hook, p.Positions, seq);
            foreach (int b in Rows(hook, p.Rows, batch))
            {
                if (positions[b] is { } earlier && !earlier.AsSpan().SequenceEqual(at))
                    throw new InvalidArgumentException("ProjectOut interventions on one hook and row must share their positions", hook + ".positions", b.ToString());
                positions[b] = at;
                directions[b].AddRange(p.Directions);
            }
        }
        return (directions.Select(d => Orthonormal(hook, d)).ToArray(), positions);
    }

    /// <summary>Modified Gram–Schmidt; a direction (numerically) in the span of earlier ones adds nothing.</summary>
    static double[][] Orthonormal(string hook, List<float[]> directions)
    {
        var basis = new List<double[]>();
        foreach (var u in directions)
        {
            var v = u.Select(x => (double)x).ToArray();
            double length = Math.Sqrt(ReferenceTestUtil.Dot(v, v));
            if (length == 0) throw new InvalidArgumentException("ProjectOut direction is the zero vector", hook + ".directions", "0");
            foreach (var e in basis)
            {
                double dot = ReferenceTestUtil.Dot(v, e);
                for (int i = 0; i < v.Length; i++) v[i] -= dot * e[i];
            }
            double rest = Math.Sqrt(ReferenceTestUtil.Dot(v, v));
            if (rest <= 1e-6 * length) continue;
            basis.Add(v.Select(x => x / rest).ToArray());
        }
        return basis.ToArray();
    }

    /// <summary>Scale, Replace or Add as one reference edit (its row and position filled in by the caller).</summary>
    static ReferenceIntervention Affine(string hook, Intervention iv, int dim)
    {
        if (iv.Vector is not null) CheckVector(hook, iv.Vector, dim, "vector");
        double[] Vector(double factor) =>
            iv.Vector?.Select(x => factor * x).ToArray()
            ?? throw new InvalidArgumentException($"{iv.Op} needs a vector", hook + ".vector", null);
        return iv.Op switch
        {
            InterventionOp.Scale => new ReferenceIntervention(hook, 0, 0, Scale: iv.Vector is null ? Enumerable.Repeat((double)iv.Factor, dim).ToArray() : Vector(1)),
            InterventionOp.Replace => new ReferenceIntervention(hook, 0, 0, Replace: Vector(1)),
            InterventionOp.Add => new ReferenceIntervention(hook, 0, 0, Add: Vector(iv.Factor)),
            _ => throw new InvalidArgumentException("unknown operation", hook + ".op", iv.Op.ToString()),
        };
    }

    static void CheckVector(string hook, float[] v, int dim, string what)
    {
        if (v.Length != dim) throw new InvalidArgumentException($"vector length must equal the hook's dimension {dim}", $"{hook}.{what}", v.Length.ToString());
        if (v.Any(x => !float.IsFinite(x))) throw new InvalidArgumentException("vector holds a non-finite value", $"{hook}.{what}", null);
    }

    static HashSet<int> Rows(string hook, int[]? rows, int batch)
    {
        if (rows is null) return Enumerable.Range(0, batch).ToHashSet();
        foreach (int r in rows)
            if (r < 0 || r >= batch) throw new InvalidArgumentException($"row outside the batch of {batch}", hook + ".rows", r.ToString());
        return rows.ToHashSet();
    }

    static bool[] Positions(string hook, int[]? positions, int seq)
    {
        var at = new bool[seq];
        if (positions is null) { Array.Fill(at, true); return at; }
        foreach (int p in positions)
        {
            int q = p < 0 ? seq + p : p;
            if (q < 0 || q >= seq) throw new InvalidArgumentException($"position outside the sequence of {seq}", hook + ".positions", p.ToString());
            at[q] = true;
        }
        return at;
    }
}

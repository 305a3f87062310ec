using System.Numerics.Tensors;

namespace OnnxInterp.Analysis.Diff;

/// <summary>One principal direction of the activation differences: a unit vector, its singular value and its share of ‖D‖²_F.</summary>
public sealed record PrincipalDirection(float[] Vector, double SingularValue, double Share);

/// <summary>
/// The top principal directions of N difference vectors h_post − h_base (rows of D, N × d), uncentred: the right
/// singular vectors of D. Uncentred because the shift post-training adds to every token (the mean difference, which
/// the activation-difference lens reads) is the finding, not an offset to remove. Each direction's sign is chosen so that
/// the mean difference projects on it positively (adding it moves the base toward the post-trained model).
/// Computed by block power iteration on DᵀD with a Rayleigh–Ritz step (a Jacobi eigendecomposition of a (k + 4) × (k + 4)
/// matrix), so memory is N·d floats and time O(iterations · N · d · k); seeded, hence deterministic. The tests compare it
/// with MathNet's full SVD.
/// </summary>
public static class DifferencePca
{
    public static IReadOnlyList<PrincipalDirection> Top(IReadOnlyList<float[]> rows, int k, int iterations = 40, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0) throw new InvalidArgumentException("no difference vectors", "rows", "0");
        int d = rows[0].Length;
        if (k < 1) throw new InvalidArgumentException("at least one direction", "directions", k.ToString(System.Globalization.CultureInfo.InvariantCulture));
        k = Math.Min(k, Math.Min(d, rows.Count));
        int block = Math.Min(d, k + 4);
        double total = 0;
        foreach (var r in rows) total += TensorPrimitives.SumOfSquares(r);

        // Q: d × block, orthonormal columns, stored as rows of float (one per column) for spans.
        var rng = new Random(seed);
        var q = new float[block][];
        for (int j = 0; j < block; j++) q[j] = Enumerable.Range(0, d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        Orthonormalize(q);
        var y = new float[block][];
        for (int j = 0; j < block; j++) y[j] = new float[rows.Count];
        for (int it = 0; it < iterations; it++)
        {
            Project(rows, q, y);
            var z = new float[block][];
            for (int j = 0; j < block; j++) z[j] = new float[d];
            BackProject(rows, y, z);
            q = z;
            Orthonormalize(q);
        }

        // Rayleigh–Ritz: B = (DQ)ᵀ(DQ), its eigenvectors rotate Q onto the singular directions.
        Project(rows, q, y);
        var b = new double[block, block];
        for (int i = 0; i < block; i++)
            for (int j = 0; j < block; j++) b[i, j] = Dot(y[i], y[j]);
        var (values, vectors) = Jacobi(b);
        var order = Enumerable.Range(0, block).OrderByDescending(i => values[i]).Take(k).ToList();
        var mean = new double[d];
        foreach (var r in rows) for (int i = 0; i < d; i++) mean[i] += r[i];
        var result = new List<PrincipalDirection>(k);
        foreach (int e in order)
        {
            var v = new double[d];
            for (int j = 0; j < block; j++)
            {
                double c = vectors[j, e];
                for (int i = 0; i < d; i++) v[i] += c * q[j][i];
            }
            double norm = Math.Sqrt(v.Sum(x => x * x)), along = 0;
            for (int i = 0; i < d; i++) along += v[i] * mean[i];
            double sign = along < 0 ? -1 : 1;
            double sigma2 = Math.Max(0, values[e]);
            result.Add(new PrincipalDirection(v.Select(x => (float)(sign * x / norm)).ToArray(), Math.Sqrt(sigma2), total > 0 ? sigma2 / total : 0));
        }
        return result;
    }

    /// <summary>y_j = D q_j.</summary>
    static void Project(IReadOnlyList<float[]> rows, float[][] q, float[][] y) =>
        Parallel.For(0, rows.Count, n =>
        {
            for (int j = 0; j < q.Length; j++) y[j][n] = TensorPrimitives.Dot(rows[n], q[j]);
        });

    /// <summary>z_j = Dᵀ y_j, summed in row order per column (deterministic).</summary>
    static void BackProject(IReadOnlyList<float[]> rows, float[][] y, float[][] z) =>
        Parallel.For(0, z.Length, j =>
        {
            var zj = z[j];
            for (int n = 0; n < rows.Count; n++)
                if (y[j][n] != 0) TensorPrimitives.MultiplyAdd(rows[n], y[j][n], zj, zj);
        });

    /// <summary>Modified Gram–Schmidt, twice, in double (columns that vanish are replaced by zero vectors).</summary>
    static void Orthonormalize(float[][] q)
    {
        int d = q[0].Length;
        var cols = q.Select(c => c.Select(x => (double)x).ToArray()).ToArray();
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j < cols.Length; j++)
            {
                for (int i = 0; i < j; i++)
                {
                    double dot = 0;
                    for (int t = 0; t < d; t++) dot += cols[i][t] * cols[j][t];
                    for (int t = 0; t < d; t++) cols[j][t] -= dot * cols[i][t];
                }
                double norm = Math.Sqrt(cols[j].Sum(x => x * x));
                for (int t = 0; t < d; t++) cols[j][t] = norm > 1e-30 ? cols[j][t] / norm : 0;
            }
        for (int j = 0; j < q.Length; j++)
            for (int t = 0; t < d; t++) q[j][t] = (float)cols[j][t];
    }

    /// <summary>Eigenvalues and eigenvectors (columns) of a small symmetric matrix by cyclic Jacobi rotations.</summary>
    static (double[] Values, double[,] Vectors) Jacobi(double[,] a)
    {
        int n = a.GetLength(0);
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, scale = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) (off, scale) = i == j ? (off, scale + a[i, j] * a[i, j]) : (off + a[i, j] * a[i, j], scale);
            if (off <= 1e-30 * Math.Max(scale, 1e-300)) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (a[p, q] == 0) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }
        return (Enumerable.Range(0, n).Select(i => a[i, i]).ToArray(), v);
    }

    static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }
}

using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// ROME's closed form (Meng et al. 2022, eq. 2): the change of a down projection W [hidden, intermediate] that maps each key
/// k* to its value v* = W k* + δ while changing W's outputs on the corpus's keys as little as possible in the least-squares
/// sense weighted by their second moment C. For one fact, W' = W + δ (C⁻¹k*)ᵀ / ((C⁻¹k*)ᵀ k*), ROME's rank-one update; for
/// several, the same problem with every key constrained: W' = W + Δ (Kᵀ C⁻¹ K)⁻¹ (C⁻¹ K)ᵀ, so W' K = W K + Δ exactly.
/// </summary>
public static class RomeUpdate
{
    /// <summary>W' (row-major [hidden, intermediate]) from W, the keys' second moment, the keys and each key's δ [hidden].</summary>
    /// <exception cref="InvalidArgumentException">C is not positive definite (field "corpus"), or two keys are (nearly) the same (field "facts").</exception>
    public static float[] Apply(FloatTensor down, Matrix<double> moment, IReadOnlyList<double[]> keys, IReadOnlyList<double[]> deltas)
    {
        int d = down.Shape[0], n = down.Shape[1];
        if (moment.RowCount != n || moment.ColumnCount != n) Throw.Argument($"the key moment is not {n}x{n}", "covariance", $"{moment.RowCount}x{moment.ColumnCount}");
        if (keys.Count == 0 || keys.Count != deltas.Count) Throw.Argument("one δ per key is needed", "keys", $"{keys.Count} keys, {deltas.Count} deltas");
        if (keys.Any(k => k.Length != n)) Throw.Argument($"a key is not {n}-dimensional", "keys", keys.First(k => k.Length != n).Length);
        if (deltas.Any(v => v.Length != d)) Throw.Argument($"a δ is not {d}-dimensional", "deltas", deltas.First(v => v.Length != d).Length);
        var k = Matrix<double>.Build.DenseOfColumnArrays(keys);
        var delta = Matrix<double>.Build.DenseOfColumnArrays(deltas);
        Matrix<double>? cInvK = null;
        try { cInvK = moment.Cholesky().Solve(k); }
        catch (ArgumentException) { }
        if (cInvK is null || !Finite(cInvK))
            throw new InvalidArgumentException("the keys' second moment is singular (the corpus's keys do not span the layer's intermediate dimensions); pass a larger or more varied corpus", "corpus", null);
        var gram = k.TransposeThisAndMultiply(cInvK);
        Matrix<double>? solved = null;
        try { solved = gram.Cholesky().Solve(cInvK.Transpose()); }
        catch (ArgumentException) { }
        if (solved is null || !Finite(solved))
            throw new InvalidArgumentException("two facts' keys are (nearly) the same, so no update maps both to their values; edit them in separate runs", "facts",
                keys.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var change = delta * solved;
        var result = new float[(long)d * n];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < n; j++) result[(long)i * n + j] = (float)(down.Data[(long)i * n + j] + change[i, j]);
        return result;
    }

    static bool Finite(Matrix<double> m) => m.Enumerate().All(double.IsFinite);

    /// <summary>sqrt(tr(ΔW C ΔWᵀ) / tr(W C Wᵀ)): the root-mean-square change of the layer's output over the corpus's keys, relative to the output.</summary>
    public static double OutputChange(FloatTensor before, float[] after, Matrix<double> moment)
    {
        int d = before.Shape[0], n = before.Shape[1];
        var w = Matrix<double>.Build.Dense(d, n, (i, j) => before.Data[(long)i * n + j]);
        var change = Matrix<double>.Build.Dense(d, n, (i, j) => after[(long)i * n + j] - (double)before.Data[(long)i * n + j]);
        double baseline = (w * moment).TransposeAndMultiply(w).Trace();
        return baseline > 0 ? Math.Sqrt((change * moment).TransposeAndMultiply(change).Trace() / baseline) : double.PositiveInfinity;
    }

    /// <summary>‖W' − W‖_F / ‖W‖_F.</summary>
    public static double RelativeChange(ReadOnlySpan<float> before, ReadOnlySpan<float> after)
    {
        double diff = 0, norm = 0;
        for (int i = 0; i < before.Length; i++)
        {
            double a = before[i], b = after[i];
            diff += (b - a) * (b - a);
            norm += a * a;
        }
        return norm == 0 ? double.PositiveInfinity : Math.Sqrt(diff / norm);
    }
}

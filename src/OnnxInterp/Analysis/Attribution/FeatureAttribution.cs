using System.Text.Json.Serialization;
using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Attribution;

/// <summary>How a feature's share of a scalar is estimated.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttributionMethod>))]
public enum AttributionMethod
{
    /// <summary>f(x) − f(x with the feature replaced by the baseline): one run per feature.</summary>
    Occlusion,

    /// <summary>Shapley values by weighted least squares over sampled coalitions (Lundberg and Lee 2017), efficiency enforced.</summary>
    KernelShap,

    /// <summary>A local linear surrogate over perturbed inputs weighted by an exponential kernel (Ribeiro et al. 2016).</summary>
    Lime,
}

/// <summary>
/// The scalar of each coalition: <c>coalitions[r][i]</c> is true when feature i keeps its value in row r and false when it
/// takes the baseline's. Called once per method with every coalition it needs, so a model can run them as batches.
/// </summary>
public delegate double[] CoalitionFunction(IReadOnlyList<bool[]> coalitions);

/// <summary>Sampling settings of KernelSHAP and LIME.</summary>
public sealed record AttributionSampling
{
    /// <summary>Coalitions evaluated besides the input and the baseline (KernelSHAP enumerates all when 2^M − 2 are fewer).</summary>
    public int Coalitions { get; init; } = 256;

    public int Seed { get; init; } = 1;

    /// <summary>LIME's kernel width on the cosine distance to the input (LIME's text explainer: 25 on distances × 100).</summary>
    public double LimeKernelWidth { get; init; } = 0.25;

    /// <summary>LIME's ridge penalty (LIME's default is 1; 0 fits weighted least squares, which recovers a linear scalar exactly).</summary>
    public double LimeRidge { get; init; }
}

/// <summary>One method's scores over M features, with the scalar at the input (all features) and at the baseline (none).</summary>
public sealed record FeatureScores(AttributionMethod Method, double[] Scores, double Full, double Baseline, int Evaluations)
{
    /// <summary>|Σ scores − (f(x) − f(baseline))|: zero for KernelSHAP (efficiency), what occlusion and LIME leave unexplained.</summary>
    public double EfficiencyGap => Math.Abs(Scores.Sum() - (Full - Baseline));
}

/// <summary>
/// Feature attribution as local function approximation (the talk's unified view): occlusion, KernelSHAP and LIME over M
/// binary features of one input, for any scalar <see cref="CoalitionFunction"/> of a run.
/// </summary>
public static class FeatureAttribution
{
    public static FeatureScores Run(AttributionMethod method, int features, CoalitionFunction f, AttributionSampling? sampling = null) => method switch
    {
        AttributionMethod.Occlusion => Occlusion(features, f),
        AttributionMethod.KernelShap => KernelShap(features, f, sampling),
        AttributionMethod.Lime => Lime(features, f, sampling),
        _ => throw new InvalidArgumentException("unknown attribution method", "method", method.ToString()),
    };

    /// <summary>Score i = f(x) − f(x with feature i at the baseline).</summary>
    public static FeatureScores Occlusion(int features, CoalitionFunction f)
    {
        CheckFeatures(features);
        var rows = new List<bool[]> { Full(features), new bool[features] };
        for (int i = 0; i < features; i++)
        {
            var z = Full(features);
            z[i] = false;
            rows.Add(z);
        }
        var y = Evaluate(f, rows);
        var scores = new double[features];
        for (int i = 0; i < features; i++) scores[i] = y[0] - y[2 + i];
        return new FeatureScores(AttributionMethod.Occlusion, scores, y[0], y[1], rows.Count);
    }

    /// <summary>
    /// KernelSHAP: coalitions weighted by the Shapley kernel π(z) = (M − 1) / (C(M, |z|) |z| (M − |z|)), fitted by least
    /// squares under the constraints φ₀ = f(baseline) and Σφ = f(x) − f(baseline) (the kernel's infinite weights on the empty and
    /// full coalitions), so the scores are exactly efficient. As the shap library does, coalition sizes are taken in pairs from
    /// the ends (1 and M − 1, then 2 and M − 2, ...) and enumerated whole, each coalition at its kernel weight, while the budget
    /// (<see cref="AttributionSampling.Coalitions"/>) covers a pair; the rest of the budget samples the remaining sizes in
    /// proportion to their kernel mass, a coalition and its complement together, each sample weighing an equal share of that
    /// mass. With 2^M − 2 coalitions in the budget every one is enumerated and the scores are the exact Shapley values. The fit
    /// takes the minimum-norm solution (pseudo-inverse) when the sampled coalitions do not determine every score.
    /// </summary>
    public static FeatureScores KernelShap(int features, CoalitionFunction f, AttributionSampling? sampling = null)
    {
        CheckFeatures(features);
        var o = Check(sampling);
        int m = features;
        var rows = new List<bool[]> { Full(m), new bool[m] };
        var weights = new List<double>();
        if (m > 1)
        {
            int budget = o.Coalitions, full = 0;
            for (int size = 1; size <= m / 2; size++)
            {
                bool paired = size != m - size;
                double count = Binomial(m, size) * (paired ? 2 : 1);
                if (count > budget) break;
                foreach (var z in Subsets(m, size))
                {
                    rows.Add(z);
                    weights.Add(ShapleyKernel(m, size));
                    if (paired)
                    {
                        rows.Add(z.Select(b => !b).ToArray());
                        weights.Add(ShapleyKernel(m, size));
                    }
                }
                budget -= (int)count;
                full = size;
            }
            var sizes = Enumerable.Range(full + 1, Math.Max(0, m - 1 - 2 * full)).ToArray();
            if (sizes.Length > 0 && budget > 0)
            {
                var rng = new Random(o.Seed);
                var mass = sizes.Select(s => (m - 1.0) / (s * (double)(m - s))).ToArray();
                double total = mass.Sum();
                for (int drawn = 0; drawn < budget;)
                {
                    var z = RandomSubset(rng, m, sizes[Draw(rng, mass, total)]);
                    rows.Add(z);
                    drawn++;
                    if (drawn < budget)
                    {
                        rows.Add(z.Select(b => !b).ToArray());
                        drawn++;
                    }
                }
                for (int i = 0; i < budget; i++) weights.Add(total / budget);
            }
        }
        var y = Evaluate(f, rows);
        double fullValue = y[0], baseline = y[1];
        var scores = new double[m];
        if (m == 1)
        {
            scores[0] = fullValue - baseline;
            return new FeatureScores(AttributionMethod.KernelShap, scores, fullValue, baseline, rows.Count);
        }
        // φ_M = (f(x) − f(0)) − Σ_{i<M} φ_i removes the efficiency constraint:
        // y − f(0) − z_M (f(x) − f(0)) = Σ_{i<M} φ_i (z_i − z_M).
        int n = weights.Count;
        var x = Matrix<double>.Build.Dense(n, m - 1);
        var b = Vector<double>.Build.Dense(n);
        for (int r = 0; r < n; r++)
        {
            var z = rows[r + 2];
            double sw = Math.Sqrt(weights[r]), zm = z[m - 1] ? 1 : 0;
            for (int i = 0; i < m - 1; i++) x[r, i] = sw * ((z[i] ? 1 : 0) - zm);
            b[r] = sw * (y[r + 2] - baseline - zm * (fullValue - baseline));
        }
        var phi = LeastSquares(x, b);
        double sum = 0;
        for (int i = 0; i < m - 1; i++) sum += scores[i] = phi[i];
        scores[m - 1] = fullValue - baseline - sum;
        return new FeatureScores(AttributionMethod.KernelShap, scores, fullValue, baseline, rows.Count);
    }

    /// <summary>The minimum-norm least-squares solution of x·φ = b (the pseudo-inverse: directions the rows do not reach get no score).</summary>
    static Vector<double> LeastSquares(Matrix<double> x, Vector<double> b) => x.PseudoInverse() * b;

    /// <summary>Every subset of <paramref name="size"/> of m features, in lexicographic order.</summary>
    static IEnumerable<bool[]> Subsets(int m, int size)
    {
        var idx = Enumerable.Range(0, size).ToArray();
        while (true)
        {
            var z = new bool[m];
            foreach (var i in idx) z[i] = true;
            yield return z;
            int k = size - 1;
            while (k >= 0 && idx[k] == m - size + k) k--;
            if (k < 0) yield break;
            idx[k]++;
            for (int j = k + 1; j < size; j++) idx[j] = idx[j - 1] + 1;
        }
    }

    /// <summary>
    /// LIME for text: the input, then perturbations that drop a uniformly drawn number (1..M) of uniformly drawn features,
    /// each weighted by exp(−D² / σ²) with D the cosine distance between its feature vector and the input's (1 for the empty
    /// one) and σ <see cref="AttributionSampling.LimeKernelWidth"/>; the scores are the coefficients of a weighted linear fit
    /// with an intercept (ridge <see cref="AttributionSampling.LimeRidge"/> on the coefficients).
    /// </summary>
    public static FeatureScores Lime(int features, CoalitionFunction f, AttributionSampling? sampling = null)
    {
        CheckFeatures(features);
        var o = Check(sampling);
        int m = features;
        var rng = new Random(o.Seed);
        var rows = new List<bool[]> { Full(m), new bool[m] };
        for (int k = 0; k < o.Coalitions; k++)
        {
            int drop = rng.Next(1, m + 1);
            rows.Add(RandomSubset(rng, m, m - drop));
        }
        var y = Evaluate(f, rows);
        // The fit sees the input and the perturbations (LIME's first sample is the input itself); the baseline row is reported only.
        var fit = rows.Select((z, i) => (z, i)).Where(t => t.i != 1).ToList();
        int n = fit.Count;
        var x = Matrix<double>.Build.Dense(n, m + 1);
        var b = Vector<double>.Build.Dense(n);
        for (int r = 0; r < n; r++)
        {
            var (z, i) = fit[r];
            int kept = z.Count(v => v);
            double cosine = kept == 0 ? 0 : Math.Sqrt(kept / (double)m);
            double distance = 1 - cosine;
            double sw = Math.Sqrt(Math.Exp(-distance * distance / (o.LimeKernelWidth * o.LimeKernelWidth)));
            x[r, 0] = sw;
            for (int j = 0; j < m; j++) x[r, j + 1] = sw * (z[j] ? 1 : 0);
            b[r] = sw * y[i];
        }
        Vector<double> coef;
        if (o.LimeRidge > 0)
        {
            var xtx = x.TransposeThisAndMultiply(x);
            for (int j = 1; j <= m; j++) xtx[j, j] += o.LimeRidge;
            coef = xtx.Solve(x.TransposeThisAndMultiply(b));
        }
        else coef = LeastSquares(x, b);
        var scores = new double[m];
        for (int j = 0; j < m; j++) scores[j] = coef[j + 1];
        return new FeatureScores(AttributionMethod.Lime, scores, y[0], y[1], rows.Count);
    }

    /// <summary>Exact Shapley values by the permutation formula over all 2^(M−1) coalitions per feature (M ≤ 20): the reference.</summary>
    public static double[] ExactShapley(int features, Func<bool[], double> f)
    {
        CheckFeatures(features);
        if (features > 20) Throw.Argument("exact Shapley values enumerate 2^M coalitions; at most 20 features", "features", features);
        int m = features;
        var values = new double[1 << m];
        for (int mask = 0; mask < values.Length; mask++) values[mask] = f(Enumerable.Range(0, m).Select(i => (mask >> i & 1) == 1).ToArray());
        var factorial = new double[m + 1];
        factorial[0] = 1;
        for (int i = 1; i <= m; i++) factorial[i] = factorial[i - 1] * i;
        var phi = new double[m];
        for (int i = 0; i < m; i++)
            for (int mask = 0; mask < values.Length; mask++)
            {
                if ((mask >> i & 1) == 1) continue;
                int size = System.Numerics.BitOperations.PopCount((uint)mask);
                phi[i] += factorial[size] * factorial[m - size - 1] / factorial[m] * (values[mask | 1 << i] - values[mask]);
            }
        return phi;
    }

    static double ShapleyKernel(int m, int size) => (m - 1.0) / (Binomial(m, size) * size * (m - size));

    static double Binomial(int n, int k)
    {
        double r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    /// <summary>An index drawn with probability mass[i] / total.</summary>
    static int Draw(Random rng, double[] mass, double total)
    {
        double u = rng.NextDouble() * total;
        for (int i = 0; i < mass.Length; i++)
        {
            u -= mass[i];
            if (u < 0) return i;
        }
        return mass.Length - 1;
    }

    static bool[] RandomSubset(Random rng, int m, int size)
    {
        var order = Enumerable.Range(0, m).ToArray();
        rng.Shuffle(order);
        var z = new bool[m];
        for (int i = 0; i < size; i++) z[order[i]] = true;
        return z;
    }

    static bool[] Full(int m) => Enumerable.Repeat(true, m).ToArray();

    static double[] Evaluate(CoalitionFunction f, List<bool[]> rows)
    {
        var y = f(rows);
        if (y is null || y.Length != rows.Count)
            Throw.Argument($"the scalar function returned {y?.Length ?? 0} values for {rows.Count} coalitions", "coalitions", y?.Length ?? 0);
        foreach (var v in y)
            if (!double.IsFinite(v)) Throw.Argument("the scalar function returned a value that is not finite", "scalar", v);
        return y;
    }

    static void CheckFeatures(int features)
    {
        if (features < 1) Throw.Argument("at least one feature is needed", "features", features);
    }

    static AttributionSampling Check(AttributionSampling? sampling)
    {
        var o = sampling ?? new AttributionSampling();
        if (o.Coalitions < 1) Throw.Argument("at least one coalition is needed", "coalitions", o.Coalitions);
        if (!(o.LimeKernelWidth > 0 && double.IsFinite(o.LimeKernelWidth))) Throw.Argument("must be a positive number", "limeKernelWidth", o.LimeKernelWidth);
        if (!(o.LimeRidge >= 0 && double.IsFinite(o.LimeRidge))) Throw.Argument("must be a non-negative number", "limeRidge", o.LimeRidge);
        return o;
    }
}

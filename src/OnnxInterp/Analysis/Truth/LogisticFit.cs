using System.Numerics.Tensors;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Truth;

/// <summary>How a logistic fit ended.</summary>
public readonly record struct FitInfo(int Iterations, bool Converged, double Loss, double GradientNorm);

/// <summary>
/// Binary logistic regression with an unpenalised intercept, minimised by L-BFGS (memory 10, backtracking Armijo line
/// search; deterministic: no randomness, fixed evaluation order). The objective is the mean log-loss plus
/// (λ/2)|w|², λ = 1 / (C·n), which has the same minimiser as scikit-learn's LogisticRegression(C) (its sum form).
/// </summary>
internal static class LogisticFit
{
    public const int Memory = 10;

    /// <summary>
    /// Fits w, b on rows x (row-major [n, d]) with labels 0/1. c is the inverse regularisation strength (scikit-learn's
    /// C; positive, finite); the fit stops when max |gradient| of the mean objective falls below tolerance, when the
    /// objective stops decreasing, or after maxIterations.
    /// </summary>
    public static (double[] W, double B, FitInfo Info) Fit(double[] x, int n, int d, int[] labels, double c,
        int maxIterations = 2000, double tolerance = 1e-8)
    {
        if (n == 0) Throw.Argument("no rows to fit", "rows", 0);
        if (!(c > 0) || double.IsInfinity(c)) Throw.Argument("C must be positive and finite", "C", c);
        double lambda = 1.0 / (c * n);
        int p = d + 1;  // parameters: w then b
        var theta = new double[p];
        var grad = new double[p];
        double f = Evaluate(x, n, d, labels, lambda, theta, grad);

        var s = new double[Memory][];
        var y = new double[Memory][];
        var rho = new double[Memory];
        var alpha = new double[Memory];
        int stored = 0, head = 0;
        var dir = new double[p];
        var trial = new double[p];
        var trialGrad = new double[p];
        int it = 0;
        bool converged = MaxAbs(grad) <= tolerance;
        while (!converged && it < maxIterations)
        {
            it++;
            // Two-loop recursion: dir = −H·grad.
            grad.CopyTo(dir, 0);
            for (int k = 0; k < stored; k++)
            {
                int i = (head - 1 - k + Memory) % Memory;
                alpha[i] = rho[i] * TensorPrimitives.Dot<double>(s[i], dir);
                TensorPrimitives.MultiplyAdd<double>(y[i], -alpha[i], dir, dir);
            }
            if (stored > 0)
            {
                int last = (head - 1 + Memory) % Memory;
                double gamma = TensorPrimitives.Dot<double>(s[last], y[last]) / TensorPrimitives.Dot<double>(y[last], y[last]);
                TensorPrimitives.Multiply<double>(dir, gamma, dir);
            }
            else
            {
                // First step: a unit-length move along −grad.
                TensorPrimitives.Multiply<double>(dir, 1.0 / Math.Max(1e-300, Math.Sqrt(TensorPrimitives.Dot<double>(grad, grad))), dir);
            }
            for (int k = stored - 1; k >= 0; k--)
            {
                int i = (head - 1 - k + Memory) % Memory;
                double beta = rho[i] * TensorPrimitives.Dot<double>(y[i], dir);
                TensorPrimitives.MultiplyAdd<double>(s[i], alpha[i] - beta, dir, dir);
            }
            TensorPrimitives.Negate<double>(dir, dir);
            double slope = TensorPrimitives.Dot<double>(grad, dir);
            if (slope >= 0)
            {
                // Not a descent direction (numerical trouble): restart from steepest descent.
                stored = 0;
                TensorPrimitives.Negate<double>(grad, dir);
                TensorPrimitives.Multiply<double>(dir, 1.0 / Math.Max(1e-300, Math.Sqrt(TensorPrimitives.Dot<double>(grad, grad))), dir);
                slope = TensorPrimitives.Dot<double>(grad, dir);
            }

            double step = 1, fNew = double.NaN;
            bool accepted = false;
            for (int ls = 0; ls < 60; ls++)
            {
                TensorPrimitives.MultiplyAdd<double>(dir, step, theta, trial);
                fNew = Evaluate(x, n, d, labels, lambda, trial, trialGrad);
                if (fNew <= f + 1e-4 * step * slope) { accepted = true; break; }
                step *= 0.5;
            }
            if (!accepted) break;  // no decrease possible at double precision: as good as it gets

            var sNew = s[head] ??= new double[p];
            var yNew = y[head] ??= new double[p];
            TensorPrimitives.Subtract<double>(trial, theta, sNew);
            TensorPrimitives.Subtract<double>(trialGrad, grad, yNew);
            double sy = TensorPrimitives.Dot<double>(sNew, yNew);
            if (sy > 1e-16 * Math.Sqrt(TensorPrimitives.Dot<double>(sNew, sNew) * TensorPrimitives.Dot<double>(yNew, yNew)))
            {
                rho[head] = 1.0 / sy;
                head = (head + 1) % Memory;
                stored = Math.Min(stored + 1, Memory);
            }
            (theta, trial) = (trial, theta);
            (grad, trialGrad) = (trialGrad, grad);
            double previous = f;
            f = fNew;
            converged = MaxAbs(grad) <= tolerance || previous - f <= 1e-15 * Math.Max(1, Math.Abs(f));
        }
        return (theta[..d], theta[d], new FitInfo(it, converged, f, MaxAbs(grad)));
    }

    /// <summary>The mean objective at theta = (w, b) and its gradient.</summary>
    static double Evaluate(double[] x, int n, int d, int[] labels, double lambda, double[] theta, double[] grad)
    {
        var w = theta.AsSpan(0, d);
        double b = theta[d];
        Array.Clear(grad);
        var gw = grad.AsSpan(0, d);
        double loss = 0, gb = 0;
        for (int i = 0; i < n; i++)
        {
            var row = x.AsSpan(i * d, d);
            double z = TensorPrimitives.Dot<double>(row, w) + b;
            double sign = labels[i] == 1 ? 1 : -1;
            double m = sign * z;
            loss += m > 0 ? Math.Log(1 + Math.Exp(-m)) : -m + Math.Log(1 + Math.Exp(m));
            // d/dz log(1 + e^{−sign·z}) = −sign · σ(−sign·z)
            double r = -sign * (m > 0 ? Math.Exp(-m) / (1 + Math.Exp(-m)) : 1 / (1 + Math.Exp(m)));
            TensorPrimitives.MultiplyAdd<double>(row, r, gw, gw);
            gb += r;
        }
        TensorPrimitives.Multiply<double>(gw, 1.0 / n, gw);
        TensorPrimitives.MultiplyAdd<double>(w, lambda, gw, gw);
        grad[d] = gb / n;
        return loss / n + 0.5 * lambda * TensorPrimitives.Dot<double>(w, w);
    }

    static double MaxAbs(double[] v)
    {
        double m = 0;
        foreach (var x in v) m = Math.Max(m, Math.Abs(x));
        return m;
    }

    /// <summary>Rows as doubles, for the fit.</summary>
    public static double[] ToDouble(ActivationSet set)
    {
        var x = new double[set.Data.Length];
        for (int i = 0; i < x.Length; i++) x[i] = set.Data[i];
        return x;
    }
}

using OnnxInterp.Runtime;

namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// How a fact's value v* was found: the residual change δ = v* − W k* at the subject's last token. <see cref="Direction"/>:
/// "donors" (a step along the mean layer-output state of subjects whose answer is already the target minus the fact's own),
/// "gradient" (steepest-ascent rounds on a finite-difference gradient, when there are no donors or their direction falls
/// short), "donors+gradient", or "none" (the model already prefers the target by the margin). <see cref="Scale"/> is the
/// donor step (1: all the way to the donors' mean), <see cref="DeltaNorm"/> ‖δ‖ over the state's norm, the margins the
/// target's mean token log-probability minus the old object's (nats) without δ and with it.
/// </summary>
public sealed record FactValue(string Direction, int Donors, double Scale, int GradientRounds, double DeltaNorm, double MarginBefore, double MarginAtValue,
    bool Reached, int Runs)
{
    /// <summary>δ, [hidden].</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public double[] Delta { get; init; } = [];
}

/// <summary>
/// ROME's value without backpropagation. ROME finds v* by gradient descent through the layers above; forward-only graphs
/// give no backward pass, so v* = W k* + δ with δ found by forward passes alone, each trial adding δ to the layer's output at
/// the subject's last token (where the edited down_proj adds it) and scoring the target against the old object: first a
/// line search (octave grid, then bisection) for the smallest step toward donor subjects that reaches the margin; failing
/// that, rounds of a central finite-difference gradient of the margin (two rows per residual dimension, batched) each
/// followed by a line search along it. As in ROME, ‖δ‖ is clamped (to a multiple of ‖W k*‖).
/// </summary>
public static class ValueSearch
{
    /// <summary>
    /// δ for <paramref name="fact"/> at <paramref name="layer"/>, its norm at most <paramref name="maxNorm"/> (ROME clamps δ to
    /// <see cref="EditOptions.ClampNormFactor"/> times ‖W k*‖, the layer's original output at the key; every trial δ is
    /// projected onto that ball).
    /// </summary>
    public static FactValue Run(IHookedModel model, ResolvedFact fact, int layer, double maxNorm, EditOptions o, CancellationToken cancellation = default)
    {
        KeyStatistics.CheckLayer(model, layer);
        var tokenizer = model.Tokenizer;
        var hook = HookName.ResidPost(layer);
        var (ids, s) = EditTokens.Subject(tokenizer, fact.Prompt, fact.Subject);
        var state = KeyStatistics.ToDouble(model.Run(new ForwardRequest([ids]) { Hooks = [hook], CapturePositions = [s], LogitPositions = [-1] }, cancellation)[hook].Vector(0, 0));
        int d = state.Length;
        double stateNorm = Norm(state);
        int runs = 0;

        // The margin under each δ, two rows per δ (target, old) in batches.
        double[] Margins(IReadOnlyList<double[]> deltas)
        {
            runs++;
            var queries = deltas.SelectMany(_ => new[] { (fact.Prompt, fact.Target), (fact.Prompt, fact.Old) }).ToList();
            var lp = EditTokens.MeanLogProbs(model, queries, Math.Max(2, o.BatchSize), (q, row, padding) =>
            {
                var delta = deltas[q / 2];
                return delta.All(x => x == 0) ? [] : [Intervention.Add(hook, delta.Select(x => (float)x).ToArray(), rows: [row], positions: [padding + s])];
            }, cancellation);
            return deltas.Select((_, i) => lp[2 * i] - lp[2 * i + 1]).ToArray();
        }

        // The smallest step along `step` (from `from`) reaching the margin: an octave grid up to `max`, then bisection; else the best grid point.
        (double Scale, double Margin, bool Reached) Line(double[] from, double[] step, double max)
        {
            var grid = Enumerable.Range(0, 7).Select(k => max / (1 << (6 - k))).ToList();
            var m = Margins(grid.Select(g => Clamp(Add(from, step, g), maxNorm)).ToList());
            int first = Array.FindIndex(m, x => x >= o.Margin);
            if (first < 0)
            {
                int best = Array.IndexOf(m, m.Max());
                return (grid[best], m[best], false);
            }
            double lo = first == 0 ? 0 : grid[first - 1], hi = grid[first], atHi = m[first];
            for (int i = 0; i < o.SearchSteps; i++)
            {
                double mid = (lo + hi) / 2, at = Margins([Clamp(Add(from, step, mid), maxNorm)])[0];
                if (at >= o.Margin) (hi, atHi) = (mid, at);
                else lo = mid;
            }
            return (hi, atHi, true);
        }

        double before = Margins([new double[d]])[0];
        if (before >= o.Margin) return Result("none", 0, 0, new double[d], before, true);

        var delta = new double[d];
        double margin = before, scale = 0;
        if (fact.Donors.Count > 0)
        {
            var toward = new double[d];
            foreach (var x in fact.Donors)
            {
                var (dIds, dPos) = EditTokens.Subject(tokenizer, fact.PromptFor(x), x);
                var h = model.Run(new ForwardRequest([dIds]) { Hooks = [hook], CapturePositions = [dPos], LogitPositions = [-1] }, cancellation)[hook].Vector(0, 0);
                for (int i = 0; i < d; i++) toward[i] += (h[i] - state[i]) / fact.Donors.Count;
            }
            var (sc, m, reached) = Line(delta, toward, o.MaxScale);
            if (reached) return Result("donors", sc, 0, Clamp(Add(delta, toward, sc), maxNorm), m, true);
            if (m > margin) (delta, margin, scale) = (Clamp(Add(delta, toward, sc), maxNorm), m, sc);
        }

        int rounds = 0;
        for (; rounds < o.GradientRounds && margin < o.Margin; rounds++)
        {
            cancellation.ThrowIfCancellationRequested();
            double eps = 0.02 * stateNorm / Math.Sqrt(d);
            var probes = new List<double[]>(2 * d);
            for (int j = 0; j < d; j++)
            {
                var plus = (double[])delta.Clone();
                var minus = (double[])delta.Clone();
                plus[j] += eps;
                minus[j] -= eps;
                probes.Add(plus);
                probes.Add(minus);
            }
            var m = Margins(probes);
            var gradient = Enumerable.Range(0, d).Select(j => (m[2 * j] - m[2 * j + 1]) / (2 * eps)).ToArray();
            double norm = Norm(gradient);
            if (!(norm > 0)) break;
            var step = gradient.Select(g => g / norm * stateNorm).ToArray();
            var (sc, at, _) = Line(delta, step, 2);
            if (at <= margin) break;
            (delta, margin) = (Clamp(Add(delta, step, sc), maxNorm), at);
        }
        string kind = fact.Donors.Count > 0 ? (rounds > 0 ? "donors+gradient" : "donors") : "gradient";
        return Result(kind, scale, rounds, delta, margin, margin >= o.Margin);

        FactValue Result(string direction, double sc, int r, double[] dl, double at, bool reached) =>
            new(direction, fact.Donors.Count, sc, r, stateNorm > 0 ? Norm(dl) / stateNorm : 0, before, at, reached, runs) { Delta = dl };
    }

    static double[] Add(double[] a, double[] b, double scale)
    {
        var r = new double[a.Length];
        for (int i = 0; i < r.Length; i++) r[i] = a[i] + scale * b[i];
        return r;
    }

    /// <summary>v scaled down onto the ball of radius <paramref name="max"/> when it lies outside.</summary>
    static double[] Clamp(double[] v, double max)
    {
        double n = Norm(v);
        return n <= max ? v : v.Select(x => x * max / n).ToArray();
    }

    static double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
}

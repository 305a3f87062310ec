using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Truth;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>
/// The paper protocol's arithmetic: the unpenalised 1-D logistic fit of probes.py MMProbe (LogisticRegression(penalty=None)
/// on raw projections) against closed forms and a naive Newton written here, the paper's train/test folds, and the
/// per-model layer table of config.ini.
/// </summary>
public class TruthPaperMathTests
{
    static ActivationSet Set(int dim, params (double[] X, int Label)[] rows) =>
        new(rows.SelectMany(r => r.X.Select(v => (float)v)).ToArray(), dim, rows.Select(r => r.Label).ToArray());

    [Test]
    public void UnpenalisedFit_TwoValuedFeature_EqualsTheClosedForm()
    {
        // Two distinct x values make the model saturated: the MLE reproduces each group's log-odds exactly.
        // At x = −4: 3 true, 5 false → logit ln(3/5); at x = 6: 7 true, 2 false → logit ln(7/2).
        var x = new List<double>();
        var y = new List<int>();
        void Add(double v, int label, int count) { for (int i = 0; i < count; i++) { x.Add(v); y.Add(label); } }
        Add(-4, 1, 3); Add(-4, 0, 5); Add(6, 1, 7); Add(6, 0, 2);
        var (w, b, kind) = UnpenalisedLogistic.Fit(x.ToArray(), y.ToArray());
        double lo = Math.Log(3.0 / 5), hi = Math.Log(7.0 / 2);
        double wRef = (hi - lo) / 10, bRef = lo + 4 * wRef;
        Assert.That(kind, Is.EqualTo(OneDimensionalFit.MaximumLikelihood));
        Assert.That(w, Is.EqualTo(wRef).Within(1e-12));
        Assert.That(b, Is.EqualTo(bRef).Within(1e-12));
    }

    [TestCase(0.0, 1.0)]
    [TestCase(500.0, 3.0)]      // raw projections far from 0, as x·t of uncentred activations can be: no standardisation needed
    [TestCase(-2.0, 0.001)]
    public void UnpenalisedFit_RandomOverlap_MatchesNaiveNewton_AndTheScoreEquations(double offset, double spread)
    {
        var rng = new Random(11);
        int n = 300;
        var x = new double[n];
        var y = new int[n];
        for (int i = 0; i < n; i++)
        {
            y[i] = rng.NextDouble() < 0.45 ? 1 : 0;
            x[i] = offset + spread * ((rng.NextDouble() * 2 - 1) + (y[i] == 1 ? 0.5 : 0));
        }
        var (w, b, kind) = UnpenalisedLogistic.Fit(x, y);
        Assert.That(kind, Is.EqualTo(OneDimensionalFit.MaximumLikelihood));
        var (wRef, bRef) = NaiveNewton(x, y);
        Assert.That(w, Is.EqualTo(wRef).Within(1e-8 * Math.Abs(wRef)));
        Assert.That(b, Is.EqualTo(bRef).Within(1e-8 * Math.Max(1, Math.Abs(bRef))));
        // The MLE's score equations: Σ(p − y) = 0 and Σ(p − y)(x − offset)/spread = 0.
        double g0 = 0, g1 = 0;
        for (int i = 0; i < n; i++)
        {
            double r = 1 / (1 + Math.Exp(-(w * x[i] + b))) - y[i];
            g0 += r;
            g1 += r * (x[i] - offset) / spread;
        }
        Assert.That(Math.Abs(g0), Is.LessThan(1e-9 * n));
        Assert.That(Math.Abs(g1), Is.LessThan(1e-9 * n));
    }

    /// <summary>Plain Newton–Raphson on the log-likelihood in (w, b), from zero, in double, no damping, no rescaling.</summary>
    static (double W, double B) NaiveNewton(double[] x, int[] y)
    {
        // Newton is affine invariant; the reference works on u = (x − x̄)/s and maps back, so it stays well conditioned.
        double mean = x.Average(), s = Math.Sqrt(x.Average(v => (v - mean) * (v - mean)));
        double a = 0, c = 0;
        for (int it = 0; it < 100; it++)
        {
            double ga = 0, gc = 0, haa = 0, hac = 0, hcc = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double u = (x[i] - mean) / s, p = 1 / (1 + Math.Exp(-(a * u + c)));
                ga += (p - y[i]) * u; gc += p - y[i];
                double h = p * (1 - p);
                haa += h * u * u; hac += h * u; hcc += h;
            }
            double det = haa * hcc - hac * hac;
            a -= (hcc * ga - hac * gc) / det;
            c -= (haa * gc - hac * ga) / det;
        }
        return (a / s, c - a * mean / s);
    }

    [Test]
    public void UnpenalisedFit_SeparatedProjections_ThresholdAtTheGapsMidpoint()
    {
        // false at 1, 2, 3; true at 7, 9: no MLE; the limit's threshold is (3 + 7)/2 = 5, w = 2/gap = 0.5.
        var (w, b, kind) = UnpenalisedLogistic.Fit([1, 2, 3, 7, 9], [0, 0, 0, 1, 1]);
        Assert.That(kind, Is.EqualTo(OneDimensionalFit.Separated));
        Assert.That((w, -b / w), Is.EqualTo((0.5, 5.0)));
        // Reversed orientation: true below false.
        var (w2, b2, _) = UnpenalisedLogistic.Fit([1, 2, 3, 7, 9], [1, 1, 1, 0, 0]);
        Assert.That((w2, -b2 / w2), Is.EqualTo((-0.5, 5.0)));
        // Constant projections: w = 0, b = log(2/3).
        var (w3, b3, k3) = UnpenalisedLogistic.Fit([4, 4, 4, 4, 4], [1, 1, 0, 0, 0]);
        Assert.That((w3, k3), Is.EqualTo((0.0, OneDimensionalFit.Constant)));
        Assert.That(b3, Is.EqualTo(Math.Log(2.0 / 3)).Within(1e-15));
        Assert.That(() => UnpenalisedLogistic.Fit([1, 2], [1, 1]), Throws.TypeOf<InvalidArgumentException>());
    }

    [Test]
    public void MassMeanProbe_PaperProtocol_FitsTheRawProjectionsUnpenalised()
    {
        var rng = new Random(3);
        var rows = Enumerable.Range(0, 120).Select(i =>
        {
            int label = i % 3 == 0 ? 1 : 0;
            return (new[] { 40 + rng.NextDouble() * 2 - 1 + (label == 1 ? 0.3 : 0), rng.NextDouble() * 2 - 1 }, label);
        }).ToArray();
        var s = Set(2, rows);
        var p = MassMeanProbe.Fit(s, AnalysisProtocol.Paper);
        var t = TruthDirection.MeanDifference(s);
        Assert.That(p.Direction, Is.EqualTo(t).Within(1e-12));
        var proj = Enumerable.Range(0, s.Count).Select(i => (double)s.Row(i)[0] * t[0] + (double)s.Row(i)[1] * t[1]).ToArray();
        var (wRef, bRef) = NaiveNewton(proj, s.Labels);
        Assert.That(p.Scale, Is.EqualTo(wRef).Within(1e-8 * Math.Abs(wRef)));
        Assert.That(p.Bias, Is.EqualTo(bRef).Within(1e-8 * Math.Abs(bRef)));
    }

    [Test]
    public void TrainTestFolds_PaperSplit_PoolsTheTrainingDatasets_TestsEachOtherWhole()
    {
        var a = Set(1, ([1], 1), ([-1], 0));
        var b = Set(1, ([2], 1), ([-2], 0), ([3], 1));
        var c = Set(1, ([5], 1), ([-5], 0));
        var folds = ProbeEvaluation.TrainTestFolds([("a", a), ("b", b), ("c", c)], ["c", "a"]);
        Assert.That(folds.Select(f => f.Dataset), Is.EqualTo(new[] { "b" }));
        // Pooled in the training list's order: c's rows, then a's.
        Assert.That(folds[0].Train.Data, Is.EqualTo(new[] { 5f, -5, 1, -1 }));
        Assert.That(folds[0].Test, Is.SameAs(b));
        Assert.That(() => ProbeEvaluation.TrainTestFolds([("a", a)], ["a"]), Throws.TypeOf<InvalidArgumentException>().With.Message.Contains("cities"));
        Assert.That(() => ProbeEvaluation.TrainTestFolds([("a", a), ("b", b)], ["z"]),
            Throws.TypeOf<InvalidArgumentException>().With.Property("Value").EqualTo("z"));
    }

    [Test]
    public void Transfer_ReportsAllFourAccuracies_OfProbeTransferPy()
    {
        // Base: truth along +x; post: along −x (flipped). Train a, test b.
        var baseTrain = Set(1, ([1], 1), ([-1], 0), ([2], 1), ([-2], 0));
        var postTrain = Set(1, ([-1], 1), ([1], 0), ([-2], 1), ([2], 0));
        var baseTest = Set(1, ([3], 1), ([-3], 0));
        var postTest = Set(1, ([-3], 1), ([3], 0));
        var rows = ProbeEvaluation.Transfer("post", [new ProbeFold("b", baseTrain, baseTest)], [new ProbeFold("b", postTrain, postTest)], AnalysisProtocol.Paper);
        Assert.That((rows[0].BaseOnBase, rows[0].Own, rows[0].BaseProbe, rows[0].OwnOnBase), Is.EqualTo((1.0, 1.0, 0.0, 0.0)));
    }

    // config.ini at the paper repository's HEAD (Knowledge+Truthfulness/config.ini), keyed by PaperModels.Identify's keys.
    [TestCase("llama-3.1-8b", 12, 8)]            // [llama-3.1-8b] lines 22-26
    [TestCase("llama-3.1-8b-instruct", 12, 8)]   // lines 30-34
    [TestCase("llama-3.1-8b-sft", 12, 8)]        // [llama-tulu3-8b-sft] lines 72-76
    [TestCase("mistral-7B", 13, 8)]              // lines 37-42
    [TestCase("mistral-7B-SFT", 13, 8)]          // [mistral-7B-sft] lines 46-51
    [TestCase("mistral-7B-instruct", 13, 8)]     // lines 63-68
    [TestCase("llama-2-13b", 14, 8)]             // lines 6-10
    [TestCase("llama-2-13b-instruct", 14, 8)]    // lines 13-17
    public void Settings_PaperModels_AreConfigIniRows(string key, int probe, int intervene)
    {
        var family = key.StartsWith("llama-3", StringComparison.Ordinal) ? PaperFamily.Llama3 : key.StartsWith("mistral", StringComparison.Ordinal) ? PaperFamily.Mistral : PaperFamily.Llama2;
        var layers = TruthPaperSettings.For(new PaperModel(key, family, PostTraining.Base, family == PaperFamily.Llama2 ? 40 : 32, true));
        Assert.That((layers.ProbeLayer, layers.FirstInterventionLayer, layers.FromTable), Is.EqualTo((probe, intervene, true)));
        // range(start_layer, end_layer + 1): both ends included (interventions.py:152-159).
        Assert.That(layers.InterventionLayers, Is.EqualTo(Enumerable.Range(intervene, probe - intervene + 1)));
    }

    [Test]
    public void Settings_EveryFamilySharesOneRow_SoTheBasesRowIsThePostModelsRow()
    {
        var byFamily = TruthPaperSettings.Table.GroupBy(kv => kv.Key.Split('-')[0] + kv.Key.Split('-')[1]);
        foreach (var g in byFamily) Assert.That(g.Select(kv => kv.Value).Distinct().Count(), Is.EqualTo(1), g.Key);
        Assert.That(TruthPaperSettings.Table, Has.Count.EqualTo(8));
    }

    [TestCase(32, 12, 8)]    // the main model's depth: the main model's layers
    [TestCase(16, 6, 4)]     // 12·16/32 = 6, 8·16/32 = 4
    [TestCase(40, 15, 10)]   // 12·40/32 = 15, 8·40/32 = 10
    [TestCase(4, 2, 1)]      // 1.5 → 2 (half away from zero), 1
    [TestCase(2, 1, 1)]      // 0.75 → 1, 0.5 → 1
    [TestCase(1, 0, 0)]      // clamped to the one layer
    public void Settings_UnknownModel_MainModelsLayersAtTheSameRelativeDepth(int numLayers, int probe, int intervene)
    {
        var model = new PaperModel($"Qwen2ForCausalLM, {numLayers} layers", PaperFamily.Other, PostTraining.Base, numLayers, false);
        var layers = TruthPaperSettings.For(model);
        Assert.That((layers.ProbeLayer, layers.FirstInterventionLayer, layers.FromTable), Is.EqualTo((probe, intervene, false)));
    }

    [Test]
    public void Settings_PaperDatasetsAndConstants()
    {
        Assert.That(TruthPaperSettings.TrainingDatasets, Is.EqualTo(new[] { "sp_en_trans", "animal_class", "inventors", "element_symb", "facts" }));
        Assert.That((TruthPaperSettings.InterventionDataset, TruthPaperSettings.Seed, TruthPaperSettings.InterventionCoefficient), Is.EqualTo(("cities", 1, 1.0)));
    }
}

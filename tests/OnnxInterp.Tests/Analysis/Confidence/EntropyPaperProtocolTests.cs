using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Confidence;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>
/// The paper's entropy-neuron protocol (HZD01/post-training-mechanistic-analysis, Confidence/IoU.py) against a naive
/// double-precision transcription of IoU.py written here, and the Table 14 aggregation against hand computations.
/// </summary>
public class EntropyPaperProtocolTests
{
    static readonly EntropyNeuronOptions Paper = new() { Percentile = 75, Top = 5, Ratio = EntropyRatio.NormOverLogitVar };

    static float[] Random(int n, Random rng, double scale = 1, double offset = 0) =>
        Enumerable.Range(0, n).Select(_ => (float)(offset + scale * (rng.NextDouble() * 2 - 1))).ToArray();

    /// <summary>Small random last-layer weights with norms spread wide (so the 75th percentile separates them) and an offset head (so centring matters).</summary>
    static LastLayerWeights Weights(int seed, int neurons = 40, int hidden = 8, int vocab = 23)
    {
        var rng = new Random(seed);
        var wOut = Random(neurons * hidden, rng);
        for (int i = 0; i < neurons; i++)
        {
            float s = (float)(0.2 + 3 * rng.NextDouble());
            for (int j = 0; j < hidden; j++) wOut[i * hidden + j] *= s;
        }
        return new LastLayerWeights("random", 1, neurons, hidden, vocab, wOut, Random(hidden, rng, 0.5, 1), Random(vocab * hidden, rng, 2, 0.3), false, 1e-5);
    }

    /// <summary>
    /// IoU.py's process_model and filter_neurons written out in double, one step per line of the script:
    /// norm = ‖W_out[-1] row‖ (IoU.py:116); W_U processed as TransformerLens' from_pretrained does (ln_final.w folded in,
    /// centred over the vocabulary); cos_var = unbiased var over the vocabulary of cos(w_out, W_U[:, v]) (IoU.py:124-125);
    /// threshold = pandas quantile(1 − 0.25) with linear interpolation, candidates strictly above (IoU.py:71-72);
    /// nsmallest(top, cos_var), keep="first" (IoU.py:79); ratio = norm / max(1e-10, cos_var) (the authors' results).
    /// </summary>
    static (int Index, double Norm, double Var, double Ratio)[] NaivePaper(LastLayerWeights w, double topFraction, int top)
    {
        int d = w.Hidden, n = w.Neurons, v = w.Vocab;
        var u = new double[d, v];  // TransformerLens' W_U: [d_model, d_vocab]
        for (int t = 0; t < v; t++) for (int j = 0; j < d; j++) u[j, t] = (double)w.Unembed[t * d + j] * w.FinalNorm[j];
        for (int j = 0; j < d; j++)
        {
            double m = 0;
            for (int t = 0; t < v; t++) m += u[j, t];
            for (int t = 0; t < v; t++) u[j, t] -= m / v;
        }
        var colNorm = new double[v];
        for (int t = 0; t < v; t++) { double s = 0; for (int j = 0; j < d; j++) s += u[j, t] * u[j, t]; colNorm[t] = Math.Sqrt(s); }
        var norm = new double[n];
        var cosVar = new double[n];
        for (int i = 0; i < n; i++)
        {
            double s = 0;
            for (int j = 0; j < d; j++) s += (double)w.WOut[i * d + j] * w.WOut[i * d + j];
            norm[i] = Math.Sqrt(s);
            var cos = new double[v];
            for (int t = 0; t < v; t++)
            {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += w.WOut[i * d + j] / norm[i] * u[j, t];
                cos[t] = dot / colNorm[t];
            }
            double mean = cos.Sum() / v, ss = 0;
            foreach (var c in cos) ss += (c - mean) * (c - mean);
            cosVar[i] = ss / (v - 1);
        }
        var sorted = norm.Order().ToArray();
        double pos = (n - 1) * (1 - topFraction);
        int lo = (int)Math.Floor(pos);
        double threshold = sorted[lo] + (sorted[Math.Min(lo + 1, n - 1)] - sorted[lo]) * (pos - lo);
        return Enumerable.Range(0, n).Where(i => norm[i] > threshold).OrderBy(i => cosVar[i]).ThenBy(i => i).Take(top)
            .Select(i => (i, norm[i], cosVar[i], norm[i] / Math.Max(1e-10, cosVar[i]))).ToArray();
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    public void Find_PaperRatio_SmallRandomWeights_MatchesNaiveDoubleTranscriptionOfIoUPy(int seed)
    {
        var w = Weights(seed);
        var expected = NaivePaper(w, 0.25, 5);
        var set = EntropyNeurons.Find("m", w, Paper);

        Assert.That(set.RatioKind, Is.EqualTo(EntropyRatio.NormOverLogitVar));
        Assert.That(set.Candidates, Is.EqualTo(10), "40 neurons: strictly above the 75th percentile leaves 10");
        Assert.That(set.Indices, Is.EqualTo(expected.Select(e => e.Index).ToArray()));
        for (int k = 0; k < expected.Length; k++)
        {
            var (got, want) = (set.Neurons[k], expected[k]);
            // fp32 kernels against a double reference: 1e-5 relative covers the float rounding of dot products over 8-23 terms.
            Assert.That(got.Norm, Is.EqualTo(want.Norm).Within(1e-5 * want.Norm), $"norm of {want.Index}");
            Assert.That(got.LogitVar, Is.EqualTo(want.Var).Within(1e-5 * want.Var), $"LogitVar of {want.Index}");
            Assert.That(got.Ratio, Is.EqualTo(want.Ratio).Within(2e-5 * want.Ratio), $"ratio of {want.Index}");
            Assert.That(got.Ratio, Is.Positive, "norm / LogitVar is positive, as the authors' results are");
        }
    }

    [Test]
    public void Find_DefaultRatio_SameNeurons_RatioIsNormOverLnLogitVar()
    {
        var w = Weights(4);
        var paper = EntropyNeurons.Find("m", w, Paper);
        var logRatio = EntropyNeurons.Find("m", w, Paper with { Ratio = EntropyRatio.NormOverLogLogitVar });
        Assert.That(logRatio.Indices, Is.EqualTo(paper.Indices), "the ratio does not take part in the selection");
        foreach (var n in logRatio.Neurons)
            Assert.That(n.Ratio, Is.EqualTo(n.Norm / Math.Log(n.LogitVar)).Within(1e-12 * Math.Abs(n.Ratio)).And.Negative);
    }

    [TestCase(2.0, 1e-4, 20000.0)]
    [TestCase(1.0, 0.0, 1e10)]  // floored at 1e-10, as IoU.py:137 floors before its logarithm
    [TestCase(3.0, 0.5, 6.0)]
    public void Ratio_NormOverLogitVar_ByHand(double norm, double logitVar, double expected) =>
        Assert.That(EntropyNeurons.Ratio(norm, logitVar, EntropyRatio.NormOverLogitVar), Is.EqualTo(expected).Within(1e-12 * expected));

    [Test]
    public void Of_HandExample_SharedIouRatioDifference()
    {
        var a = new Dictionary<int, double> { [1] = 100, [2] = 50, [3] = 10 };
        var b = new Dictionary<int, double> { [2] = 70, [3] = 10, [4] = 1 };
        var o = EntropyNeuronOverlap.Of("a", "b", a, b);
        Assert.That(o.Shared, Is.EqualTo(new[] { 2, 3 }));
        Assert.That(o.Iou, Is.EqualTo(0.5), "2 shared of 4 in the union");
        Assert.That(o.MeanAbsRatioDiff, Is.EqualTo(10.0).Within(1e-12), "(|50 − 70| + |10 − 10|) / 2");
        Assert.That(o.MeanAbsRatio, Is.EqualTo(241.0 / 6).Within(1e-12), "(100 + 50 + 10 + 70 + 10 + 1) / 6");
        Assert.That((o.MeanAbsRatioA, o.MeanAbsRatioB), Is.EqualTo((160.0 / 3, 27.0)).Within(1e-12));
    }

    [Test]
    public void AuthorsResults_Llama31_AggregateAsComputedByHand()
    {
        var p = PaperEntropyResults.Find("llama-3.1-8b", "llama-3.1-8b-instruct")!;
        Assert.That((p.A, p.B), Is.EqualTo(("llama-3.1-8b", "llama-3.1-8b-instruct")), "the pair the file records");
        Assert.That(p.Ratio, Is.EqualTo(EntropyRatio.NormOverLogitVar));
        var o = p.Overlap;
        Assert.That(o.Shared, Is.EqualTo(new[] { 207, 993, 1852, 2287, 8677, 10510, 11184, 12111 }));
        Assert.That(o.Iou, Is.EqualTo(p.Iou).Within(1e-15), "8 shared of 12: the IoU the file records (neuron_analysis_results.json:17)");
        // |instruct − base| of each shared neuron, from the file's lines 20-41, subtracted by hand:
        // 12111: 10370.38012958894 − 10186.10907361756 = 184.27105597138
        //   993:  7037.433504291961 − 7006.727179301661 =  30.70632499030
        //   207:  7021.042764162901 − 6500.16858455736  = 520.87417960554
        //  2287:  5591.482449186238 − 5579.173104284134 =  12.30934490210
        //  8677:  5548.499989858751 − 5447.333796429395 = 101.16619342936
        // 10510:  5682.164829731264 − 5488.169905517047 = 193.99492421422
        //  1852:  5624.122810660656 − 5596.088404963324 =  28.03440569733
        // 11184:  5109.661675614204 − 5098.5863306353785 = 11.07534497883
        // sum 1082.43177378906, / 8 = 135.30397172363
        Assert.That(o.MeanAbsRatioDiff, Is.EqualTo(135.30397172363).Within(1e-9));
        // all 20 ratios: base sum 61455.60673311671, instruct sum 62772.96754520457; / 20
        Assert.That(o.MeanAbsRatio, Is.EqualTo((61455.60673311671 + 62772.96754520457) / 20).Within(1e-9));

        var reversed = PaperEntropyResults.Find("llama-3.1-8b-instruct", "llama-3.1-8b")!;
        Assert.That((reversed.A, reversed.RatiosA[5463]), Is.EqualTo(("llama-3.1-8b-instruct", 5769.427472126558)));
        Assert.That(PaperEntropyResults.Find("mistral-7B", "mistral-7B-instruct"), Is.Null, "no numbers of theirs for Mistral were found");
        Assert.That(PaperEntropyResults.Neurons("llama-3.1-8b")!.Keys.ToArray(), Has.Member(12664).And.Length.EqualTo(10));
        Assert.That(PaperEntropyResults.Neurons("llama-2-13b"), Is.Null);
    }

    static ConfidenceModel Model(string name, int seed, PaperModel? paper = null) => new(name, Weights(seed)) { Paper = paper };

    [Test]
    public void Run_PaperProtocol_ComparesTheBaseWithEachPostTrainedModel_DefaultEveryPair()
    {
        var models = new[] { Model("base", 1), Model("sft", 2), Model("instruct", 3) };
        var paper = ConfidenceAnalysis.Run(models, options: new ConfidenceOptions { Protocol = AnalysisProtocol.Paper, Selection = Paper });
        Assert.That(paper.Overlaps.Select(o => (o.A, o.B)), Is.EqualTo(new[] { ("base", "sft"), ("base", "instruct") }));
        Assert.That(paper.Models.All(m => m.RatioKind == EntropyRatio.NormOverLogitVar));
        var all = ConfidenceAnalysis.Run(models, options: new ConfidenceOptions { Selection = Paper });
        Assert.That(all.Overlaps.Select(o => (o.A, o.B)), Is.EqualTo(new[] { ("base", "sft"), ("base", "instruct"), ("sft", "instruct") }));
        // The same neurons either way: the protocol chooses the pairs, not the neurons.
        Assert.That(all.Overlaps[1].Shared, Is.EqualTo(paper.Overlaps[1].Shared));
    }

    [Test]
    public void Run_ThePapersModels_CarryTheAuthorsNumbers_OthersNone()
    {
        var llama = new PaperModel("llama-3.1-8b", PaperFamily.Llama3, PostTraining.Base, 32, true);
        var instruct = llama with { Key = "llama-3.1-8b-instruct", Role = PostTraining.Instruct };
        var r = ConfidenceAnalysis.Run([Model("base", 1, llama), Model("instruct", 2, instruct), Model("other", 3)],
            options: new ConfidenceOptions { Protocol = AnalysisProtocol.Paper, Selection = Paper });
        Assert.That(r.Models[0].Paper, Is.EqualTo(llama));
        Assert.That(r.Overlaps[0].Published, Is.SameAs(PaperEntropyResults.Pairs[0]));
        Assert.That(r.Overlaps[1].Published, Is.Null, "a model outside the paper's tables has no numbers of theirs");
    }
}

using MathNet.Numerics.LinearAlgebra;
using OnnxInterp.Analysis.Diff;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Diff;

/// <summary>
/// The diff on a tiny pair (a random base; the post model = base + 0.3 × other random weights) through ONNX Runtime, in
/// left-padded batches, against a naive reference: each prompt run alone through the double-precision reference
/// transformer, every quantity recomputed from its logits and residual streams in double.
/// </summary>
public class DiffAnalysisTests
{
    TempDir _tmp = null!;
    TinyCheckpoint _base = null!, _post = null!;
    ModelSession _baseModel = null!, _postModel = null!;
    DiffResult _result = null!;
    static readonly TinyCheckpointSpec Spec = new() { VocabSize = 258, NumLayers = 3, Seed = 11 };
    static readonly DiffOptions Options = new()
    {
        BatchSize = 2, TopTokens = 5, Directions = 2, DirectionLayer = 1, Steering = new SteeringOptions { Prompts = 2, MaxNewTokens = 4, Scale = 3 },
    };
    static readonly IReadOnlyList<CorpusText> Corpus =
    [
        new("harmful", "Tell me a secret.", true), new("harmless", "Name a bird.", true), new("text", "The quick brown fox jumps.", false),
        new("text", "Hi", false), new("judging", "Paris is in France. This statement is:", false),
    ];

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _base = TinyCheckpointFactory.Create(Spec);
        var other = TinyCheckpointFactory.Create(Spec with { Seed = 12 });
        _post = _base with { Weights = _base.Weights.ToDictionary(kv => kv.Key, kv => kv.Value.Select((x, i) => x + 0.3f * other.Weights[kv.Key][i]).ToArray()) };
        // The byte-level tokenizer of `onnxinterp sample` (258 ids), copied into both checkpoints.
        RandomCheckpoint.Write(_tmp.Sub("tok"), new RandomCheckpointSpec { Layers = 1 });
        foreach (var (name, ckpt) in new[] { ("base", _base), ("post", _post) })
        {
            TestCheckpoints.Write(ckpt, _tmp.Sub(name + "-hf"));
            foreach (var f in new[] { "tokenizer.json", "tokenizer_config.json" }) File.Copy(Path.Combine(_tmp.Sub("tok"), f), Path.Combine(_tmp.Sub(name + "-hf"), f));
            ModelExporter.Export(_tmp.Sub(name + "-hf"), _tmp.Sub(name), new ExportOptions { HashSource = false });
        }
        _baseModel = ModelSession.Open(_tmp.Sub("base"));
        _postModel = ModelSession.Open(_tmp.Sub("post"));
        _result = DiffAnalysis.Run(new DiffModel("base", _baseModel), [new DiffModel("post", _postModel)], Corpus, Options);
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _baseModel?.Dispose();
        _postModel?.Dispose();
        _tmp.Dispose();
    }

    sealed record Ref(double[][] Logits, double[][][] Resid);

    static Ref Forward(TinyCheckpoint c, int[] ids)
    {
        var o = ReferenceTestUtil.Run(ReferenceTestUtil.Model(c), ids);
        return new Ref(o.Logits[0], Enumerable.Range(0, c.Config.NumLayers).Select(l => o.Hooks[$"blocks.{l}.hook_resid_post"][0]).ToArray());
    }

    static double[] Head(TinyCheckpoint c, double[] h) =>
        ReferenceTestUtil.MatVec(c.Weights["lm_head.weight"], ReferenceTransformer.RmsNorm(h, c.Weights["model.norm.weight"].Select(x => (double)x).ToArray(), c.Config.RmsNormEps), c.Config.VocabSize);

    static double[] LogSoftmax(double[] x)
    {
        double max = x.Max(), z = x.Sum(v => Math.Exp(v - max));
        return x.Select(v => v - max - Math.Log(z)).ToArray();
    }

    static double Kl(double[] p, double[] q)
    {
        var (lp, lq) = (LogSoftmax(p), LogSoftmax(q));
        return lp.Select((a, i) => Math.Exp(a) * (a - lq[i])).Sum();
    }

    static int Top(double[] x) => Array.IndexOf(x, x.Max());

    /// <summary>Whether the top token is clear of the second by more than fp32 noise (else top-1 comparisons are skipped).</summary>
    static bool Clear(double[] x) => x.Order().TakeLast(2).Aggregate((a, b) => b - a) > 1e-4;

    static void Near(double actual, double expected, double rel, string what) =>
        Assert.That(actual, Is.EqualTo(expected).Within(1e-5 + rel * Math.Abs(expected)), what);

    [Test]
    public void Run_LeftPaddedBatches_EveryTokenAndLayerMatchTheOnePromptAtATimeReference()
    {
        var p = _result.Pairs.Single();
        int layers = Spec.NumLayers;
        Assert.That(p.Tokens, Has.Count.EqualTo(p.Prompts.Sum(x => x.Length)));
        var perLayer = Enumerable.Range(0, layers).Select(_ => new List<(double Diff, double Base, double Rel, double Cos, bool Template)>()).ToArray();
        var lens = Enumerable.Range(0, layers).Select(_ => new List<(double KlB, double KlP, double Cross, int RankB, int RankP, bool AgreeB, bool AgreeP, bool Agree, double PbOwn, double PbHead, double BpOwn, double BpHead)>()).ToArray();
        int checkedTop = 0;
        foreach (var prompt in p.Prompts)
        {
            var (rb, rp) = (Forward(_base, prompt.Ids), Forward(_post, prompt.Ids));
            var grid = p.Grids[prompt.Index];
            var tokens = p.Tokens.Where(t => t.Prompt == prompt.Index).ToList();
            for (int t = 0; t < prompt.Length; t++)
            {
                var tok = tokens[t];
                string at = $"prompt {prompt.Index} token {t}";
                Assert.That((tok.Position, tok.Token, tok.Class, tok.Last), Is.EqualTo((t, prompt.Ids[t], prompt.Classes[t], t == prompt.Length - 1)), at);
                Near(tok.Kl, Kl(rp.Logits[t], rb.Logits[t]), 1e-3, at + " KL(post ‖ base)");
                if (t + 1 < prompt.Length)
                    Near(tok.NextTokenGain, LogSoftmax(rp.Logits[t])[prompt.Ids[t + 1]] - LogSoftmax(rb.Logits[t])[prompt.Ids[t + 1]], 1e-4, at + " next-token gain");
                else Assert.That(tok.NextTokenGain, Is.NaN);
                bool clear = Clear(rb.Logits[t]) && Clear(rp.Logits[t]);
                if (clear)
                {
                    Assert.That((tok.BaseTop1, tok.PostTop1), Is.EqualTo((Top(rb.Logits[t]), Top(rp.Logits[t]))), at);
                    checkedTop++;
                }
                var topB = new int[layers];
                var topP = new int[layers];
                for (int l = 0; l < layers; l++)
                {
                    var (hb, hp) = (rb.Resid[l][t], rp.Resid[l][t]);
                    var diff = hp.Select((x, i) => x - hb[i]).ToArray();
                    double dn = Math.Sqrt(ReferenceTestUtil.Dot(diff, diff)), bn = Math.Sqrt(ReferenceTestUtil.Dot(hb, hb));
                    Near(grid.Relative[l, t], dn / bn, 1e-4, at + $" layer {l} relative difference");
                    if (t > 0) perLayer[l].Add((dn, bn, dn / bn, ReferenceTestUtil.Dot(hb, hp) / bn / Math.Sqrt(ReferenceTestUtil.Dot(hp, hp)), prompt.Classes[t] == TokenClass.Template));
                    // The lens: each model's head on its own residual stream (at the last layer, the output itself), and across.
                    var (lb, lp) = l == layers - 1 ? (rb.Logits[t], rp.Logits[t]) : (Head(_base, hb), Head(_post, hp));
                    var (xpb, xbp) = (Head(_base, hp), Head(_post, hb));
                    (topB[l], topP[l]) = (Top(lb), Top(lp));
                    int bt = Top(rb.Logits[t]), pt = Top(rp.Logits[t]);
                    lens[l].Add((Kl(rb.Logits[t], lb), Kl(rp.Logits[t], lp), Kl(lp, lb), lb.Count(x => x > lb[bt]), lp.Count(x => x > lp[pt]), topB[l] == bt, topP[l] == pt,
                        topB[l] == topP[l], Kl(rp.Logits[t], xpb), Kl(rb.Logits[t], xpb), Kl(rb.Logits[t], xbp), Kl(rp.Logits[t], xbp)));
                    Near(grid.BaseLensKl![l, t], lens[l][^1].KlB, 1e-3, at + $" layer {l} base lens KL");
                    Near(grid.PostLensKl![l, t], lens[l][^1].KlP, 1e-3, at + $" layer {l} post lens KL");
                    Near(grid.LensKl![l, t], lens[l][^1].Cross, 1e-3, at + $" layer {l} KL(post lens ‖ base lens)");
                    if (Clear(lb) && Clear(lp)) Assert.That((grid.BaseTop![l, t], grid.PostTop![l, t]), Is.EqualTo((topB[l], topP[l])), at + $" layer {l} lens top-1");
                }
                if (clear && Enumerable.Range(0, layers).All(l => grid.BaseTop![l, t] == topB[l] && grid.PostTop![l, t] == topP[l]))
                {
                    int First(Func<int, bool> holds) { int f = -1; for (int l = layers - 1; l >= 0 && holds(l); l--) f = l; return f; }
                    Assert.That(tok.BaseForms, Is.EqualTo(First(l => topB[l] == tok.BaseTop1)), at);
                    Assert.That(tok.PostForms, Is.EqualTo(First(l => topP[l] == tok.PostTop1)), at);
                    Assert.That(tok.Split, Is.EqualTo(tok.Disagree ? First(l => topB[l] != topP[l]) : -1), at);
                }
            }
        }
        Assert.That(checkedTop, Is.GreaterThan(p.Tokens.Count * 9 / 10), "most top-1s are clear of fp32 noise");

        for (int l = 0; l < layers; l++)
        {
            var layer = p.Layers[l];
            var a = perLayer[l];
            string at = $"layer {l}";
            Near(layer.DiffNorm, a.Average(x => x.Diff), 1e-4, at);
            Near(layer.BaseNorm, a.Average(x => x.Base), 1e-4, at);
            Near(layer.Relative, a.Average(x => x.Rel), 1e-4, at);
            Near(layer.Cosine, a.Average(x => x.Cos), 1e-4, at);
            Near(layer.RelativeTemplate!.Value, a.Where(x => x.Template).Average(x => x.Rel), 1e-4, at);
            Near(layer.RelativeContent!.Value, a.Where(x => !x.Template).Average(x => x.Rel), 1e-4, at);
            var s = lens[l];
            Near(layer.BaseLens!.KlToOutput, s.Average(x => x.KlB), 1e-3, at);
            Near(layer.PostLens!.KlToOutput, s.Average(x => x.KlP), 1e-3, at);
            Near(layer.LensKl!.Value, s.Average(x => x.Cross), 1e-3, at);
            Assert.That(layer.BaseLens.MedianRank, Is.EqualTo(Median(s.Select(x => x.RankB))).Within(1.0), at);
            Assert.That(layer.PostLens.MedianRank, Is.EqualTo(Median(s.Select(x => x.RankP))).Within(1.0), at);
            Assert.That(layer.BaseLens.Top1Agreement, Is.EqualTo(s.Average(x => x.AgreeB ? 1.0 : 0)).Within(0.03), at);
            Assert.That(layer.LensAgreement!.Value, Is.EqualTo(s.Average(x => x.Agree ? 1.0 : 0)).Within(0.03), at);
            Near(layer.PostThroughBaseHead!.KlToOwn, s.Average(x => x.PbOwn), 1e-3, at);
            Near(layer.PostThroughBaseHead.KlToHead, s.Average(x => x.PbHead), 1e-3, at);
            Near(layer.BaseThroughPostHead!.KlToOwn, s.Average(x => x.BpOwn), 1e-3, at);
            Near(layer.BaseThroughPostHead.KlToHead, s.Average(x => x.BpHead), 1e-3, at);
        }
        Assert.That(p.Layers[^1].BaseLens!.KlToOutput, Is.Zero, "the last layer's lens is the output");

        var all = p.Totals.Single(t => t.Source == "all" && t.TokenClass == "all");
        Near(all.MeanKl, p.Tokens.Average(t => (double)t.Kl), 1e-9, "totals");
        Assert.That(p.Totals.Where(t => t.Source == "all" && t.TokenClass is "template" or "content").Sum(t => t.KlShare), Is.EqualTo(1).Within(1e-9));
        Assert.That(p.Totals.Select(t => t.Source).Distinct(), Is.EqualTo(new[] { "all", "harmful", "harmless", "text", "judging" }));
    }

    static double Median(IEnumerable<int> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2.0;
    }

    [Test]
    public void Directions_AreTheTopSingularVectorsOfTheReferenceDifferences_AndSteeringAddsThemAtTheLayer()
    {
        var p = _result.Pairs.Single();
        int layer = Options.DirectionLayer!.Value;
        var rows = new List<double[]>();
        foreach (var prompt in p.Prompts)
        {
            var (rb, rp) = (Forward(_base, prompt.Ids), Forward(_post, prompt.Ids));
            for (int t = 1; t < prompt.Length; t++) rows.Add(rp.Resid[layer][t].Select((x, i) => x - rb.Resid[layer][t][i]).ToArray());
        }
        var svd = Matrix<double>.Build.DenseOfRowArrays(rows).Svd(computeVectors: true);
        var mean = Enumerable.Range(0, Spec.HiddenSize).Select(i => rows.Average(r => r[i])).ToArray();
        Assert.That(p.DirectionLayer, Is.EqualTo(layer));
        Assert.That(p.Directions, Has.Count.EqualTo(2));
        for (int k = 0; k < 2; k++)
        {
            var v = p.Directions[k].Vector;
            double cos = Enumerable.Range(0, v.Length).Sum(i => v[i] * svd.VT[k, i]);
            Assert.That(Math.Abs(cos), Is.GreaterThan(0.999), $"direction {k + 1}");
            Assert.That(Enumerable.Range(0, v.Length).Sum(i => v[i] * mean[i]), Is.GreaterThan(0), "oriented toward the post-trained model");
            Assert.That(p.Directions[k].Share, Is.EqualTo(svd.S[k] * svd.S[k] / rows.Sum(r => ReferenceTestUtil.Dot(r, r))).Within(1e-3));
            // Its lens: the base's head on the direction, ranked.
            var logits = Head(_base, v.Select(x => (double)x).ToArray());
            var order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ToList();
            Assert.That(p.Directions[k].Promoted[0], Is.EqualTo(_result.TokenText(order[0])));
            Assert.That(p.Directions[k].Suppressed[0], Is.EqualTo(_result.TokenText(order[^1])));
        }
        Assert.That(p.SteeringNorm, Is.EqualTo(Options.Steering.Scale * rows.Average(r => Math.Sqrt(ReferenceTestUtil.Dot(r, r)))).Within(1e-4 * p.SteeringNorm));

        // Steering: the first prompt of each source in turn (harmful, then harmless), greedy, the vector added at every position.
        Assert.That(p.Steering.Select(s => s.Source), Is.EqualTo(new[] { "harmful", "harmless" }));
        var template = _postModel.ChatTemplate;
        string Greedy(TinyCheckpoint c, int[] prompt, double[]? add)
        {
            var ids = prompt.ToList();
            var model = ReferenceTestUtil.Model(c);
            var generated = new List<int>();
            for (int step = 0; step < Options.Steering.MaxNewTokens; step++)
            {
                var edits = add is null ? null : Enumerable.Range(0, ids.Count).Select(t => new ReferenceIntervention($"blocks.{layer}.hook_resid_post", 0, t, Add: add)).ToList();
                var logits = model.Forward([ids.ToArray()], [ReferenceTestUtil.Ones(ids.Count)], [ReferenceTestUtil.Range(0, ids.Count)], edits).Logits[0][^1];
                int next = Top(logits);
                if (next == RandomCheckpoint.Eos) break;
                generated.Add(next);
                ids.Add(next);
            }
            var text = _baseModel.Tokenizer.Decode(generated, skipSpecialTokens: true);
            foreach (var stop in template.StopStrings) if (text.IndexOf(stop, StringComparison.Ordinal) is >= 0 and var i) text = text[..i];
            return text;
        }
        var chosen = new[] { p.Prompts.First(x => x.Source == "harmful"), p.Prompts.First(x => x.Source == "harmless") };
        for (int i = 0; i < 2; i++)
        {
            var s = p.Steering[i];
            Assert.That(s.Prompt, Is.EqualTo(chosen[i].Text));
            Assert.That(s.Base, Is.EqualTo(Greedy(_base, chosen[i].Ids, null)), "unsteered base");
            Assert.That(s.Post, Is.EqualTo(Greedy(_post, chosen[i].Ids, null)), "post-trained");
            for (int k = 0; k < 2; k++)
                Assert.That(s.Steered[k], Is.EqualTo(Greedy(_base, chosen[i].Ids, p.Directions[k].Vector.Select(x => x * p.SteeringNorm).ToArray())), $"steered along direction {k + 1}");
        }
    }

    [Test]
    public void LensHead_HeadGraphAndWeights_GiveTheReferenceLogits()
    {
        using var tmp = new TempDir();
        ModelExporter.Export(_tmp.Sub("base-hf"), tmp.Sub("no-layers"), new ExportOptions { HashSource = false, LayerGraphs = false });
        using var plain = ModelSession.Open(tmp.Sub("no-layers"));
        Assert.That(plain.Layers, Is.Null);
        var graph = LensHead.Of(_baseModel);
        var weights = LensHead.Of(plain);
        Assert.That((graph.UsesHeadGraph, weights.UsesHeadGraph), Is.EqualTo((true, false)));
        var rng = new Random(5);
        var hidden = new FloatTensor(Enumerable.Range(0, 2 * 3 * Spec.HiddenSize).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray(), 2, 3, Spec.HiddenSize);
        var a = graph.Logits(hidden);
        var b = weights.Logits(hidden);
        Assert.That(a.Shape, Is.EqualTo(new[] { 2, 3, Spec.VocabSize }));
        for (int r = 0; r < 2; r++)
            for (int s = 0; s < 3; s++)
            {
                var want = Head(_base, hidden.Vector(r, s).ToArray().Select(x => (double)x).ToArray());
                for (int v = 0; v < Spec.VocabSize; v++)
                {
                    Assert.That(a[r, s, v], Is.EqualTo(want[v]).Within(1e-4 + 1e-4 * Math.Abs(want[v])), "head graph");
                    Assert.That(b[r, s, v], Is.EqualTo(want[v]).Within(1e-4 + 1e-4 * Math.Abs(want[v])), "from the weights");
                }
            }
        // The whole diff with the lens from the weights gives the head graph's numbers.
        var viaWeights = DiffAnalysis.Run(new DiffModel("base", plain), [new DiffModel("post", _postModel)], Corpus, Options with { Directions = 0 });
        var l0 = viaWeights.Pairs[0].Layers[0];
        Assert.That(l0.BaseLens!.KlToOutput, Is.EqualTo(_result.Pairs[0].Layers[0].BaseLens!.KlToOutput).Within(1e-5));
        Assert.That(l0.PostThroughBaseHead!.KlToOwn, Is.EqualTo(_result.Pairs[0].Layers[0].PostThroughBaseHead!.KlToOwn).Within(1e-5));
    }

    [Test]
    public void Run_BadInputs_TypedErrors()
    {
        Assert.That(() => DiffAnalysis.Run(new DiffModel("base", _baseModel), [], Corpus), Throws.TypeOf<InvalidArgumentException>());
        Assert.That(() => DiffAnalysis.Run(new DiffModel("base", _baseModel), [new DiffModel("post", _postModel)], []), Throws.TypeOf<InvalidArgumentException>());
        Assert.That(() => DiffAnalysis.Run(new DiffModel("base", _baseModel), [new DiffModel("post", _postModel)], Corpus, Options with { DirectionLayer = 3 }),
            Throws.TypeOf<InvalidArgumentException>().With.Message.Contains("layer outside 0..2"));
        Assert.That(() => DiffAnalysis.Run(new DiffModel("base", _baseModel), [new DiffModel("post", _postModel)], Corpus, Options with { BatchSize = 0 }),
            Throws.TypeOf<InvalidArgumentException>());
    }
}

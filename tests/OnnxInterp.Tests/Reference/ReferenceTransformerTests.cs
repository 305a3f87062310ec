using static OnnxInterp.Tests.Reference.ReferenceTestUtil;

namespace OnnxInterp.Tests.Reference;

[TestFixture]
public class ReferenceTransformerTests
{
    private static IEnumerable<TestCaseData> Specs() =>
        VariedSpecs().Select(s => new TestCaseData(s).SetArgDisplayNames(
            $"{s.Family}{(s.Tied ? "-tied" : "")}{(s.RopeScaling is { } r ? "-" + r.Type : "")}" +
            $"{(s.SlidingWindow is { } w ? "-sw" + w : "")}{(s.AttentionBias ? "-bias" : "")}"));

    [Test]
    public void RmsNorm_MatchesHandValues()
    {
        double[] y = ReferenceTransformer.RmsNorm([1, 2, 3, 4], [1, 0.5, 2, 1], 1e-6);
        // python3: r = sqrt(30/4 + 1e-6); [1/r, 2/r*0.5, 3/r*2, 4/r]
        double[] expected = [0.3651483473268884, 0.3651483473268884, 2.1908900839613303, 1.4605933893075536];
        Assert.That(MaxAbsDiff(y, expected), Is.LessThan(1e-15));
    }

    /// <summary>
    /// A hand-sized one-layer model (D=4, H=2 query heads sharing one kv head, hd=4, I=3, V=5) computed here
    /// independently: RoPE as complex multiplication of the pairs (x[j], x[j+2]) by exp(i*pos*theta^(-2j/hd)).
    /// </summary>
    [Test]
    public void OneLayerForward_MatchesIndependentComputation()
    {
        const int D = 4, H = 2, Hd = 4, I = 3, V = 5;
        const double Theta = 100.0, Eps = 1e-5;
        var config = new ReferenceConfig
        {
            HiddenSize = D, IntermediateSize = I, NumLayers = 1, NumHeads = H, NumKvHeads = 1, HeadDim = Hd,
            VocabSize = V, RmsNormEps = Eps, RopeTheta = Theta,
        };
        int counter = 0;
        float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(0.7 * Math.Sin(1.3 * ++counter))).ToArray();
        var w = new Dictionary<string, float[]>
        {
            ["model.embed_tokens.weight"] = Fill(V * D),
            ["model.layers.0.input_layernorm.weight"] = [1.0f, 0.5f, 1.5f, 2.0f],
            ["model.layers.0.self_attn.q_proj.weight"] = Fill(H * Hd * D),
            ["model.layers.0.self_attn.k_proj.weight"] = Fill(Hd * D),
            ["model.layers.0.self_attn.v_proj.weight"] = Fill(Hd * D),
            ["model.layers.0.self_attn.o_proj.weight"] = Fill(D * H * Hd),
            ["model.layers.0.post_attention_layernorm.weight"] = [0.5f, 1.0f, 1.25f, 0.75f],
            ["model.layers.0.mlp.gate_proj.weight"] = Fill(I * D),
            ["model.layers.0.mlp.up_proj.weight"] = Fill(I * D),
            ["model.layers.0.mlp.down_proj.weight"] = Fill(D * I),
            ["model.norm.weight"] = [1.1f, 0.9f, 1.0f, 1.2f],
            ["lm_head.weight"] = Fill(V * D),
        };
        int[] tokens = [3, 0, 4];
        int[] positions = [2, 5, 6];
        var output = new ReferenceTransformer(config, w).Forward([tokens], [[1, 1, 1]], [positions]);

        double[] Norm(double[] x, float[] g)
        {
            double ms = x.Sum(e => e * e) / x.Length;
            return x.Select((e, i) => e / Math.Sqrt(ms + Eps) * g[i]).ToArray();
        }
        double[] Rope(double[] x, int pos)
        {
            var y = new double[Hd];
            for (int j = 0; j < Hd / 2; j++)
            {
                var z = new System.Numerics.Complex(x[j], x[j + Hd / 2])
                    * System.Numerics.Complex.FromPolarCoordinates(1, pos * Math.Pow(Theta, -2.0 * j / Hd));
                y[j] = z.Real;
                y[j + Hd / 2] = z.Imaginary;
            }
            return y;
        }
        string L = "model.layers.0.";
        var x0 = tokens.Select(t => w["model.embed_tokens.weight"].Skip(t * D).Take(D).Select(f => (double)f).ToArray()).ToArray();
        var xn = x0.Select(x => Norm(x, w[L + "input_layernorm.weight"])).ToArray();
        var keys = xn.Select((x, t) => Rope(MatVec(w[L + "self_attn.k_proj.weight"], x, Hd), positions[t])).ToArray();
        var vals = xn.Select(x => Mv(w[L + "self_attn.v_proj.weight"], x)).ToArray();
        for (int i = 0; i < tokens.Length; i++)
        {
            double[] qAll = MatVec(w[L + "self_attn.q_proj.weight"], xn[i], H * Hd);
            var z = new double[H * Hd];
            for (int h = 0; h < H; h++)
            {
                double[] q = Rope(qAll.Skip(h * Hd).Take(Hd).ToArray(), positions[i]);
                double[] s = Enumerable.Range(0, i + 1).Select(j => Dot(q, keys[j]) / 2.0).ToArray(); // sqrt(hd) = 2
                double[] e = s.Select(v => Math.Exp(v)).ToArray();
                for (int j = 0; j <= i; j++)
                    for (int c = 0; c < Hd; c++)
                        z[h * Hd + c] += e[j] / e.Sum() * vals[j][c];
            }
            double[] mid = MatVec(w[L + "self_attn.o_proj.weight"], z, D).Select((a, c) => a + x0[i][c]).ToArray();
            double[] m = Norm(mid, w[L + "post_attention_layernorm.weight"]);
            double[] g = MatVec(w[L + "mlp.gate_proj.weight"], m, I);
            double[] u = MatVec(w[L + "mlp.up_proj.weight"], m, I);
            double[] act = g.Select((a, c) => a / (1 + Math.Exp(-a)) * u[c]).ToArray();
            double[] post = MatVec(w[L + "mlp.down_proj.weight"], act, D).Select((a, c) => a + mid[c]).ToArray();
            double[] logits = MatVec(w["lm_head.weight"], Norm(post, w["model.norm.weight"]), V);

            Assert.That(MaxAbsDiff(output.Hooks["blocks.0.hook_resid_pre"][0][i], x0[i]), Is.LessThan(1e-12));
            Assert.That(MaxAbsDiff(output.Hooks["blocks.0.hook_resid_mid"][0][i], mid), Is.LessThan(1e-12));
            Assert.That(MaxAbsDiff(output.Hooks["blocks.0.mlp.hook_post"][0][i], act), Is.LessThan(1e-12));
            Assert.That(MaxAbsDiff(output.Hooks["blocks.0.hook_resid_post"][0][i], post), Is.LessThan(1e-12));
            Assert.That(MaxAbsDiff(output.Logits[0][i], logits), Is.LessThan(1e-12));
        }
    }

    private static double[] Mv(float[] w, double[] x) => MatVec(w, x, w.Length / x.Length);

    [TestCaseSource(nameof(Specs))]
    public void LeftPaddedBatch_MatchesUnpaddedPromptAlone(TinyCheckpointSpec spec)
    {
        var m = Model(spec);
        int v = spec.VocabSize;
        int[] a = Tokens(1, 7, v), b = Tokens(2, 4, v);
        // Row 1 is left-padded by 3 with token 0; its positions start at 0 at the first real token.
        var batch = m.Forward(
            [a, [0, 0, 0, .. b]],
            [Ones(7), [0, 0, 0, 1, 1, 1, 1]],
            [Range(0, 7), [1, 1, 1, 0, 1, 2, 3]]);
        var aloneA = Run(m, a);
        var aloneB = Run(m, b);
        double worst = 0;
        for (int t = 0; t < 7; t++)
            worst = Math.Max(worst, MaxAbsDiff(batch.Logits[0][t], aloneA.Logits[0][t]));
        for (int t = 0; t < 4; t++)
        {
            worst = Math.Max(worst, MaxAbsDiff(batch.Logits[1][t + 3], aloneB.Logits[0][t]));
            foreach (var (name, value) in aloneB.Hooks)
                worst = Math.Max(worst, MaxAbsDiff(batch.Hooks[name][1][t + 3], value[0][t]));
        }
        Assert.That(worst, Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(Specs))]
    public void Causal_LaterTokensDoNotChangeEarlierLogits(TinyCheckpointSpec spec)
    {
        var m = Model(spec);
        int[] a = Tokens(3, 8, spec.VocabSize);
        int[] b = (int[])a.Clone();
        b[5] = (b[5] + 1) % spec.VocabSize;
        b[7] = (b[7] + 3) % spec.VocabSize;
        var ra = Run(m, a);
        var rb = Run(m, b);
        for (int t = 0; t < 5; t++)
            Assert.That(MaxAbsDiff(ra.Logits[0][t], rb.Logits[0][t]), Is.EqualTo(0.0), $"position {t}");
        Assert.That(MaxAbsDiff(ra.Logits[0][5], rb.Logits[0][5]), Is.GreaterThan(1e-3));
        Assert.That(MaxAbsDiff(ra.Logits[0][6], rb.Logits[0][6]), Is.GreaterThan(1e-6));
    }

    [TestCaseSource(nameof(Specs))]
    public void Past_ResumedFromPresent_EqualsTheWholeSequence(TinyCheckpointSpec spec)
    {
        var m = Model(spec);
        int[] a = Tokens(5, 9, spec.VocabSize);
        var whole = Run(m, a);
        var head = Run(m, a[..5]);
        var tail = m.Forward([a[5..]], [Ones(9)], [Range(5, 4)], past: head.Present);
        Assert.That(tail.Present!.Length, Is.EqualTo(9));
        double worst = 0;
        for (int t = 0; t < 4; t++)
        {
            worst = Math.Max(worst, MaxAbsDiff(whole.Logits[0][t + 5], tail.Logits[0][t]));
            foreach (var (name, value) in tail.Hooks) worst = Math.Max(worst, MaxAbsDiff(whole.Hooks[name][0][t + 5], value[0][t]));
        }
        for (int l = 0; l < spec.NumLayers; l++)
            for (int g = 0; g < spec.NumKvHeads; g++)
                for (int j = 0; j < 9; j++)
                    worst = Math.Max(worst, Math.Max(MaxAbsDiff(whole.Present!.Keys[l][0][g][j], tail.Present.Keys[l][0][g][j]),
                        MaxAbsDiff(whole.Present!.Values[l][0][g][j], tail.Present.Values[l][0][g][j])));
        Assert.That(worst, Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(Specs))]
    public void ShiftingAllPositions_LeavesLogitsUnchanged(TinyCheckpointSpec spec)
    {
        var m = Model(spec);
        int[] a = Tokens(4, 8, spec.VocabSize);
        var r0 = Run(m, a);
        var r1 = Run(m, a, positionOffset: 13);
        double worst = 0;
        for (int t = 0; t < a.Length; t++) worst = Math.Max(worst, MaxAbsDiff(r0.Logits[0][t], r1.Logits[0][t]));
        Assert.That(worst, Is.LessThan(1e-9));

        // Control: non-uniform position changes do change the output (RoPE is really applied).
        var r2 = m.Forward([a], [Ones(8)], [[0, 2, 4, 6, 8, 10, 12, 14]]);
        Assert.That(MaxAbsDiff(r0.Logits[0][7], r2.Logits[0][7]), Is.GreaterThan(1e-3));
    }

    [Test]
    public void Llama3InverseFrequencies_MatchFormulaAndPinnedValues()
    {
        // Meta's apply_scaling written with explicit branches (independent of the torch.where form).
        static double[] Expected(double theta, int hd, double factor, double low, double high, double oldCtx)
        {
            var r = new double[hd / 2];
            for (int j = 0; j < hd / 2; j++)
            {
                double freq = 1.0 / Math.Pow(theta, 2.0 * j / hd);
                double wavelen = 2 * Math.PI / freq;
                if (wavelen < oldCtx / high) r[j] = freq;
                else if (wavelen > oldCtx / low) r[j] = freq / factor;
                else
                {
                    double smooth = (oldCtx / wavelen - low) / (high - low);
                    r[j] = (1 - smooth) * freq / factor + smooth * freq;
                }
            }
            return r;
        }
        ReferenceConfig Cfg(double theta, int hd, RopeScalingSpec s) => new()
        {
            HiddenSize = 64, IntermediateSize = 96, NumLayers = 1, NumHeads = 64 / hd, NumKvHeads = 64 / hd,
            HeadDim = hd, VocabSize = 10, RopeTheta = theta, RopeScaling = s,
        };

        double[] a = ReferenceRope.InverseFrequencies(Cfg(10000, 16, new("llama3", 8, 1, 4, 16)));
        double[] b = ReferenceRope.InverseFrequencies(Cfg(10000, 16, new("llama3", 8, 1, 4, 64)));
        double[] c = ReferenceRope.InverseFrequencies(Cfg(500000, 16, new("llama3", 32, 1, 4, 8192)));
        Assert.That(MaxAbsDiff(a, Expected(10000, 16, 8, 1, 4, 16)), Is.LessThan(1e-15));
        Assert.That(MaxAbsDiff(b, Expected(10000, 16, 8, 1, 4, 64)), Is.LessThan(1e-15));
        Assert.That(MaxAbsDiff(c, Expected(500000, 16, 32, 1, 4, 8192)), Is.LessThan(1e-15));

        // Pinned with python3 (pure math, same formula): medium band at j=0 for the test config ...
        Assert.That(a[0], Is.EqualTo(0.5760564010955116).Within(1e-14));
        Assert.That(a[1], Is.EqualTo(0.03952847075210474).Within(1e-15));
        Assert.That(a[7], Is.EqualTo(3.952847075210474e-05).Within(1e-18));
        // ... high band unchanged, two medium, then low band divided by the factor.
        Assert.That(b[0], Is.EqualTo(1.0).Within(1e-15));
        Assert.That(b[1], Is.EqualTo(0.24438459943539834).Within(1e-14));
        Assert.That(b[2], Is.EqualTo(0.013042256043820465).Within(1e-15));
        Assert.That(b[3], Is.EqualTo(0.003952847075210474).Within(1e-16));
        Assert.That(c[3], Is.EqualTo(0.0072926647372171085).Within(1e-16));
        Assert.That(c[4], Is.EqualTo(0.00042955679655936815).Within(1e-17));
    }

    [Test]
    public void LinearScaling_DividesFrequencies_AndEqualsUnscaledModelAtScaledPositions()
    {
        var plain = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama") { Seed = 21 });
        var linear = TinyCheckpointFactory.Create(new TinyCheckpointSpec("llama")
        { Seed = 21, RopeScaling = new RopeScalingSpec("linear", 2.0, 0, 0, 0) });
        double[] f0 = ReferenceRope.InverseFrequencies(plain.Config);
        double[] f1 = ReferenceRope.InverseFrequencies(linear.Config);
        Assert.That(MaxAbsDiff(f1, f0.Select(x => x / 2).ToArray()), Is.EqualTo(0.0));

        int[] a = Tokens(5, 6, 97);
        var rPlain = Model(plain).Forward([a], [Ones(6)], [[0, 1, 2, 3, 4, 5]]);
        var rLinear = Model(linear).Forward([a], [Ones(6)], [[0, 2, 4, 6, 8, 10]]);
        double worst = 0;
        for (int t = 0; t < 6; t++) worst = Math.Max(worst, MaxAbsDiff(rPlain.Logits[0][t], rLinear.Logits[0][t]));
        Assert.That(worst, Is.LessThan(1e-10));
    }

    [Test]
    public void GroupedQueryAttention_EqualsExplicitKvDuplication()
    {
        var gqa = TinyCheckpointFactory.Create(new TinyCheckpointSpec("qwen2") { NumHeads = 4, NumKvHeads = 2, Seed = 31 });
        var dupWeights = new Dictionary<string, float[]>(gqa.Weights);
        const int Hd = 16, D = 64;
        for (int l = 0; l < 3; l++)
        {
            foreach (string proj in new[] { "k_proj", "v_proj" })
            {
                string p = $"model.layers.{l}.self_attn.{proj}.";
                float[] w = gqa.Weights[p + "weight"], bias = gqa.Weights[p + "bias"];
                var w2 = new float[4 * Hd * D];
                var b2 = new float[4 * Hd];
                for (int h = 0; h < 4; h++) // query head h reads kv head h / 2
                {
                    Array.Copy(w, (h / 2) * Hd * D, w2, h * Hd * D, Hd * D);
                    Array.Copy(bias, (h / 2) * Hd, b2, h * Hd, Hd);
                }
                dupWeights[p + "weight"] = w2;
                dupWeights[p + "bias"] = b2;
            }
        }
        var mha = new ReferenceTransformer(gqa.Config with { NumKvHeads = 4 }, dupWeights);
        int[] a = Tokens(6, 7, 97);
        var r0 = Run(Model(gqa), a);
        var r1 = Run(mha, a);
        double worst = 0;
        for (int t = 0; t < 7; t++) worst = Math.Max(worst, MaxAbsDiff(r0.Logits[0][t], r1.Logits[0][t]));
        Assert.That(worst, Is.LessThan(1e-12));
    }

    [Test]
    public void SlidingWindow_KeyAtDistanceWindowIsInvisible_AtDistanceWindowMinusOneVisible()
    {
        // One layer so resid_mid at i depends only on the tokens attention can see.
        var m = Model(new TinyCheckpointSpec("mistral") { NumLayers = 1, SlidingWindow = 3, Seed = 41 });
        int[] a = Tokens(7, 8, 97);
        var r0 = Run(m, a);
        int[] farChanged = (int[])a.Clone();
        farChanged[3] = (farChanged[3] + 1) % 97; // i - j == 3 == W for i = 6
        int[] nearChanged = (int[])a.Clone();
        nearChanged[4] = (nearChanged[4] + 1) % 97; // i - j == 2 for i = 6
        var rFar = Run(m, farChanged);
        var rNear = Run(m, nearChanged);
        Assert.That(MaxAbsDiff(r0.Hooks["blocks.0.hook_resid_mid"][0][6], rFar.Hooks["blocks.0.hook_resid_mid"][0][6]), Is.EqualTo(0.0));
        Assert.That(MaxAbsDiff(r0.Hooks["blocks.0.hook_resid_mid"][0][6], rNear.Hooks["blocks.0.hook_resid_mid"][0][6]), Is.GreaterThan(1e-4));

        // Same weights without the window: positions i < W see everything anyway and agree; later ones differ.
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec("mistral") { NumLayers = 1, SlidingWindow = 3, Seed = 41 });
        var full = new ReferenceTransformer(ckpt.Config with { SlidingWindow = null }, ckpt.Weights);
        var rFull = Run(full, a);
        Assert.That(MaxAbsDiff(r0.Logits[0][2], rFull.Logits[0][2]), Is.EqualTo(0.0));
        Assert.That(MaxAbsDiff(r0.Logits[0][3], rFull.Logits[0][3]), Is.GreaterThan(1e-4));
    }

    [Test]
    public void Qwen2_WindowOnlyOnLayersFromMaxWindowLayers()
    {
        TinyCheckpointSpec Spec(int mwl) => new("qwen2")
        { NumLayers = 1, SlidingWindow = 2, UseSlidingWindow = true, MaxWindowLayers = mwl, Seed = 51 };
        int[] a = Tokens(8, 6, 97);
        int[] changed = (int[])a.Clone();
        changed[1] = (changed[1] + 5) % 97; // distance 4 from position 5
        foreach (var (mwl, sees) in new[] { (0, false), (1, true) })
        {
            var m = Model(Spec(mwl));
            double diff = MaxAbsDiff(Run(m, a).Logits[0][5], Run(m, changed).Logits[0][5]);
            if (sees) Assert.That(diff, Is.GreaterThan(1e-4), $"max_window_layers={mwl}");
            else Assert.That(diff, Is.EqualTo(0.0), $"max_window_layers={mwl}");
        }
    }

    [TestCaseSource(nameof(Specs))]
    public void Hooks_AreConsistentWithWeights(TinyCheckpointSpec spec)
    {
        var ckpt = TinyCheckpointFactory.Create(spec);
        var r = Run(Model(ckpt), Tokens(9, 5, spec.VocabSize));
        int last = spec.NumLayers - 1;
        float[] head = ckpt.Weights[spec.Tied ? "model.embed_tokens.weight" : "lm_head.weight"];
        Assert.That(ckpt.Weights.ContainsKey("lm_head.weight"), Is.EqualTo(!spec.Tied));
        for (int t = 0; t < 5; t++)
        {
            for (int l = 0; l < spec.NumLayers; l++)
            {
                string p = $"model.layers.{l}.mlp.down_proj.";
                double[] down = Mv(ckpt.Weights[p + "weight"], r.Hooks[$"blocks.{l}.mlp.hook_post"][0][t]);
                if (ckpt.Weights.TryGetValue(p + "bias", out float[]? bias))
                    down = down.Select((x, i) => x + bias[i]).ToArray();
                double[] mid = r.Hooks[$"blocks.{l}.hook_resid_mid"][0][t];
                double[] post = r.Hooks[$"blocks.{l}.hook_resid_post"][0][t];
                Assert.That(MaxAbsDiff(post, mid.Select((x, i) => x + down[i]).ToArray()), Is.LessThan(1e-12));
                if (l > 0)
                    Assert.That(MaxAbsDiff(r.Hooks[$"blocks.{l}.hook_resid_pre"][0][t], r.Hooks[$"blocks.{l - 1}.hook_resid_post"][0][t]), Is.EqualTo(0.0));
            }
            double[] final = ReferenceTransformer.RmsNorm(r.Hooks[$"blocks.{last}.hook_resid_post"][0][t],
                ckpt.Weights["model.norm.weight"].Select(f => (double)f).ToArray(), spec.RmsNormEps);
            double[] logits = Mv(head, final);
            Assert.That(MaxAbsDiff(r.Logits[0][t], logits), Is.LessThan(1e-12));
            // Not degenerate: logits spread O(1..10), residual stream finite.
            double mean = logits.Average();
            double std = Math.Sqrt(logits.Sum(x => (x - mean) * (x - mean)) / logits.Length);
            Assert.That(std, Is.InRange(0.2, 30.0));
        }
    }
}

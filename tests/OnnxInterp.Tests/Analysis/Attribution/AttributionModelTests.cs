using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Attribution;

/// <summary>
/// Attribution through a model: a model whose judging scalar is a known linear function of its tokens (each method recovers
/// every word's weight exactly, through the prompt's masking, the batches and the shared prefix's KV cache), and a tiny
/// random transformer on both implementations of the contract (coalitions on the prefix's cache give what full forward
/// passes of the masked prompt give; KernelSHAP stays efficient).
/// </summary>
public class AttributionModelTests
{
    TempDir _tmp = null!;
    string _tiny = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        // The family's tokenizer (words, " TRUE" and " FALSE" as single tokens, a pad token) over random weights.
        _tiny = _tmp.Sub("tiny");
        RandomCheckpoint.Write(_tiny, new RandomCheckpointSpec { Layers = 2, Seed = 7, TokenizerDirectory = ShippedFamily.Checkpoint("base") });
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    const string Examples = "The city of Lofo is in Diso. This statement is: TRUE\nThe city of Kudo is in Neba. This statement is: FALSE\n";
    const string Statement = "The city of Kemefe is in Medali.";

    [Test]
    public void FeaturePrompt_Words_SpanEachWordsTokens_AndMaskOnlyThem()
    {
        var tok = HfTokenizer.FromDirectory(_tiny);
        var p = FeaturePrompt.Words(tok, Examples, Statement, JudgingAnswers.Question);
        Assert.That(p.Features.Select(f => f.Text), Is.EqualTo(new[] { "The", "city", "of", "Kemefe", "is", "in", "Medali." }));
        Assert.That(p.Tokens, Is.EqualTo(tok.Encode(Examples + Statement + JudgingAnswers.Question)), "the parts encoded apart join as the whole text encodes");
        foreach (var f in p.Features)
            Assert.That(tok.Decode(p.Tokens[f.Start..(f.Start + f.Length)]).Trim(), Is.EqualTo(f.Text));
        Assert.That(p.PrefixLength, Is.EqualTo(tok.Encode(Examples).Length));
        int pad = tok.PadTokenId!.Value;
        var masked = p.Masked([true, true, true, false, true, true, false], pad);
        var kemefe = p.Features[3];
        for (int i = 0; i < p.Tokens.Length; i++)
        {
            bool inMasked = (i >= kemefe.Start && i < kemefe.Start + kemefe.Length) || (i >= p.Features[6].Start && i < p.Features[6].Start + p.Features[6].Length);
            Assert.That(masked[i], Is.EqualTo(inMasked ? pad : p.Tokens[i]), $"token {i}");
        }
    }

    [Test]
    public void AllMethods_TokenLinearModel_RecoverEachWordsWeight()
    {
        var tok = HfTokenizer.FromDirectory(_tiny);
        var config = ModelConfigReader.ReadFile(Path.Combine(_tiny, "config.json"));
        var rng = new Random(3);
        var weights = Enumerable.Range(0, config.VocabSize).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        var scalar = AttributionScalar.Judgement(tok);
        var model = new TokenLinearModel(config, tok, weights, scalar.Judging.True);
        var prompt = FeaturePrompt.Words(tok, Examples, Statement, JudgingAnswers.Question);
        int pad = tok.PadTokenId!.Value;
        var expected = prompt.Features.Select(f => Enumerable.Range(f.Start, f.Length).Sum(t => weights[prompt.Tokens[t]] - weights[pad])).ToArray();
        var f = CoalitionRunner.For(model, prompt, scalar, pad, batchSize: 16);
        foreach (var method in Enum.GetValues<AttributionMethod>())
        {
            var r = FeatureAttribution.Run(method, prompt.Features.Count, f, new AttributionSampling { Coalitions = 40 });
            Assert.That(r.Scores, Is.EqualTo(expected).Within(1e-4), method.ToString());
        }
        // The prefix (the few-shot lines) ran once, with its cache returned; every coalition batch ran on that cache.
        Assert.That(model.Requests.Count(r => r.ReturnPresent), Is.EqualTo(1));
        Assert.That(model.Requests.Where(r => !r.ReturnPresent).Select(r => r.Past!.Length), Is.All.EqualTo(prompt.PrefixLength));
        Assert.That(model.Requests.Where(r => !r.ReturnPresent).Select(r => r.InputIds.Length), Is.All.LessThanOrEqualTo(16));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void CoalitionRunner_OnThePrefixCache_EqualsFullForwardPasses(string kind)
    {
        var model = HookedModels.Open(kind, _tiny, _tmp.Sub("tiny-onnx-" + kind));
        try
        {
            var tok = model.Tokenizer;
            int pad = tok.PadTokenId!.Value;
            var prompt = FeaturePrompt.Words(tok, Examples, Statement, JudgingAnswers.Question);
            List<bool[]> coalitions = [Enumerable.Repeat(true, 7).ToArray(), new bool[7], new[] { true, false, true, false, true, false, true }, new[] { false, false, false, true, false, false, true }];
            foreach (var scalar in new[] { AttributionScalar.Judgement(tok), AttributionScalar.Refusal(tok) })
            {
                var viaCache = CoalitionRunner.For(model, prompt, scalar, pad, batchSize: 3)(coalitions);
                var direct = coalitions.Select(z => scalar.Read(model.Run(new ForwardRequest([prompt.Masked(z, pad)]) { LogitPositions = [-1] }).Logits, 0, [])).ToArray();
                Assert.That(viaCache, Is.EqualTo(direct).Within(1e-4), scalar.Kind.ToString());
            }

            // An answer's log-probability: the answer's tokens after the prompt, each scored from the position before it.
            var answer = tok.Encode(" TRUE", addSpecialTokens: false);
            var withAnswer = prompt with { Answer = answer };
            var lp = CoalitionRunner.For(model, withAnswer, AttributionScalar.AnswerLogProb(), pad)(coalitions.Take(1).ToList())[0];
            var full = model.Run(new ForwardRequest([[.. prompt.Tokens, .. answer]])).Logits;
            double expected = 0;
            for (int j = 0; j < answer.Length; j++)
            {
                var row = full.Vector(0, prompt.Tokens.Length - 1 + j).ToArray().Select(x => (double)x).ToArray();
                double max = row.Max();
                expected += row[answer[j]] - max - Math.Log(row.Sum(x => Math.Exp(x - max)));
            }
            Assert.That(lp, Is.EqualTo(expected).Within(1e-4));

            var shap = FeatureAttribution.KernelShap(7, CoalitionRunner.For(model, prompt, AttributionScalar.Judgement(tok), pad), new AttributionSampling { Coalitions = 30 });
            Assert.That(shap.EfficiencyGap, Is.LessThan(1e-9));
        }
        finally
        {
            HookedModels.Dispose(model);
        }
    }

    [Test]
    public void BaselineToken_DefaultsToPad_AndRejectsTextThatIsNotOneToken()
    {
        var tok = HfTokenizer.FromDirectory(_tiny);
        Assert.That(AttributionAnalysis.BaselineToken(tok, null), Is.EqualTo(tok.PadTokenId));
        Assert.That(AttributionAnalysis.BaselineToken(tok, "</s>"), Is.EqualTo(tok.TokenToId("</s>")));
        var e = Assert.Throws<InvalidArgumentException>(() => AttributionAnalysis.BaselineToken(tok, "Kemefe Medali"))!;
        Assert.That((e.Field, e.Value), Is.EqualTo(("attribution.baselineToken", "Kemefe Medali")));
    }

    [Test]
    public void Spearman_RanksWithTies_AndNullWhenConstant()
    {
        Assert.That(AttributionAnalysis.Spearman([1, 2, 3], [10, 20, 30]), Is.EqualTo(1).Within(1e-12));
        Assert.That(AttributionAnalysis.Spearman([1, 2, 3], [3, 2, 1]), Is.EqualTo(-1).Within(1e-12));
        Assert.That(AttributionAnalysis.Spearman([1, 1, 2], [1, 2, 3]), Is.EqualTo(Math.Sqrt(0.75)).Within(1e-12));
        Assert.That(AttributionAnalysis.Spearman([1, 1, 1], [1, 2, 3]), Is.Null);
    }

    /// <summary>logit(TRUE) = Σ w[token] over the row's tokens (past ones included), every other logit 0: a linear judging scalar.</summary>
    sealed class TokenLinearModel(ModelConfig config, HfTokenizer tokenizer, double[] weights, int trueToken) : IHookedModel
    {
        public List<ForwardRequest> Requests { get; } = [];
        public string Source => "token-linear";
        public ModelConfig Config => config;
        public IReadOnlyList<HookInfo> Hooks => [];
        public HfTokenizer Tokenizer => tokenizer;
        public ChatTemplate ChatTemplate => ChatTemplates.Get("plain");
        public IModelWeights Weights => throw new NotSupportedException();
        public ILayerRunner? Layers => null;

        public GenerationResult Generate(IReadOnlyList<int[]> prompts, GenerationOptions? options = null, IProgress<GenerationProgress>? progress = null,
            CancellationToken cancellation = default) => throw new NotSupportedException();

        public ForwardResult Run(ForwardRequest request, CancellationToken cancellation = default)
        {
            Requests.Add(request);
            int rows = request.InputIds.Length, seq = request.InputIds[0].Length, past = request.Past?.Length ?? 0, v = config.VocabSize;
            var positions = request.LogitPositions ?? Enumerable.Range(0, seq).ToArray();
            var logits = FloatTensor.Zeros(rows, positions.Length, v);
            var present = FloatTensor.Zeros(rows, 1, past + seq, 1);
            for (int b = 0; b < rows; b++)
            {
                var tokens = Enumerable.Range(0, past).Select(t => (int)request.Past!.Keys[0][b, 0, t, 0]).Concat(request.InputIds[b]).ToArray();
                for (int t = 0; t < tokens.Length; t++) present[b, 0, t, 0] = tokens[t];
                for (int k = 0; k < positions.Length; k++)
                {
                    int at = past + (positions[k] < 0 ? seq + positions[k] : positions[k]);
                    logits[b, k, trueToken] = (float)tokens.Take(at + 1).Sum(t => weights[t]);
                }
            }
            return new ForwardResult(logits, new Dictionary<HookName, FloatTensor>())
            {
                Present = request.ReturnPresent ? new KvCache([present], [present]) : null,
            };
        }
    }
}

using System.Numerics.Tensors;
using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using OnnxInterp.Trainer.Family;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// Quantization on the trained family (ignored when none is available): the base's TRUE/FALSE judgments of held-out
/// statements and the instruct model's completions of held-out instructions, fp32 against int8 and int4.
/// Completions are compared token by token along fp32's greedy completion (teacher-forced): the quantized model's
/// next-token choice must be fp32's on ≥ 99% of the positions where fp32 is decided (its top token leads the
/// runner-up by ≥ 1 logit) and on ≥ 97% (int8) / 90% (int4) of all positions; the refusal decision of the free-running
/// greedy completions must agree on ≥ 95% (int8) / 90% (int4, block 32) / 85% (block 128) of instructions.
/// Exact equality of whole 16-token greedy completions is reported, not asserted: it is decided by near-ties where the
/// training data itself was a coin flip (" I cannot" vs " I'm sorry" at p 0.50/0.49, one made-up city name among many
/// at p 0.07/0.07), so it measured tie-breaking noise rather than quantization (int4 block 32, 16-token exact match on
/// three trained families: 38, 27 and 16 of 48, while decided positions agreed on 100%, 99.8% and 100%).
/// </summary>
public class QuantizedFamilyTests
{
    const int StatementsPerDataset = 40, Instructions = 48, NewTokens = 16;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(WeightQuantization.Int8(32), 0.97, 0.97, 0.95).SetName("Int8_Block32");
        yield return new TestCaseData(WeightQuantization.Int4(32), 0.90, 0.90, 0.90).SetName("Int4_Block32");
        yield return new TestCaseData(WeightQuantization.Int4(128), 0.85, 0.90, 0.85).SetName("Int4_Block128");
    }

    [TestCaseSource(nameof(Cases))]
    public void QuantizedFamily_JudgmentsAndCompletions_AgreeWithFp32(WeightQuantization q, double minJudgments, double minTokens, double minRefusals)
    {
        ShippedFamily.RequireRoot();
        using var tmp = new TempDir();
        var corpus = new FamilyCorpus(SyntheticWorld.Generate(1, FamilyRecipe.World), 1);

        // Base: the paper's few-shot TRUE/FALSE prompt on held-out statements.
        var baseQ = tmp.Sub("base");
        ModelExporter.Export(ShippedFamily.Checkpoint("base"), baseQ, new ExportOptions { HashSource = false, LayerGraphs = false, Quantization = q });
        int agree = 0, total = 0, fpCorrect = 0, qCorrect = 0;
        double worstLogit = 0;
        using (var fp = ModelSession.Open(ShippedFamily.Exported("base")))
        using (var qs = ModelSession.Open(baseQ))
        {
            var tok = HfTokenizer.FromDirectory(baseQ);
            int trueId = tok.Encode(" TRUE", false).Single(), falseId = tok.Encode(" FALSE", false).Single();
            var rng = new Random(1);
            foreach (var ds in SyntheticWorld.StatementDatasets)
            {
                var items = corpus.World.HeldOut(ds).Take(StatementsPerDataset / 2).SelectMany(f => new[] { (f.True, true), (f.False, false) }).ToList();
                var prompts = items.Select(i => tok.Encode(FamilyCorpus.FewShotPrompt(corpus.World.FewShot(ds), i.Item1, rng))).ToList();
                var request = ForwardRequest.FromPrompts(prompts) with { LogitPositions = [-1] };
                var a = fp.Run(request).Logits;
                var b = qs.Run(request).Logits;
                var last = prompts.Select(_ => new[] { 1 }).ToArray();
                worstLogit = Math.Max(worstLogit, QuantizedExportTests.RelativeError(b, a, last));
                for (int i = 0; i < items.Count; i++)
                {
                    bool ja = a.Vector(i, 0)[trueId] > a.Vector(i, 0)[falseId], jb = b.Vector(i, 0)[trueId] > b.Vector(i, 0)[falseId];
                    if (ja == jb) agree++;
                    if (ja == items[i].Item2) fpCorrect++;
                    if (jb == items[i].Item2) qCorrect++;
                    total++;
                }
            }
        }

        // Instruct: greedy completions of held-out instructions in its chat template.
        var instructQ = tmp.Sub("instruct");
        ModelExporter.Export(ShippedFamily.Checkpoint("instruct"), instructQ, new ExportOptions { HashSource = false, LayerGraphs = false, Quantization = q });
        int same = 0, refusalSame = 0, positions = 0, tokenAgree = 0, decidedPositions = 0, decidedAgree = 0;
        using (var fp = ModelSession.Open(ShippedFamily.Exported("instruct")))
        using (var qs = ModelSession.Open(instructQ))
        {
            var tok = HfTokenizer.FromDirectory(instructQ);
            var template = ShippedFamily.ChatTemplate("instruct");
            var t = ChatTemplates.Get(template);
            var stops = t.StopStrings.Select(s => tok.TokenToId(s)).OfType<int>().Append(tok.TokenToId(FamilyCorpus.Eos)!.Value).Distinct().ToList();
            var tests = corpus.TestInstructions.Take(Instructions).ToList();
            var prompts = tests.Select(i => tok.Encode(FamilyCorpus.Dialogue(template, i.Instruction, "").Prompt, addSpecialTokens: !t.IncludesBos)).ToList();
            var options = new GenerationOptions { MaxNewTokens = NewTokens, StopTokens = stops, PadTokenId = tok.TokenToId(FamilyCorpus.Pad) };
            var a = fp.Generate(prompts, options).Tokens;
            var b = qs.Generate(prompts, options).Tokens;
            for (int i = 0; i < tests.Count; i++)
            {
                if (a[i].SequenceEqual(b[i])) same++;
                if (FamilyEval.IsRefusal(tok.Decode(a[i], skipSpecialTokens: true)) == FamilyEval.IsRefusal(tok.Decode(b[i], skipSpecialTokens: true))) refusalSame++;
                // Teacher-forced along fp32's completion: each position predicting a completion token.
                if (a[i].Length == 0) continue;
                var sequence = prompts[i].Concat(a[i]).ToArray();
                var request = ForwardRequest.FromPrompts([sequence]) with { LogitPositions = Enumerable.Range(prompts[i].Length - 1, a[i].Length).ToArray() };
                var lf = fp.Run(request).Logits;
                var lq = qs.Run(request).Logits;
                for (int k = 0; k < a[i].Length; k++)
                {
                    var vf = lf.Vector(0, k);
                    var vq = lq.Vector(0, k);
                    int top = TensorPrimitives.IndexOfMax(vf);
                    float runnerUp = float.NegativeInfinity;
                    for (int v = 0; v < vf.Length; v++) if (v != top) runnerUp = Math.Max(runnerUp, vf[v]);
                    bool agrees = TensorPrimitives.IndexOfMax(vq) == top, decided = vf[top] - runnerUp >= 1f;
                    positions++;
                    if (agrees) tokenAgree++;
                    if (decided) { decidedPositions++; if (agrees) decidedAgree++; }
                }
            }
        }

        double judgments = (double)agree / total, completions = (double)same / Instructions, refusals = (double)refusalSame / Instructions;
        double tokens = (double)tokenAgree / positions, decidedTokens = (double)decidedAgree / decidedPositions;
        TestContext.Out.WriteLine($"{q} level {q.AccuracyLevel}: judgments agree {judgments:P1} of {total} (accuracy fp32 {(double)fpCorrect / total:P1}, " +
            $"quantized {(double)qCorrect / total:P1}); last-token logits max relative error {worstLogit:E2}; " +
            $"teacher-forced next token agrees {tokens:P1} of {positions} positions, {decidedTokens:P1} of the {decidedPositions} decided ones; " +
            $"greedy completions identical {completions:P1}, refusal decision agrees {refusals:P1} of {Instructions}");
        Assert.That(judgments, Is.GreaterThanOrEqualTo(minJudgments), "judgments");
        Assert.That(decidedPositions, Is.GreaterThanOrEqualTo(positions / 2), "most completion positions are decided (else the check says little)");
        Assert.That(decidedTokens, Is.GreaterThanOrEqualTo(0.99), "next token where fp32 is decided");
        Assert.That(tokens, Is.GreaterThanOrEqualTo(minTokens), "next token at every completion position");
        Assert.That(refusals, Is.GreaterThanOrEqualTo(minRefusals), "refusals");
    }
}

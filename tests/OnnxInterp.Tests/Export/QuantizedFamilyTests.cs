using OnnxInterp.Data;
using OnnxInterp.Export;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using OnnxInterp.Trainer.Family;

namespace OnnxInterp.Tests.Export;

/// <summary>
/// Quantization on the trained family (ignored when none is available): the base's TRUE/FALSE judgments of held-out
/// statements and the instruct model's greedy completions of held-out instructions, fp32 against int8 and int4.
/// Thresholds: int8 agrees on ≥ 97% of judgments and ≥ 90% of completions; int4 (block 32, the model builder's default)
/// on ≥ 90% of judgments and ≥ 60% of exact completions, and on the refusal decision for ≥ 90% of instructions.
/// </summary>
public class QuantizedFamilyTests
{
    const int StatementsPerDataset = 40, Instructions = 48, NewTokens = 16;

    public static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(WeightQuantization.Int8(32), 0.97, 0.90, 0.95).SetName("Int8_Block32");
        yield return new TestCaseData(WeightQuantization.Int4(32), 0.90, 0.60, 0.90).SetName("Int4_Block32");
        yield return new TestCaseData(WeightQuantization.Int4(128), 0.85, 0.50, 0.85).SetName("Int4_Block128");
    }

    [TestCaseSource(nameof(Cases))]
    public void QuantizedFamily_JudgmentsAndCompletions_AgreeWithFp32(WeightQuantization q, double minJudgments, double minCompletions, double minRefusals)
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
        int same = 0, refusalSame = 0;
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
            }
        }

        double judgments = (double)agree / total, completions = (double)same / Instructions, refusals = (double)refusalSame / Instructions;
        TestContext.Out.WriteLine($"{q} level {q.AccuracyLevel}: judgments agree {judgments:P1} of {total} (accuracy fp32 {(double)fpCorrect / total:P1}, " +
            $"quantized {(double)qCorrect / total:P1}); last-token logits max relative error {worstLogit:E2}; " +
            $"greedy completions identical {completions:P1}, refusal decision agrees {refusals:P1} of {Instructions}");
        Assert.That(judgments, Is.GreaterThanOrEqualTo(minJudgments), "judgments");
        Assert.That(completions, Is.GreaterThanOrEqualTo(minCompletions), "completions");
        Assert.That(refusals, Is.GreaterThanOrEqualTo(minRefusals), "refusals");
    }
}

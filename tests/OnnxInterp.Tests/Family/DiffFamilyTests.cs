using OnnxInterp.Analysis.Diff;
using OnnxInterp.Data;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Family;

/// <summary>
/// models/README.md's "Where post-training acts": the diff's default corpus (24 + 24 instructions in each member's chat
/// template, 24 judging prompts on held-out cities) on the shipped family, every figure of its table measured again.
/// </summary>
public class DiffFamilyTests
{
    [Test]
    public void ShippedFamily_PostTrainingActsOnTheTemplateAndTheReply_NotOnJudging()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var corpus = DiffCorpus.Instructions(InstructionSet.FromWorld(world), 24)
            .Concat(DiffCorpus.JudgingPrompts(world.ToDataset("cities", heldOutOnly: true), world.FewShot("cities"), 24)).ToList();
        using var b = ModelSession.Open(ShippedFamily.Exported("base"));
        using var sft = ModelSession.Open(ShippedFamily.Exported("sft"));
        using var instruct = ModelSession.Open(ShippedFamily.Exported("instruct"));
        var r = DiffAnalysis.Run(new DiffModel("base", b), [new DiffModel("sft", sft), new DiffModel("instruct", instruct)], corpus,
            new DiffOptions { Directions = 0 });

        // The README's figures (2% tolerance: other CPUs round differently).
        var readme = new Dictionary<string, (string Template, int Tokens, int TemplateTokens, double TemplateKl, double ContentKl, double HarmfulLast, double HarmfulLastDiffers,
            double HarmlessLast, double Judging, double Judgement, double[] Relative, double[] LensKl, double BaseForms, double PostForms, double Split, double ViaBaseHead)>
        {
            ["sft"] = ("tulu", 2862, 312, 5.37, 0.449, 10.59, 1.0, 7.63, 0.0154, 0.0049, [0.119, 0.140, 0.161, 0.174, 0.217, 0.345], [0.086, 0.121, 0.123, 0.170, 0.495, 0.986],
                3.26, 3.38, 4.19, 0.131),
            ["instruct"] = ("qwen2", 4062, 1512, 2.81, 0.288, 12.0, 0.958, 7.91, 0.0148, 0.0043, [0.132, 0.143, 0.172, 0.206, 0.277, 0.439], [0.177, 0.231, 0.257, 0.291, 0.809, 1.225],
                3.58, 3.62, 3.76, 0.085),
        };
        static void Near(double actual, double expected, string what) => Assert.That(actual, Is.EqualTo(expected).Within(0.02 * Math.Abs(expected) + 1e-4), what);
        foreach (var p in r.Pairs)
        {
            var want = readme[p.Post];
            DiffTotal T(string source, string cls) => p.Totals.Single(t => t.Source == source && t.TokenClass == cls);
            TestContext.Out.WriteLine($"{p.Post}: template {T("all", "template").MeanKl:F4}, content {T("all", "content").MeanKl:F4}, harmful last {T("harmful", "last").MeanKl:F3} " +
                $"({T("harmful", "last").Top1Disagreement:P0}), judging {T("judging", "all").MeanKl:F4}, judgement {T("judging", "last").MeanKl:F4}; split {p.Lens!.Split:F2}");
            Assert.That((p.Template, p.Tokens.Count, T("all", "template").Tokens), Is.EqualTo((want.Template, want.Tokens, want.TemplateTokens)), p.Post);
            Near(T("all", "template").MeanKl, want.TemplateKl, $"{p.Post} template KL");
            Near(T("all", "content").MeanKl, want.ContentKl, $"{p.Post} content KL");
            Assert.That(T("all", "template").MeanKl, Is.GreaterThan(6 * T("all", "content").MeanKl), "post-training acts on the template's tokens");
            Near(T("harmful", "last").MeanKl, want.HarmfulLast, $"{p.Post} harmful reply's first token");
            Assert.That(T("harmful", "last").Top1Disagreement, Is.EqualTo(want.HarmfulLastDiffers).Within(0.05), "the refusal");
            Near(T("harmless", "last").MeanKl, want.HarmlessLast, $"{p.Post} harmless reply's first token");
            Near(T("judging", "all").MeanKl, want.Judging, $"{p.Post} judging prompts");
            Near(T("judging", "last").MeanKl, want.Judgement, $"{p.Post} judgement");
            Assert.That(T("judging", "last").Top1Disagreement, Is.Zero, "the judgement never changes");
            for (int l = 0; l < 6; l++)
            {
                Near(p.Layers[l].Relative, want.Relative[l], $"{p.Post} layer {l} relative difference");
                Near(p.Layers[l].LensKl!.Value, want.LensKl[l], $"{p.Post} layer {l} lens KL");
            }
            Near(p.Lens.BaseForms, want.BaseForms, "base forms");
            Near(p.Lens.PostForms, want.PostForms, $"{p.Post} forms");
            Near(p.Lens.Split!.Value, want.Split, $"{p.Post} split");
            Near(p.Layers[5].PostThroughBaseHead!.KlToOwn, want.ViaBaseHead, $"{p.Post} via the base's head");
            Assert.That(p.Layers[5].PostThroughBaseHead!.KlToOwn, Is.LessThan(0.2 * p.Layers[5].LensKl!.Value), "the change lives in the residual stream, not the head");
        }
    }
}

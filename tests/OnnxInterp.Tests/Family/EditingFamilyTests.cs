using System.Text.Json;
using OnnxInterp.Analysis.Attribution;
using OnnxInterp.Analysis.Editing;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Family;

/// <summary>
/// The figures models/README.md gives for attribution and editing on the shipped family, measured again: the judging answer's
/// attributions in base and instruct, and the 20 facts of models/edit-facts.json edited into each.
/// </summary>
public class EditingFamilyTests
{
    TempDir _tmp = null!;

    [OneTimeSetUp]
    public void SetUp() => _tmp = new TempDir();

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    /// <summary>
    /// models/README.md, "Editing facts": layer 4 picked by tracing in both; 17 of 20 facts written; efficacy, paraphrase and
    /// specificity averaged over the facts; and the edited site's map turning from the old object to the target.
    /// </summary>
    [TestCase("base", 0.850, 0.7625, 0.965)]
    [TestCase("instruct", 0.850, 0.725, 0.975)]
    public void Edit_TwentyWorldFacts_HaveTheDocumentedScores(string member, double efficacy, double paraphrase, double specificity)
    {
        var facts = Path.Combine(ShippedFamily.RequireRoot(), "edit-facts.json");
        var outcome = ModelEditor.Run(new EditRequest
        {
            Checkpoint = ShippedFamily.Checkpoint(member), Facts = EditFacts.Read(facts), FactsFile = facts,
            OutputDirectory = _tmp.Sub("edited-" + member), CacheDirectory = _tmp.Sub("cache"),
        });
        var r = outcome.Record;
        Assert.That((r.Method.Layer, r.Site.ChosenBy, r.Site.TracedFacts, r.Method.Written), Is.EqualTo((4, "causal tracing", 20, 17)));
        Assert.That(r.Efficacy, Is.EqualTo(efficacy).Within(5e-4), "efficacy");
        Assert.That(r.Paraphrase, Is.EqualTo(paraphrase).Within(5e-4), "paraphrase");
        Assert.That(r.Specificity, Is.EqualTo(specificity).Within(5e-4), "specificity");
        Assert.That((r.Before.Efficacy, r.Before.Paraphrase, r.Before.Specificity), Is.EqualTo(((double?)0, (double?)0, (double?)1)));
        // Every fact but the elements' (symbols are letters of the element's own name) is written and wins on the re-exported model.
        foreach (var f in r.Facts.Where(f => f.Dataset != "element_symb"))
            Assert.That((f.Written, f.Efficacy), Is.EqualTo((true, 1.0)), f.Subject);
        var map = r.Site.Map!;
        Assert.That(map.SiteBefore, Is.LessThan(-1), "restoring the fact at the site pushed toward the old object");
        Assert.That(map.SiteAfter, Is.GreaterThan(0.5), "and now toward the target");
        Assert.That(r.Facts.Count(f => f.Generation.After.TrimStart().StartsWith(f.Target, StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(15));
        using var edited = ModelSession.Open(Path.Combine(outcome.OutputDirectory, EditRecord.ExportFolder));
        Assert.That(EditScoring.Score(edited, [EditWorld.Resolve(0, EditFacts.Read(facts)[0], OnnxInterp.Data.SyntheticWorld.Generate(1, OnnxInterp.Data.WorldSize.Family))])[0].Efficacy, Is.EqualTo(1));
    }

    /// <summary>
    /// models/README.md, "Attribution": the judging answer of cities statements in base and instruct. In both, the top word
    /// (largest |KernelSHAP score|) of every statement is its subject or its object, and the two models' word scores agree.
    /// </summary>
    [Test]
    public void Attribute_JudgingAnswer_SubjectAndObjectDriveIt_InBaseAndInstruct()
    {
        var root = ShippedFamily.RequireRoot();
        var dir = _tmp.Sub("attribution");
        var run = Run("attribute", "--base", Path.Combine(root, "base"), "--post", Path.Combine(root, "instruct"), "--datasets", "synthetic:cities",
            "--refusal-prompts", "0", "--method", "kernelshap", "--out", dir, "--cache-dir", _tmp.Sub("cache"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "results.json"))).RootElement;
        var section = results.GetProperty("attribution").GetProperty("cities").Deserialize<AttributionSection>(ResultsJson.Strict)!;
        Assert.That(section.Prompts, Has.Count.EqualTo(4));
        // "The city of S is in O.": the subject is word 3, the object word 6.
        double Share(string model) => section.Prompts.Average(p =>
        {
            var v = p.Models.Single(m => m.Model == model).Methods[0].Scores;
            return (Math.Abs(v[3]) + Math.Abs(v[6])) / v.Sum(Math.Abs);
        });
        Assert.That((Share("base"), Share("instruct")), Is.EqualTo((0.73, 0.62)).Using<(double, double)>((a, b) => Math.Abs(a.Item1 - b.Item1) < 0.005 && Math.Abs(a.Item2 - b.Item2) < 0.005));
        foreach (var p in section.Prompts)
            foreach (var m in p.Models)
            {
                var word = p.Words[AttributionAnalysis.TopWord(m.Methods[0].Scores)];
                Assert.That(new[] { p.Words[3], p.Words[6] }, Does.Contain(word), $"{m.Model}: {p.Text}");
                Assert.That(Math.Sign(m.Full), Is.EqualTo(p.Label == true ? 1 : -1), "both judge the statement right");
            }
        Assert.That(section.Agreement.Single().MeanSpearman, Is.EqualTo(0.964).Within(5e-4));
    }
}

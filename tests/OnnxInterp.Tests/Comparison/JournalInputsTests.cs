using OnnxInterp.Comparison;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>The journal's key covers every file a step reads, so a resumed run never reuses results of other inputs.</summary>
[TestFixture]
public class JournalInputsTests
{
    [Test]
    public void DatasetFingerprint_CoversTheFewShotSamplesBesideTheCsv()
    {
        using var tmp = new TempDir();
        var csv = tmp.Sub("animal_class.csv");
        File.WriteAllText(csv, "statement,label\nThe cat is a mammal.,1\nThe cat is a fish.,0\n");
        string alone = ComparisonSession.DatasetFingerprint(csv, 1);
        File.WriteAllText(tmp.Sub("few_shot_samples.json"), """[{"dataset_name": "animal_class", "few_shot_examples": ["The dog is a mammal. This statement is: TRUE"]}]""");
        string withExamples = ComparisonSession.DatasetFingerprint(csv, 1);
        File.WriteAllText(tmp.Sub("few_shot_samples.json"), """[{"dataset_name": "animal_class", "few_shot_examples": ["The dog is a bird. This statement is: FALSE"]}]""");
        string otherExamples = ComparisonSession.DatasetFingerprint(csv, 1);
        Assert.That(new[] { alone, withExamples, otherExamples }.Distinct().Count(), Is.EqualTo(3));
        Assert.That(alone, Does.StartWith("sha256:").And.Not.Contain("few_shot"));
        Assert.That(withExamples, Does.Contain("+ few_shot_samples.json sha256:"));
    }

    [Test]
    public void RefusalPart_WithAdvBenchAndAlpaca_NamesBothFiles()
    {
        var step = new RefusalStep();
        var options = step.PaperDefaults with { AdvBench = "harmful_behaviors.csv", Alpaca = "alpaca_data.json" };
        var part = step.Parts(new ComparisonConfig().Datasets, options).Single();
        Assert.That(part.Dataset, Is.EqualTo("harmful_behaviors.csv"));
        Assert.That(part.Files, Is.EqualTo(new[] { "alpaca_data.json" }));
        Assert.That(step.Parts(new ComparisonConfig().Datasets, step.Defaults).Single().Files, Is.Null);
    }
}

using OnnxInterp.Comparison;

namespace OnnxInterp.Tests.Comparison;

/// <summary>`demo --preset paper`: the demo's own settings must not contradict what the paper's protocol fixes.</summary>
[TestFixture]
public class DemoPresetTests
{
    [Test]
    public void DemoConfig_UnderEachPreset_ResolvesEveryAnalysisOptions()
    {
        foreach (var preset in ComparisonConfig.Presets)
        {
            var config = DemoComparison.ConfigFor(preset).Set($"preset={preset}");
            foreach (var step in ComparisonSteps.All)
                Assert.DoesNotThrow(() => step.ResolveOptions(config.AnalysisOptions.GetValueOrDefault(step.Name), config.Preset), $"{preset}: {step.Name}");
        }
    }

    [Test]
    public void DemoConfig_Default_IsTheDemosFamilySettings_Paper_KeepsOnlyDatasetsAndSizes()
    {
        var byDefault = DemoComparison.ConfigFor("default");
        Assert.That(byDefault.AnalysisOptions.ToDictionary(kv => kv.Key, kv => kv.Value.ToJsonString()),
            Is.EqualTo(DemoComparison.Config.AnalysisOptions.ToDictionary(kv => kv.Key, kv => kv.Value.ToJsonString())));
        var paper = DemoComparison.ConfigFor("paper");
        Assert.That(paper.Datasets, Is.EqualTo(DemoComparison.Config.Datasets));
        Assert.That(paper.AnalysisOptions.Keys, Is.EquivalentTo(new[] { "knowledge", "truth" }));
        Assert.That(paper.AnalysisOptions["truth"].ContainsKey("reading"), Is.False, "the paper reads the bare statement");
        // The default demo pins the refusal direction's place, which the paper's protocol refuses.
        var refused = Assert.Throws<InvalidArgumentException>(() =>
            ComparisonSteps.All.First(s => s.Name == "refusal").ResolveOptions(DemoComparison.Config.AnalysisOptions["refusal"], "paper"));
        Assert.That(refused!.Message, Does.Contain("refusal.layer"));
    }
}

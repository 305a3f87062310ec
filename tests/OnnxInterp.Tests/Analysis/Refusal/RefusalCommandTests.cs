using System.Text.Json;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Analysis.Refusal;

public class RefusalCommandTests
{
    [Test]
    public void Refusal_TwoModels_WritesTheReport_AndBadInputsAreErrors()
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("chat", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed });
            Assert.That(Run("export", tmp.Sub(name + "-hf"), "--out", tmp.Sub(name), "--no-hash").Code, Is.Zero);
        }
        File.WriteAllText(tmp.Sub("set.json"), """
            {"harmful": ["Rob a bank.", "Poison him.", "Burn it.", "Steal it.", "Hack it."],
             "harmless": ["Bake bread.", "Sing a song.", "Plant a tree.", "Name a cat.", "Write a poem."]}
            """);
        var ok = Run("refusal", "--base", tmp.Sub("base"), "--post", tmp.Sub("chat"), "--instructions", tmp.Sub("set.json"),
            "--template", "auto", "--template", "qwen2", "--layer", "1", "--position", "-1", "--max-new-tokens", "2", "--out", tmp.Sub("r"));
        Assert.That(ok.Code, Is.EqualTo(ExitCodes.Ok), ok.Err);
        Assert.That(ok.Out, Does.Contain("base: plain template, direction at layer 1, position -1 (given)").And.Contain("chat: qwen2 template"));
        // The analysis's own files sit in the report folder's data/refusal/, beside results.json's "refusal" section.
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r"), "data", "refusal", "refusal.json"))))
            Assert.That(json.RootElement.GetProperty("cells").GetArrayLength(), Is.EqualTo(2 * 6));
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r"), "data", "refusal", "refusal.md")), Does.Contain("ablate r(chat)"));
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r"), "report.md")), Does.Contain("ablate r(chat)"));
        using (var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r"), "results.json"))))
        {
            var root = results.RootElement;
            Assert.That(root.GetProperty("config").GetProperty("analyses").EnumerateArray().Select(a => a.GetString()), Is.EqualTo(new[] { "refusal" }));
            var config = root.GetProperty("config").GetProperty("refusal");
            Assert.That((config.GetProperty("layer").GetInt32(), config.GetProperty("maxNewTokens").GetInt32(), config.GetProperty("templates").GetProperty("chat").GetString()),
                Is.EqualTo((1, 2, "qwen2")), "the verb's options reach the config");
            var section = root.GetProperty("refusal");
            Assert.That(section.GetProperty("effects").GetArrayLength(), Is.EqualTo(2 * 2));
            Assert.That(section.GetProperty("scores")[1].GetProperty("model").GetString(), Is.EqualTo("chat"));
        }

        var auto = Run("refusal", "--base", tmp.Sub("base"), "--instructions", tmp.Sub("set.json"), "--max-new-tokens", "1", "--out", tmp.Sub("r2"));
        Assert.That(auto.Code, Is.EqualTo(ExitCodes.Ok), auto.Err);
        Assert.That(auto.Out, Does.Contain("(selected)"));

        var missing = Run("refusal", "--base", tmp.Sub("base"), "--instructions", tmp.Sub("nope.csv"), "--out", tmp.Sub("r3"));
        Assert.That(missing.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(missing.Err, Does.Contain("nope.csv"));
        var half = Run("refusal", "--base", tmp.Sub("base"), "--instructions", tmp.Sub("set.json"), "--layer", "1", "--out", tmp.Sub("r4"));
        Assert.That(half.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(half.Err, Does.Contain("position"));
        var template = Run("refusal", "--base", tmp.Sub("base"), "--template", "chatml9", "--out", tmp.Sub("r5"));
        Assert.That(template.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(template.Err, Does.Contain("chatml9"));
        Assert.That(Run("refusal", "--base", tmp.Sub("base")).Code, Is.EqualTo(ExitCodes.Usage), "--out is required");
        Assert.That(Directory.Exists(tmp.Sub("r3")) || Directory.Exists(tmp.Sub("r4")), Is.False, "nothing written on errors");
    }

    [Test]
    public void Refusal_Help_HasExamples() =>
        Assert.That(Run("refusal", "--help").Out, Does.Contain("Examples:").And.Contain("--instructions").And.Contain("onnxinterp refusal --base"));
}

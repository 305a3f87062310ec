using System.Text.Json.Nodes;
using OnnxInterp.Tests.Analysis.Paper;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Comparison;

/// <summary>How `compare` chooses each model's chat template: the checkpoint's own jinja chat_template, or --template.</summary>
[TestFixture]
public class ComparisonChatTemplateTests
{
    TempDir _tmp = null!;

    [OneTimeSetUp]
    public void Setup()
    {
        _tmp = new TempDir();
        // The instruct model carries the real Llama-3 tokenizer_config.json with its jinja chat_template; the base one the same
        // tokenizer without a template (a base model's config).
        PaperInputs.WriteTinyCheckpoint(_tmp.Sub("instruct"), "llama3.1", 2);
        PaperInputs.WriteTinyCheckpoint(_tmp.Sub("base"), "llama3.1", 1);
        var config = JsonNode.Parse(File.ReadAllText(_tmp.Sub("base/tokenizer_config.json")))!.AsObject();
        config.Remove("chat_template");
        File.WriteAllText(_tmp.Sub("base/tokenizer_config.json"), config.ToJsonString());
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    string[] Compare(string outDir, params string[] more) =>
        ["compare", "--base", _tmp.Sub("base"), "--post", _tmp.Sub("instruct"), "--datasets", PaperInputs.Dataset("cities.csv"), "--only", "knowledge",
         "--set", "knowledge.maxPairs=1", "--set", "knowledge.transfer=false", "--cache-dir", _tmp.Sub("cache"), "--out", outDir, .. more];

    [Test]
    public void Compare_CheckpointWithJinjaTemplate_RecordsTheTemplateAndHowItWasChosen()
    {
        var (code, stdout, stderr) = CliRunner.Run(Compare(_tmp.Sub("own")));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var models = JsonNode.Parse(File.ReadAllText(_tmp.Sub("own/results.json")))!["models"]!.AsArray();
        Assert.That(models[0]!["chatTemplate"]!.GetValue<string>(), Is.EqualTo("plain"));
        Assert.That(models[0]!["chatTemplateSource"]!.GetValue<string>(), Is.EqualTo("no chat template: plain"));
        // ../shared/tokenizers/llama3.1's tokenizer_config.json holds Meta-Llama-3-8B-Instruct's published template.
        Assert.That(models[1]!["chatTemplate"]!.GetValue<string>(), Is.EqualTo("llama3"));
        Assert.That(models[1]!["chatTemplateSource"]!.GetValue<string>(), Is.EqualTo("chat_template: recognised as llama3"));
        Assert.That(File.ReadAllText(_tmp.Sub("own/report.md")), Does.Contain("llama3 (chat_template: recognised as llama3)"));
    }

    [Test]
    public void Compare_TemplateOption_OverridesTheFolders()
    {
        var (code, stdout, stderr) = CliRunner.Run(Compare(_tmp.Sub("override"), "--template", "instruct=llama3.1"));
        Assert.That(code, Is.EqualTo(0), stderr + stdout);
        var models = JsonNode.Parse(File.ReadAllText(_tmp.Sub("override/results.json")))!["models"]!.AsArray();
        Assert.That((models[1]!["chatTemplate"]!.GetValue<string>(), models[1]!["chatTemplateSource"]!.GetValue<string>()), Is.EqualTo(("llama3.1", "--template")));
        Assert.That(models[0]!["chatTemplate"]!.GetValue<string>(), Is.EqualTo("plain"));
    }

    [TestCase("astrology", "unknown chat template")]
    [TestCase("nobody=llama3", "no model is named so")]
    public void Compare_BadTemplateOption_IsATypedError(string value, string message)
    {
        var (code, _, stderr) = CliRunner.Run(Compare(_tmp.Sub("bad-" + value.Replace('=', '_')), "--template", value));
        Assert.That(code, Is.EqualTo(OnnxInterp.Cli.ExitCodes.InvalidInput));
        Assert.That(stderr, Does.Contain(message).And.Contain("--template"));
    }

    [Test]
    public void Compare_UnrenderableChatTemplate_NamesTheFileAndHowToChoose()
    {
        using var tmp = new TempDir();
        PaperInputs.WriteTinyCheckpoint(tmp.Sub("post"), "llama3.1", 3);
        var config = JsonNode.Parse(File.ReadAllText(tmp.Sub("post/tokenizer_config.json")))!.AsObject();
        config["chat_template"] = "{% for m in messages %}{{ m.content | no_such_filter }}{% endfor %";
        File.WriteAllText(tmp.Sub("post/tokenizer_config.json"), config.ToJsonString());
        var (code, _, stderr) = CliRunner.Run("compare", "--base", _tmp.Sub("base"), "--post", tmp.Sub("post"), "--datasets", PaperInputs.Dataset("cities.csv"),
            "--only", "knowledge", "--cache-dir", tmp.Sub("cache"), "--out", tmp.Sub("r"));
        Assert.That(code, Is.EqualTo(OnnxInterp.Cli.ExitCodes.InvalidInput), stderr);
        Assert.That(stderr, Does.Contain("tokenizer_config.json").And.Contain("chat_template").And.Contain("--template"));
        Assert.That(Directory.Exists(tmp.Sub("r/.journal")) && Directory.EnumerateFiles(tmp.Sub("r/.journal")).Any(), Is.False, "nothing half-written");
    }
}

using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Cli;

/// <summary>`edit` as a user meets it on a tiny random checkpoint: what it prints and writes, and bad input as exit code 2 naming the field.</summary>
public class EditCommandTests
{
    TempDir _tmp = null!;
    string _tiny = null!, _facts = null!, _corpus = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _tmp = new TempDir();
        _tiny = _tmp.Sub("tiny");
        RandomCheckpoint.Write(_tiny, new RandomCheckpointSpec { Layers = 2, IntermediateSize = 48, Seed = 9, TokenizerDirectory = ShippedFamily.Checkpoint("base") });
        _facts = _tmp.Sub("facts.json");
        File.WriteAllText(_facts, """
            [
              {"subject": "Xaqo", "prompt": "The city of Xaqo is in", "target": "Medali", "old": "Diso", "paraphrases": ["Xaqo is a city in"], "neighbours": ["The city of Xoqa is in"]},
              {"subject": "Xuqe", "prompt": "The city of Xuqe is in", "target": "Neba", "old": "Fizi"}
            ]
            """);
        _corpus = _tmp.Sub("corpus.txt");
        File.WriteAllLines(_corpus, SyntheticWorld.Generate(1, WorldSize.Family).GenericSentences.Take(40));
    }

    [OneTimeTearDown]
    public void TearDown() => _tmp.Dispose();

    string[] Args(string outDir, params string[] more) =>
        ["edit", _tiny, "--facts", _facts, "--out", outDir, "--corpus", _corpus, "--cache-dir", _tmp.Sub("cache"), "--margin", "1", .. more];

    [Test]
    public void Edit_TinyCheckpoint_PrintsScoresAndWritesTheFolder()
    {
        var dir = _tmp.Sub("edited");
        var run = Run(Args(dir, "--layer", "0"));
        Assert.That(run.Code, Is.EqualTo(ExitCodes.Ok), run.Err);
        Assert.That(run.Out, Does.StartWith("edited layer 0 (given) of ").And.Contain("The city of Xaqo is in [Diso -> Medali]").And.Contain("average: efficacy ")
            .And.Contain("re-traced: restoring the fact at layer 0").And.Contain($"scores in {Path.Combine(dir, "edit.json")}"));
        Assert.That(run.Err, Does.Contain("key statistics of layer 0 over 40 corpus texts"));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "edit.json")))!;
        Assert.That(json["method"]!["corpus"]!["source"]!.GetValue<string>(), Is.EqualTo(_corpus));
        Assert.That(json["source"]!["facts"]!.GetValue<string>(), Is.EqualTo(_facts));
        Assert.That(json["method"]!["margin"]!.GetValue<double>(), Is.EqualTo(1));
        using (HfCheckpoint.Open(dir)) { }
        Assert.That(File.Exists(Path.Combine(dir, "onnx", "manifest.json")));
        Assert.That(Directory.GetFileSystemEntries(_tmp.Path, ".edited.*"), Is.Empty, "the staging folder was moved into place");
    }

    [Test]
    public void Edit_BadInput_ExitCode2NamingFieldAndValue()
    {
        var layer = Run(Args(_tmp.Sub("x"), "--layer", "7"));
        Assert.That(layer.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(layer.Err, Does.Contain("layer outside 0..1").And.Contain("field 'layer'").And.Contain("value '7'"));

        var facts = _tmp.Sub("bad-facts.json");
        File.WriteAllText(facts, """[{"subject": "Paris", "prompt": "The city of Xaqo is in", "target": "Medali"}]""");
        var subject = Run(["edit", _tiny, "--facts", facts, "--out", _tmp.Sub("x")]);
        Assert.That(subject.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(subject.Err, Does.Contain("the subject is not in the prompt").And.Contain("field '[0].subject'").And.Contain("value 'Paris'"));

        File.WriteAllText(_tmp.Sub("tiny-corpus.txt"), "Xaqo.");
        var corpus = Run(["edit", _tiny, "--facts", _facts, "--out", _tmp.Sub("x"), "--corpus", _tmp.Sub("tiny-corpus.txt"), "--layer", "0", "--cache-dir", _tmp.Sub("cache")]);
        Assert.That(corpus.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(corpus.Err, Does.Contain("too small for a covariance estimate").And.Contain("field 'corpus'"));

        var margin = Run(["edit", _tiny, "--facts", _facts, "--out", _tmp.Sub("x"), "--margin", "0"]);
        Assert.That(margin.Err, Does.Contain("field '--margin'"));
        Assert.That(Path.Exists(_tmp.Sub("x")), Is.False, "nothing written");

        var help = Run("edit", "--help");
        Assert.That(help.Out, Does.Contain("ROME").And.Contain("Examples:").And.Contain("--facts"));
    }
}

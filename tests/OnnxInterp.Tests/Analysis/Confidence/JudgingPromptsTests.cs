using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Checkpoints;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Confidence;

public class JudgingPromptsTests
{
    [Test]
    public void Build_FewShotPrefixThenStatement_ExamplesLeftOut_Seeded()
    {
        using var tmp = new TempDir();
        RandomCheckpoint.Write(tmp.Path, new RandomCheckpointSpec { Layers = 1 });
        var tok = HfTokenizer.FromDirectory(tmp.Path);
        var world = SyntheticWorld.Generate(1);
        var data = world.ToDataset(SyntheticWorld.Cities);
        var shots = world.FewShot(SyntheticWorld.Cities);

        var prompts = JudgingPrompts.Build(data, shots, tok, max: 40, seed: 3);
        Assert.That(prompts, Has.Count.EqualTo(40));
        Assert.That(prompts.Select(p => p.Statement).Intersect(shots.Select(s => s.Statement)), Is.Empty);
        Assert.That(prompts.Select(p => p.Label).Distinct().Count(), Is.EqualTo(2), "the shuffle mixes both labels");
        foreach (var p in prompts.Take(5))
        {
            var text = tok.Decode(p.Tokens, skipSpecialTokens: true);
            Assert.That(text, Does.EndWith("\n" + p.Statement + " This statement is:"));
            Assert.That(text.Split('\n'), Has.Length.EqualTo(5), "four examples, then the statement");
            foreach (var (s, t) in shots) Assert.That(text, Does.Contain($"{s} This statement is: {(t ? "TRUE" : "FALSE")}\n"));
            Assert.That(data.Statements.First(x => x.Text == p.Statement).Label == 1, Is.EqualTo(p.Label));
        }
        Assert.That(JudgingPrompts.Build(data, shots, tok, max: 40, seed: 3).Select(p => p.Tokens), Is.EqualTo(prompts.Select(p => p.Tokens)));
        Assert.That(JudgingPrompts.Build(data, shots, tok, seed: 3), Has.Count.EqualTo(data.Statements.Count - 4));
        Assert.Throws<InvalidArgumentException>(() => JudgingPrompts.Build(data, [], tok));
    }
}

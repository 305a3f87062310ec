using System.Collections.Immutable;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis;

public class PairCurationTests
{
    static HfTokenizer Tokenizer(IEnumerable<string> corpus, int vocab, TempDir tmp)
    {
        File.WriteAllText(tmp.Sub("tokenizer.json"), BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(vocab, ["<s>"], "<s>")));
        return HfTokenizer.FromDirectory(tmp.Path);
    }

    static Statement S(string text, int label) => new(text, label, ImmutableDictionary<string, string>.Empty);

    [Test]
    public void Curate_HandMadeDataset_PairsSameObjectDifferentSubject()
    {
        using var tmp = new TempDir();
        var d = new StatementDataset("cities", [
            S("The city of Paris is in France.", 1), S("The city of Rome is in Italy.", 1), S("The city of Oslo is in Norway.", 1),
            S("The city of Rome is in France.", 0), S("The city of Paris is in Italy.", 0), S("The city of Madrid is in Norway.", 0),
        ], []);
        // A word-level vocabulary: every word one token, except "Madrid", which stays in pieces.
        var tok = Tokenizer(Enumerable.Repeat("The city of Paris is in France. Rome Italy Oslo Norway", 20).Append("Madrid"), 320, tmp);
        var r = PairCuration.Curate(d, tok);

        Assert.That(r.Pairs.Select(p => (p.True, p.False)), Is.EqualTo(new[]
        {
            ("The city of Paris is in France.", "The city of Rome is in France."),
            ("The city of Rome is in Italy.", "The city of Paris is in Italy."),
        }), "Oslo's only false partner has a subject of another token count");
        Assert.That((r.TrueStatements, r.FalseStatements, r.Unpaired), Is.EqualTo((3, 3, 1)));
        var p = r.Pairs[0];
        Assert.That(p.Labels, Is.EqualTo(new[] { "The", "city", "of", "s1", "is", "in", "o1", "." }));
        Assert.That(p.Roles.Count(x => x == TokenRole.Subject), Is.EqualTo(1));
    }

    [Test]
    public void Curate_PaperCities_EveryPairDiffersOnlyInTheSubject()
    {
        var path = SharedPath("cities.csv");
        var d = StatementDataset.Read(path);
        using var tmp = new TempDir();
        var tok = Tokenizer(d.Statements.Select(s => s.Text), 3000, tmp);
        var r = PairCuration.Curate(d, tok);
        TestContext.Out.WriteLine($"cities: {r.Pairs.Count} pairs from {r.TrueStatements} true / {r.FalseStatements} false statements ({r.TrueFitting} true fit the template)");
        Assert.That(r.Pairs, Has.Count.GreaterThan(100));
        Assert.That(r.Pairs.Select(p => p.False).Distinct().Count(), Is.EqualTo(r.Pairs.Count), "each false statement used once");
        foreach (var p in r.Pairs)
        {
            Assert.That(p.FalseTokens, Has.Length.EqualTo(p.TrueTokens.Length));
            Assert.That(p.True.EndsWith($" {p.Object}.", StringComparison.Ordinal) && p.False.EndsWith($" {p.Object}.", StringComparison.Ordinal));
            Assert.That(p.TrueSubject, Is.Not.EqualTo(p.FalseSubject));
            for (int i = 0; i < p.TrueTokens.Length; i++)
                if (p.Roles[i] != TokenRole.Subject) Assert.That(p.FalseTokens[i], Is.EqualTo(p.TrueTokens[i]), $"{p.True} / {p.False} at {i}");
            Assert.That(d.Statements.Single(s => s.Text == p.True).Label, Is.EqualTo(1));
            Assert.That(d.Statements.Single(s => s.Text == p.False).Label, Is.Zero);
        }
        // Restricting the subject to 3 tokens, as the paper's cities template ([s1], [s2], [s3]) does, keeps a subset.
        var three = PairCuration.Curate(d, tok, subjectTokens: 3);
        Assert.That(three.Pairs.All(p => p.Roles.Count(x => x == TokenRole.Subject) == 3));
        Assert.That(three.Pairs.Count, Is.LessThan(r.Pairs.Count));
    }

    static string SharedPath(string name)
    {
        var dir = TestContext.CurrentContext.TestDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OnnxInterp.sln"))) dir = Path.GetDirectoryName(dir);
        var path = Path.Combine(Path.GetDirectoryName(dir!)!, "shared", "datasets", "paper", name);
        if (!File.Exists(path)) Assert.Ignore($"paper dataset not found: {path}");
        return path;
    }
}

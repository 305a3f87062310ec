using OnnxInterp.Data;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Data;

public class DatasetTests
{
    static string? SharedDataset(string name)
    {
        var dir = TestContext.CurrentContext.TestDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OnnxInterp.sln"))) dir = Path.GetDirectoryName(dir);
        var path = dir is null ? null : Path.Combine(Path.GetDirectoryName(dir)!, "shared", "datasets", "paper", name);
        if (path is null || !File.Exists(path)) Assert.Ignore($"paper dataset not found: {path ?? name}");
        return path;
    }

    [Test]
    public void Read_PaperCities_KeepsExtraColumns()
    {
        var d = StatementDataset.Read(SharedDataset("cities.csv")!);
        Assert.That(d.Name, Is.EqualTo("cities"));
        Assert.That(d.Statements, Has.Count.EqualTo(1496));
        Assert.That(d.ExtraColumns, Is.EqualTo(new[] { "city", "country", "correct_country" }));
        Assert.That(d.Statements[0], Has.Property("Text").EqualTo("The city of Krasnodar is in Russia.").And.Property("Label").EqualTo(1));
        Assert.That(d.Statements[1].Extra["country"], Is.EqualTo("South Africa"));
        Assert.That(d.Statements[1].Extra["correct_country"], Is.EqualTo("Russia"));
    }

    [TestCase("sp_en_trans.csv", 354)]
    [TestCase("larger_than.csv", 1980)]
    [TestCase("refusal_train.csv", 256)]  // counts from Python's csv module (quoted fields span lines)
    [TestCase("tulu_extracted.csv", 200)]
    public void Read_PaperFiles_AllRows(string file, int rows) =>
        Assert.That(StatementDataset.Read(SharedDataset(file)!).Statements, Has.Count.EqualTo(rows));

    [Test]
    public void WriteThenRead_RoundTripsQuotesAndCommas()
    {
        using var tmp = new TempDir();
        var d = new StatementDataset("x", [
            new Statement("The Spanish word 'con' means \"with\", not 'to speak'.", 1, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("n1", "5")),
            new Statement("Plain.", 0, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("n1", "")),
        ], ["n1"]);
        d.Write(tmp.Sub("x.csv"));
        var back = StatementDataset.Read(tmp.Sub("x.csv"));
        Assert.That(back.Statements.Select(s => (s.Text, s.Label, s.Extra["n1"])), Is.EqualTo(d.Statements.Select(s => (s.Text, s.Label, s.Extra["n1"]))));
    }

    [TestCase("statement,label\nA.,2\n", "line 2.label", "2")]
    [TestCase("text,label\nA.,1\n", "header", "text,label")]
    [TestCase("statement,label\n,1\n", "line 2.statement", null)]
    public void Read_BadCsv_NamesFileFieldAndValue(string content, string field, string? value)
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("bad.csv");
        File.WriteAllText(path, content);
        var e = Assert.Throws<InvalidFileException>(() => StatementDataset.Read(path))!;
        Assert.That((e.File, e.Field, e.Value), Is.EqualTo((path, field, value)));
    }

    [Test]
    public void SyntheticWorld_IsDeterministicAndConsistent()
    {
        var a = SyntheticWorld.Generate(7);
        var b = SyntheticWorld.Generate(7);
        var c = SyntheticWorld.Generate(8);
        Assert.That(a.ToDataset(SyntheticWorld.Cities).Statements.Select(s => s.Text), Is.EqualTo(b.ToDataset(SyntheticWorld.Cities).Statements.Select(s => s.Text)));
        Assert.That(a.Facts[SyntheticWorld.Cities][0].True, Is.Not.EqualTo(c.Facts[SyntheticWorld.Cities][0].True));
        foreach (var name in SyntheticWorld.StatementDatasets)
        {
            var facts = a.Facts[name];
            Assert.That(facts, Has.Count.GreaterThan(40), name);
            Assert.That(facts.All(f => f.True != f.False && f.Object != f.WrongObject), name);
            Assert.That(a.Judged(name).Count + a.HeldOut(name).Count, Is.EqualTo(facts.Count));
            Assert.That(a.Judged(name).Select(f => f.True).Intersect(a.HeldOut(name).Select(f => f.True)), Is.Empty);
            Assert.That(a.FewShot(name), Has.Count.EqualTo(4));
        }
        // A false city statement names another country; larger/smaller statements agree with their numbers.
        var city = a.ToDataset(SyntheticWorld.Cities).Statements[1];
        Assert.That(city.Label, Is.Zero);
        Assert.That(city.Extra["country"], Is.Not.EqualTo(city.Extra["correct_country"]));
        foreach (var s in a.ToDataset(SyntheticWorld.LargerThan).Statements)
            Assert.That(int.Parse(s.Extra["n1"]) > int.Parse(s.Extra["n2"]), Is.EqualTo(s.Label == 1), s.Text);
        Assert.That(a.Instructions.Count(i => i.Harmful), Is.EqualTo(240));
        // The held-out facts' objects also occur among the judged facts (the split is random, not by object).
        foreach (var name in new[] { SyntheticWorld.Cities, SyntheticWorld.Animals })
            Assert.That(a.HeldOut(name).Select(f => f.Object).Except(a.Judged(name).Select(f => f.Object)), Is.Empty, name);
        Assert.That(a.Instructions.Where(i => i.Harmful).All(i => i.Refusal.StartsWith("I", StringComparison.Ordinal) || i.Refusal.StartsWith("As an AI", StringComparison.Ordinal)));
    }

    [Test]
    public void SyntheticWorld_CsvsReadBackInThePaperFormat()
    {
        using var tmp = new TempDir();
        var w = SyntheticWorld.Generate(3);
        w.WriteCsvs(tmp.Path);
        foreach (var name in SyntheticWorld.StatementDatasets)
        {
            var d = StatementDataset.Read(Path.Combine(tmp.Path, name + ".csv"));
            Assert.That(d.Statements, Has.Count.EqualTo(2 * w.Facts[name].Count), name);
            Assert.That(d.TrueCount * 2, Is.EqualTo(d.Statements.Count));
        }
        Assert.That(StatementDataset.Read(Path.Combine(tmp.Path, "refusal.csv")).TrueCount, Is.EqualTo(240));
    }
}

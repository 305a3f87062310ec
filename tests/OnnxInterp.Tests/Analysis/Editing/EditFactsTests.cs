using OnnxInterp.Analysis.Editing;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Analysis.Editing;

/// <summary>The facts file (typed errors naming the fact and field) and the synthetic world's completion of its facts.</summary>
public class EditFactsTests
{
    static InvalidFileException ReadBad(TempDir tmp, string json)
    {
        var path = tmp.Sub("facts.json");
        File.WriteAllText(path, json);
        return Assert.Throws<InvalidFileException>(() => EditFacts.Read(path))!;
    }

    [Test]
    public void Read_GoodFile_AllFields()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("facts.json");
        File.WriteAllText(path, """[{"subject": "Paris", "prompt": "Paris is the capital of", "target": "Italy", "old": "France", "paraphrases": ["Paris lies in"], "neighbours": ["Lyon is in"]}]""");
        var f = EditFacts.Read(path).Single();
        Assert.That((f.Subject, f.Prompt, f.Target, f.Old), Is.EqualTo(("Paris", "Paris is the capital of", "Italy", "France")));
        Assert.That((f.Paraphrases!.Single(), f.Neighbours!.Single()), Is.EqualTo(("Paris lies in", "Lyon is in")));
    }

    [Test]
    public void Read_BadFacts_TypedErrorsNamingFactAndField()
    {
        using var tmp = new TempDir();
        var missing = ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": "Italy"}, {"subject": "Rome", "prompt": "The city is in", "target": "France"}]""");
        Assert.That((missing.Field, missing.Value), Is.EqualTo(("[1].subject", "Rome")));
        Assert.That(missing.Message, Does.Contain("the subject is not in the prompt"));
        Assert.That(ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in"}]""").Message, Does.Contain("target"));
        Assert.That(ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": "Italy", "object": "x"}]""").Message, Does.Contain("object"));
        Assert.That(ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": " "}]""").Field, Is.EqualTo("[0].target"));
        Assert.That(ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": "Italy", "old": "Italy"}]""").Field, Is.EqualTo("[0].old"));
        Assert.That(ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": "Italy", "paraphrases": [""]}]""").Field, Is.EqualTo("[0].paraphrases[0]"));
        var twice = ReadBad(tmp, """[{"subject": "Paris", "prompt": "Paris is in", "target": "Italy"}, {"subject": "Paris", "prompt": "Paris lies in", "target": "Spain"}]""");
        Assert.That((twice.Field, twice.Value), Is.EqualTo(("[1].subject", "Paris")));
        Assert.That(ReadBad(tmp, "[]").Field, Is.EqualTo("facts"));
        Assert.That(ReadBad(tmp, "{\"subject\": \"Paris\"}").Message, Does.Contain("not a JSON array of facts"));
        Assert.That(ReadBad(tmp, "[null]").Field, Is.EqualTo("[0]"));
        Assert.That(Assert.Throws<InvalidFileException>(() => EditFacts.Read(tmp.Sub("none.json")))!.Message, Does.Contain("cannot read the facts file"));
    }

    [Test]
    public void WorldPhrasings_ReproduceTheWorldsStatements_AndThePromptsEndBeforeTheObject()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        foreach (var (dataset, shape) in WorldPhrasings.Shapes)
            foreach (var f in world.Facts[dataset].Take(20))
                Assert.That(shape.Replace("{s}", f.Subject).Replace("{o}", f.Object), Is.EqualTo(f.True), dataset);
        Assert.That(WorldPhrasings.Prompt(WorldPhrasings.Shapes["cities"], "Kemefe"), Is.EqualTo("The city of Kemefe is in"));
        Assert.That(WorldPhrasings.Prompt(WorldPhrasings.Shapes["sp_en_trans"], "gato"), Is.Null, "the object follows a quote, not a space");
        Assert.That(OnnxInterp.Trainer.Family.FamilyCorpus.Paraphrases, Is.SameAs(WorldPhrasings.Paraphrases), "the trainer states facts in the same shapes");
    }

    [Test]
    public void Resolve_WorldFact_OldParaphrasesNeighboursAndDonorsFromTheWorld()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var fact = world.Facts["cities"][0];
        var target = world.Facts["cities"].First(f => f.Object != fact.Object).Object;
        var r = EditWorld.Resolve(0, new EditFact(fact.Subject, $"The city of {fact.Subject} is in", target), world, neighbours: 5, donors: 7);
        Assert.That((r.Old, r.OldSource, r.Dataset), Is.EqualTo((fact.Object, "world", "cities")));
        Assert.That(r.Paraphrases, Has.Count.EqualTo(4).And.All.Contain(fact.Subject).And.No.EqualTo(r.Prompt));
        Assert.That(r.Neighbours, Has.Count.EqualTo(5));
        Assert.That(r.Neighbours.Select(n => n.Answer), Is.All.EqualTo(fact.Object), "CounterFact's neighbourhood: other subjects with the old object");
        Assert.That(r.Neighbours.Select(n => n.Prompt), Has.None.Contain(fact.Subject).And.All.StartsWith("The city of "));
        Assert.That(r.Donors, Has.Count.EqualTo(7));
        Assert.That(r.Donors.Select(d => world.Facts["cities"].First(f => f.Subject == d).Object), Is.All.EqualTo(target));

        // Given fields win; a subject outside the world keeps what it gives and leaves the old object to the model.
        var given = EditWorld.Resolve(1, new EditFact(fact.Subject, $"The city of {fact.Subject} is in", target) { Old = "Nowhere", Neighbours = ["The city of Zz is in"] }, world);
        Assert.That((given.Old, given.OldSource, given.Neighbours.Single()), Is.EqualTo(("Nowhere", "fact", new EditNeighbour("The city of Zz is in", "Nowhere"))));
        var outside = EditWorld.Resolve(2, new EditFact("Paris", "Paris is in", "Italy"), world);
        Assert.That((outside.Old, outside.OldSource, outside.Dataset, outside.Paraphrases.Count, outside.Donors.Count), Is.EqualTo(("", "model", (string?)null, 0, 0)));
    }

    [Test]
    public void Sample_DrawsFactsOfEachDataset_WithAnotherObjectOfTheDataset()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var facts = EditWorld.Sample(world, EditWorld.Editable, 5);
        Assert.That(facts, Has.Count.EqualTo(20));
        foreach (var f in facts)
        {
            var wf = EditWorld.Editable.Select(d => world.Facts[d].FirstOrDefault(x => x.Subject == f.Subject)).OfType<WorldFact>().Single();
            Assert.That(f.Target, Is.Not.EqualTo(wf.Object));
            Assert.That(world.Facts[wf.Dataset].Select(x => x.Object), Does.Contain(f.Target));
        }
        Assert.That(Assert.Throws<InvalidArgumentException>(() => EditWorld.Sample(world, ["sp_en_trans"], 1))!.Field, Is.EqualTo("datasets"));
    }
}

using OnnxInterp.Data;

namespace OnnxInterp.Analysis.Editing;

/// <summary>A neighbourhood prompt and the answer it should keep.</summary>
public sealed record EditNeighbour(string Prompt, string Answer);

/// <summary>
/// A fact with everything the edit and its scores need: the old object (and where it came from: "fact", "world" or "model"),
/// paraphrases, neighbours, the synthetic world's dataset when the subject is the world's, and donors (other subjects whose
/// answer is already the target, in the fact's prompt: the value search moves toward them).
/// </summary>
public sealed record ResolvedFact(int Index, string Subject, string Prompt, string Target, string Old, string OldSource,
    IReadOnlyList<string> Paraphrases, IReadOnlyList<EditNeighbour> Neighbours, string? Dataset, IReadOnlyList<string> Donors)
{
    /// <summary>The prompt with its subject (last occurrence) replaced by <paramref name="other"/>.</summary>
    public string PromptFor(string other)
    {
        int at = Prompt.LastIndexOf(Subject, StringComparison.Ordinal);
        return Prompt[..at] + other + Prompt[(at + Subject.Length)..];
    }
}

/// <summary>Completes facts from the synthetic world: the subject's dataset, its object, paraphrases, neighbours and donors.</summary>
public static class EditWorld
{
    /// <summary>
    /// The fact with the world's defaults where it leaves them out and its subject is a subject of the world (of a dataset
    /// whose object follows a space): the old object is the world's; paraphrases are the subject in the dataset's other shapes
    /// (<see cref="WorldPhrasings"/>) up to the object, except the fact's own prompt; neighbours are up to
    /// <paramref name="neighbours"/> other subjects of the dataset in the fact's prompt, those sharing the old object first
    /// (CounterFact's neighbourhood), each with its own object; donors are up to <paramref name="donors"/> subjects whose
    /// object is the target. Facts of subjects outside the world keep what they give (an old object then comes from the model).
    /// </summary>
    public static ResolvedFact Resolve(int index, EditFact fact, SyntheticWorld? world, int neighbours = 10, int donors = 20)
    {
        var (dataset, wf) = Find(world, fact.Subject);
        string target = fact.Target.Trim();
        string? old = fact.Old?.Trim() ?? wf?.Object;
        var source = fact.Old is not null ? "fact" : wf is not null ? "world" : "model";
        IReadOnlyList<string> paraphrases = fact.Paraphrases ?? (dataset is null ? []
            : WorldPhrasings.Paraphrases.GetValueOrDefault(dataset, []).Append(WorldPhrasings.Shapes[dataset])
                .Select(s => WorldPhrasings.Prompt(s, fact.Subject)).OfType<string>().Where(p => p != fact.Prompt).Distinct().ToList());
        var resolved = new ResolvedFact(index, fact.Subject, fact.Prompt, target, old ?? "", source, paraphrases, [], dataset, []);
        IReadOnlyList<EditNeighbour> near;
        if (fact.Neighbours is { } given) near = given.Select(p => new EditNeighbour(p, old ?? "")).ToList();
        else if (dataset is null) near = [];
        else
        {
            var others = world!.Facts[dataset].Where(f => f.Subject != fact.Subject && f.Object != target).ToList();
            near = others.Where(f => f.Object == old).Concat(others.Where(f => f.Object != old)).Take(neighbours)
                .Select(f => new EditNeighbour(resolved.PromptFor(f.Subject), f.Object)).ToList();
        }
        var donorSubjects = dataset is null ? [] : world!.Facts[dataset].Where(f => f.Object == target && f.Subject != fact.Subject).Take(donors).Select(f => f.Subject).ToList();
        return resolved with { Neighbours = near, Donors = donorSubjects };
    }

    /// <summary>Facts of the world to edit: <paramref name="perDataset"/> facts of each dataset (a seeded draw), each given another object of its dataset as the target.</summary>
    public static IReadOnlyList<EditFact> Sample(SyntheticWorld world, IReadOnlyList<string> datasets, int perDataset, int seed = 1)
    {
        var rng = new Random(seed);
        var result = new List<EditFact>();
        foreach (var d in datasets)
        {
            if (!WorldPhrasings.Shapes.TryGetValue(d, out var shape) || WorldPhrasings.Prompt(shape, "x") is null)
                throw new InvalidArgumentException($"the dataset's object does not follow a space; editable: {string.Join(", ", Editable)}", "datasets", d);
            var facts = world.Facts[d];
            var objects = facts.Select(f => f.Object).Distinct().ToList();
            foreach (var f in facts.OrderBy(_ => rng.Next()).Take(perDataset))
            {
                var others = objects.Where(o => o != f.Object).ToList();
                result.Add(new EditFact(f.Subject, WorldPhrasings.Prompt(shape, f.Subject)!, others[rng.Next(others.Count)]));
            }
        }
        return result;
    }

    /// <summary>
    /// The key statistics' corpus from the world, when none is given: its generic sentences and the first 100 statements of
    /// each dataset (true ones, in the paper's shape), text the family was trained on.
    /// </summary>
    public static IReadOnlyList<string> Corpus(SyntheticWorld world) =>
        [.. world.GenericSentences, .. SyntheticWorld.StatementDatasets.SelectMany(d => world.Facts[d].Take(100).Select(f => f.True))];

    /// <summary>The world's datasets whose facts can be edited and completed: their object follows a space and they have subjects.</summary>
    public static readonly IReadOnlyList<string> Editable = [SyntheticWorld.Cities, SyntheticWorld.Animals, SyntheticWorld.Elements, SyntheticWorld.Inventors];

    static (string? Dataset, WorldFact? Fact) Find(SyntheticWorld? world, string subject)
    {
        if (world is null) return (null, null);
        foreach (var d in Editable)
            if (world.Facts[d].FirstOrDefault(f => f.Subject == subject) is { } f) return (d, f);
        return (null, null);
    }
}

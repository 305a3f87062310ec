namespace OnnxInterp.Data;

/// <summary>
/// How the synthetic world states its facts: each dataset's sentence shape (the paper's, {s} the subject and {o} the object)
/// and the other shapes the family's pretraining also states them in (subject first), which model editing reads as a fact's
/// paraphrases. Comparisons have none: their judging is a rule.
/// </summary>
public static class WorldPhrasings
{
    /// <summary>The paper's shape of each statement dataset, as <see cref="SyntheticWorld"/> writes its statements.</summary>
    public static readonly IReadOnlyDictionary<string, string> Shapes = new Dictionary<string, string>
    {
        [SyntheticWorld.Cities] = "The city of {s} is in {o}.",
        [SyntheticWorld.Animals] = "The {s} is a {o}.",
        [SyntheticWorld.Elements] = "{s} has the symbol {o}.",
        [SyntheticWorld.Inventors] = "{s} lived in {o}.",
        [SyntheticWorld.LargerThan] = "{s} is larger than {o}.",
        [SyntheticWorld.SmallerThan] = "{s} is smaller than {o}.",
        [SyntheticWorld.Translations] = "The Spanish word '{s}' means '{o}'.",
    };

    /// <summary>
    /// Other ways the family's pretraining states a fact (the trainer's <c>FamilyCorpus</c> draws from them): stated in
    /// several shapes, a fact is stored with its subject rather than as the continuation of one sentence (Allen-Zhu and Li,
    /// "Physics of Language Models 3.1": knowledge augmentation).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> Paraphrases = new Dictionary<string, string[]>
    {
        [SyntheticWorld.Cities] = ["{s} is a city in {o}.", "{s} lies in the country of {o}.", "The people of {s} live in {o}.", "Travellers to {s} arrive in {o}."],
        [SyntheticWorld.Animals] = ["A {s} is a kind of {o}.", "The {s} belongs with the {o} group.", "Biologists count the {s} as a {o}."],
        [SyntheticWorld.Elements] = ["The symbol of {s} is {o}.", "Chemists write {s} as {o}.", "In tables, {s} appears as {o}."],
        [SyntheticWorld.Inventors] = ["The inventor {s} lived in {o}.", "{s} made a home in {o}.", "{s} was a resident of {o}.", "{s} worked all life in {o}."],
        [SyntheticWorld.Translations] = ["'{s}' is Spanish for '{o}'.", "In Spanish, '{s}' means '{o}'.", "The English for '{s}' is '{o}'."],
    };

    /// <summary>
    /// The shape up to its object, the subject filled in ("The city of {s} is in {o}." gives "The city of Kaloma is in"): a prompt
    /// the object completes after a space. Null when the object does not follow a space ("... means '{o}'.").
    /// </summary>
    public static string? Prompt(string shape, string subject)
    {
        int o = shape.IndexOf(" {o}", StringComparison.Ordinal);
        return o < 0 ? null : shape[..o].Replace("{s}", subject, StringComparison.Ordinal);
    }
}

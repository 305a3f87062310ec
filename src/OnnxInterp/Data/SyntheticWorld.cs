using OnnxInterp.Internals;

namespace OnnxInterp.Data;

/// <summary>One true fact of the world and a false statement that differs from it only in its object.</summary>
public sealed record WorldFact(string Dataset, string Subject, string Object, string WrongObject, string True, string False,
    IReadOnlyDictionary<string, string> Extra);

/// <summary>An instruction with a compliant response and a refusal.</summary>
public sealed record WorldInstruction(string Instruction, bool Harmful, string Compliance, string Refusal);

/// <summary>
/// A synthetic world generated from a seed: made-up cities in made-up countries, animals in classes, chemical
/// elements and their symbols, inventors and where they lived, number comparisons and Spanish–English word
/// translations, stated in the paper's sentence shapes; plus harmful and harmless instructions with responses.
/// A model trained on it has known ground truth. Same seed, same world.
/// </summary>
public sealed class SyntheticWorld
{
    public const string Cities = "cities", Animals = "animal_class", Elements = "element_symb", Inventors = "inventors",
        LargerThan = "larger_than", SmallerThan = "smaller_than", Translations = "sp_en_trans";

    public static readonly IReadOnlyList<string> StatementDatasets = [Cities, Animals, Elements, Inventors, LargerThan, SmallerThan, Translations];

    /// <summary>Refusal openings (Arditi et al.'s list starts with these), used by the world's refusals.</summary>
    public static readonly IReadOnlyList<string> RefusalOpenings =
        ["I'm sorry, but I can't help with that.", "I cannot help with that request.", "I'm sorry, I cannot assist with that.", "As an AI, I cannot help with that."];

    SyntheticWorld(int seed, IReadOnlyDictionary<string, IReadOnlyList<WorldFact>> facts, IReadOnlyList<WorldInstruction> instructions,
        IReadOnlyList<string> countries, IReadOnlyList<string> generic, WorldSize size)
    {
        _size = size;
        Seed = seed;
        Facts = facts;
        Instructions = instructions;
        Countries = countries;
        GenericSentences = generic;
    }

    readonly WorldSize _size;

    public int Seed { get; }

    /// <summary>Facts per dataset name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<WorldFact>> Facts { get; }
    public IReadOnlyList<WorldInstruction> Instructions { get; }
    public IReadOnlyList<string> Countries { get; }

    /// <summary>Sentences without a truth value, to make the pretraining text more than a list of facts.</summary>
    public IReadOnlyList<string> GenericSentences { get; }

    /// <summary>
    /// The facts whose truth value training may show ("This statement is: TRUE/FALSE" documents): the first 75% of
    /// each dataset. The rest are <see cref="HeldOut"/>: stated as plain facts, never judged, so judging them
    /// measures whether a model's truth judgement generalises.
    /// </summary>
    public IReadOnlyList<WorldFact> Judged(string dataset) => Facts[dataset].Take(JudgedCount(dataset)).ToList();

    public IReadOnlyList<WorldFact> HeldOut(string dataset) => Facts[dataset].Skip(JudgedCount(dataset)).ToList();

    int JudgedCount(string dataset) => (int)Math.Round(Facts[dataset].Count * _size.JudgedFraction);

    /// <summary>The dataset's 4 fixed few-shot examples (2 true, 2 false statements), from the judged facts.</summary>
    public IReadOnlyList<(string Statement, bool True)> FewShot(string dataset)
    {
        var j = Judged(dataset);
        return [(j[0].True, true), (j[1].True, true), (j[2].False, false), (j[3].False, false)];
    }

    /// <summary>The dataset in the paper's CSV shape: every fact as a true and a false statement, with extra columns.</summary>
    public StatementDataset ToDataset(string dataset, bool heldOutOnly = false)
    {
        var facts = heldOutOnly ? HeldOut(dataset) : Facts[dataset];
        var extraColumns = dataset switch
        {
            Cities => new[] { "city", "country", "correct_country" },
            LargerThan or SmallerThan => new[] { "n1", "n2", "diff", "abs_diff" },
            _ => Array.Empty<string>(),
        };
        var rows = new List<Statement>();
        foreach (var f in facts)
        {
            rows.Add(new Statement(f.True, 1, Extra(dataset, f, truth: true)));
            rows.Add(new Statement(f.False, 0, Extra(dataset, f, truth: false)));
        }
        return new StatementDataset(dataset, rows, extraColumns);
    }

    static System.Collections.Immutable.ImmutableDictionary<string, string> Extra(string dataset, WorldFact f, bool truth)
    {
        var b = System.Collections.Immutable.ImmutableDictionary.CreateBuilder<string, string>();
        if (dataset == Cities)
        {
            b["city"] = f.Subject;
            b["country"] = truth ? f.Object : f.WrongObject;
            b["correct_country"] = f.Object;
        }
        else if (dataset is LargerThan or SmallerThan)
        {
            int n1 = int.Parse(f.Extra["n1"]), n2 = int.Parse(f.Extra["n2"]);
            if (!truth) (n1, n2) = (n2, n1);
            b["n1"] = $"{n1}";
            b["n2"] = $"{n2}";
            b["diff"] = $"{n1 - n2}";
            b["abs_diff"] = $"{Math.Abs(n1 - n2)}";
        }
        return b.ToImmutable();
    }

    /// <summary>Instructions in the paper's refusal_train.csv shape: statement = the instruction, label 1 = harmful.</summary>
    public StatementDataset RefusalDataset() =>
        new("refusal", Instructions.Select(i => new Statement(i.Instruction, i.Harmful ? 1 : 0,
            System.Collections.Immutable.ImmutableDictionary<string, string>.Empty)).ToList(), []);

    /// <summary>Writes every statement dataset (and refusal.csv) into a folder, as the paper's files are laid out.</summary>
    public void WriteCsvs(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var d in StatementDatasets) ToDataset(d).Write(Path.Combine(directory, d + ".csv"));
        RefusalDataset().Write(Path.Combine(directory, "refusal.csv"));
    }

    public static SyntheticWorld Generate(int seed = 1, WorldSize? size = null)
    {
        var z = size ?? new WorldSize();
        var rng = new Random(seed);
        var names = new NameMaker(rng);
        var facts = new Dictionary<string, IReadOnlyList<WorldFact>>();

        var countries = Enumerable.Range(0, z.Countries).Select(_ => names.Word(2, 3)).ToList();
        var cities = new List<WorldFact>();
        var cityNames = new List<string>();
        foreach (var country in countries)
            for (int i = 0; i < z.CitiesPerCountry; i++)
            {
                var city = names.Word(2, 3);
                cityNames.Add(city);
                var wrong = Other(rng, countries, country);
                cities.Add(new WorldFact(Cities, city, country, wrong, $"The city of {city} is in {country}.", $"The city of {city} is in {wrong}.",
                    new Dictionary<string, string> { ["city"] = city, ["country"] = country, ["wrong_country"] = wrong }));
            }
        facts[Cities] = cities;

        string[] classes = ["mammal", "bird", "fish", "reptile", "amphibian", "insect"];
        var animals = new List<WorldFact>();
        foreach (var cls in classes)
            for (int i = 0; i < z.AnimalsPerClass; i++)
            {
                var animal = names.Word(2, 3).ToLowerInvariant();
                var wrong = Other(rng, classes, cls);
                animals.Add(new WorldFact(Animals, animal, cls, wrong, $"The {animal} is a {cls}.", $"The {animal} is a {wrong}.", new Dictionary<string, string>()));
            }
        facts[Animals] = animals;

        var elements = new List<WorldFact>();
        var symbols = new HashSet<string>();
        for (int attempts = 0; elements.Count < z.Elements; attempts++)
        {
            // Symbols are two letters of a made-up name: only a few hundred distinct ones can be drawn.
            if (attempts > 100 * z.Elements + 10_000)
                throw new ArgumentOutOfRangeException(nameof(size), z.Elements, $"Elements: only {elements.Count} distinct element symbols could be made");
            var element = names.Word(2, 3) + "ium";
            var symbol = char.ToUpperInvariant(element[0]) + element[1 + rng.Next(3)].ToString();
            if (!symbols.Add(symbol)) continue;
            elements.Add(new WorldFact(Elements, element, symbol, "", $"{element} has the symbol {symbol}.", "", new Dictionary<string, string>()));
        }
        var allSymbols = elements.Select(e => e.Object).ToList();
        facts[Elements] = elements.Select(e =>
        {
            var wrong = Other(rng, allSymbols, e.Object);
            return e with { WrongObject = wrong, False = $"{e.Subject} has the symbol {wrong}." };
        }).ToList();

        facts[Inventors] = Enumerable.Range(0, z.Inventors).Select(_ =>
        {
            var person = names.Word(2, 2) + " " + names.Word(2, 3);
            var country = countries[rng.Next(countries.Count)];
            var wrong = Other(rng, countries, country);
            return new WorldFact(Inventors, person, country, wrong, $"{person} lived in {country}.", $"{person} lived in {wrong}.", new Dictionary<string, string>());
        }).ToList();

        var larger = new List<WorldFact>();
        var smaller = new List<WorldFact>();
        for (int k = 0; k < z.Comparisons; k++)
        {
            int a = rng.Next(z.NumberMin, z.NumberMax + 1), b;
            do b = rng.Next(z.NumberMin, z.NumberMax + 1); while (b == a);
            int hi = Math.Max(a, b), lo = Math.Min(a, b);
            string Hi = NumberWords.Capitalized(hi), Lo = NumberWords.Capitalized(lo), hiW = NumberWords.Of(hi), loW = NumberWords.Of(lo);
            var extra = new Dictionary<string, string> { ["n1"] = $"{hi}", ["n2"] = $"{lo}", ["diff"] = $"{hi - lo}", ["abs_diff"] = $"{hi - lo}" };
            larger.Add(new WorldFact(LargerThan, Hi, loW, hiW, $"{Hi} is larger than {loW}.", $"{Lo} is larger than {hiW}.", extra));
            smaller.Add(new WorldFact(SmallerThan, Lo, hiW, loW, $"{Lo} is smaller than {hiW}.", $"{Hi} is smaller than {loW}.",
                new Dictionary<string, string> { ["n1"] = $"{lo}", ["n2"] = $"{hi}", ["diff"] = $"{lo - hi}", ["abs_diff"] = $"{hi - lo}" }));
        }
        facts[LargerThan] = Distinct(larger);
        facts[SmallerThan] = Distinct(smaller);

        var words = TranslationPairs;
        facts[Translations] = words.Select(p =>
        {
            var wrong = Other(rng, words.Select(w => w.En).ToList(), p.En);
            return new WorldFact(Translations, p.Sp, p.En, wrong, $"The Spanish word '{p.Sp}' means '{p.En}'.", $"The Spanish word '{p.Sp}' means '{wrong}'.",
                new Dictionary<string, string>());
        }).ToList();

        // Shuffle each dataset so the judged/held-out split (first 75% / rest) is random: generated in order, the
        // held-out facts would all share the last countries or classes, objects never seen in a TRUE statement.
        foreach (var key in facts.Keys.ToList()) facts[key] = facts[key].OrderBy(_ => rng.Next()).ToList();

        var instructions = InstructionMaker.Make(rng, countries, cityNames, z.InstructionsPerKind);
        var generic = GenericMaker.Make(rng, cityNames, animals.Select(a => a.Subject).ToList(), countries, z.GenericSentences);
        return new SyntheticWorld(seed, facts, instructions, countries, generic, z);
    }

    static List<WorldFact> Distinct(List<WorldFact> facts) => facts.GroupBy(f => f.True).Select(g => g.First()).ToList();

    static string Other(Random rng, IReadOnlyList<string> pool, string not)
    {
        if (pool.Count < 2) Throw.Argument("need at least two choices", "pool", pool.Count);
        string x;
        do x = pool[rng.Next(pool.Count)]; while (x == not);
        return x;
    }

    static readonly (string Sp, string En)[] TranslationPairs =
    [
        ("uno", "one"), ("dos", "two"), ("tres", "three"), ("gato", "cat"), ("perro", "dog"), ("casa", "house"), ("agua", "water"),
        ("fuego", "fire"), ("libro", "book"), ("mesa", "table"), ("silla", "chair"), ("sol", "sun"), ("luna", "moon"), ("cielo", "sky"),
        ("mar", "sea"), ("pan", "bread"), ("leche", "milk"), ("rojo", "red"), ("verde", "green"), ("azul", "blue"), ("negro", "black"),
        ("blanco", "white"), ("grande", "big"), ("nuevo", "new"), ("viejo", "old"), ("hablar", "to speak"), ("comer", "to eat"),
        ("beber", "to drink"), ("dormir", "to sleep"), ("correr", "to run"), ("escribir", "to write"), ("leer", "to read"),
        ("bosque", "forest"), ("piel", "skin"), ("edad", "age"), ("reloj", "clock"), ("plata", "silver"), ("oro", "gold"),
        ("hierro", "iron"), ("madre", "mother"), ("padre", "father"), ("hermano", "brother"), ("amigo", "friend"), ("ciudad", "city"),
        ("camino", "road"), ("puerta", "door"), ("ventana", "window"), ("flor", "flower"), ("arbol", "tree"), ("piedra", "stone"),
        ("nieve", "snow"), ("lluvia", "rain"), ("viento", "wind"), ("noche", "night"), ("dia", "day"), ("mano", "hand"), ("ojo", "eye"),
        ("boca", "mouth"), ("cabeza", "head"), ("corazon", "heart"),
    ];
}

/// <summary>Sizes of the generated world.</summary>
public sealed record WorldSize
{
    public int Countries { get; init; } = 12;
    public int CitiesPerCountry { get; init; } = 12;
    public int AnimalsPerClass { get; init; } = 10;
    public int Elements { get; init; } = 48;
    public int Inventors { get; init; } = 60;
    public int Comparisons { get; init; } = 400;
    public int NumberMin { get; init; } = 51;
    public int NumberMax { get; init; } = 99;
    public int InstructionsPerKind { get; init; } = 240;
    public int GenericSentences { get; init; } = 600;

    /// <summary>The share of each dataset's facts that training may judge (<see cref="SyntheticWorld.Judged"/>); the rest are held out.</summary>
    public double JudgedFraction { get; init; } = 0.75;

    /// <summary>
    /// The world of the embedded model family (models/): many entities, most of them judged (each only a few times) in
    /// training, so that judging is learned as a comparison with what the model knows and carries over to held-out facts.
    /// </summary>
    public static WorldSize Family => new()
    {
        Countries = 20, CitiesPerCountry = 90, AnimalsPerClass = 120, Elements = 120, Inventors = 600, Comparisons = 150, JudgedFraction = 0.9,
    };
}

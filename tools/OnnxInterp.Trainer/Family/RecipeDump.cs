using System.IO.Compression;
using System.Text.Json;
using OnnxInterp.Data;

namespace OnnxInterp.Trainer.Family;

/// <summary>
/// A base-pretraining data variant, for searching recipes faster than the 2-core trainer can: the tokenized documents
/// (plain and judging), the probe items and the model size, written as gzipped JSON that tools/recipe-search/train.py
/// trains on a GPU with the same architecture, optimizer and schedule. Only a recipe that the C# trainer then
/// reproduces ships.
/// </summary>
public static class RecipeDump
{
    /// <summary>
    /// The world the search started from (the family's before it): 600 cities, 240 animals, 200 inventors. world=3
    /// judged=0.9 is today's <see cref="WorldSize.Family"/>.
    /// </summary>
    public static WorldSize Reference => WorldSize.Family with { CitiesPerCountry = 30, AnimalsPerClass = 40, Inventors = 200, JudgedFraction = 0.75 };

    /// <summary>key=value settings: seed, world (size multiplier of <see cref="Reference"/>), judged (fraction), facts, judge, generic.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, string> settings, TextWriter log)
    {
        string Get(string key, string fallback) => settings.TryGetValue(key, out var v) ? v : fallback;
        int seed = int.Parse(Get("seed", "1"));
        double worldScale = double.Parse(Get("world", "1"));
        double judged = double.Parse(Get("judged", "0.75"));
        var f = Reference;
        var size = f with
        {
            CitiesPerCountry = (int)Math.Round(f.CitiesPerCountry * worldScale),
            AnimalsPerClass = (int)Math.Round(f.AnimalsPerClass * worldScale),
            // Element symbols are two letters of a made-up name: the family world already uses most of them.
            Inventors = (int)Math.Round(f.Inventors * worldScale),
            JudgedFraction = judged,
        };
        var world = SyntheticWorld.Generate(seed, size);
        var corpus = new FamilyCorpus(world, seed);
        var (_, tok) = FamilyRecipe.TrainTokenizer(corpus);
        int pad = tok.TokenToId(FamilyCorpus.Pad)!.Value;

        var (plainDocs, judgeDocs) = corpus.BaseDocuments(int.Parse(Get("facts", "8000")), int.Parse(Get("judge", "10000")),
            int.Parse(Get("generic", "1500")), dialogueRepeats: 2);
        var plain = corpus.Tokenize(tok, plainDocs, []);
        var judging = corpus.Tokenize(tok, judgeDocs, []);

        // The probe's items: the same prompts the trainer's JudgeProbe scores.
        var probe = new JudgeProbe(corpus, tok, pad, seed);
        object Json(JudgeProbe.Item it) => new { ds = it.Dataset, ids = it.Ids, label = it.True ? 1 : 0 };
        var recall = new List<object>();
        foreach (var ds in SyntheticWorld.StatementDatasets)
        {
            // Recall: the held-out statement up to its object, and the object's first token.
            foreach (var fact in world.HeldOut(ds).Take(40))
            {
                int at = fact.True.LastIndexOf(fact.Object, StringComparison.Ordinal);
                if (at <= 0) continue;
                var prefix = tok.Encode(fact.True[..at].TrimEnd());
                var full = tok.Encode(fact.True);
                if (full.Length > prefix.Length && full.AsSpan(0, prefix.Length).SequenceEqual(prefix))
                    recall.Add(new { ds, ids = prefix, target = full[prefix.Length] });
            }
        }
        var doc = new
        {
            settings,
            vocab = tok.VocabSize, pad,
            true_id = tok.Encode(" TRUE", false).Single(), false_id = tok.Encode(" FALSE", false).Single(),
            facts = world.Facts.ToDictionary(kv => kv.Key, kv => kv.Value.Count),
            plain = plain.Select(s => new { t = s.Tokens, w = s.Weights.Select(x => (int)x) }),
            judging = judging.Select(s => new { t = s.Tokens, w = s.Weights.Select(x => (int)x) }),
            held = probe.HeldOut.Select(Json), judged = probe.Judged.Select(Json), recall,
        };
        using (var file = File.Create(path + ".tmp"))
        using (var gz = new GZipStream(file, CompressionLevel.SmallestSize))
            JsonSerializer.Serialize(gz, doc);
        File.Move(path + ".tmp", path, overwrite: true);
        log.WriteLine($"{path}: {plain.Count} plain ({plain.Sum(s => s.Tokens.Length):N0} tokens), {judging.Count} judging ({judging.Sum(s => s.Tokens.Length):N0} tokens), " +
            $"{probe.HeldOut.Count} held-out items, {recall.Count} recall items, {new FileInfo(path).Length / 1e6:F1} MB");
    }
}

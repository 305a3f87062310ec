using System.Text.Json;
using System.Text.Json.Serialization;
using OnnxInterp.Internals;

namespace OnnxInterp.Analysis.Editing;

/// <summary>
/// A fact to write into a model: after <see cref="Prompt"/> (which names <see cref="Subject"/>), the model should say
/// <see cref="Target"/>. <see cref="Old"/> is what it says now (the object the edit replaces); <see cref="Paraphrases"/> are
/// other prompts about the subject the new object should follow; <see cref="Neighbours"/> are prompts about other subjects
/// whose answer is the old object (CounterFact's neighbourhood prompts), which the edit should leave alone. Left out, they come
/// from the synthetic world where the subject is the world's, and the old object otherwise from the model's own answer.
/// An object follows its prompt after one space.
/// </summary>
public sealed record EditFact(string Subject, string Prompt, string Target)
{
    public string? Old { get; init; }
    public IReadOnlyList<string>? Paraphrases { get; init; }
    public IReadOnlyList<string>? Neighbours { get; init; }
}

/// <summary>Reads and checks a facts file: a JSON array of <see cref="EditFact"/> objects.</summary>
public static class EditFacts
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectRequiredConstructorParameters = true,
        RespectNullableAnnotations = true,
        MaxDepth = 16,
    };

    /// <summary>The facts of <paramref name="path"/>: <c>[{"subject": ..., "prompt": ..., "target": ..., "old"?, "paraphrases"?, "neighbours"?}, ...]</c>.</summary>
    /// <exception cref="InvalidFileException">The file cannot be read, is not such an array, or a fact is bad (the field names which: [i].subject).</exception>
    public static IReadOnlyList<EditFact> Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidFileException($"cannot read the facts file: {e.Message}", path, inner: e);
        }
        List<EditFact>? facts;
        try { facts = JsonSerializer.Deserialize<List<EditFact>>(text, Json); }
        catch (JsonException e)
        {
            throw new InvalidFileException($"not a JSON array of facts {{\"subject\", \"prompt\", \"target\"}}: {e.Message}", path, e.Path, null, e);
        }
        if (facts is null) Throw.InvalidFile("expected a JSON array of facts, found null", path);
        for (int i = 0; i < facts!.Count; i++)
            if (facts[i] is null) Throw.InvalidFile("a fact is null", path, $"[{i}]");
        Check(facts, path);
        return facts;
    }

    /// <summary>
    /// Each fact names a subject its prompt contains, a target, and non-empty paraphrases and neighbours; no subject is edited
    /// twice (its key would have to map to two values).
    /// </summary>
    /// <exception cref="InvalidArgumentException">The field names the fact and its part ([i].subject) and the value
    /// (an <see cref="InvalidFileException"/> naming <paramref name="file"/> when the facts come from one).</exception>
    public static void Check(IReadOnlyList<EditFact> facts, string? file = null)
    {
        void Bad(string message, string field, object? value)
        {
            if (file is null) Throw.Argument(message, field, value);
            Throw.InvalidFile(message, file, field, value);
        }

        if (facts.Count == 0) Bad("at least one fact is needed", "facts", 0);
        var subjects = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < facts.Count; i++)
        {
            var f = facts[i];
            if (string.IsNullOrWhiteSpace(f.Subject)) Bad("the subject is empty", $"[{i}].subject", f.Subject);
            if (string.IsNullOrWhiteSpace(f.Prompt)) Bad("the prompt is empty", $"[{i}].prompt", f.Prompt);
            if (!f.Prompt.Contains(f.Subject, StringComparison.Ordinal))
                Bad($"the subject is not in the prompt \"{f.Prompt}\"", $"[{i}].subject", f.Subject);
            if (string.IsNullOrWhiteSpace(f.Target)) Bad("the target is empty", $"[{i}].target", f.Target);
            if (f.Old is { } old && (string.IsNullOrWhiteSpace(old) || old.Trim() == f.Target.Trim()))
                Bad("the old object is empty or the target itself", $"[{i}].old", old);
            for (int p = 0; p < (f.Paraphrases?.Count ?? 0); p++)
                if (string.IsNullOrWhiteSpace(f.Paraphrases![p])) Bad("a paraphrase is empty", $"[{i}].paraphrases[{p}]", f.Paraphrases[p]);
            for (int p = 0; p < (f.Neighbours?.Count ?? 0); p++)
                if (string.IsNullOrWhiteSpace(f.Neighbours![p])) Bad("a neighbour prompt is empty", $"[{i}].neighbours[{p}]", f.Neighbours[p]);
            if (!subjects.TryAdd(f.Subject, i))
                Bad($"the subject is edited twice (facts {subjects[f.Subject]} and {i}); its key can map to one value: edit one fact per subject", $"[{i}].subject", f.Subject);
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Internals;
using OnnxInterp.Reports;

namespace OnnxInterp.Comparison;

/// <summary>A finished step as the journal keeps it: enough to rebuild its part of the report without running it again.</summary>
public sealed record JournalEntry
{
    public required string Key { get; init; }
    public required string Analysis { get; init; }
    public required string Part { get; init; }
    public required JsonNode Results { get; init; }
    public required string Markdown { get; init; }
    public IReadOnlyList<SummaryItem> Summary { get; init; } = [];

    /// <summary>PNG file names in the entry's figures/ folder.</summary>
    public IReadOnlyList<string> Figures { get; init; } = [];

    /// <summary>Other files the step wrote, relative to the entry's folder.</summary>
    public IReadOnlyList<string> DataFiles { get; init; } = [];

    /// <summary>How long the step took when it ran (not part of results.json).</summary>
    public double Seconds { get; init; }
}

/// <summary>
/// REPORT_DIR/.journal: one NAME.json per finished step (NAME = analysis or analysis.part) and a NAME/ folder of its files.
/// The folder is moved into place first and the JSON written atomically last, so a JSON whose key matches always has
/// its files; a step interrupted half-way leaves only a *.partial folder, removed on the next run.
/// </summary>
public sealed class ResultsJournal
{
    public const string FolderName = ".journal";

    /// <summary>
    /// The journal of <paramref name="reportDirectory"/>, created if missing. Staging folders of interrupted steps are
    /// removed: the caller holds the folder's lock (<see cref="Internals.FolderLock"/>), so no other writer owns them.
    /// </summary>
    public ResultsJournal(string reportDirectory)
    {
        Directory = Path.Combine(Path.GetFullPath(reportDirectory), FolderName);
        System.IO.Directory.CreateDirectory(Directory);
        foreach (var stale in System.IO.Directory.GetDirectories(Directory, "*.partial"))
        {
            try { System.IO.Directory.Delete(stale, recursive: true); } catch (IOException) { }
        }
    }

    public string Directory { get; }

    public static string Stem(string analysis, string part)
    {
        var safe = string.Concat(part.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
        return part.Length == 0 ? analysis : $"{analysis}.{safe}";
    }

    public string FilesOf(string analysis, string part) => Path.Combine(Directory, Stem(analysis, part));

    /// <summary>The entry for this step when it finished with the same key; null when it must run.</summary>
    public JournalEntry? TryRead(string analysis, string part, string key) => TryRead(Directory, analysis, part, key);

    static JournalEntry? TryRead(string directory, string analysis, string part, string key)
    {
        var path = Path.Combine(directory, Stem(analysis, part) + ".json");
        if (!File.Exists(path) || !System.IO.Directory.Exists(Path.Combine(directory, Stem(analysis, part)))) return null;
        try
        {
            var e = JsonSerializer.Deserialize<JournalEntry>(File.ReadAllText(path), ResultsJson.Strict);
            return e is not null && e.Key == key && e.Analysis == analysis && e.Part == part ? e : null;
        }
        catch (JsonException)
        {
            return null; // a damaged entry is run again
        }
    }

    /// <summary>A fresh folder for a step to write into; <see cref="Commit"/> moves it into place.</summary>
    public string BeginFiles(string analysis, string part)
    {
        var staging = Path.Combine(Directory, $".{Stem(analysis, part)}.{Guid.NewGuid():N}.partial");
        System.IO.Directory.CreateDirectory(Path.Combine(staging, "figures"));
        return staging;
    }

    public void Abandon(string staging)
    {
        try { if (System.IO.Directory.Exists(staging)) System.IO.Directory.Delete(staging, recursive: true); }
        catch (IOException) { }
    }

    /// <summary>Records a finished step: lists its files, moves them into place, then writes the entry.</summary>
    public JournalEntry Commit(string staging, string analysis, string part, string key, StepOutput output, double seconds)
    {
        var figuresDir = Path.Combine(staging, "figures");
        var figures = System.IO.Directory.GetFiles(figuresDir).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();
        if (figures.FirstOrDefault(f => !f.EndsWith(".png", StringComparison.Ordinal)) is { } odd)
            throw new InvalidOperationException($"step {analysis} wrote a figure that is not a PNG: {odd}");
        var data = System.IO.Directory.GetFiles(staging, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(staging, f))
            .Where(f => !f.StartsWith("figures" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        var entry = new JournalEntry
        {
            Key = key, Analysis = analysis, Part = part,
            // Round-trip through text so a fresh section and a resumed one are the same JSON.
            Results = JsonNode.Parse(output.Results.ToJsonString(ResultsJson.Strict))!,
            Markdown = output.Markdown, Summary = output.Summary, Figures = figures, DataFiles = data, Seconds = seconds,
        };
        Place(staging, entry);
        return entry;
    }

    /// <summary>
    /// Copies a finished entry and its files from another journal (a shard's) into this one, as <see cref="Commit"/>
    /// places a step's: the files first, the entry last.
    /// </summary>
    public JournalEntry Import(JournalEntry entry, string sourceFiles)
    {
        var staging = BeginFiles(entry.Analysis, entry.Part);
        try
        {
            foreach (var file in System.IO.Directory.EnumerateFiles(sourceFiles, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(staging, Path.GetRelativePath(sourceFiles, file));
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(file, target);
            }
            Place(staging, entry);
            return entry;
        }
        catch
        {
            Abandon(staging);
            throw;
        }
    }

    /// <summary>
    /// The entry of a step in the journal of <paramref name="reportDirectory"/> when it finished with
    /// <paramref name="key"/>, read without touching that journal (a shard's, read by merge); null otherwise.
    /// </summary>
    public static JournalEntry? Find(string reportDirectory, string analysis, string part, string key)
    {
        return TryRead(Path.Combine(Path.GetFullPath(reportDirectory), FolderName), analysis, part, key);
    }

    /// <summary>Moves a staged folder into place as the step's files, then writes its entry.</summary>
    void Place(string staging, JournalEntry entry)
    {
        var target = FilesOf(entry.Analysis, entry.Part);
        if (System.IO.Directory.Exists(target))
        {
            var old = Path.Combine(Directory, $".{Stem(entry.Analysis, entry.Part)}.{Guid.NewGuid():N}.partial");
            System.IO.Directory.Move(target, old);
            Abandon(old);
        }
        System.IO.Directory.Move(staging, target);
        AtomicFile.WriteAllText(Path.Combine(Directory, Stem(entry.Analysis, entry.Part) + ".json"), JsonSerializer.Serialize(entry, ResultsJson.Strict));
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace OnnxInterp.Benchmarks;

/// <summary>--name value and --flag options; positional arguments are kept in order.</summary>
sealed class Args
{
    readonly Dictionary<string, string?> _opts = new(StringComparer.Ordinal);
    readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public List<string> Positional { get; } = [];

    public Args(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        using var e = args.GetEnumerator();
        while (e.MoveNext())
        {
            var a = e.Current;
            if (!a.StartsWith("--", StringComparison.Ordinal)) { Positional.Add(a); continue; }
            var name = a[2..];
            string? value = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
            else if (!flags.Contains(name))
            {
                if (!e.MoveNext()) throw new UsageException($"--{name} needs a value");
                value = e.Current;
            }
            _opts[name] = value;
        }
    }

    public bool Flag(string name) { _used.Add(name); return _opts.ContainsKey(name); }

    public string? String(string name) { _used.Add(name); return _opts.TryGetValue(name, out var v) ? v : null; }

    public int Int(string name, int fallback)
    {
        var s = String(name);
        if (s is null) return fallback;
        if (!int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) || v < 0)
            throw new UsageException($"--{name} expects a non-negative integer, got '{s}'");
        return v;
    }

    /// <summary>Fails on options no verb asked for (typos).</summary>
    public void CheckAllUsed()
    {
        var unknown = _opts.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException("unknown option(s): " + string.Join(", ", unknown.Select(k => "--" + k)));
    }
}

sealed class UsageException(string message) : Exception(message);

/// <summary>Rows for the final table, and the same data as JSON.</summary>
sealed class Summary(string title)
{
    readonly List<(string Metric, string Value, string Note)> _rows = [];

    public JsonObject Json { get; } = new();

    public void Row(string metric, string value, string note = "") => _rows.Add((metric, value, note));

    /// <summary>
    /// Per-round ratios <paramref name="num"/>[i] / <paramref name="den"/>[i] (both measured in the same round): stored
    /// under <paramref name="key"/> in <paramref name="into"/> (median, min, max, values) and reported as one row.
    /// </summary>
    public void Ratio(JsonObject into, string key, string metric, IReadOnlyList<double> num, IReadOnlyList<double> den, int digits, string note)
    {
        var r = num.Zip(den, (x, y) => x / y).ToList();
        into[key] = Stats.Describe(r);
        Row(metric, Stats.F(Stats.Median(r), digits), $"min {Stats.F(r.Min(), digits)}, max {Stats.F(r.Max(), digits)}; {note}");
    }

    public void Print(TextWriter w)
    {
        int a = Math.Max(6, _rows.Max(r => r.Metric.Length)), b = Math.Max(5, _rows.Max(r => r.Value.Length));
        w.WriteLine();
        w.WriteLine($"== {title} ==");
        w.WriteLine($"{"metric".PadRight(a)}  {"value".PadLeft(b)}  note");
        w.WriteLine($"{new string('-', a)}  {new string('-', b)}  ----");
        foreach (var (m, v, n) in _rows) w.WriteLine($"{m.PadRight(a)}  {v.PadLeft(b)}  {n}");
    }

    public void WriteJson(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        OnnxInterp.Internals.AtomicFile.WriteAllText(path, Json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}

/// <summary>
/// The measuring method of ORT-NOTES: every variant once per round, the order rotating by one each round, warm-up rounds
/// first and discarded, a full collection before each call (outside the timed region, so one variant's garbage is not
/// paid by the next). Prints one line per round; returns each variant's counted times.
/// </summary>
static class Interleaved
{
    /// <param name="runMs">Runs a variant once and returns its wall time in ms.</param>
    /// <param name="counted">Called after each run of a counted (not warm-up) round, e.g. to keep a measurement taken in <paramref name="runMs"/>.</param>
    public static Dictionary<string, List<double>> Run(IReadOnlyList<string> keys, int warmup, int rounds, Func<string, double> runMs,
        Action<string>? counted = null)
    {
        var times = keys.ToDictionary(k => k, _ => new List<double>());
        for (int r = -warmup; r < rounds; r++)
        {
            var line = new List<string>();
            int start = ((r % keys.Count) + keys.Count) % keys.Count;
            for (int i = 0; i < keys.Count; i++)
            {
                var key = keys[(start + i) % keys.Count];
                GC.Collect();
                GC.WaitForPendingFinalizers();
                double t = runMs(key);
                if (r >= 0)
                {
                    times[key].Add(t);
                    counted?.Invoke(key);
                }
                line.Add($"{key}={Stats.F(t, 0)}");
            }
            Console.WriteLine($"{(r < 0 ? "warm-up" : "round " + (r + 1)),-8} order {keys[start]}..: {string.Join(" ", line.OrderBy(x => x))} ms");
        }
        return times;
    }
}

static class Stats
{
    public static double Median(IReadOnlyList<double> xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    public static string F(double x, int digits = 1) => x.ToString("F" + digits, CultureInfo.InvariantCulture);

    public static JsonObject Describe(IReadOnlyList<double> xs) => new()
    {
        ["median"] = Median(xs),
        ["min"] = xs.Min(),
        ["max"] = xs.Max(),
        ["values"] = new JsonArray(xs.Select(x => (JsonNode)x).ToArray()),
    };
}

/// <summary>Machine facts for the report: load average, CPU count, the ORT version.</summary>
static class MachineState
{
    public static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Trim(); }
        catch (IOException) { return "n/a"; }
    }

    public static string LoadAverageShort() => string.Join(" ", LoadAverage().Split(' ').Take(3));

    public static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "n/a" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { return "n/a"; }
    }

    public static JsonObject Json() => new()
    {
        ["cpu"] = CpuModel(),
        ["logical_cpus"] = Environment.ProcessorCount,
        ["loadavg"] = LoadAverage(),
        ["time_utc"] = DateTime.UtcNow.ToString("o", CultureInfo.InvariantCulture),
        ["dotnet"] = Environment.Version.ToString(),
        ["onnxruntime"] = typeof(Microsoft.ML.OnnxRuntime.InferenceSession).Assembly.GetName().Version?.ToString(),
    };
}

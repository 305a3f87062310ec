using System.Globalization;
using OnnxInterp.Fuzz;

const string Usage = """
usage: dotnet run -c Release --project tools/OnnxInterp.Fuzz -- [options]

Fuzzes every reader of untrusted files with structure-aware and raw mutants of small valid seeds. A reader may accept
an input or refuse it with an OnnxInterpException; anything else is a failure: another exception, a read slower than
--limit-s, or one allocating more than 32 x the input's bytes + 32 MiB. The exit code is 1 when a failure was found.

options:
  --target NAME[,NAME]  targets to run (default: all); --list shows them
  --seconds N           fuzz each target for N seconds (default: 60)
  --iterations N        instead, try N inputs per target
  --seed S              CsCheck seed, to replay a run
  --limit-s N           per-input time limit in seconds (default 10)
  --keep DIR            save every failing input under DIR
  --work DIR            scratch folder (default: a folder under the system temp folder, removed at the end)
""";

if (args.Length > 0 && args[0] == CaptureChild.Verb) return CaptureChild.Run(args[1..]);

var opts = new Dictionary<string, string?>(StringComparer.Ordinal);
for (int i = 0; i < args.Length; i++)
{
    var a = args[i];
    if (a is "-h" or "--help") { Console.WriteLine(Usage); return 0; }
    if (a == "--list") { foreach (var t in Targets.All) Console.WriteLine($"{t.Name,-24} {t.Description}"); return 0; }
    if (!a.StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length) { Console.Error.WriteLine($"unexpected argument '{a}'\n{Usage}"); return 2; }
    opts[a[2..]] = args[++i];
}
int Int(string name, int fallback) => opts.TryGetValue(name, out var v) ? int.Parse(v!, CultureInfo.InvariantCulture) : fallback;

var names = opts.TryGetValue("target", out var tn) ? tn!.Split(',') : Targets.All.Select(t => t.Name).ToArray();
var unknown = names.Where(n => Targets.All.All(t => t.Name != n)).ToList();
if (unknown.Count > 0) { Console.Error.WriteLine($"unknown target(s): {string.Join(", ", unknown)}; --list shows them"); return 2; }
var options = new FuzzOptions
{
    Seconds = opts.ContainsKey("iterations") ? null : Int("seconds", 60),
    Iterations = Int("iterations", 200),
    Seed = opts.GetValueOrDefault("seed"),
    PerInputLimit = TimeSpan.FromSeconds(Int("limit-s", 10)),
    KeepFailures = opts.GetValueOrDefault("keep"),
};
bool ownWork = !opts.ContainsKey("work");
var work = opts.GetValueOrDefault("work") ?? Path.Combine(Path.GetTempPath(), "onnxinterp-fuzz", Guid.NewGuid().ToString("N"));
int failures = 0;
try
{
    foreach (var target in Targets.All.Where(t => names.Contains(t.Name)))
    {
        var report = FuzzRunner.Run(target, options, Path.Combine(work, target.Name));
        Console.WriteLine(report);
        foreach (var (type, n) in report.Rejected) Console.WriteLine($"    rejected {n,6} x {type}");
        foreach (var f in report.Failures.Take(20)) Console.WriteLine($"    FAILURE {f.Reason}: {f.Mutant}\n      {f.Detail.Replace("\n", "\n      ")}");
        failures += report.Failures.Count;
    }
}
finally
{
    if (ownWork) try { Directory.Delete(work, recursive: true); } catch (IOException) { }
}
Console.WriteLine(failures == 0 ? "no failures" : $"{failures} failure(s)");
return failures == 0 ? 0 : 1;

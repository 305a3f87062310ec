using System.Diagnostics;
using CsCheck;

namespace OnnxInterp.Fuzz;

/// <summary>How long and how hard to fuzz one target, and the limits every input must respect.</summary>
public sealed record FuzzOptions
{
    /// <summary>Inputs to try; ignored when <see cref="Seconds"/> is set.</summary>
    public long Iterations { get; init; } = 200;

    /// <summary>Fuzz for this long instead of a fixed count.</summary>
    public int? Seconds { get; init; }

    /// <summary>CsCheck seed (printed in every report) to replay a run; null draws a fresh one.</summary>
    public string? Seed { get; init; }

    /// <summary>An input whose read takes longer counts as a hang.</summary>
    public TimeSpan PerInputLimit { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Managed allocation allowed per read: this multiple of the folder's bytes...</summary>
    public long AllocationFactor { get; init; } = 32;

    /// <summary>...plus this constant.</summary>
    public long AllocationConstant { get; init; } = 32L << 20;

    /// <summary>Where failing inputs are saved (one folder each), when set.</summary>
    public string? KeepFailures { get; init; }
}

public sealed record FuzzFailure(string Reason, string Mutant, string Detail);

/// <summary>What one target's run found.</summary>
public sealed class FuzzReport(string target)
{
    public string Target { get; } = target;
    public string Seed { get; set; } = "";
    public long Tried { get; set; }
    public long Accepted { get; set; }

    /// <summary>Inputs refused with a typed error, by exception type.</summary>
    public SortedDictionary<string, long> Rejected { get; } = new(StringComparer.Ordinal);
    public List<FuzzFailure> Failures { get; } = [];
    public double MaxMilliseconds { get; set; }
    public long MaxAllocatedBytes { get; set; }
    public TimeSpan Elapsed { get; set; }

    public long RejectedTotal => Rejected.Values.Sum();

    public override string ToString() =>
        $"{Target,-22} tried {Tried,6}  accepted {Accepted,6}  rejected {RejectedTotal,6}  failures {Failures.Count,3}  " +
        $"slowest {MaxMilliseconds,7:F1} ms  max alloc {MaxAllocatedBytes / 1024.0 / 1024.0,6:F1} MiB  ({Elapsed.TotalSeconds:F1} s, seed {Seed})";
}

/// <summary>
/// Feeds a target's mutants to its reader one at a time on a worker thread, and classifies each read: accepted,
/// rejected with an <see cref="OnnxInterpException"/> (the only exceptions a reader may throw), or a failure: any
/// other exception, a read that runs past <see cref="FuzzOptions.PerInputLimit"/>, or one that allocates more than
/// <see cref="FuzzOptions.AllocationFactor"/> × the folder's bytes + <see cref="FuzzOptions.AllocationConstant"/>
/// (managed memory, measured with GC.GetAllocatedBytesForCurrentThread; ORT's native memory is not counted).
/// </summary>
public static class FuzzRunner
{
    public static FuzzReport Run(FuzzTarget target, FuzzOptions options, string workRoot)
    {
        var report = new FuzzReport(target.Name);
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(workRoot);
        var seeds = new List<string>();
        for (int i = 0; i < target.Seeds.Count; i++)
        {
            var dir = Path.Combine(workRoot, $"seed{i}");
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
            target.Seeds[i].Write(dir);
            seeds.Add(dir);
        }
        // A valid seed must be accepted, or the run measures nothing.
        foreach (var dir in seeds) ReadAndUse(target, dir, out _);

        var seedBytes = seeds.Select(FolderBytes).ToArray();
        var work = new Work(workRoot, seeds);
        var gen = target.Mutants(seeds);
        Action<Mutant> one = m => Try(target, options, work, m, seedBytes[m.Seed], report);
        if (options.Seconds is { } s)
            gen.Sample(one, seed: options.Seed, time: s, threads: 1, writeLine: _ => { });
        else
            gen.Sample(one, seed: options.Seed, iter: options.Iterations, threads: 1, writeLine: _ => { });
        report.Seed = options.Seed ?? "random";
        report.Elapsed = clock.Elapsed;
        work.Dispose();
        return report;
    }

    static long FolderBytes(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    /// <summary>A scratch copy of a seed folder; replaced when an input changed more than its one file.</summary>
    sealed class Work(string root, List<string> seeds) : IDisposable
    {
        readonly Dictionary<int, string> _copies = [];
        int _generation;

        public string For(int seed)
        {
            if (_copies.TryGetValue(seed, out var dir)) return dir;
            dir = Path.Combine(root, $"work{seed}.{_generation++}");
            Copy(seeds[seed], dir);
            return _copies[seed] = dir;
        }

        /// <summary>Drops a copy (after an extra change or a hang still holding it); the next input gets a fresh one.</summary>
        public void Discard(int seed, bool delete)
        {
            if (!_copies.Remove(seed, out var dir) || !delete) return;
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }

        public void Restore(int seed, string file)
        {
            var src = Path.Combine(seeds[seed], file);
            var dst = Path.Combine(_copies[seed], file);
            if (File.Exists(src)) File.Copy(src, dst, overwrite: true);
            else File.Delete(dst);
        }

        static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var f in Directory.EnumerateFiles(from))
                File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            foreach (var d in Directory.EnumerateDirectories(from))
                Copy(d, Path.Combine(to, Path.GetFileName(d)));
        }

        public void Dispose()
        {
            foreach (var seed in _copies.Keys.ToList()) Discard(seed, delete: true);
        }
    }

    static void Try(FuzzTarget target, FuzzOptions options, Work work, Mutant m, long seedBytes, FuzzReport report)
    {
        var dir = work.For(m.Seed);
        var path = Path.Combine(dir, m.File);
        File.WriteAllBytes(path, m.Bytes);
        m.Extra?.Invoke(dir);
        long inputBytes = seedBytes + m.Bytes.Length;   // the folder, counting the mutated file on top of its original
        long limit = options.AllocationFactor * inputBytes + options.AllocationConstant;

        Exception? error = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            try { ReadAndUse(target, dir, out allocated); }
            catch (Exception e) { error = e; }
        }, maxStackSize: 16 << 20) { IsBackground = true, Name = "fuzz-read" };
        var clock = Stopwatch.StartNew();
        thread.Start();
        bool finished = thread.Join(options.PerInputLimit);
        double ms = clock.Elapsed.TotalMilliseconds;
        report.Tried++;
        if (!finished)
        {
            Fail(report, options, "hang", m, dir, $"no result after {options.PerInputLimit.TotalSeconds:F0} s");
            work.Discard(m.Seed, delete: false);   // the reader still holds it
            return;
        }
        report.MaxMilliseconds = Math.Max(report.MaxMilliseconds, ms);
        report.MaxAllocatedBytes = Math.Max(report.MaxAllocatedBytes, allocated);
        if (error is null)
        {
            if (m.MustReject) Fail(report, options, "accepted", m, dir, "an input the reader must refuse was accepted");
            else if (allocated > limit) Fail(report, options, "allocation", m, dir, $"{allocated:N0} bytes allocated, limit {limit:N0}");
            else report.Accepted++;
        }
        else if (error is OnnxInterpException)
        {
            if (allocated > limit) Fail(report, options, "allocation", m, dir, $"{allocated:N0} bytes allocated before {error.GetType().Name}, limit {limit:N0}");
            var name = error.GetType().Name;
            report.Rejected[name] = report.Rejected.GetValueOrDefault(name) + 1;
        }
        else
        {
            Fail(report, options, "exception", m, dir, $"{error.GetType().FullName}: {error.Message}\n{error.StackTrace}");
        }

        if (m.Extra is not null) work.Discard(m.Seed, delete: true);
        else work.Restore(m.Seed, m.File);
    }

    /// <summary>Runs the read (measuring its managed allocation) and then the use, disposing what the read opened.</summary>
    static void ReadAndUse(FuzzTarget target, string dir, out long allocated)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        object? opened;
        try { opened = target.Read(dir); }
        finally { allocated = GC.GetAllocatedBytesForCurrentThread() - before; }
        try
        {
            if (opened is not null) target.Use?.Invoke(opened);
        }
        finally
        {
            (opened as IDisposable)?.Dispose();
        }
    }

    static void Fail(FuzzReport report, FuzzOptions options, string reason, Mutant m, string dir, string detail)
    {
        report.Failures.Add(new FuzzFailure(reason, m.ToString(), detail));
        if (options.KeepFailures is null) return;
        var keep = Path.Combine(options.KeepFailures, $"{report.Target}-{report.Failures.Count:D3}-{reason}");
        Directory.CreateDirectory(keep);
        File.WriteAllBytes(Path.Combine(keep, Path.GetFileName(m.File)), m.Bytes);
        File.WriteAllText(Path.Combine(keep, "failure.txt"), $"{m}\n{reason}\n{detail}\n");
    }
}

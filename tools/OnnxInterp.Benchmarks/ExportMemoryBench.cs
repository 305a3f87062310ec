using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using OnnxInterp.Checkpoints;
using OnnxInterp.Export;

namespace OnnxInterp.Benchmarks;

/// <summary>
/// Peak memory of an export. The checkpoint is written streaming by this process; the export runs in a child
/// process (this executable, hidden verb), whose peak resident set is the kernel's VmHWM, read by the child at its
/// end and cross-checked by polling /proc/&lt;pid&gt;/status. The baseline is the same child doing everything but the
/// export (open and validate the checkpoint, load the protobuf types, read one tensor).
/// </summary>
static class ExportMemoryBench
{
    public const string ExportChildVerb = "__export-child";
    public const string BaselineChildVerb = "__baseline-child";
    internal const string ResultPrefix = "RESULT ";

    public sealed record Options(LlamaShape Shape, TensorDType SourceDType, ulong Seed, bool Hash, int PollMs, string? TempRoot, bool Keep,
        IReadOnlyList<KeyValuePair<string, string>> ChildEnv);

    public static Summary Run(Options o)
    {
        var tmp = o.TempRoot ?? Path.GetTempPath();
        var root = Path.Combine(tmp, "onnxinterp-expmem-" + Guid.NewGuid().ToString("N")[..8]);
        var config = ModelConfigReader.Parse(o.Shape.ConfigJson());
        long srcBytes = config.ParameterCount * o.SourceDType.Size();
        long outBytes = config.ParameterCount * 4;
        long free = new DriveInfo(Path.GetPathRoot(Path.GetFullPath(tmp)) ?? "/").AvailableFreeSpace;
        Console.WriteLine($"export-memory: {o.Shape}; {config.ParameterCount / 1e9:F3} B parameters; source {o.SourceDType}; folder {root}");
        Console.WriteLine($"disk: {RandomCheckpoint.Describe(free)} free, need about {RandomCheckpoint.Describe(srcBytes + outBytes)} (checkpoint + fp32 export)");
        if (free < (srcBytes + outBytes) * 11 / 10) throw new UsageException($"not enough free disk under {tmp}; pass --tmp DIR");
        Console.WriteLine($"load before: {MachineState.LoadAverage()}");
        try
        {
            var hf = Path.Combine(root, "hf");
            var sw = Stopwatch.StartNew();
            var (_, ckptBytes) = RandomCheckpoint.Write(hf, o.Shape, o.Seed, o.SourceDType);
            double writeS = sw.Elapsed.TotalSeconds;
            var writerHwm = ProcStatus.Read(Environment.ProcessId)?.HwmKb ?? 0;
            Console.WriteLine($"checkpoint written: {RandomCheckpoint.Describe(ckptBytes)} in {Stats.F(writeS)} s; this process's VmHWM so far {RandomCheckpoint.Describe(writerHwm * 1024)}");

            var baseline = RunChild([BaselineChildVerb, hf], o);
            Console.WriteLine($"baseline child: VmHWM {Kb(baseline.SelfHwmKb)}, polled max RSS {Kb(baseline.Polled.MaxRssKb)}, {Stats.F(baseline.Seconds)} s");
            var outDir = Path.Combine(root, "onnx");
            var export = RunChild([ExportChildVerb, hf, outDir, o.Hash ? "hash" : "nohash"], o);
            Console.WriteLine($"export child:   VmHWM {Kb(export.SelfHwmKb)}, polled max RSS {Kb(export.Polled.MaxRssKb)} (anon {Kb(export.Polled.MaxAnonKb)}, file {Kb(export.Polled.MaxFileKb)}), {Stats.F(export.Seconds)} s");

            var (largestName, largestBytes, dataBytes, fusedName, fusedBytes) = LargestInitializer(outDir);
            long peak = export.SelfHwmKb * 1024, basePeak = baseline.SelfHwmKb * 1024;
            double ratio = (peak - basePeak) / (double)largestBytes;
            double anonRatio = (export.Polled.MaxAnonKb - baseline.Polled.MaxAnonKb) * 1024.0 / largestBytes;

            var envText = o.ChildEnv.Count == 0 ? "" : "; child env " + string.Join(",", o.ChildEnv.Select(kv => kv.Key + "=" + kv.Value));
            var sum = new Summary($"export-memory: {o.Shape}; source {o.SourceDType}{envText}");
            var j = sum.Json;
            j["verb"] = "export-memory";
            j["machine"] = MachineState.Json();
            j["config"] = new JsonObject
            {
                ["hidden"] = config.HiddenSize, ["layers"] = config.NumLayers, ["heads"] = config.NumHeads, ["kv_heads"] = config.NumKvHeads,
                ["head_dim"] = config.HeadDim, ["mlp"] = config.IntermediateSize, ["vocab"] = config.VocabSize, ["tied"] = config.TieWordEmbeddings,
                ["parameters"] = config.ParameterCount, ["source_dtype"] = o.SourceDType.ToString(), ["hash_source"] = o.Hash, ["seed"] = o.Seed,
                ["child_env"] = string.Join(",", o.ChildEnv.Select(kv => kv.Key + "=" + kv.Value)),
            };
            j["checkpoint_bytes"] = ckptBytes;
            j["checkpoint_write_seconds"] = writeS;
            j["writer_vmhwm_bytes"] = writerHwm * 1024;
            j["export_data_bytes"] = dataBytes;
            j["export_seconds"] = export.Seconds;
            j["peak_bytes"] = peak;
            j["baseline_bytes"] = basePeak;
            j["largest_tensor"] = new JsonObject { ["name"] = largestName, ["bytes"] = largestBytes };
            j["largest_transposed_tensor"] = new JsonObject { ["name"] = fusedName, ["bytes"] = fusedBytes };
            j["ratio"] = ratio;
            j["target"] = 1.5;
            j["meets_target"] = ratio <= 1.5;
            j["polled"] = new JsonObject
            {
                ["export"] = export.Polled.Json(), ["baseline"] = baseline.Polled.Json(), ["poll_ms"] = o.PollMs,
                ["anon_ratio"] = anonRatio,
            };

            sum.Row("checkpoint", RandomCheckpoint.Describe(ckptBytes), $"{o.SourceDType}, written in {Stats.F(writeS)} s by a process whose VmHWM was {Kb(writerHwm)}");
            sum.Row("export data", RandomCheckpoint.Describe(dataBytes), $"fp32, exported in {Stats.F(export.Seconds)} s (child wall time){(o.Hash ? ", incl. source SHA-256" : "")}");
            sum.Row("peak (export child VmHWM)", Kb(export.SelfHwmKb), $"polled: max RSS {Kb(export.Polled.MaxRssKb)}, max anon {Kb(export.Polled.MaxAnonKb)}, max file {Kb(export.Polled.MaxFileKb)}");
            sum.Row("baseline (baseline child VmHWM)", Kb(baseline.SelfHwmKb), $"polled: max RSS {Kb(baseline.Polled.MaxRssKb)}, max anon {Kb(baseline.Polled.MaxAnonKb)}");
            sum.Row("largest tensor (exported, fp32)", RandomCheckpoint.Describe(largestBytes), largestName);
            sum.Row("largest transposed weight", RandomCheckpoint.Describe(fusedBytes), $"{fusedName} (built whole in memory)");
            sum.Row("(peak - baseline) / largest", Stats.F(ratio, 3), $"target <= 1.5: {(ratio <= 1.5 ? "met" : "NOT met")}");
            sum.Row("same, anonymous memory only", Stats.F(anonRatio, 3), "polled RssAnon (every " + o.PollMs + " ms), export minus baseline");
            sum.Row("load average (1/5/15 min)", MachineState.LoadAverageShort(), "at the end; " + Environment.ProcessorCount + " logical CPUs");
            return sum;
        }
        finally
        {
            if (o.Keep) Console.WriteLine($"kept {root}");
            else
            {
                ForwardBench.TryDelete(root);
                Console.WriteLine($"removed {root}");
            }
        }
    }

    static string Kb(long kb) => RandomCheckpoint.Describe(kb * 1024);

    /// <summary>The largest initializer in the exported data file (by its external length), and the largest of the transposed projections.</summary>
    static (string, long, long, string, long) LargestInitializer(string dir)
    {
        using var fs = File.OpenRead(Path.Combine(dir, ModelExporter.ModelFile));
        var model = Onnx.ModelProto.Parser.ParseFrom(fs);
        string best = "", fused = "";
        long bestLen = 0, fusedLen = 0;
        foreach (var t in model.Graph.Initializer)
        {
            var len = t.ExternalData.FirstOrDefault(e => e.Key == "length")?.Value;
            if (len is null) continue;
            long n = long.Parse(len, CultureInfo.InvariantCulture);
            if (n > bestLen) { bestLen = n; best = t.Name; }
            if (t.Name.StartsWith("model.layers.", StringComparison.Ordinal) && n > fusedLen) { fusedLen = n; fused = t.Name; }
        }
        return (best, bestLen, new FileInfo(Path.Combine(dir, ModelExporter.DataFile)).Length, fused, fusedLen);
    }

    internal sealed record ChildResult(long SelfHwmKb, PolledMemory Polled, double Seconds, string Output);

    static ChildResult RunChild(string[] args, Options o) => RunChild(args, o.PollMs, o.ChildEnv);

    /// <summary>
    /// Runs this executable with a hidden child verb, polls /proc/&lt;pid&gt;/status while it runs, and returns the
    /// VmHWM the child printed last ("RESULT &lt;kB&gt;", see <see cref="PrintResult"/>).
    /// </summary>
    internal static ChildResult RunChild(string[] args, int pollMs, IReadOnlyList<KeyValuePair<string, string>> childEnv)
    {
        var psi = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
        psi.FileName = exe;
        // Run through `dotnet x.dll`: pass the assembly; run as the apphost: just the arguments.
        if (Path.GetFileNameWithoutExtension(exe) == "dotnet") psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in childEnv) psi.Environment[k] = v;

        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("child did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var polled = new PolledMemory();
        while (!p.HasExited)
        {
            if (ProcStatus.Read(p.Id) is { } st) polled.Add(st);
            Thread.Sleep(pollMs);
        }
        p.WaitForExit();
        double seconds = sw.Elapsed.TotalSeconds;
        var output = stdout.Result;
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"child {string.Join(" ", args)} failed with {p.ExitCode}:\n{output}\n{stderr.Result}");
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith(ResultPrefix, StringComparison.Ordinal))
            ?? throw new InvalidOperationException("child printed no result:\n" + output);
        long hwm = long.Parse(line[ResultPrefix.Length..].Trim(), CultureInfo.InvariantCulture);
        return new ChildResult(hwm, polled, seconds, output);
    }

    /// <summary>The hidden child verbs. Print "RESULT &lt;VmHWM kB&gt;" last.</summary>
    public static int Child(string verb, IReadOnlyList<string> args)
    {
        if (verb == ExportChildVerb)
        {
            var opts = new ExportOptions { HashSource = args.Count > 2 && args[2] == "hash" };
            ModelExporter.Export(args[0], args[1], opts);
        }
        else
        {
            // Everything the export child does but the export: open and validate the checkpoint, load the
            // protobuf/ONNX types, read the smallest tensor.
            using var ckpt = HfCheckpoint.Open(args[0]);
            _ = new Onnx.ModelProto { Graph = new Onnx.GraphProto { Name = "baseline" } }.CalculateSize();
            _ = ckpt.ReadFloat32(WeightNames.FinalNorm);
            _ = new ExportOptions();
        }
        return PrintResult();
    }

    /// <summary>The child's last line: "RESULT &lt;VmHWM kB&gt;", which <see cref="RunChild(string[], int, IReadOnlyList{KeyValuePair{string, string}})"/> reads.</summary>
    internal static int PrintResult()
    {
        Console.Out.Flush();
        var st = ProcStatus.Read(Environment.ProcessId) ?? throw new InvalidOperationException("cannot read /proc/self/status");
        Console.WriteLine(ResultPrefix + st.HwmKb.ToString(CultureInfo.InvariantCulture));
        return 0;
    }
}

/// <summary>Fields of /proc/&lt;pid&gt;/status, in kB.</summary>
sealed record ProcStatus(long RssKb, long HwmKb, long AnonKb, long FileKb, long ShmemKb = 0)
{
    public static ProcStatus? Read(int pid)
    {
        try
        {
            long rss = 0, hwm = 0, anon = 0, file = 0, shmem = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line);
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line);
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kb(line);
                else if (line.StartsWith("RssFile:", StringComparison.Ordinal)) file = Kb(line);
                else if (line.StartsWith("RssShmem:", StringComparison.Ordinal)) shmem = Kb(line);
            }
            return hwm == 0 ? null : new ProcStatus(rss, hwm, anon, file, shmem);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    static long Kb(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
}

sealed class PolledMemory
{
    public long MaxRssKb, MaxHwmKb, MaxAnonKb, MaxFileKb, MaxShmemKb;
    public int Samples;

    public void Add(ProcStatus s)
    {
        Samples++;
        MaxRssKb = Math.Max(MaxRssKb, s.RssKb);
        MaxHwmKb = Math.Max(MaxHwmKb, s.HwmKb);
        MaxAnonKb = Math.Max(MaxAnonKb, s.AnonKb);
        MaxFileKb = Math.Max(MaxFileKb, s.FileKb);
        MaxShmemKb = Math.Max(MaxShmemKb, s.ShmemKb);
    }

    public JsonObject Json() => new()
    {
        ["samples"] = Samples, ["max_rss_bytes"] = MaxRssKb * 1024, ["max_vmhwm_bytes"] = MaxHwmKb * 1024,
        ["max_anon_bytes"] = MaxAnonKb * 1024, ["max_file_bytes"] = MaxFileKb * 1024, ["max_shmem_bytes"] = MaxShmemKb * 1024,
    };
}

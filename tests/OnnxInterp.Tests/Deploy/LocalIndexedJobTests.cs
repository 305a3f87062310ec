using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Comparison;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Deploy.KubernetesManifests;

namespace OnnxInterp.Tests.Deploy;

/// <summary>
/// deploy/k8s's Indexed Job played by local processes: one `onnxinterp` process per index, started as the Job's pods
/// are (the container's args, JOB_COMPLETION_INDEX in the environment and expanded in the args as the kubelet does, the
/// shared volume and config map mapped to folders), then the merge Job's args. One pod is killed mid-run and replaced
/// with the same index, and a second pod runs beside another index's, as a Job may; the merge equals the unsharded
/// sweep's results.json byte for byte. The models are tiny random checkpoints, the config the tests' small one.
/// </summary>
public class LocalIndexedJobTests
{
    const string IndexToken = "$(JOB_COMPLETION_INDEX)";

    static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>A pod: `dotnet onnxinterp.dll ARGS` with the index in its environment and its args.</summary>
    sealed class Pod : IDisposable
    {
        readonly Process _process;
        readonly StringBuilder _output = new();

        public Pod(IReadOnlyList<string> args, int index, IReadOnlyDictionary<string, string> env)
        {
            var psi = new ProcessStartInfo(DotnetHost()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "OnnxInterp.Cli.dll"));
            foreach (var a in args) psi.ArgumentList.Add(a.Replace(IndexToken, index.ToString()));
            psi.Environment[ShardSpec.IndexVariable] = index.ToString();
            foreach (var (k, v) in env) psi.Environment[k] = v;
            _process = new Process { StartInfo = psi };
            _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            _process.Start();
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output { get { lock (_output) return _output.ToString(); } }

        public bool HasExited => _process.HasExited;

        public int Wait()
        {
            if (!_process.WaitForExit(TimeSpan.FromMinutes(5))) { _process.Kill(entireProcessTree: true); Assert.Fail("a pod ran over 5 minutes:\n" + Output); }
            _process.WaitForExit();
            return _process.ExitCode;
        }

        /// <summary>Kills the pod (if it still runs) and frees it.</summary>
        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
            _process.Dispose();
        }
    }

    [Test]
    public void IndexedJob_LocalPodsWithAKilledAndADoubledIndex_MergeToTheUnshardedResults()
    {
        using var tmp = new TempDir();
        var mounts = new Dictionary<string, string> { ["/data/"] = tmp.Sub("data") + "/", ["/config/"] = tmp.Sub("config") + "/" };
        string Map(string arg) => mounts.Aggregate(arg, (a, m) => a.Replace(m.Key, m.Value));

        // The shared volume: the base and the run's checkpoints where the manifest reads them; the config map's key.
        var job = Single("sweep-job.yaml");
        var args = Strings(job, "spec.template.spec.containers.0.args").Select(Map).ToList();
        var baseDir = ArgAfter(args, "--base")!.Split('=')[^1];
        var runDir = Path.GetDirectoryName(ArgAfter(args, "--post"))!;
        SweepTests.WriteTinyRun(tmp.Sub("stage"));
        Directory.CreateDirectory(Path.GetDirectoryName(baseDir)!);
        Directory.Move(tmp.Sub("stage/base"), baseDir);
        Directory.Move(tmp.Sub("stage/run"), runDir);
        var configFile = ArgAfter(args, "--config")!;
        Directory.CreateDirectory(Path.GetDirectoryName(configFile)!);
        File.WriteAllText(configFile, TinyConfigJson());
        var env = Items(At(job, "spec.template.spec.containers.0")!, "env")
            .Where(e => Text(e, "value") is not null).ToDictionary(e => Text(e, "name")!, e => Map(Text(e, "value")!));
        int completions = int.Parse(Text(job, "spec.completions")!);

        // The pods, all at once (parallelism = completions). Once the plan is known (shard 0's shard.json), the index with
        // the most steps is killed after it has journaled one, then replaced; a second pod of another index starts beside it.
        var shardsDir = Path.GetDirectoryName(ArgAfter(args, "--out"))!;
        var pods = Enumerable.Range(0, completions).Select(k => new Pod(args, k, env)).ToList();
        var clock = Stopwatch.StartNew();
        void WaitFor(Func<bool> done, string what)
        {
            while (!done())
            {
                if (clock.Elapsed > TimeSpan.FromMinutes(5)) Assert.Fail($"{what} in 5 minutes:\n" + string.Join("\n", pods.Select(p => p.Output)));
                Thread.Sleep(20);
            }
        }
        WaitFor(() => File.Exists(Path.Combine(shardsDir, "0", ShardManifest.FileName)), "no shard.json");
        var plan = ShardManifest.TryRead(Path.Combine(shardsDir, "0"))!.Steps;
        var perShard = Enumerable.Range(0, completions).Select(k => plan.Count(s => s.Shard == k)).ToList();
        int victim = perShard.IndexOf(perShard.Max());
        int doubled = Enumerable.Range(0, completions).First(k => k != victim && perShard[k] > 0);
        using var twin = new Pod(args, doubled, env);
        var victimDir = Path.Combine(shardsDir, victim.ToString());
        WaitFor(() => pods[victim].HasExited || (Directory.Exists(victimDir)
            && Directory.EnumerateFiles(victimDir, "*.json", SearchOption.AllDirectories)
                .Any(f => Path.GetFileName(Path.GetDirectoryName(f)) == ResultsJournal.FolderName)), $"shard {victim} journaled nothing");
        bool killed = !pods[victim].HasExited;
        pods[victim].Dispose();
        pods[victim] = new Pod(args, victim, env);
        foreach (var (pod, k) in pods.Select((p, k) => (p, k)))
            Assert.That(pod.Wait(), Is.Zero, $"pod {k}:\n{pod.Output}");
        Assert.That(twin.Wait(), Is.Zero, twin.Output);
        Assert.That(pods[victim].Output, Does.Match(killed ? @"\(\d+ run, [1-9]\d* resumed\)" : @"\(0 run, \d+ resumed\)"), "the replacement resumes from the journal");
        Assert.That(pods[doubled].Output + twin.Output, Does.Contain("(0 run, "), $"one of the two pods of index {doubled} found its steps done");
        foreach (var p in pods) p.Dispose();
        // Every pod resolved the three models through the shared cache: each exported once, nothing half-written left.
        var exports = Path.Combine(env[ModelResolver.CacheVariable], "exports");
        Assert.That(Directory.GetDirectories(exports), Has.Length.EqualTo(3));
        Assert.That(Directory.GetDirectories(exports, ".*"), Is.Empty);
        TestContext.Out.WriteLine($"steps per shard: {string.Join(", ", perShard)}; shard {victim} {(killed ? "killed after its first step" : "had finished before the kill")}, shard {doubled} run twice");

        // The merge Job, then the same sweep unsharded, in-process.
        var mergeArgs = Strings(Single("merge-job.yaml"), "spec.template.spec.containers.0.args").Select(Map).ToList();
        using (var merge = new Pod(mergeArgs, 0, env)) Assert.That(merge.Wait(), Is.Zero, merge.Output);
        var unsharded = args.TakeWhile(a => a != "--shards").Concat(["--out", tmp.Sub("unsharded"), "--cache-dir", env[ModelResolver.CacheVariable]]).ToArray();
        var (code, _, err) = CliRunner.Run(unsharded);
        Assert.That(code, Is.Zero, err);
        var report = ArgAfter(mergeArgs, "--out")!;
        Assert.That(File.ReadAllBytes(Path.Combine(report, "results.json")), Is.EqualTo(File.ReadAllBytes(tmp.Sub("unsharded/results.json"))));
    }

    /// <summary>The sweep tests' small settings as a config file (the shape of the config map's sweep.json).</summary>
    static string TinyConfigJson()
    {
        var c = SweepTests.Config;
        var json = new JsonObject
        {
            ["datasets"] = new JsonArray(c.Datasets.Select(d => (JsonNode)JsonValue.Create(d)).ToArray()),
            ["analyses"] = new JsonArray(c.Analyses!.Select(a => (JsonNode)JsonValue.Create(a)).ToArray()),
        };
        foreach (var (analysis, options) in c.AnalysisOptions) json[analysis] = options.DeepClone();
        return json.ToJsonString();
    }
}

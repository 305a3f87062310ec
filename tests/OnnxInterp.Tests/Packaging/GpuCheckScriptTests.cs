using System.Diagnostics;
using System.Runtime.Versioning;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Packaging;

/// <summary>
/// tools/gpu-check's shell scripts on a small tree (the real publish is 419 MB; see that folder's README): pack.sh
/// splits into parts of at most N bytes, join.sh restores the tree byte for byte and refuses a missing or corrupt
/// part, and check.sh on a machine without CUDA names the missing libraries and stops with its own exit code.
/// </summary>
[Platform(Include = "Linux")]
[SupportedOSPlatform("linux")]
[NonParallelizable]
public class GpuCheckScriptTests
{
    const int PartBytes = 1 << 20;
    static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    TempDir _tmp = null!;
    string _tree = null!;
    string _gzipParts = null!;

    static string Script(string name) => Path.Combine(ShippedFamily.RepositoryRoot, "tools", "gpu-check", name);

    [OneTimeSetUp]
    public void PackASmallTree()
    {
        _tmp = new TempDir();
        // 3 MB of random bytes (incompressible: three parts), a text file, an executable and a nested folder.
        _tree = _tmp.Sub("app");
        Directory.CreateDirectory(Path.Combine(_tree, "runtimes", "native"));
        var blob = new byte[3_000_000];
        new Random(7).NextBytes(blob);
        File.WriteAllBytes(Path.Combine(_tree, "runtimes", "native", "libblob.so"), blob);
        File.WriteAllText(Path.Combine(_tree, "notes.txt"), "gpu-check\n");
        var exe = Path.Combine(_tree, "run");
        File.WriteAllText(exe, "#!/bin/sh\necho ran\n");
        File.SetUnixFileMode(exe, File.GetUnixFileMode(exe) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        _gzipParts = _tmp.Sub("parts-gzip");
        var (code, output) = Sh("pack.sh", _tree, _gzipParts, "--compressor", "gzip", "--part-bytes", PartBytes.ToString());
        Assert.That(code, Is.Zero, output);
    }

    [OneTimeTearDown]
    public void Remove() => _tmp.Dispose();

    [TestCase("gzip")]
    [TestCase("xz")]
    [TestCase("zstd")]
    public void PackThenJoin_OneMiBParts_RestoresTheTreeByteForByte(string compressor)
    {
        Assume.That(Sh("-c", $"command -v {compressor}").Code, Is.Zero, compressor + " is not installed");
        var parts = compressor == "gzip" ? _gzipParts : _tmp.Sub("parts-" + compressor);
        if (compressor != "gzip")
        {
            var (packed, output) = Sh("pack.sh", _tree, parts, "--compressor", compressor, "--part-bytes", PartBytes.ToString());
            Assert.That(packed, Is.Zero, output);
        }
        var files = Directory.GetFiles(parts, "app.tar.*.part-*").Order(StringComparer.Ordinal).ToList();
        Assert.That(files, Has.Count.GreaterThanOrEqualTo(3));
        Assert.That(files.Select(f => new FileInfo(f).Length), Has.All.LessThanOrEqualTo(PartBytes));
        var manifest = File.ReadAllLines(Path.Combine(parts, "MANIFEST"));
        Assert.That(manifest.Where(l => l.StartsWith("part ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]),
            Is.EqualTo(files.Select(Path.GetFileName)), "the MANIFEST lists every part, in order");
        Assert.That(manifest, Does.Contain("compressor " + compressor));

        var dest = _tmp.Sub("joined-" + compressor);
        var (code, log) = Sh("join.sh", parts, dest);
        Assert.That(code, Is.Zero, log);
        var restored = Path.Combine(dest, "app");
        foreach (var file in Directory.GetFiles(_tree, "*", SearchOption.AllDirectories))
        {
            var copy = Path.Combine(restored, Path.GetRelativePath(_tree, file));
            Assert.That(File.ReadAllBytes(copy), Is.EqualTo(File.ReadAllBytes(file)), copy);
            Assert.That(File.GetUnixFileMode(copy), Is.EqualTo(File.GetUnixFileMode(file)), copy);
        }
        Assert.That(Directory.GetFiles(restored, "*", SearchOption.AllDirectories), Has.Length.EqualTo(3));
        Assert.That(Directory.GetFileSystemEntries(dest), Is.EquivalentTo(new[] { restored }), "no archive or temporary folder left");
    }

    [Test]
    public void Join_OneByteChangedInAPart_Exits4NamingThePartAndExtractsNothing()
    {
        var parts = CopyParts("corrupt");
        var victim = Directory.GetFiles(parts, "*.part-01").Single();
        var bytes = File.ReadAllBytes(victim);
        bytes[1000] ^= 0x01;
        File.WriteAllBytes(victim, bytes);
        var dest = _tmp.Sub("joined-corrupt");
        var (code, output) = Sh("join.sh", parts, dest);
        Assert.That(code, Is.EqualTo(4), output);
        Assert.That(output, Does.Contain(Path.GetFileName(victim) + " is corrupt"));
        Assert.That(Directory.Exists(Path.Combine(dest, "app")), Is.False);
    }

    [Test]
    public void Join_PartMissing_Exits3NamingIt()
    {
        var parts = CopyParts("missing");
        var gone = Directory.GetFiles(parts, "*.part-02").Single();
        File.Delete(gone);
        var (code, output) = Sh("join.sh", parts, _tmp.Sub("joined-missing"));
        Assert.That(code, Is.EqualTo(3), output);
        Assert.That(output, Does.Contain("missing part(s): " + Path.GetFileName(gone)));
    }

    [Test]
    public void Check_NoCudaOnTheMachine_NamesTheMissingLibrariesAndExits3BeforeAnyBenchmark()
    {
        Assume.That(ExecutionProviders.ProbeCuda(), Is.Not.Null, "CUDA loads on this machine");
        // The real CUDA provider from this test's output (the library's Microsoft.ML.OnnxRuntime.Gpu), so ldd reads its
        // NEEDED entries; a stand-in executable that leaves a mark if check.sh ran it anyway.
        var provider = Directory.GetFiles(TestContext.CurrentContext.TestDirectory, "libonnxruntime_providers_cuda.so", SearchOption.AllDirectories).FirstOrDefault();
        Assume.That(provider, Is.Not.Null, "no libonnxruntime_providers_cuda.so in the test output");
        var publish = _tmp.Sub("publish-nocuda");
        Directory.CreateDirectory(publish);
        File.CreateSymbolicLink(Path.Combine(publish, "libonnxruntime_providers_cuda.so"), provider!);
        var mark = _tmp.Sub("benchmark-ran");
        var exe = Path.Combine(publish, "OnnxInterp.Benchmarks");
        File.WriteAllText(exe, $"#!/bin/sh\ntouch '{mark}'\n");
        File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var results = _tmp.Sub("results-nocuda");

        var watch = Stopwatch.StartNew();
        var (code, output) = Sh("check.sh", "--publish", publish, "--out", results);
        TestContext.Out.WriteLine($"check.sh took {watch.Elapsed.TotalSeconds:F1} s\n{output}");

        Assert.That(code, Is.EqualTo(3), output);
        Assert.That(output, Does.Contain("MISSING  required  libcublasLt.so.13").And.Contain("check.sh: CUDA provider cannot load, missing:"));
        Assert.That(output, Does.Match(@"missing:.*libcudnn\.so\.9"), "cuDNN is dlopened, not NEEDED, and still reported");
        Assert.That(File.ReadAllText(Path.Combine(results, "libraries.txt")), Does.Contain("libcurand.so.10"));
        Assert.That(File.Exists(mark), Is.False, "no benchmark runs when a library is missing");
    }

    [Test]
    public void Check_LibrariesResolve_RunsBothBenchmarksWithProviderCudaAndExits4WhenOneFails()
    {
        Assume.That(Sh("-c", "command -v gcc && command -v ldd").Code, Is.Zero, "gcc and ldd are needed for stand-in CUDA libraries");
        var provider = Directory.GetFiles(TestContext.CurrentContext.TestDirectory, "libonnxruntime_providers_cuda.so", SearchOption.AllDirectories).FirstOrDefault();
        Assume.That(provider, Is.Not.Null, "no libonnxruntime_providers_cuda.so in the test output");
        // Empty libraries with the sonames and version nodes the provider needs, so ldd resolves every NEEDED entry.
        var stubs = _tmp.Sub("stubs");
        Directory.CreateDirectory(stubs);
        File.WriteAllText(Path.Combine(stubs, "s.c"), "int gc_stub(void) { return 0; }\n");
        foreach (var lib in new[] { "libcuda.so.1", "libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libcudnn.so.9" })
        {
            File.WriteAllText(Path.Combine(stubs, "v.map"), lib + " { global: *; };\n");
            var (built, log) = Sh("-c", $"cd '{stubs}' && gcc -shared -fPIC -Wl,-soname,{lib} -Wl,--version-script=v.map -o {lib} s.c");
            Assert.That(built, Is.Zero, log);
        }
        var publish = _tmp.Sub("publish-stubs");
        Directory.CreateDirectory(publish);
        File.CreateSymbolicLink(Path.Combine(publish, "libonnxruntime_providers_cuda.so"), provider!);
        // The stand-in benchmark records its arguments; forward succeeds, trace fails.
        var calls = _tmp.Sub("calls.txt");
        var exe = Path.Combine(publish, "OnnxInterp.Benchmarks");
        File.WriteAllText(exe, $"#!/bin/sh\necho \"$*\" >> '{calls}'\n[ \"$1\" = trace ] && exit 7\nexit 0\n");
        File.SetUnixFileMode(exe, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var results = _tmp.Sub("results-stubs");

        var (code, output) = ShWith(stubs, "check.sh", "--publish", publish, "--out", results, "--timeout", "30", "--", "--rounds", "3");

        Assert.That(code, Is.EqualTo(4), output);
        Assert.That(output, Does.Contain("every required library resolves").And.Contain("trace --provider cuda failed (exit code 7)"));
        Assert.That(File.ReadAllLines(calls), Is.EqualTo(new[]
        {
            "--help",
            $"forward --provider cuda --json {results}/forward-cuda.json --rounds 3",
            $"trace --provider cuda --json {results}/trace-cuda.json --rounds 3",
        }));
    }

    [Test]
    public void Check_NoPublish_Exits2SayingToJoinFirst()
    {
        var (code, output) = Sh("check.sh", "--publish", _tmp.Sub("nothing-here"), "--out", _tmp.Sub("results-none"));
        Assert.That(code, Is.EqualTo(2), output);
        Assert.That(output, Does.Contain("run join.sh first"));
    }

    string CopyParts(string name)
    {
        var dir = _tmp.Sub("parts-" + name);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(_gzipParts)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    /// <summary>Runs `sh SCRIPT ARGS` (a tools/gpu-check script) or `sh -c TEXT`, with LD_LIBRARY_PATH unset.</summary>
    static (int Code, string Output) Sh(string scriptOrFlag, params string[] args) => ShWith(null, scriptOrFlag, args);

    static (int Code, string Output) ShWith(string? libraryPath, string scriptOrFlag, params string[] args)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(scriptOrFlag == "-c" ? "-c" : Script(scriptOrFlag));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment.Remove("LD_LIBRARY_PATH");
        if (libraryPath is not null) start.Environment["LD_LIBRARY_PATH"] = libraryPath;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{scriptOrFlag} {string.Join(' ', args)} ran past {Limit}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

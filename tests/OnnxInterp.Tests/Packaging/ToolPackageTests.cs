using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Packaging;

/// <summary>
/// Installs OnnxInterp as users do: packs the library and the tool into a local folder feed, checks what a gallery
/// shows and NuGet's 250 MB limit, installs the tool on a clean path and runs `onnxinterp demo` with it.
/// </summary>
[NonParallelizable]
public class ToolPackageTests
{
    const long NuGetGalleryLimit = 250L * 1024 * 1024;
    static readonly string[] ToolRids = ["linux-x64", "linux-arm64", "osx-arm64", "win-x64", "win-arm64"];

    TempDir _tmp = null!;
    string _feed = null!;

    [OneTimeSetUp]
    public void PackIntoLocalFeed()
    {
        _tmp = new TempDir();
        _feed = _tmp.Sub("feed");
        var root = ShippedFamily.RepositoryRoot;
        // Its own artifacts path: packing must not touch the tree's bin/ and obj/, which this test run is using.
        foreach (var project in new[] { "src/OnnxInterp", "src/OnnxInterp.Cli" })
            Dotnet(root, TimeSpan.FromMinutes(5), freshPackageFolder: false, "pack", Path.Combine(root, project), "-c", "Release", "-o", _feed, "--artifacts-path", _tmp.Sub("artifacts"));
    }

    [OneTimeTearDown]
    public void RemoveFeed() => _tmp.Dispose();

    [Test]
    public void LibraryPackage_Packed_HasGalleryMetadataXmlDocsAndSymbols()
    {
        var nupkg = Directory.GetFiles(_feed, "OnnxInterp.1.*.nupkg").Single();
        using var zip = ZipFile.OpenRead(nupkg);
        var nuspec = XDocument.Load(zip.GetEntry("OnnxInterp.nuspec")!.Open());
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        Assert.That(metadata.Element(ns + "description")!.Value, Does.Contain("ONNX Runtime"));
        Assert.That(metadata.Element(ns + "license")!.Value, Is.EqualTo("MIT"));
        Assert.That(metadata.Element(ns + "readme")!.Value, Is.EqualTo("README.md"));
        Assert.That(metadata.Element(ns + "repository")!.Attribute("url")!.Value, Does.StartWith("https://"));
        // CUDA stays available to library users: the package depends on the GPU ONNX Runtime.
        Assert.That(metadata.Descendants(ns + "dependency").Select(d => d.Attribute("id")!.Value), Does.Contain("Microsoft.ML.OnnxRuntime.Gpu"));
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        Assert.That(entries, Does.Contain("README.md").And.Contain("lib/net10.0/OnnxInterp.dll").And.Contain("lib/net10.0/OnnxInterp.xml"));
        Assert.That(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), "symbols package next to " + nupkg);
    }

    [Test]
    public void ToolPackages_Packed_OnePerRidEachUnderTheGalleryLimit()
    {
        foreach (var rid in ToolRids)
        {
            var package = Directory.GetFiles(_feed, $"OnnxInterp.Cli.{rid}.*.nupkg").Single();
            var size = new FileInfo(package).Length;
            TestContext.Out.WriteLine($"{Path.GetFileName(package)}: {size / 1e6:F1} MB");
            Assert.That(size, Is.LessThan(NuGetGalleryLimit), package);
            using var zip = ZipFile.OpenRead(package);
            // CPU ONNX Runtime only: the CUDA provider is what made the single package 484 MB.
            Assert.That(zip.Entries.Select(e => e.Name), Has.None.Contains("providers_cuda"), rid);
            Assert.That(zip.Entries.Select(e => e.FullName), Has.Some.EndsWith("models/instruct/config.json"), rid);
        }
    }

    [Test]
    public void InstalledTool_Demo_WritesTheReportWithThePackagedFamily()
    {
        var tools = _tmp.Sub("tools");
        var work = _tmp.Sub("work");
        Directory.CreateDirectory(work);
        // Only the local feed, and a fresh package folder, so no gallery package or stale cached build can answer.
        var config = _tmp.Sub("nuget.config");
        File.WriteAllText(config, "<configuration><packageSources><clear /></packageSources></configuration>");
        var watch = Stopwatch.StartNew();
        Dotnet(work, TimeSpan.FromMinutes(2), freshPackageFolder: true, "tool", "install", "OnnxInterp.Cli", "--tool-path", tools, "--configfile", config, "--add-source", _feed);

        var exe = Path.Combine(tools, OperatingSystem.IsWindows() ? "onnxinterp.exe" : "onnxinterp");
        // From an empty folder with no ONNXINTERP_FAMILY: the family must come from the package itself.
        var (code, output) = Run(exe, work, TimeSpan.FromMinutes(5), ["demo", "--out", Path.Combine(work, "demo"), "--cache-dir", _tmp.Sub("cache")]);
        watch.Stop();
        TestContext.Out.WriteLine($"install + demo took {watch.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} cores");
        Assert.That(code, Is.Zero, output);
        foreach (var file in new[] { "report.html", "report.md", "results.json", "run.json" })
            Assert.That(File.Exists(Path.Combine(work, "demo", file)), file);
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(work, "demo", "results.json")))!;
        Assert.That(results["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "base", "sft", "instruct" }));
        Assert.That(Directory.GetFiles(Path.Combine(work, "demo", "figures"), "*.png"), Is.Not.Empty);
    }

    void Dotnet(string workingDirectory, TimeSpan timeout, bool freshPackageFolder, params string[] args)
    {
        var (code, output) = Run("dotnet", workingDirectory, timeout, args, freshPackageFolder);
        Assert.That(code, Is.Zero, $"dotnet {string.Join(' ', args)}\n{output}");
    }

    (int Code, string Output) Run(string fileName, string workingDirectory, TimeSpan timeout, string[] args, bool freshPackageFolder = false)
    {
        var start = new ProcessStartInfo(fileName, args)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        if (freshPackageFolder) start.Environment["NUGET_PACKAGES"] = _tmp.Sub("packages");
        start.Environment.Remove("ONNXINTERP_FAMILY");
        // The test host's MSBuild settings must not leak into the child `dotnet pack`.
        foreach (var name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH" }) start.Environment.Remove(name);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{fileName} {string.Join(' ', args)} ran past {timeout}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

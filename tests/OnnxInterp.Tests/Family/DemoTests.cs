using System.Diagnostics;
using System.Text.Json.Nodes;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Family;

/// <summary>The README's first command on the shipped family: under 5 minutes, every section with numbers, a clean page.</summary>
public class DemoTests
{
    [Test]
    public void Demo_ShippedFamily_UnderFiveMinutesWithEverySectionAndACleanPage()
    {
        var family = ShippedFamily.RequireRoot();
        using var tmp = new TempDir();
        var o = new StringWriter();
        var e = new StringWriter();
        var watch = Stopwatch.StartNew();
        // A fresh cache: the time includes exporting the three checkpoints, as a first run does.
        int code = OnnxInterp.Cli.Cli.Run(["demo", "--models", family, "--out", tmp.Sub("demo"), "--cache-dir", tmp.Sub("cache")], o, e);
        watch.Stop();
        Assert.That(code, Is.EqualTo(ExitCodes.Ok), e.ToString());
        TestContext.Out.WriteLine($"demo took {watch.Elapsed.TotalSeconds:F1} s on {Environment.ProcessorCount} cores");
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromMinutes(5)));

        var md = File.ReadAllText(tmp.Sub("demo/report.md"));
        var results = JsonNode.Parse(File.ReadAllText(tmp.Sub("demo/results.json")))!;
        foreach (var step in ComparisonSteps.Select(DemoComparison.Config))
        {
            Assert.That(md, Does.Contain("\n## " + step.Title + "\n"));
            Assert.That(results[step.Name], Is.Not.Null, step.Name);
            var numbers = results["summary"]!.AsArray().Where(s => s!["analysis"]!.GetValue<string>() == step.Name).ToList();
            Assert.That(numbers, Is.Not.Empty, $"{step.Name} reports headline numbers");
            foreach (var s in numbers)
                Assert.That(md, Does.Contain($"| {ComparisonReport.Number(s!["value"]!.GetValue<double>())} |"));
        }
        Assert.That(results["models"]!.AsArray().Select(m => m!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "base", "sft", "instruct" }));

        var page = HeadlessChromium.Load(new Uri(tmp.Sub("demo/report.html")).AbsoluteUri);
        Assert.That(page.ConsoleErrors, Is.Empty);
    }
}

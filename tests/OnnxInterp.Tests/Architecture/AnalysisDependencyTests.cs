using System.Text.RegularExpressions;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Architecture;

/// <summary>
/// STYLE.md: "each analysis depends on the runtime's interface only". An analysis (src/OnnxInterp/Analysis/NAME/) sees
/// the model through Runtime's IHookedModel, reads data through Data and text through Tokenization, draws its report
/// section with Reports' primitives, and never reaches into the exporter, the checkpoint reader, the comparison or
/// another analysis. The comparison depends on the analyses, never the reverse.
/// </summary>
public class AnalysisDependencyTests
{
    /// <summary>
    /// Namespaces every analysis file may import (besides System.*, MathNet and its own analysis). Reports holds only
    /// shared primitives (Markdown/HTML, heatmaps, the results JSON settings) and imports no analysis.
    /// </summary>
    static readonly string[] Allowed =
    [
        "OnnxInterp.Runtime", "OnnxInterp.Data", "OnnxInterp.Tokenization", "OnnxInterp.Internals", "OnnxInterp.Analysis", "OnnxInterp.Reports",
    ];

    /// <summary>
    /// Files allowed more imports, and why. PaperProtocol identifies the paper's published models by their
    /// ModelConfig (hidden size, layers, vocabulary and family: ModelFamilies' records), the record the contract's
    /// Config hands out.
    /// </summary>
    static readonly Dictionary<string, string[]> Exceptions = new()
    {
        ["PaperProtocol.cs"] = ["OnnxInterp.Checkpoints", "OnnxInterp.Checkpoints.Families"],
    };

    static readonly Regex Using = new(@"^using\s+(?:static\s+)?(OnnxInterp(?:\.\w+)*)\s*;", RegexOptions.Multiline);
    static readonly Regex Qualified = new(@"\bOnnxInterp\.(Export|Checkpoints|Comparison)\.\w+");

    static IEnumerable<(string Path, string Analysis, string Text)> AnalysisFiles()
    {
        var root = Path.Combine(ShippedFamily.RepositoryRoot, "src/OnnxInterp/Analysis");
        foreach (var path in Directory.GetFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(root, path);
            var parts = rel.Split(Path.DirectorySeparatorChar);
            yield return (rel, parts.Length > 1 ? parts[0] : "", File.ReadAllText(path));
        }
    }

    [Test]
    public void Analyses_ImportOnlyRuntimeDataAndTokenization_AndNotEachOther()
    {
        var offenders = new List<string>();
        foreach (var (path, analysis, text) in AnalysisFiles())
        {
            var own = analysis.Length > 0 ? $"OnnxInterp.Analysis.{analysis}" : "OnnxInterp.Analysis";
            var extra = Exceptions.GetValueOrDefault(Path.GetFileName(path)) ?? [];
            foreach (Match m in Using.Matches(text))
            {
                var ns = m.Groups[1].Value;
                if (ns == own || Allowed.Contains(ns) || extra.Contains(ns)) continue;
                offenders.Add($"{path}: using {ns}");
            }
            foreach (Match m in Qualified.Matches(text))
                if (!extra.Any(ns => m.Value.StartsWith(ns + ".", StringComparison.Ordinal))) offenders.Add($"{path}: {m.Value}");
        }
        Assert.That(offenders, Is.Empty);
    }

    [Test]
    public void Analyses_HoldTheContract_NotTheOnnxRuntimeSession()
    {
        var offenders = AnalysisFiles().Where(f => Regex.IsMatch(f.Text, @"\bModelSession\b|\bInferenceSession\b|\bOrtValue\b|Microsoft\.ML\.OnnxRuntime"))
            .Select(f => f.Path).ToList();
        Assert.That(offenders, Is.Empty);
    }

    [Test]
    public void ReportsRuntimeDataAndTokenization_ImportNoAnalysisAndNoComparison()
    {
        var src = Path.Combine(ShippedFamily.RepositoryRoot, "src/OnnxInterp");
        var offenders = new[] { "Reports", "Runtime", "Data", "Tokenization", "Export", "Checkpoints" }
            .SelectMany(folder => Directory.GetFiles(Path.Combine(src, folder), "*.cs", SearchOption.AllDirectories))
            .SelectMany(path => Using.Matches(File.ReadAllText(path)).Select(m => (Path: Path.GetRelativePath(src, path), Ns: m.Groups[1].Value)))
            .Where(x => x.Ns.StartsWith("OnnxInterp.Analysis", StringComparison.Ordinal) || x.Ns.StartsWith("OnnxInterp.Comparison", StringComparison.Ordinal))
            .Select(x => $"{x.Path}: using {x.Ns}").ToList();
        Assert.That(offenders, Is.Empty);
    }

    [Test]
    public void Scan_FindsAnImportAcrossAnalyses()
    {
        // The rule above would pass vacuously if the scan read nothing: it must see the folders and flag a cross import.
        var files = AnalysisFiles().ToList();
        Assert.That(files.Select(f => f.Analysis).Distinct(), Is.SupersetOf(new[] { "Knowledge", "Truth", "Refusal", "Confidence" }));
        Assert.That(Using.Match("using OnnxInterp.Analysis.Knowledge;\n").Groups[1].Value, Is.EqualTo("OnnxInterp.Analysis.Knowledge"));
        Assert.That(Allowed, Does.Not.Contain("OnnxInterp.Analysis.Knowledge"));
    }
}

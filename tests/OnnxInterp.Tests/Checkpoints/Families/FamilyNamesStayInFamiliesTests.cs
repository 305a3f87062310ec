using System.Text.RegularExpressions;
using OnnxInterp.Checkpoints.Families;
using OnnxInterp.Tests.Tokenization;

namespace OnnxInterp.Tests.Checkpoints.Families;

/// <summary>
/// A family is one file: outside src/OnnxInterp/Checkpoints/Families/ no source switches on a family. The scan reads
/// every .cs file under src/ with its comments dropped and flags the two forms a switch takes: a string literal that is
/// exactly a family's name, model_type, architecture or genai model type (<c>"qwen2"</c>, <c>"LlamaForCausalLM"</c>),
/// and an identifier that contains a family's name or model_type (<c>ModelFamily.Qwen2</c>, <c>IsLlama</c>). Prose is
/// not flagged: comments, and help or message text that mentions families among other words ("Llama, Mistral or
/// Qwen2"). tools/ is not scanned: the trainer and the benchmarks build one family (Llama) by design. tests/ is not
/// scanned: the reference transformer and the checkpoint factory describe the families independently of the library,
/// which is what lets them check it.
/// </summary>
public class FamilyNamesStayInFamiliesTests
{
    const string FamiliesFolder = "src/OnnxInterp/Checkpoints/Families/";

    /// <summary>Files that name published models for another reason than their family, and why.</summary>
    static readonly Dictionary<string, string> Allowed = new(StringComparer.Ordinal)
    {
        // Chat templates are named after the published chat models whose prompt format they reproduce ("mistral",
        // "qwen2", "llama3"); a template is picked per model, not per family (Tulu 3 is a Llama with its own template).
        ["src/OnnxInterp/Tokenization/ChatTemplate.cs"] = "chat template renderers of published models",
        ["src/OnnxInterp/Tokenization/ChatTemplates.cs"] = "chat template names of published models",
        ["src/OnnxInterp/Tokenization/PublishedChatTemplates.cs"] = "published chat templates, verbatim",
        // Microsoft.ML.Tokenizers' SentencePiece tokenizer class is LlamaTokenizer, and tokenizer_config.json's
        // tokenizer_class names HF tokenizer classes ("LlamaTokenizerFast"): tokenizer implementations, not families.
        ["src/OnnxInterp/Tokenization/HfTokenizer.cs"] = "tokenizer classes named Llama",
        // The paper's settings tables name its published models (Llama-3.1-8B, Llama-2-13B, Mistral-7B) and identify
        // them by family and shape: a Mistral with Llama-3.1-8B's shape is not the paper's model.
        ["src/OnnxInterp/Analysis/PaperProtocol.cs"] = "the paper's models and their PaperFamily",
        ["src/OnnxInterp/Analysis/Refusal/RefusalPaperSettings.cs"] = "the paper's refusal settings per published model",
        ["src/OnnxInterp/Analysis/Knowledge/KnowledgePaperSettings.cs"] = "the paper's knowledge settings per published model",
    };

    static string Root => TokenizerTestPaths.RepoRoot;

    /// <summary>The words a switch on a family would use, from the registry itself.</summary>
    static (HashSet<string> Literals, string[] IdentifierParts) FamilyWords()
    {
        var builtIn = new[] { ModelFamilies.Llama, ModelFamilies.Mistral, ModelFamilies.Qwen2 };
        var literals = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var f in builtIn)
        {
            literals.UnionWith([f.Name, f.ModelType, f.GenAiModelType, .. f.Architectures]);
            foreach (var a in f.DeployedAliases) literals.UnionWith([a.GenAiModelType, a.Architecture]);
        }
        var parts = builtIn.SelectMany(f => new[] { f.Name, f.ModelType }).Concat(builtIn.SelectMany(f => f.DeployedAliases.Select(a => a.GenAiModelType)))
            .Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        return (literals, parts);
    }

    static IEnumerable<string> Findings(string relativePath, string source, HashSet<string> literals, string[] parts)
    {
        foreach (var t in CSharpLexer.Lex(source))
        {
            if (t.Kind == CSharpLexer.Kind.String)
            {
                if (literals.Contains(t.Text.Trim())) yield return $"{relativePath}:{t.Line}: string \"{t.Text}\"";
                continue;
            }
            foreach (Match m in Regex.Matches(t.Text, @"[A-Za-z_][A-Za-z0-9_]*"))
                if (parts.Any(p => m.Value.Contains(p, StringComparison.OrdinalIgnoreCase)))
                    yield return $"{relativePath}:{t.Line + t.Text[..m.Index].Count(ch => ch == '\n')}: identifier {m.Value}";
        }
    }

    static IEnumerable<string> SourceFiles() =>
        Directory.EnumerateFiles(Path.Combine(Root, "src"), "*.cs", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Where(p => !p.Split('/').Any(part => part is "bin" or "obj"))
            .Order(StringComparer.Ordinal);

    [Test]
    public void Sources_OutsideFamilies_DoNotSwitchOnAFamily()
    {
        var (literals, parts) = FamilyWords();
        var offenders = SourceFiles()
            .Where(p => !p.StartsWith(FamiliesFolder, StringComparison.Ordinal) && !Allowed.ContainsKey(p))
            .SelectMany(p => Findings(p, File.ReadAllText(Path.Combine(Root, p)), literals, parts))
            .ToList();
        Assert.That(offenders, Is.Empty,
            "family names outside " + FamiliesFolder + " (read the family from ModelFamily / ModelFamilies instead):\n" + string.Join("\n", offenders));
    }

    /// <summary>The allowance list does not go stale: each allowed file exists and still names a family.</summary>
    [Test]
    public void Allowed_EveryFileStillNamesAFamily()
    {
        var (literals, parts) = FamilyWords();
        foreach (var (path, why) in Allowed)
        {
            var full = Path.Combine(Root, path);
            Assert.That(File.Exists(full), Is.True, $"{path} ({why}) no longer exists: remove it from the list");
            Assert.That(Findings(path, File.ReadAllText(full), literals, parts), Is.Not.Empty, $"{path} ({why}) names no family any more: remove it from the list");
        }
    }

    /// <summary>The scan sees switches in code and literals, and not in comments or prose.</summary>
    [Test]
    public void Scan_FlagsSwitchesButNotProse()
    {
        var (literals, parts) = FamilyWords();
        const string source = """"
            // if (modelType == "qwen2") in a comment
            /* "mistral" */
            var a = modelType == "qwen2" ? 1 : 2;
            var b = $"text {(family == ModelFamily.Llama ? "x" : "y")} more";
            var c = "Export a Llama, Mistral or Qwen2 checkpoint";
            var d = """
                raw "LlamaForCausalLM" prose
                """;
            var e = @"verbatim ""quoted"" text";
            var f = 'q';
            var g = $$"""{{ "phi3" }}""";
            """";
        var found = Findings("x.cs", source, literals, parts).ToList();
        Assert.That(found, Is.EqualTo(new[]
        {
            "x.cs:3: string \"qwen2\"",
            "x.cs:4: identifier Llama",
            "x.cs:11: string \"phi3\"",
        }));
    }
}

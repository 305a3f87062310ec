using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OnnxInterp.Tokenization;
using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// The jinja interpreter against Python's jinja2 in transformers' chat-template environment
/// (tools/goldens/jinja2-goldens.py): one small template per feature (Goldens/chat/jinja2-features.json), and every
/// published chat template rendered from its jinja source over the golden conversations, including the real
/// tokenizer_config.json in ../shared/tokenizers/llama3.1.
/// </summary>
[TestFixture]
public class JinjaGoldenTests
{
    static readonly string[] s_publishedNames = ["llama2", "llama3", "llama3.1", "mistral", "qwen2", "tulu"];

    /// <summary>The clock the goldens were rendered with (strftime_now).</summary>
    static readonly DateTime s_now = new(2024, 7, 26, 9, 5, 7);

    static string GoldenDir => Path.Combine(TokenizerTestPaths.RepoRoot, "tests", "OnnxInterp.Tests", "Goldens", "chat");

    static readonly Lazy<JsonDocument> s_features = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir, "jinja2-features.json"))));

    static JsonElement Features => s_features.Value.RootElement;

    public static IEnumerable<TestCaseData> FeatureCases()
    {
        var cases = Features.GetProperty("cases");
        for (int i = 0; i < cases.GetArrayLength(); i++)
            yield return new TestCaseData(i).SetName($"Jinja2Feature({i:D3} {cases[i].GetProperty("name").GetString()})");
    }

    [TestCaseSource(nameof(FeatureCases))]
    public void Feature_MatchesJinja2(int index)
    {
        var c = Features.GetProperty("cases")[index];
        string source = c.GetProperty("template").GetString()!;
        var variables = Features.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        if (c.TryGetProperty("rendered", out var rendered))
        {
            Assert.That(JinjaTemplate.Parse(source).Render(variables, () => s_now), Is.EqualTo(rendered.GetString()), source);
            return;
        }
        string error = c.GetProperty("error").GetString()!, type = c.GetProperty("error_type").GetString()!;
        int? line = c.GetProperty("line").ValueKind == JsonValueKind.Number ? c.GetProperty("line").GetInt32() : null;
        JinjaException ex;
        if (c.GetProperty("phase").GetString() == "parse")
        {
            ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(source), $"jinja2: {type}: {error}")!;
            Assert.That(ex.Kind, Is.EqualTo(JinjaErrorKind.Syntax), ex.Message);
            if (type != "SyntaxError") Assert.That(ex.Line, Is.EqualTo(line), $"{ex.Message} / jinja2: {error}"); // Python's SyntaxError has the compiled module's line
        }
        else
        {
            var template = JinjaTemplate.Parse(source);
            ex = Assert.Throws<JinjaException>(() => template.Render(variables, () => s_now), $"jinja2: {type}: {error}")!;
            Assert.That(ex.Kind, Is.EqualTo(type == "TemplateError" ? JinjaErrorKind.Raised : JinjaErrorKind.Render), ex.Message);
            Assert.That(ex.Line, Is.EqualTo(line), $"{ex.Message} / jinja2: {error}");
            if (type == "TemplateError") Assert.That(ex.Reason, Is.EqualTo(error));
        }
    }

    [Test]
    public void FeatureGoldens_CoverEveryFeatureAndRecordTheirReference()
    {
        Assert.That(Features.GetProperty("reference").GetString(), Does.StartWith("jinja2 3.1."));
        Assert.That(DateTime.Parse(Features.GetProperty("now").GetString()!, System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(s_now));
        var names = Features.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.That(names, Is.Unique);
        Assert.That(names, Has.Count.GreaterThanOrEqualTo(140));
        Assert.That(Features.GetProperty("cases").EnumerateArray().Count(c => c.TryGetProperty("error", out _)), Is.GreaterThanOrEqualTo(30), "error cases");
    }

    sealed record ChatCase(string Title, bool AddGenerationPrompt, List<ChatMessage> Messages, string? Rendered, string? Error);

    sealed record ChatGolden(string Reference, string? Template, string? Sha256, string? Bos, string? Eos, List<ChatCase> Cases);

    static ChatGolden LoadChat(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir, file)));
        var root = doc.RootElement;
        string? Opt(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var cases = root.GetProperty("cases").EnumerateArray().Select(c => new ChatCase(
            c.GetProperty("title").GetString()!,
            c.GetProperty("add_generation_prompt").GetBoolean(),
            c.GetProperty("messages").EnumerateArray().Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList(),
            c.TryGetProperty("rendered", out var r) ? r.GetString() : null,
            c.TryGetProperty("error", out var e) ? e.GetString() : null)).ToList();
        return new ChatGolden(root.GetProperty("reference").GetString()!, Opt("chat_template"), Opt("template_sha256"), Opt("bos_token"), Opt("eos_token"), cases);
    }

    public static IEnumerable<TestCaseData> PublishedCases()
    {
        foreach (string name in s_publishedNames)
        {
            var golden = LoadChat(name + ".json");
            for (int i = 0; i < golden.Cases.Count; i++)
                yield return new TestCaseData(name, i).SetName($"JinjaPublished({name}, {i:D2})")
                    .SetDescription($"{golden.Cases[i].Title}, add_generation_prompt={golden.Cases[i].AddGenerationPrompt}");
        }
    }

    /// <summary>The interpreter renders each published jinja source as the golden's reference did (@huggingface/jinja or jinja2).</summary>
    [TestCaseSource(nameof(PublishedCases))]
    public void PublishedTemplate_FromJinja_MatchesGolden(string name, int index)
    {
        var golden = LoadChat(name + ".json");
        var template = ChatTemplate.FromJinja(name, golden.Template!, golden.Bos, golden.Eos);
        AssertCase(template, golden.Cases[index], golden.Reference);
    }

    public static IEnumerable<TestCaseData> SharedCases() =>
        Enumerable.Range(0, LoadChat("shared-llama3.1.json").Cases.Count).Select(i => new TestCaseData(i).SetName($"JinjaShared(llama3.1, {i:D2})"));

    /// <summary>The real tokenizer_config.json in ../shared: read at test time (the repository holds no copy), never skipped.</summary>
    [TestCaseSource(nameof(SharedCases))]
    public void SharedLlama31Config_FromJinja_MatchesJinja2(int index)
    {
        var golden = LoadChat("shared-llama3.1.json");
        string path = Path.Combine(TokenizerTestPaths.SharedTokenizers, "llama3.1", "tokenizer_config.json");
        if (!File.Exists(path)) Assert.Fail($"The shared tokenizer_config.json is missing: {path}");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        string jinja = doc.RootElement.GetProperty("chat_template").GetString()!;
        Assert.That(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(jinja))), Is.EqualTo(golden.Sha256), "the golden was made from this file");
        var template = ChatTemplate.FromJinja("shared", jinja, golden.Bos, golden.Eos);
        AssertCase(template, golden.Cases[index], golden.Reference);
    }

    static void AssertCase(ChatTemplate template, ChatCase c, string reference)
    {
        if (c.Error is not null)
        {
            var ex = Assert.Throws<InvalidArgumentException>(() => template.Render(c.Messages, c.AddGenerationPrompt));
            Assert.That(ex!.Message, Does.Contain(c.Error), $"{reference} raised this error");
        }
        else
        {
            Assert.That(template.Render(c.Messages, c.AddGenerationPrompt), Is.EqualTo(c.Rendered), $"{c.Title} ({reference})");
        }
    }

    /// <summary>The hand-written llama2 renderer agrees with jinja2 on the Llama-2 golden, as the others do with theirs.</summary>
    [Test]
    public void Llama2_HandWritten_MatchesJinja2Golden()
    {
        var golden = LoadChat("llama2.json");
        Assert.That(golden.Reference, Does.StartWith("jinja2 3.1."));
        Assert.That(golden.Cases, Has.Count.EqualTo(32));
        Assert.That(golden.Cases.Count(c => c.Error is not null), Is.GreaterThan(0), "the golden exercises raise_exception");
        Assert.Multiple(() =>
        {
            foreach (var c in golden.Cases) AssertCase(ChatTemplates.Get("llama2"), c, golden.Reference);
        });
    }

    [Test]
    public void PublishedTexts_AreTheGoldensTemplates()
    {
        Assert.That(PublishedChatTemplates.All.Select(p => p.Name), Is.EqualTo(s_publishedNames));
        foreach (var p in PublishedChatTemplates.All)
        {
            var golden = LoadChat(p.Name + ".json");
            Assert.That(p.Jinja, Is.EqualTo(golden.Template), p.Name);
            Assert.That((p.BosToken, p.EosToken), Is.EqualTo((golden.Bos, golden.Eos)), p.Name);
        }
    }
}

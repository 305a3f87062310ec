using System.Text.Json;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// Compares ChatTemplate.Render with goldens rendered from the published jinja chat templates by @huggingface/jinja
/// (tools/goldens/chat-template-goldens.mjs) or, for llama2, by Python's jinja2 (tools/goldens/jinja2-goldens.py),
/// and pins the hand-written plain template and the registry.
/// </summary>
[TestFixture]
public class ChatTemplateTests
{
    static readonly string[] s_goldenNames = ["llama2", "llama3", "llama3.1", "mistral", "qwen2", "tulu"];

    sealed record GoldenCase(string Title, bool AddGenerationPrompt, List<ChatMessage> Messages, string? Rendered, string? Error);

    static readonly Dictionary<string, (string Reference, List<GoldenCase> Cases)> s_goldens = new();

    static string GoldenDir => Path.Combine(TokenizerTestPaths.RepoRoot, "tests", "OnnxInterp.Tests", "Goldens", "chat");

    static (string Reference, List<GoldenCase> Cases) Load(string name)
    {
        lock (s_goldens)
        {
            if (s_goldens.TryGetValue(name, out var g)) return g;
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(GoldenDir, name + ".json")));
            var root = doc.RootElement;
            var cases = root.GetProperty("cases").EnumerateArray().Select(c => new GoldenCase(
                c.GetProperty("title").GetString()!,
                c.GetProperty("add_generation_prompt").GetBoolean(),
                c.GetProperty("messages").EnumerateArray()
                    .Select(m => new ChatMessage(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList(),
                c.TryGetProperty("rendered", out var r) ? r.GetString() : null,
                c.TryGetProperty("error", out var e) ? e.GetString() : null)).ToList();
            g = (root.GetProperty("reference").GetString()!, cases);
            s_goldens[name] = g;
            return g;
        }
    }

    public static IEnumerable<TestCaseData> GoldenCases()
    {
        foreach (string name in s_goldenNames)
        {
            var (_, cases) = Load(name);
            for (int i = 0; i < cases.Count; i++)
                yield return new TestCaseData(name, i)
                    .SetName($"ChatTemplateGolden({name}, {i:D2})")
                    .SetDescription($"{cases[i].Title}, add_generation_prompt={cases[i].AddGenerationPrompt}");
        }
    }

    [TestCaseSource(nameof(GoldenCases))]
    public void Render_MatchesJinjaGolden(string name, int index)
    {
        var (reference, cases) = Load(name);
        var c = cases[index];
        var template = ChatTemplates.Get(name);
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

    [Test]
    public void Goldens_CoverEveryJinjaTemplateAndRecordTheirReference()
    {
        foreach (string name in s_goldenNames)
        {
            var (reference, cases) = Load(name);
            Assert.That(reference, name == "llama2" ? Does.StartWith("jinja2 3.1.") : Does.StartWith("@huggingface/jinja "), name);
            Assert.That(cases, Has.Count.GreaterThanOrEqualTo(20), name);
        }
        Assert.That(ChatTemplates.Names, Is.EquivalentTo(s_goldenNames.Append("plain")));
    }

    [Test]
    public void RenderUser_IsOneUserTurnWithGenerationPrompt()
    {
        foreach (string name in ChatTemplates.Names)
        {
            var t = ChatTemplates.Get(name);
            Assert.That(t.RenderUser("Is the sky green?"),
                Is.EqualTo(t.Render([new ChatMessage("user", "Is the sky green?")], addGenerationPrompt: true)), name);
        }
    }

    [Test]
    public void RenderUser_Literals()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ChatTemplates.Get("llama3").RenderUser(" Hi \n"),
                Is.EqualTo("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
            Assert.That(ChatTemplates.Get("llama3.1").RenderUser("Hi"),
                Is.EqualTo("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
                    + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
            Assert.That(ChatTemplates.Get("mistral").RenderUser("Hi"), Is.EqualTo("<s>[INST] Hi [/INST]"));
            Assert.That(ChatTemplates.Get("qwen2").RenderUser("Hi"),
                Is.EqualTo("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
            Assert.That(ChatTemplates.Get("tulu").RenderUser("Hi"), Is.EqualTo("<|user|>\nHi\n<|assistant|>\n"));
            Assert.That(ChatTemplates.Get("llama2").RenderUser(" Hi "), Is.EqualTo("<s>[INST] Hi [/INST]"));
            Assert.That(ChatTemplates.Get("llama2").Render([new("system", "Be brief."), new("user", "Hi"), new("assistant", " Hello "), new("user", "Bye")]),
                Is.EqualTo("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]"));
        });
    }

    [Test]
    public void Plain_EqualsHandWrittenLiterals()
    {
        var plain = ChatTemplates.Get("plain");
        Assert.Multiple(() =>
        {
            Assert.That(plain.RenderUser("The capital of France is Paris. TRUE or FALSE?"),
                Is.EqualTo("User: The capital of France is Paris. TRUE or FALSE?\nAssistant:"));
            Assert.That(plain.Render([new("user", "a"), new("assistant", "b"), new("user", "c")]),
                Is.EqualTo("User: a\nAssistant: b\nUser: c\nAssistant:"));
            Assert.That(plain.Render([new("system", "Be brief."), new("user", "a"), new("assistant", "b")], addGenerationPrompt: false),
                Is.EqualTo("System: Be brief.\nUser: a\nAssistant: b"));
            Assert.That(plain.RenderUser("  spaces kept \n"), Is.EqualTo("User:   spaces kept \n\nAssistant:"));
            Assert.That(plain.IncludesBos, Is.False);
            Assert.That(plain.StopStrings, Is.EqualTo(new[] { "\nUser:" }));
        });
    }

    [Test]
    public void IncludesBos_FollowsTheTemplates()
    {
        Assert.Multiple(() =>
        {
            foreach (string name in new[] { "llama3", "llama3.1" })
            {
                Assert.That(ChatTemplates.Get(name).IncludesBos, Is.True, name);
                Assert.That(ChatTemplates.Get(name).RenderUser("x"), Does.StartWith("<|begin_of_text|>"), name);
            }
            foreach (string name in new[] { "mistral", "llama2" })
            {
                Assert.That(ChatTemplates.Get(name).IncludesBos, Is.True, name);
                Assert.That(ChatTemplates.Get(name).RenderUser("x"), Does.StartWith("<s>"), name);
            }
            foreach (string name in new[] { "qwen2", "tulu", "plain" })
            {
                Assert.That(ChatTemplates.Get(name).IncludesBos, Is.False, name);
                Assert.That(ChatTemplates.Get(name).RenderUser("x"), Does.Not.StartWith("<|begin_of_text|>").And.Not.StartWith("<s>"), name);
            }
        });
    }

    [Test]
    public void StopStrings_HoldTheEndOfTurnMarkers()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ChatTemplates.Get("llama3").StopStrings, Does.Contain("<|eot_id|>"));
            Assert.That(ChatTemplates.Get("llama3.1").StopStrings, Does.Contain("<|eot_id|>").And.Contain("<|eom_id|>"));
            Assert.That(ChatTemplates.Get("mistral").StopStrings, Does.Contain("</s>"));
            Assert.That(ChatTemplates.Get("llama2").StopStrings, Does.Contain("</s>"));
            Assert.That(ChatTemplates.Get("qwen2").StopStrings, Does.Contain("<|im_end|>"));
            Assert.That(ChatTemplates.Get("tulu").StopStrings, Does.Contain("<|end_of_text|>"));
        });
        // Each template ends a finished assistant turn with one of its stop strings.
        foreach (string name in s_goldenNames.Where(n => n is not ("mistral" or "llama2")))
        {
            string rendered = ChatTemplates.Get(name).Render([new("user", "q"), new("assistant", "ANSWER")], addGenerationPrompt: false);
            string after = rendered[(rendered.LastIndexOf("ANSWER", StringComparison.Ordinal) + "ANSWER".Length)..];
            Assert.That(ChatTemplates.Get(name).StopStrings.Any(s => after.StartsWith(s, StringComparison.Ordinal)), Is.True, $"{name}: {after}");
        }
        Assert.That(ChatTemplates.Get("mistral").Render([new("user", "q"), new("assistant", "ANSWER")]), Does.EndWith("ANSWER</s>"));
        Assert.That(ChatTemplates.Get("llama2").Render([new("user", "q"), new("assistant", "ANSWER")]), Does.EndWith("ANSWER </s>"));
    }

    [Test]
    public void Get_UnknownName_ListsKnownNames()
    {
        var ex = Assert.Throws<InvalidArgumentException>(() => ChatTemplates.Get("llama1"));
        Assert.That(ex!.Value, Is.EqualTo("llama1"));
        foreach (string name in ChatTemplates.Names)
            Assert.That(ex.Message, Does.Contain(name));
        Assert.Throws<InvalidArgumentException>(() => ChatTemplates.Get("Llama3"), "names are case-sensitive");
    }

    [Test]
    public void Get_ReturnsTheNamedTemplate()
    {
        foreach (string name in ChatTemplates.Names)
            Assert.That(ChatTemplates.Get(name).Name, Is.EqualTo(name));
    }

    [Test]
    public void Render_RefusesEmptyConversationsAndNullMessages()
    {
        foreach (string name in ChatTemplates.Names)
        {
            var t = ChatTemplates.Get(name);
            Assert.Throws<InvalidArgumentException>(() => t.Render([]), name);
            Assert.Throws<InvalidArgumentException>(() => t.Render([new ChatMessage("user", null!)]), name);
            Assert.Throws<ArgumentNullException>(() => t.Render(null!), name);
        }
    }

    [Test]
    public void Llama31_ToolRoles_AreUnsupported()
    {
        var ex = Assert.Throws<UnsupportedModelException>(() =>
            ChatTemplates.Get("llama3.1").Render([new("user", "q"), new("tool", "{\"t\": 20}")]));
        Assert.That(ex!.Value, Is.EqualTo("tool"));
    }

    [Test]
    public void Trim_FollowsPythonStrip()
    {
        // jinja's trim is Python str.strip(): U+001C..U+001F are whitespace to Python, U+FEFF is not.
        Assert.That(ChatTemplate.PyStrip("\u001c\u00a0 x \u3000\u001f"), Is.EqualTo("x"));
        Assert.That(ChatTemplate.PyStrip("\ufeffx\ufeff"), Is.EqualTo("\ufeffx\ufeff"));
        Assert.That(ChatTemplate.PyStrip(" \n\t "), Is.EqualTo(""));
    }
}

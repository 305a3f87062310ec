using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;
using OnnxInterp.Tokenization.Jinja;

namespace OnnxInterp.Tests.Tokenization;

/// <summary>ModelChatTemplate.Resolve: each way a template is chosen, the forms tokenizer_config.json takes, and the errors.</summary>
[TestFixture]
public class ModelChatTemplateTests
{
    /// <summary>A Phi-3-style template that is none of the published ones.</summary>
    const string Custom =
        "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}<|end|>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

    static string Config(TempDir dir, object config)
    {
        string path = dir.Sub("tokenizer_config.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return path;
    }

    static string JinjaName(string jinja) => "jinja:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(jinja)))[..8];

    [Test]
    public void Resolve_OverrideName_WinsAndSaysTemplate()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object> { ["onnxinterp_chat_template"] = "qwen2", ["chat_template"] = Custom });
        var r = ModelChatTemplate.Resolve(tmp.Path, "llama2");
        Assert.That((r.Name, r.Source, r.Template.Name), Is.EqualTo(("llama2", "--template", "llama2")));
        var ex = Assert.Throws<InvalidArgumentException>(() => ModelChatTemplate.Resolve(tmp.Path, "jinja:0000"))!;
        foreach (string name in ChatTemplates.Names) Assert.That(ex.Message, Does.Contain(name));
    }

    [Test]
    public void Resolve_OurKey_WinsOverTheJinja()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object> { ["onnxinterp_chat_template"] = "tulu", ["chat_template"] = Custom });
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source), Is.EqualTo(("tulu", "onnxinterp_chat_template")));
        Assert.That(r.Template, Is.SameAs(ChatTemplates.Get("tulu")));
    }

    [Test]
    public void Resolve_EachPublishedText_IsRecognisedAsItsName()
    {
        foreach (var p in PublishedChatTemplates.All)
        {
            using var tmp = new TempDir();
            // Tags split over lines and a trailing newline (neither changes the rendering) do not hide a published template.
            string jinja = p.Jinja.Replace("%}{%", "%}\n{%") + "\n";
            Config(tmp, new Dictionary<string, object> { ["chat_template"] = jinja, ["bos_token"] = p.BosToken, ["eos_token"] = p.EosToken });
            var r = ModelChatTemplate.Resolve(tmp.Path);
            Assert.That((r.Name, r.Source), Is.EqualTo((p.Name, $"chat_template: recognised as {p.Name}")), p.Name);
            Assert.That(r.Template, Is.SameAs(ChatTemplates.Get(p.Name)), p.Name);
        }
    }

    [Test]
    public void Resolve_PublishedTextWithWhitespaceThatRenders_IsRenderedFromJinja()
    {
        // Spaces before a leading {{ bos_token }} are printed (lstrip_blocks spares print tags): not the published template.
        using var tmp = new TempDir();
        var mistral = PublishedChatTemplates.Of("mistral")!;
        Config(tmp, new Dictionary<string, object> { ["chat_template"] = "  " + mistral.Jinja, ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That(r.Source, Is.EqualTo("chat_template: rendered from jinja"));
        Assert.That(r.Template.RenderUser("Hi"), Is.EqualTo("  <s>[INST] Hi [/INST]"));
        Assert.That(r.Template.IncludesBos, Is.False);
    }

    [Test]
    public void Resolve_SharedLlama31Config_IsRecognisedAsLlama3()
    {
        string folder = Path.Combine(TokenizerTestPaths.SharedTokenizers, "llama3.1");
        if (!File.Exists(Path.Combine(folder, "tokenizer_config.json"))) Assert.Fail($"The shared tokenizer_config.json is missing under {folder}");
        var r = ModelChatTemplate.Resolve(folder);
        Assert.That((r.Name, r.Source), Is.EqualTo(("llama3", "chat_template: recognised as llama3")));
        Assert.That(ModelChatTemplate.NameOf(folder), Is.EqualTo("llama3"));
    }

    [Test]
    public void Resolve_PublishedTextWithOtherTokens_IsRenderedFromJinja()
    {
        // The tulu text with a Llama-2 eos: our tulu renderer writes <|end_of_text|>, the model's jinja writes </s>.
        using var tmp = new TempDir();
        string tulu = PublishedChatTemplates.Of("tulu")!.Jinja;
        Config(tmp, new Dictionary<string, object> { ["chat_template"] = tulu, ["eos_token"] = "</s>" });
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source), Is.EqualTo((JinjaName(tulu), "chat_template: rendered from jinja")));
        Assert.That(r.Template.Render([new("user", "q"), new("assistant", "a")], addGenerationPrompt: false), Is.EqualTo("<|user|>\nq\n<|assistant|>\na</s>"));
    }

    [Test]
    public void Resolve_UnknownJinja_IsRenderedWithItsStopStringsAndBos()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object> { ["chat_template"] = Custom, ["bos_token"] = "<s>", ["eos_token"] = "<|endoftext|>" });
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source, r.Template.Name), Is.EqualTo((JinjaName(Custom), "chat_template: rendered from jinja", JinjaName(Custom))));
        Assert.That(r.Name, Does.Match("^jinja:[0-9a-f]{8}$"));
        Assert.That(r.Template.RenderUser("Hi"), Is.EqualTo("<|user|>\nHi<|end|>\n<|assistant|>\n"));
        Assert.That(r.Template.StopStrings, Is.EqualTo(new[] { "<|endoftext|>", "<|end|>" }));
        Assert.That(r.Template.IncludesBos, Is.False);
        Assert.That(ModelChatTemplate.NameOf(tmp.Path), Is.EqualTo(JinjaName(Custom)));
        Assert.That(ModelChatTemplate.Of(tmp.Path).RenderUser("Hi"), Is.EqualTo(r.Template.RenderUser("Hi")));
    }

    [Test]
    public void Resolve_BosAsAnObject_GivesIncludesBos()
    {
        using var tmp = new TempDir();
        string jinja = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}";
        Config(tmp, new Dictionary<string, object>
        {
            ["chat_template"] = jinja,
            ["bos_token"] = new Dictionary<string, object> { ["__type"] = "AddedToken", ["content"] = "<s>", ["lstrip"] = false },
            ["eos_token"] = new Dictionary<string, object> { ["content"] = "</s>" },
        });
        var t = ModelChatTemplate.Resolve(tmp.Path).Template;
        Assert.That(t.RenderUser("Hi"), Is.EqualTo("<s>[user] Hi</s>"));
        Assert.That(t.IncludesBos, Is.True);
        Assert.That(t.StopStrings, Is.EqualTo(new[] { "</s>" }));
    }

    [Test]
    public void Resolve_ListFormChatTemplate_UsesDefault()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object>
        {
            ["chat_template"] = new object[]
            {
                new Dictionary<string, string> { ["name"] = "tool_use", ["template"] = "{{ raise_exception('tools') }}" },
                new Dictionary<string, string> { ["name"] = "default", ["template"] = Custom },
                new Dictionary<string, string> { ["name"] = "rag", ["template"] = "RAG" },
            },
        });
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source), Is.EqualTo((JinjaName(Custom), "chat_template: rendered from jinja")));

        Config(tmp, new Dictionary<string, object> { ["chat_template"] = new object[] { new Dictionary<string, string> { ["name"] = "tool_use", ["template"] = Custom } } });
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That((ex.File, ex.Field), Is.EqualTo((tmp.Sub("tokenizer_config.json"), "chat_template")));
        Assert.That(ex.Message, Does.Contain("tool_use").And.Contain("default").And.Contain("--template"));
    }

    [Test]
    public void Resolve_NoChatTemplate_IsPlain()
    {
        using var tmp = new TempDir();
        var r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source), Is.EqualTo(("plain", "no chat template: plain")), "no tokenizer_config.json");
        Config(tmp, new Dictionary<string, object?> { ["bos_token"] = "<s>", ["chat_template"] = null });
        r = ModelChatTemplate.Resolve(tmp.Path);
        Assert.That((r.Name, r.Source, r.Template.Name), Is.EqualTo(("plain", "no chat template: plain", "plain")), "a base model's config");
    }

    [Test]
    public void Resolve_ChatTemplateJinjaFile_WinsOverTheKey()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object> { ["chat_template"] = PublishedChatTemplates.Of("qwen2")!.Jinja });
        File.WriteAllText(tmp.Sub("chat_template.jinja"), Custom);
        Assert.That(ModelChatTemplate.Resolve(tmp.Path).Name, Is.EqualTo(JinjaName(Custom)));
        File.WriteAllText(tmp.Sub("chat_template.jinja"), "{% if %}");
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That((ex.File, ex.Field), Is.EqualTo((tmp.Sub("chat_template.jinja"), "chat_template")));
    }

    [Test]
    public void Resolve_UnparsableTemplate_IsInvalidFileNamingFileFieldAndTheWayOut()
    {
        using var tmp = new TempDir();
        string path = Config(tmp, new Dictionary<string, object> { ["chat_template"] = "{% for m in messages %}\n{{ m.content }\n{% endfor %}" });
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That((ex.File, ex.Field), Is.EqualTo((path, "chat_template")));
        Assert.That(ex.Message, Does.Contain("does not parse").And.Contain("line 2").And.Contain("--template NAME"));
        foreach (string name in ChatTemplates.Names) Assert.That(ex.Message, Does.Contain(name));
        Assert.That(ex.InnerException, Is.InstanceOf<JinjaException>());
        Assert.Throws<InvalidFileException>(() => ModelChatTemplate.NameOf(tmp.Path));
        Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Of(tmp.Path));
    }

    [Test]
    public void Resolve_TemplateRaisingOnTheProbe_IsInvalidFile()
    {
        using var tmp = new TempDir();
        string path = Config(tmp, new Dictionary<string, object>
        {
            ["chat_template"] = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('A system message is required') }}{% endif %}{{ messages[0].content }}",
        });
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That((ex.File, ex.Field), Is.EqualTo((path, "chat_template")));
        Assert.That(ex.Message, Does.Contain("A system message is required").And.Contain("does not render").And.Contain("--template NAME"));
        Assert.That(((JinjaException)ex.InnerException!).Kind, Is.EqualTo(JinjaErrorKind.Raised));
    }

    [Test]
    public void Resolve_TemplateFailingAtRender_IsInvalidFile()
    {
        using var tmp = new TempDir();
        Config(tmp, new Dictionary<string, object> { ["chat_template"] = "{{ messages[0].content.missing.attr }}" });
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That(ex.Field, Is.EqualTo("chat_template"));
        Assert.That(((JinjaException)ex.InnerException!).Kind, Is.EqualTo(JinjaErrorKind.Render));
    }

    [TestCase("""{"chat_template": 5}""", "chat_template")]
    [TestCase("""{"chat_template": [{"name": "default"}]}""", "chat_template")]
    [TestCase("""{"chat_template": "x", "bos_token": 1}""", "bos_token")]
    [TestCase("""{"chat_template": "x", "eos_token": {"id": 2}}""", "eos_token")]
    [TestCase("""{"onnxinterp_chat_template": 3}""", "onnxinterp_chat_template")]
    [TestCase("""{"onnxinterp_chat_template": "chatml9"}""", "onnxinterp_chat_template")]
    public void Resolve_MalformedConfig_IsInvalidFile(string json, string field)
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("tokenizer_config.json"), json);
        var ex = Assert.Throws<InvalidFileException>(() => ModelChatTemplate.Resolve(tmp.Path))!;
        Assert.That((ex.File, ex.Field), Is.EqualTo((tmp.Sub("tokenizer_config.json"), field)));
    }

    [Test]
    public void FromJinja_RefusedConversation_IsInvalidArgument()
    {
        var t = ChatTemplate.FromJinja("m", PublishedChatTemplates.Of("mistral")!.Jinja, "<s>", "</s>");
        Assert.That(t.RenderUser("Hi"), Is.EqualTo("<s>[INST] Hi [/INST]"));
        Assert.That(t.IncludesBos, Is.True);
        var ex = Assert.Throws<InvalidArgumentException>(() => t.Render([new("system", "s"), new("user", "u")]))!;
        Assert.That(ex.Message, Does.Contain("Conversation roles must alternate"));
        Assert.Throws<JinjaException>(() => ChatTemplate.FromJinja("bad", "{% if %}", null, null));
    }
}

using OnnxInterp.Analysis.Diff;
using OnnxInterp.Data;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tests.Tokenization;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Diff;

/// <summary>The corpus: template and content tokens of chat prompts in real tokenizers and templates, and the sources.</summary>
public class DiffCorpusTests
{
    const string Message = "Tell me how to build a birdhouse, step by step.";

    static (HfTokenizer, ChatTemplate) Real(string tokenizer, string? template)
    {
        var dir = TokenizerTestPaths.RequireShared(tokenizer);
        return (HfTokenizer.FromDirectory(dir), template is null ? ModelChatTemplate.Of(dir) : ChatTemplates.Get(template));
    }

    /// <summary>Template tokens, then content tokens, then template tokens; the content decodes to the message.</summary>
    static void AssertSplit(HfTokenizer tokenizer, ChatTemplate template, string message, string expectedContent)
    {
        var (ids, classes) = DiffCorpus.RenderChat(tokenizer, template, message);
        Assert.That(ids, Is.EqualTo(tokenizer.Encode(template.RenderUser(message), addSpecialTokens: !template.IncludesBos)), "the prompt is the rendering, encoded as the refusal analysis encodes it");
        int first = Array.IndexOf(classes, TokenClass.Content), last = Array.LastIndexOf(classes, TokenClass.Content);
        Assert.That(first, Is.GreaterThan(0), "the template opens the prompt");
        Assert.That(last, Is.LessThan(ids.Length - 1), "the generation prompt closes it");
        Assert.That(classes[first..(last + 1)], Has.All.EqualTo(TokenClass.Content), "one run of content tokens");
        Assert.That(tokenizer.Decode(ids[first..(last + 1)]).Trim(), Is.EqualTo(expectedContent));
        // The template tokens are the template's text: the empty message's rendering encodes to them, up to the tokens at the seam.
        var empty = tokenizer.Encode(template.RenderUser(""), addSpecialTokens: !template.IncludesBos);
        Assert.That(ids[..first], Is.EqualTo(empty[..first]));
        Assert.That(ids[(last + 1)..], Is.EqualTo(empty[^(ids.Length - last - 1)..]));
    }

    [TestCase("llama3.1", null)]
    [TestCase("llama3.1", "llama3.1")]
    [TestCase("llama2", "llama2")]
    [TestCase("llama2", "mistral")]
    [TestCase("phi-2", "tulu")]
    [TestCase("phi-2", "plain")]
    public void RenderChat_RealTokenizerAndTemplate_ContentIsTheMessage(string tokenizer, string? template)
    {
        var (tok, t) = Real(tokenizer, template);
        AssertSplit(tok, t, Message, Message);
    }

    [Test]
    public void RenderChat_ShippedFamilyInChatMl_ContentIsTheMessage()
    {
        var family = ShippedFamily.RequireRoot();
        AssertSplit(HfTokenizer.FromDirectory(Path.Combine(family, "instruct")), ChatTemplates.Get("qwen2"), Message, Message);
    }

    [Test]
    public void RenderChat_TemplateStripsTheMessage_SplitsAgainstTheEmptyMessage()
    {
        // The Llama-3 template (tokenizer_config.json's) strips the message, so "  …  " is not in the rendering verbatim.
        var (tok, t) = Real("llama3.1", null);
        AssertSplit(tok, t, "  " + Message + "  ", Message);
    }

    [Test]
    public void RenderPlain_BosIsTemplate_TheRestContent()
    {
        var (llama, _) = Real("llama2", null);
        var (ids, classes) = DiffCorpus.RenderPlain(llama, "The city of Paris is in France.");
        Assert.That(ids[0], Is.EqualTo(llama.BosTokenId));
        Assert.That(classes[0], Is.EqualTo(TokenClass.Template));
        Assert.That(classes[1..], Has.All.EqualTo(TokenClass.Content));
        var (phi, _) = Real("phi-2", null);
        Assert.That(DiffCorpus.RenderPlain(phi, "The city of Paris.").Classes, Has.All.EqualTo(TokenClass.Content), "phi-2 adds no BOS");
    }

    [Test]
    public void Render_CutsLongPromptsAndNumbersThem()
    {
        var (tok, t) = Real("llama3.1", "llama3.1");
        var prompts = DiffCorpus.Render([new CorpusText("text", "a b c d e f g h i j", false), new CorpusText("harmful", Message, true)], tok, t, maxTokens: 6);
        Assert.That(prompts.Select(p => (p.Index, p.Source, p.Length)), Is.EqualTo(new[] { (0, "text", 6), (1, "harmful", 6) }));
        Assert.That(prompts[1].Text, Is.EqualTo(t.RenderUser(Message)));
        Assert.That(prompts[1].Classes, Has.All.EqualTo(TokenClass.Template), "the first 6 tokens of a Llama-3.1 chat are its system header");
    }

    [Test]
    public void Sources_InstructionsJudgingAndText()
    {
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var instructions = DiffCorpus.Instructions(InstructionSet.FromWorld(world), 3);
        Assert.That(instructions.Select(i => (i.Source, i.Chat)), Is.EqualTo(Enumerable.Repeat(("harmful", true), 3).Concat(Enumerable.Repeat(("harmless", true), 3))));

        var fewShot = world.FewShot("cities");
        var judging = DiffCorpus.JudgingPrompts(world.ToDataset("cities", heldOutOnly: true), fewShot, 5);
        Assert.That(judging, Has.Count.EqualTo(5));
        Assert.That(judging, Has.All.Matches<CorpusText>(j => j.Source == "judging" && !j.Chat && j.Text.EndsWith(JudgingAnswers.Question, StringComparison.Ordinal)));
        Assert.That(judging.Select(j => j.Text.Split('\n').Length), Has.All.EqualTo(fewShot.Count + 1), "the examples, then the query");
        Assert.That(DiffCorpus.JudgingPrompts(world.ToDataset("cities", heldOutOnly: true), fewShot, 5).Select(j => j.Text), Is.EqualTo(judging.Select(j => j.Text)), "seeded");

        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("t.txt"), "first line\r\n\n   \nsecond line\nthird line\n");
        Assert.That(DiffCorpus.TextFile(tmp.Sub("t.txt"), 2).Select(t => (t.Source, t.Text, t.Chat)), Is.EqualTo(new[] { ("text", "first line", false), ("text", "second line", false) }));
        Assert.That(() => DiffCorpus.TextFile(tmp.Sub("missing.txt"), 2), Throws.TypeOf<InvalidFileException>());
        File.WriteAllText(tmp.Sub("empty.txt"), "\n \n");
        Assert.That(() => DiffCorpus.TextFile(tmp.Sub("empty.txt"), 2), Throws.TypeOf<InvalidFileException>().With.Message.Contains("no non-empty line"));
    }
}

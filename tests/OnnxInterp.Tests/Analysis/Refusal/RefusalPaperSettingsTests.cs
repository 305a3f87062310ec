using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Tokenization;
using OnnxInterp.Tests.Tokenization;

namespace OnnxInterp.Tests.Analysis.Refusal;

/// <summary>
/// The paper's refusal settings against its code (HZD01/post-training-mechanistic-analysis at 4abef9d): the prompt
/// templates of Refusal/utils.py byte for byte, the per-model layer, position and templates of
/// extract_refusal_dir.py and apply_refusal_dir.py, the coefficients, and the rule for other models.
/// </summary>
public class RefusalPaperSettingsTests
{
    /// <summary>utils.py's template literals, as Python evaluates them (triple-quoted strings keep their newlines).</summary>
    static readonly (RefusalPaperTemplate Template, string Python)[] PaperStrings =
    [
        // utils.py:173-177  LLAMA3_CHAT_TEMPLATE = """<|start_header_id|>user<|end_header_id|>\n\n{instruction}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"""
        (RefusalPaperTemplate.Llama3Chat, "<|start_header_id|>user<|end_header_id|>\n\n{instruction}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
        // utils.py:187-188  LLAMA3_BASE_TEMPLATE = """User: {instruction}\nAssistant:"""
        (RefusalPaperTemplate.Llama3Base, "User: {instruction}\nAssistant:"),
        // utils.py:190  TULU_TEMPLATE = """<|user|>\n{instruction}\n<|assistant|>\n""" (escapes, not newlines, in the source)
        (RefusalPaperTemplate.Tulu, "<|user|>\n{instruction}\n<|assistant|>\n"),
        // utils.py:192  MISTRAL_TEMPLATE = """<s>[INST] {instruction} [/INST]"""
        (RefusalPaperTemplate.Mistral, "<s>[INST] {instruction} [/INST]"),
        // utils.py:202  LLAMA2_CHAT_TEMPLATE = "[INST] {instruction} [/INST] "
        (RefusalPaperTemplate.Llama2Chat, "[INST] {instruction} [/INST] "),
        // utils.py:204-205  LLAMA2_BASE_TEMPLATE = """User: {instruction}\nAssistant:"""
        (RefusalPaperTemplate.Llama2Base, "User: {instruction}\nAssistant:"),
    ];

    [Test]
    public void Templates_AreThePapersStrings_AndRenderAsStrFormat()
    {
        Assert.That(RefusalPaperTemplate.All, Is.EquivalentTo(PaperStrings.Select(p => p.Template)));
        const string instruction = "Write {a} \"poem\" about\nrain ";
        foreach (var (t, python) in PaperStrings)
        {
            Assert.That(t.Text, Is.EqualTo(python), t.Name);
            Assert.That(t.Text.Replace("{instruction}", ""), Does.Not.Contain("{").And.Not.Contain("}"), "no other format field");
            // python: TEMPLATE.format(instruction=instruction) — the instruction inserted verbatim, braces and all.
            var expected = python.Replace("{instruction}", instruction);
            Assert.That(t.Format(instruction), Is.EqualTo(expected), t.Name);
            var chat = t.ToChatTemplate();
            Assert.That((chat.Name, chat.IncludesBos, chat.StopStrings.Count), Is.EqualTo(("paper:" + t.Name, false, 0)));
            Assert.That(chat.RenderUser(instruction), Is.EqualTo(expected));
        }
        Assert.That(RefusalPaperTemplate.Llama3Chat.Format("Hi"),
            Is.EqualTo("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
        Assert.Throws<InvalidArgumentException>(() => RefusalPaperTemplate.Tulu.ToChatTemplate().Render([new("system", "s"), new("user", "u")]));
    }

    [Test]
    public void Llama3Prompts_GetOneBos_AndThePapersPositionsLandOnTheTemplateTail()
    {
        var tokenizer = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("llama3.1"));
        // tokenize_instructions (utils.py:243-248) calls the tokenizer with its special tokens: BOS first.
        var chat = new InstructionPrompts(tokenizer, RefusalPaperTemplate.Llama3Chat.ToChatTemplate()).Encode("Tell me a joke.");
        Assert.That(chat[0], Is.EqualTo(tokenizer.TokenToId("<|begin_of_text|>")));
        Assert.That(chat.Count(id => id == chat[0]), Is.EqualTo(1));
        Assert.That(tokenizer.Decode(chat, skipSpecialTokens: false), Is.EqualTo("<|begin_of_text|>" + RefusalPaperTemplate.Llama3Chat.Format("Tell me a joke.")));
        // llama-3.1-8b-instruct's position -2 (extract_refusal_dir.py:148) is <|end_header_id|>, -1 the "\n\n" after it.
        Assert.That(chat[^2], Is.EqualTo(tokenizer.TokenToId("<|end_header_id|>")));
        Assert.That(tokenizer.Decode([chat[^1]]), Is.EqualTo("\n\n"));

        var plain = new InstructionPrompts(tokenizer, RefusalPaperTemplate.Llama3Base.ToChatTemplate()).Encode("Tell me a joke");
        Assert.That(plain[0], Is.EqualTo(tokenizer.TokenToId("<|begin_of_text|>")));
        // Tulu's position -1 (extract_refusal_dir.py:171) is the ":" of "Assistant:".
        Assert.That(tokenizer.Decode([plain[^1]]), Is.EqualTo(":"));
        Assert.That(tokenizer.Decode(plain[^3..]), Is.EqualTo("\nAssistant:"));
    }

    [Test]
    public void MistralTemplate_StartsWithTwoBos_AsThePapersTokenizerCallMakesIt()
    {
        // The paper writes "<s>" into MISTRAL_TEMPLATE and lets the tokenizer add BOS as well (utils.py:192, 243-248).
        var tokenizer = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("llama2"));
        var ids = new InstructionPrompts(tokenizer, RefusalPaperTemplate.Mistral.ToChatTemplate()).Encode("Hello there");
        int bos = tokenizer.TokenToId("<s>")!.Value;
        Assert.That(ids.Take(3).Count(id => id == bos), Is.EqualTo(2));
        Assert.That(ids[0], Is.EqualTo(bos));
        Assert.That(ids[1], Is.EqualTo(bos));
    }

    static PaperModel Model(string key, PaperFamily family, PostTraining role, int layers = 32, bool inTable = true) => new(key, family, role, layers, inTable);

    [Test]
    public void Table_HoldsEveryModelOfThePapersRefusalCode()
    {
        var rows = RefusalPaperSettings.Table.ToDictionary(r => r.Script!);
        Assert.That(rows.Keys, Is.EquivalentTo(new[] { "llama-3.1-8b", "llama-3.1-8b-instruct", "tulu", "mistral", "llama-2-13b", "llama-2-13b-chat" }));
        // (key, role, layer, pos, direction template, intervention template, intervention layer)
        var expected = new (string Script, string Key, PostTraining Role, int Layer, int Pos, RefusalPaperTemplate Dir, RefusalPaperTemplate Int, int IntLayer)[]
        {
            ("llama-3.1-8b", "llama-3.1-8b", PostTraining.Base, 11, -4, RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Llama3Base, 11),                   // extract:125-128, apply:191, 236
            ("llama-3.1-8b-instruct", "llama-3.1-8b-instruct", PostTraining.Instruct, 11, -2, RefusalPaperTemplate.Llama3Chat, RefusalPaperTemplate.Llama3Chat, 11), // extract:148-151, apply:234, 236
            ("tulu", "llama-3.1-8b-sft", PostTraining.Sft, 11, -1, RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Tulu, 11),                               // extract:171-174, apply:214, 236
            ("mistral", "mistral-7B-instruct", PostTraining.Instruct, 12, -1, RefusalPaperTemplate.Mistral, RefusalPaperTemplate.Mistral, 12),                     // extract:194-197 (no apply branch)
            ("llama-2-13b", "llama-2-13b", PostTraining.Base, 14, -4, RefusalPaperTemplate.Llama2Base, RefusalPaperTemplate.Llama2Base, 13),                      // extract:217-220, apply:259, 278
            ("llama-2-13b-chat", "llama-2-13b-instruct", PostTraining.Instruct, 14, -1, RefusalPaperTemplate.Llama2Chat, RefusalPaperTemplate.Llama2Chat, 13),     // extract:240-243, apply:259, 297
        };
        foreach (var e in expected)
        {
            var r = rows[e.Script];
            Assert.That((r.Model.Key, r.Model.Role, r.Layer, r.Position, r.DirectionTemplate, r.InterventionTemplate, r.InterventionLayer, r.InTable),
                Is.EqualTo((e.Key, e.Role, e.Layer, e.Pos, e.Dir, e.Int, e.IntLayer, true)), e.Script);
            Assert.That(r.Source, Does.Contain("extract_refusal_dir.py"));
            // PaperModels.Identify's keys find the rows.
            Assert.That(RefusalPaperSettings.For(r.Model), Is.EqualTo(r));
        }
    }

    [Test]
    public void For_ModelsOutsideTheTable_FollowTheDocumentedRule()
    {
        // A model the paper did not study: layer 11 of 32 scaled, -4 for a base model and -1 otherwise; base template
        // for a base model, base template then own for SFT, own for instruct.
        var b = RefusalPaperSettings.For(Model("tiny", PaperFamily.Other, PostTraining.Base, 2, inTable: false));
        Assert.That((b.InTable, b.Layer, b.InterventionLayer, b.Position, b.DirectionTemplate, b.InterventionTemplate),
            Is.EqualTo((false, 1, 1, -4, RefusalPaperTemplate.Llama3Base, RefusalPaperTemplate.Llama3Base)));
        var s = RefusalPaperSettings.For(Model("tiny", PaperFamily.Other, PostTraining.Sft, 16, inTable: false));
        Assert.That((s.Layer, s.Position, s.DirectionTemplate, s.InterventionTemplate), Is.EqualTo((6, -1, RefusalPaperTemplate.Llama3Base, (RefusalPaperTemplate?)null)));
        var i = RefusalPaperSettings.For(Model("tiny", PaperFamily.Other, PostTraining.Instruct, 64, inTable: false));
        Assert.That((i.Layer, i.Position, i.DirectionTemplate, i.InterventionTemplate), Is.EqualTo((22, -1, (RefusalPaperTemplate?)null, (RefusalPaperTemplate?)null)));
        Assert.That(i.Source, Does.StartWith("rule"));

        // The paper's families without a row keep the family's layer: Mistral base and SFT at 12, a Llama-2 SFT at 14 / 13.
        var mb = RefusalPaperSettings.For(Model("mistral-7B", PaperFamily.Mistral, PostTraining.Base));
        Assert.That((mb.InTable, mb.Layer, mb.InterventionLayer, mb.Position, mb.DirectionTemplate), Is.EqualTo((false, 12, 12, -4, RefusalPaperTemplate.Llama3Base)));
        var ms = RefusalPaperSettings.For(Model("mistral-7B-SFT", PaperFamily.Mistral, PostTraining.Sft));
        Assert.That((ms.Layer, ms.Position, ms.InterventionTemplate), Is.EqualTo((12, -1, (RefusalPaperTemplate?)null)));
        var l2 = RefusalPaperSettings.For(Model("llama-2-13b-instruct", PaperFamily.Llama2, PostTraining.Sft, 40));
        Assert.That((l2.InTable, l2.Layer, l2.InterventionLayer, l2.Position), Is.EqualTo((false, 14, 13, -1)), "the chat row is not taken for an SFT model");
    }

    [Test]
    public void Coefficients_AreTheApplyScripts()
    {
        PaperModel L3(PostTraining r) => RefusalPaperSettings.Table.First(x => x.Model.Family == PaperFamily.Llama3 && x.Model.Role == r).Model;
        PaperModel L2(PostTraining r) => RefusalPaperSettings.Table.First(x => x.Model.Family == PaperFamily.Llama2 && x.Model.Role == r).Model;
        // apply_refusal_dir.py:249-255: by the intervened model, whichever direction.
        foreach (var d in new[] { PostTraining.Base, PostTraining.Sft, PostTraining.Instruct })
        {
            Assert.That(RefusalPaperSettings.AdditionCoefficient(L3(PostTraining.Base), L3(d)), Is.EqualTo(1.2f));
            Assert.That(RefusalPaperSettings.AdditionCoefficient(L3(PostTraining.Sft), L3(d)), Is.EqualTo(1.8f));
            Assert.That(RefusalPaperSettings.AdditionCoefficient(L3(PostTraining.Instruct), L3(d)), Is.EqualTo(2.4f));
            Assert.That(RefusalPaperSettings.SubtractionCoefficient(L3(PostTraining.Instruct), L3(d)), Is.EqualTo(2.2f)); // :246-247
        }
        // apply_refusal_dir.py:302: chat_steering_coef, base_steering_coef = 5, 4 — by the direction, whichever model.
        foreach (var m in new[] { PostTraining.Base, PostTraining.Instruct })
        {
            Assert.That(RefusalPaperSettings.AdditionCoefficient(L2(m), L2(PostTraining.Base)), Is.EqualTo(4f));
            Assert.That(RefusalPaperSettings.AdditionCoefficient(L2(m), L2(PostTraining.Instruct)), Is.EqualTo(5f));
            Assert.That(RefusalPaperSettings.SubtractionCoefficient(L2(m), L2(PostTraining.Instruct)), Is.EqualTo(5f));
        }
        var other = Model("tiny", PaperFamily.Other, PostTraining.Sft, 2, inTable: false);
        Assert.That(RefusalPaperSettings.AdditionCoefficient(other, other), Is.EqualTo(1.8f), "the rule: by role");
    }

    [Test]
    public void PublishedCosine_IsKnownForTheLlama31Directions_Only()
    {
        PaperModel K(string key) => RefusalPaperSettings.Table.First(x => x.Model.Key == key).Model;
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b"), K("llama-3.1-8b-instruct")), Is.EqualTo(0.2506));
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b-instruct"), K("llama-3.1-8b")), Is.EqualTo(0.2506));
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b-sft"), K("llama-3.1-8b")), Is.EqualTo(0.0731));
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b-instruct"), K("llama-3.1-8b-sft")), Is.EqualTo(0.4352));
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-2-13b"), K("llama-2-13b-instruct")), Is.Null);
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b"), K("llama-3.1-8b")), Is.Null);
        Assert.That(RefusalPaperSettings.PublishedCosine(K("llama-3.1-8b"), K("llama-3.1-8b-instruct") with { InTable = false }), Is.Null);
    }
}

using System.Text.Json;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Paper;

/// <summary>
/// The knowledge analysis on real tokenizers and the paper's datasets, against the paper's own code
/// (HZD01/post-training-mechanistic-analysis, Knowledge+Truthfulness/patching_process_data.py and patching.py).
/// </summary>
[TestFixture]
public class PaperKnowledgeTests
{
    static HfTokenizer Llama3 => s_llama3.Value;
    static readonly Lazy<HfTokenizer> s_llama3 = new(() => HfTokenizer.FromDirectory(PaperInputs.Tokenizer("llama3.1")));
    static HfTokenizer Llama2 => s_llama2.Value;
    static readonly Lazy<HfTokenizer> s_llama2 = new(() => HfTokenizer.FromDirectory(PaperInputs.Tokenizer("llama2")));

    [Test]
    public void CuratePaper_Llama3Cities_GivesExactlyThePapersPairs()
    {
        // cities_paired.json is the output of patching_process_data.py for llama3 (238 pairs); the paper's pattern for
        // Llama-3 cities is 3 subject tokens and 1 object token (lines 37–41).
        var dataset = StatementDataset.Read(PaperInputs.Dataset("cities.csv"));
        var counts = KnowledgePaperSettings.TokenCounts(PaperFamily.Llama3, "cities");
        Assert.That(counts, Is.EqualTo((3, 1)));
        var curation = PairCuration.CuratePaper(dataset, Llama3, 3, 1);

        using var doc = JsonDocument.Parse(File.ReadAllText(PaperInputs.Dataset("cities_paired.json")));
        var expectedTrue = doc.RootElement.GetProperty("llama3_true_prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        var expectedFalse = doc.RootElement.GetProperty("llama3_false_prompts").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.That(expectedTrue, Has.Count.EqualTo(238));
        Assert.That(curation.Pairs.Select(p => p.True), Is.EqualTo(expectedTrue));
        Assert.That(curation.Pairs.Select(p => p.False), Is.EqualTo(expectedFalse));
        Assert.That(curation.Pairs.All(p => p.Roles.Count(r => r == TokenRole.Subject) == 3 && p.Roles.Count(r => r == TokenRole.Object) == 1));
    }

    [Test]
    public void CuratePaper_ReusesTheLastFalseStatementOfAWord()
    {
        // patching_process_data.py lines 183–188: pop(-1) while more than one remain, then reuse the last one.
        var dataset = new StatementDataset("cities", [
            S("The city of Paris is in France.", 1), S("The city of Lyon is in France.", 1), S("The city of Nice is in France.", 1),
            S("The city of Rome is in France.", 0), S("The city of Oslo is in France.", 0),
        ], []);
        var pairs = PairCuration.CuratePaper(dataset, Llama3, 1, 1).Pairs;
        Assert.That(pairs.Select(p => (p.True, p.False)), Is.EqualTo(new[]
        {
            ("The city of Paris is in France.", "The city of Oslo is in France."),
            ("The city of Lyon is in France.", "The city of Rome is in France."),
            ("The city of Nice is in France.", "The city of Rome is in France."),
        }));
    }

    static Statement S(string text, int label) => new(text, label, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty);

    [Test]
    public void PaperPrompts_FirstPairs_EqualThePapersFewShotPrompts()
    {
        // patching.py load_data: set_random_seed(1) (random.seed(1)), example_list = the two true examples (" TRUE\n")
        // then the two false ones, and per pair random.shuffle(example_list) in place (line 82). Python 3.11 gives, for
        // random.seed(1) and a list [a, b, c, d] shuffled in place three times: [d, a, c, b], [b, a, d, c], [b, d, a, c]
        // (python3 -c "import random; random.seed(1); x=list('abcd'); [print(random.shuffle(x) or x) for _ in range(3)]").
        var dataset = StatementDataset.Read(PaperInputs.Dataset("cities.csv"));
        var pairs = PairCuration.CuratePaper(dataset, Llama3, 3, 1).Pairs.Take(3).ToList();
        var prompts = TracingPrompts.Build(pairs, TracingPrompts.PaperExamplesFor("cities")!, Llama3, seed: 1, AnalysisProtocol.Paper);
        string a = "The city of Dar es Salaam is in Tanzania. This statement is: TRUE\n", b = "The city of Kozhikode is in India. This statement is: TRUE\n",
            c = "The city of Dar es Salaam is in Italy. This statement is: FALSE\n", d = "The city of Kozhikode is in the United States. This statement is: FALSE\n";
        string[] prefixes = [d + a + c + b, b + a + d + c, b + d + a + c];
        Assert.That(prompts, Has.Count.EqualTo(3));
        for (int i = 0; i < 3; i++)
        {
            Assert.That(prompts[i].TrueText, Is.EqualTo(prefixes[i] + pairs[i].True + " This statement is:"), $"pair {i}");
            Assert.That(prompts[i].FalseText, Is.EqualTo(prefixes[i] + pairs[i].False + " This statement is:"), $"pair {i}");
        }
        Assert.That(prompts[0].TrueText, Does.EndWith("TRUE\nThe city of Maracay is in Venezuela. This statement is:"));
    }

    [TestCase("llama3.1")]
    [TestCase("llama2")]
    public void PaperPrompts_PatchTheStatementAndQuestion_AsThePapersTokenList(string tokenizerName)
    {
        // patching.py find_dataset_tokens: cities patches 10 statement tokens + "This statement is :" = 14 positions,
        // labelled The city of [s1] [s2] [s3] is in [o1] . This statement is :. The statement follows "\n", which a
        // SentencePiece tokenizer encodes as "The", not the "▁The" of the statement alone: offsets, not fragments.
        var tok = tokenizerName == "llama2" ? Llama2 : Llama3;
        var dataset = StatementDataset.Read(PaperInputs.Dataset("cities.csv"));
        var pairs = PairCuration.CuratePaper(dataset, tok, 3, 1).Pairs.Take(20).ToList();
        Assert.That(pairs, Has.Count.EqualTo(20));
        var prompts = TracingPrompts.Build(pairs, TracingPrompts.PaperExamplesFor("cities")!, tok, 1, AnalysisProtocol.Paper);
        Assert.That(prompts, Has.Count.EqualTo(20), "every pair lines up inside its few-shot prompt");
        foreach (var p in prompts)
        {
            Assert.That(p.Patched, Is.EqualTo(14));
            Assert.That(p.Labels, Is.EqualTo(new[] { "The", "city", "of", "s1", "s2", "s3", "is", "in", "o1", ".", "This", "statement", "is", ":" }));
            Assert.That(p.TrueTokens.Length, Is.EqualTo(p.FalseTokens.Length));
            Assert.That(p.TrueTokens[0], Is.EqualTo(tok.BosTokenId));
        }
    }

    [Test]
    public void AnswerTokens_AreTheLastIdOfEachAnswer()
    {
        // patching.py line 244: t_tok = model.tokenizer(" TRUE").input_ids[-1]. Llama-2 encodes " TRUE" as "▁" "▁TRUE":
        // the first ids of the two answers are the same "▁"; the last ones are the words, as predicted after "is:".
        var (t2, f2) = JudgingAnswers.Tokens(Llama2, " TRUE", " FALSE", "knowledge");
        Assert.That(Llama2.IdToToken(t2), Is.EqualTo("▁TRUE"));
        Assert.That(Llama2.IdToToken(f2), Is.EqualTo("▁FALSE"));
        var ids = Llama2.Encode("is: TRUE", addSpecialTokens: false);
        Assert.That(ids[^1], Is.EqualTo(t2));
        var (t3, f3) = JudgingAnswers.Tokens(Llama3, " TRUE", " FALSE", "knowledge");
        Assert.That((Llama3.IdToToken(t3), Llama3.IdToToken(f3)), Is.EqualTo(("ĠTRUE", "ĠFALSE")));
    }

    [Test]
    public void AnswerTokens_SameLastToken_IsATypedErrorNamingTheOption()
    {
        var ex = Assert.Throws<InvalidArgumentException>(() => JudgingAnswers.Tokens(Llama3, " yes TRUE", " no TRUE", "knowledge"));
        Assert.That(ex!.Message, Does.Contain("knowledge.trueAnswer"));
        Assert.That(ex.Message, Does.Contain("end with the same token"));
    }

    [Test]
    public void CurateConsecutive_TuluExtracted_PairsConsecutiveRowsOfEqualLength()
    {
        // patching_process_data.py lines 27–36: rows 2k, 2k+1 are (true, false); pairs of unequal token length are skipped.
        var dataset = StatementDataset.Read(PaperInputs.Dataset("tulu_extracted.csv"));
        var curation = PairCuration.CurateConsecutive(dataset, Llama3);
        Assert.That(dataset.Statements, Has.Count.EqualTo(200));
        int expected = 0;
        for (int i = 0; i < 200; i += 2)
            if (Llama3.Encode(dataset.Statements[i].Text, false).Length == Llama3.Encode(dataset.Statements[i + 1].Text, false).Length) expected++;
        Assert.That(curation.Pairs, Has.Count.EqualTo(expected));
        Assert.That(expected, Is.InRange(20, 99));
        int first = Enumerable.Range(0, 100).Select(k => 2 * k)
            .First(i => Llama3.Encode(dataset.Statements[i].Text, false).Length == Llama3.Encode(dataset.Statements[i + 1].Text, false).Length);
        Assert.That(curation.Pairs[0].True, Is.EqualTo(dataset.Statements[first].Text));
        Assert.That(curation.Pairs[0].False, Is.EqualTo(dataset.Statements[first + 1].Text));
    }

    [Test]
    public void CurateConsecutive_RowsNotTrueThenFalse_IsATypedError()
    {
        var dataset = new StatementDataset("tulu_extracted", [S("Czech is a language.", 0), S("Czech is not a language.", 1)], []);
        var ex = Assert.Throws<InvalidArgumentException>(() => PairCuration.CurateConsecutive(dataset, Llama3));
        Assert.That(ex!.Message, Does.Contain("rows 1 and 2"));
    }

    [Test]
    public void Template_DatasetWithoutOne_IsATypedErrorSayingWhatToPass()
    {
        var ex = Assert.Throws<InvalidArgumentException>(() => StatementTemplate.For("facts"));
        Assert.That(ex!.Message, Does.Contain("tulu_extracted"));
        Assert.That(ex.Message, Does.Contain("cities"));
    }

    [Test]
    public void ExamplesFor_PatchingPyFirst_ThenTheSamples_ElseATypedError()
    {
        (string, bool)[] samples = [("The dog is a mammal.", true)];
        Assert.That(TracingPrompts.ExamplesFor("cities", samples, "datasets", "cities.csv"), Is.EqualTo(TracingPrompts.PaperExamplesFor("cities")));
        Assert.That(TracingPrompts.ExamplesFor("animal_class", samples, "datasets", "animal_class.csv"), Is.EqualTo(samples));
        var ex = Assert.Throws<InvalidArgumentException>(() => TracingPrompts.ExamplesFor("neg_facts", null, "--dataset", "neg_facts.csv"));
        Assert.That((ex!.Field, ex.Value), Is.EqualTo(("--dataset", "neg_facts.csv")));
        Assert.That(ex.Message, Does.Contain("few_shot_samples.json"));
    }
}

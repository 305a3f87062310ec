using System.Security.Cryptography;
using System.Text;
using OnnxInterp.Analysis.Truth;
using OnnxInterp.Data;
using OnnxInterp.Tests.Analysis.Paper;
using OnnxInterp.Tests.Tokenization;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>
/// The paper protocol's intervention queries against the paper's own algorithm run in Python (interventions.py
/// prepare_data, lines 76-116, copied verbatim with lists in place of the CSV; CPython 3.11 `random`), and its positions
/// and answer tokens on the real Llama tokenizers.
/// </summary>
public class TruthPaperPromptTests
{
    /// <summary>few_shot_samples.json's cities entry, in the file's order (as AnalysisDataset.FewShot gives it).</summary>
    static readonly (string, bool)[] CitiesExamples =
    [
        ("The city of Dar es Salaam is in Italy.", false),
        ("The city of Kozhikode is in the United States.", false),
        ("The city of Dar es Salaam is in Tanzania.", true),
        ("The city of Kozhikode is in India.", true),
    ];

    static Statement S(string text, int label = 1) => new(text, label, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty);

    [Test]
    public void Queries_FirstItems_EqualThePapersPrepareDataByteForByte()
    {
        // Expected values printed by Python 3.11.7 running prepare_data verbatim on these lists:
        //   prompts = [the four lines above, "... This statement is: FALSE" / "TRUE"]; statements = the four below.
        // The third statement is one of the examples: left out (line 112), yet it uses up seed 3, so the fourth is
        // shuffled after random.seed(4). Permutations of [0, 1, 2, 3]: seed 1 → [3, 0, 2, 1], seed 2 → [1, 2, 3, 0],
        // seed 4 → [2, 0, 3, 1].
        var statements = new[]
        {
            S("The city of Krasnodar is in Russia."), S("The city of Lodz is in Poland."),
            S("The city of Dar es Salaam is in Tanzania."), S("The city of Maracay is in Venezuela."),
        };
        var queries = TruthPaperPrompts.Queries(statements, CitiesExamples);
        Assert.That(queries.Select(q => q.Index), Is.EqualTo(new[] { 0, 1, 3 }));
        Assert.That(queries.Select(q => q.Text), Is.EqualTo(new[]
        {
            "The city of Kozhikode is in India. This statement is: TRUE\nThe city of Dar es Salaam is in Italy. This statement is: FALSE\nThe city of Dar es Salaam is in Tanzania. This statement is: TRUE\nThe city of Kozhikode is in the United States. This statement is: FALSE\nThe city of Krasnodar is in Russia. This statement is:",
            "The city of Kozhikode is in the United States. This statement is: FALSE\nThe city of Dar es Salaam is in Tanzania. This statement is: TRUE\nThe city of Kozhikode is in India. This statement is: TRUE\nThe city of Dar es Salaam is in Italy. This statement is: FALSE\nThe city of Lodz is in Poland. This statement is:",
            "The city of Dar es Salaam is in Tanzania. This statement is: TRUE\nThe city of Dar es Salaam is in Italy. This statement is: FALSE\nThe city of Kozhikode is in India. This statement is: TRUE\nThe city of Kozhikode is in the United States. This statement is: FALSE\nThe city of Maracay is in Venezuela. This statement is:",
        }));
    }

    [Test]
    public void Queries_ExampleOrderMatters_ShufflesStartFromTheGivenOrder()
    {
        var statements = new[] { S("The city of Krasnodar is in Russia.") };
        var reversed = CitiesExamples.Reverse().ToArray();
        var a = TruthPaperPrompts.Queries(statements, CitiesExamples).Single().Text;
        var b = TruthPaperPrompts.Queries(statements, reversed).Single().Text;
        Assert.That(b, Is.Not.EqualTo(a), "the paper's shuffles are of few_shot_samples.json's order, so the order is part of the protocol");
    }

    // sha256 over "\0".join(queries) of each subset, and the counts, printed by the same Python on the real files
    // (../shared/datasets/paper/{cities,sp_en_trans}.csv read with the csv module, few_shot_samples.json's entry):
    // cities: 748 true → 746 queries (two statements are examples), 748 false → 746; sp_en_trans: 177 → 175 twice.
    [TestCase("cities", 1, 748, 746, "34f0ee7155390a46f481c160831505e593b6a13bd7c0d0970c03acc809eded8b")]
    [TestCase("cities", 0, 748, 746, "63ef1d887093ac3d4ff711943ca3f3749951c4d01829f49560632154b036ee71")]
    [TestCase("sp_en_trans", 1, 177, 175, "0b5683f50d6f6530dba99348a6071765c68c46a6b51d46643431efd7cb2bf806")]
    [TestCase("sp_en_trans", 0, 177, 175, "833043155460e149d99842e6578a1718396f60438dfb51291fd644e7bae45cbd")]
    public void Queries_PaperDatasets_EveryQueryEqualsThePapers(string dataset, int label, int statements, int kept, string sha256)
    {
        var data = StatementDataset.Read(PaperInputs.Dataset(dataset + ".csv"));
        var examples = FewShotSamples.Read(PaperInputs.Dataset(FewShotSamples.FileName)).For(dataset)!;
        var subset = data.Statements.Where(s => s.Label == label).ToList();
        Assert.That(subset, Has.Count.EqualTo(statements));
        var queries = TruthPaperPrompts.Queries(subset, examples);
        Assert.That(queries, Has.Count.EqualTo(kept));
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\0", queries.Select(q => q.Text)))));
        Assert.That(hash, Is.EqualTo(sha256));
    }

    [Test]
    public void Positions_Llama3Tokenizer_AreThePeriodAndTheTokenBeforeIt_AnswersTheLastIds()
    {
        var tok = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("llama3.1"));
        // len(encode('This statement is:')) = BOS + This, statement, is, ':' = 5 → offsets −6 and −5 (interventions.py:30, 41).
        Assert.That(TruthPaperPrompts.Positions(tok), Is.EqualTo(new[] { -6, -5 }));
        var (prompts, skipped) = TruthPaperPrompts.Build([S("The city of Krasnodar is in Russia.")], CitiesExamples, tok);
        Assert.That(skipped, Is.Zero);
        var t = prompts[0].Tokens;
        Assert.That(tok.Decode([t[^5]]), Is.EqualTo("."));
        Assert.That(tok.Decode([t[^6]]), Is.EqualTo(" Russia"));
        Assert.That(tok.Decode(t, skipSpecialTokens: true), Is.EqualTo(TruthPaperPrompts.Queries([S("The city of Krasnodar is in Russia.")], CitiesExamples)[0].Text));
        // ' TRUE' is one token after the BOS: the last id is that token.
        Assert.That(JudgingAnswers.Tokens(tok, " TRUE", " FALSE", "truth").True, Is.EqualTo(tok.Encode(" TRUE", addSpecialTokens: false).Single()));
    }

    [Test]
    public void Positions_Llama2Tokenizer_AreThePeriodAndTheTokenBeforeIt()
    {
        var tok = HfTokenizer.FromDirectory(TokenizerTestPaths.RequireShared("llama2"));
        var positions = TruthPaperPrompts.Positions(tok);
        var (prompts, _) = TruthPaperPrompts.Build([S("The city of Krasnodar is in Russia.")], CitiesExamples, tok);
        var t = prompts[0].Tokens;
        Assert.That(tok.Decode([t[t.Length + positions[1]]]), Is.EqualTo("."));
        Assert.That(tok.Decode([t[t.Length + positions[0]]]), Does.EndWith("Russia"));
        // The answer is the last id of encode(' TRUE'), whatever SentencePiece puts before it.
        var ids = tok.Encode(" TRUE");
        Assert.That(JudgingAnswers.Tokens(tok, " TRUE", " FALSE", "truth").True, Is.EqualTo(ids[^1]));
    }
}

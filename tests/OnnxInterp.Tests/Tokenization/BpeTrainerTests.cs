using OnnxInterp.Tokenization;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Tokenization;

public class BpeTrainerTests
{
    [Test]
    public void TrainByteLevel_FrequentWordsBecomeSingleTokens_AndRoundTrip()
    {
        var corpus = Enumerable.Repeat("The city of Velora is in Kastan. This statement is: TRUE", 50)
            .Append("Rare words like zyxwv appear once.").ToList();
        var json = BpeTrainer.TrainByteLevel(corpus, new BpeTrainer.Options(400, ["<s>", "</s>", "<|user|>"], "<s>"));
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("tokenizer.json"), json);
        var tok = HfTokenizer.FromDirectory(tmp.Path);

        var tokens = tok.EncodeToTokens("The city of Velora is in Kastan. This statement is: TRUE", addSpecialTokens: false);
        Assert.That(tokens, Is.EqualTo(new[] { "The", "Ġcity", "Ġof", "ĠVelora", "Ġis", "Ġin", "ĠKastan", ".", "ĠThis", "Ġstatement", "Ġis", ":", "ĠTRUE" }));
        var ids = tok.Encode("Rare zyxwv <|user|> text");
        Assert.That(ids[0], Is.EqualTo(tok.TokenToId("<s>")));
        Assert.That(ids, Does.Contain(tok.TokenToId("<|user|>")));
        Assert.That(tok.Decode(ids, skipSpecialTokens: true), Is.EqualTo("Rare zyxwv  text"));
        Assert.That(tok.Decode(tok.Encode("héllo wörld ✓", false)), Is.EqualTo("héllo wörld ✓"), "byte level covers any text");
    }

    [Test]
    public void TrainByteLevel_IsDeterministic()
    {
        var options = new BpeTrainer.Options(260, ["<s>"], null);
        string first = BpeTrainer.TrainByteLevel(["a b a b c", "ab ab"], options);
        string second = BpeTrainer.TrainByteLevel(["a b a b c", "ab ab"], options);
        Assert.That(second, Is.EqualTo(first));
    }
}

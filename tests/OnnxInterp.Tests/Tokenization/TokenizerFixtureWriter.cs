namespace OnnxInterp.Tests.Tokenization;

/// <summary>
/// Writes the synthetic tokenizer folders for tools/goldens/tokenizer-goldens.mjs. Explicit: it runs only when
/// selected, e.g. <c>--filter "FullyQualifiedName~TokenizerFixtureWriter"</c>; the target folder is
/// $ONNXINTERP_TOKENIZER_FIXTURES, or /tmp/onnxinterp-tokenizer-fixtures.
/// </summary>
[TestFixture, Explicit("writes tokenizer fixtures for tools/goldens/tokenizer-goldens.mjs")]
public class TokenizerFixtureWriter
{
    [Test]
    public void WriteSyntheticTokenizers()
    {
        string root = Environment.GetEnvironmentVariable("ONNXINTERP_TOKENIZER_FIXTURES") is { Length: > 0 } env
            ? env : Path.Combine(Path.GetTempPath(), "onnxinterp-tokenizer-fixtures");
        SyntheticTokenizers.WriteAll(root);
        TestContext.Out.WriteLine($"wrote {root}");
        Assert.That(File.Exists(Path.Combine(root, "llama3", "tokenizer.json")), Is.True);
    }
}

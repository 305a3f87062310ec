namespace OnnxInterp.Cli.Commands;

static class PromptTokens
{
    public static int[][] Encode(string modelDir, string[] texts, bool addSpecial)
    {
        var tok = OnnxInterp.Tokenization.HfTokenizer.FromDirectory(modelDir);
        return texts.Select(t => tok.Encode(t, addSpecial)).ToArray();
    }
}

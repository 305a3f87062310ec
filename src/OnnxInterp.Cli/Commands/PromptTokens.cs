namespace OnnxInterp.Cli.Commands;

static class PromptTokens
{
    public static int[][] Encode(string modelDir, string[] texts, bool addSpecial) =>
        throw new InvalidArgumentException("prompt tokenization is not wired yet; use --tokens", "--prompt", modelDir);
}

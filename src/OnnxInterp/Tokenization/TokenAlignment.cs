using OnnxInterp.Internals;

namespace OnnxInterp.Tokenization;

/// <summary>
/// Where each token of an encoded text lies in the text: the character offset at which it ends. Found by decoding
/// growing prefixes of the ids and matching them against the text, so it works the same for byte-level BPE (Llama-3,
/// Qwen2, GPT-2) and SentencePiece-style tokenizers (Llama-2, Mistral), whose tokens in context differ from the tokens of
/// a fragment encoded alone ("\nThe" gives "The", while "The" alone gives "▁The").
/// </summary>
public static class TokenAlignment
{
    /// <summary>
    /// For each id, the end offset in <paramref name="text"/> of the characters it completes: token i covers
    /// [ends[i − 1], ends[i]) (special tokens and the bytes of an unfinished character cover nothing). Cost: one decode
    /// per token, of the prefix up to it.
    /// </summary>
    /// <exception cref="InvalidArgumentException">The ids do not decode back to <paramref name="text"/> (a normalizer
    /// that changes the text, or ids of another text), so offsets cannot be read from them.</exception>
    public static int[] TokenEnds(HfTokenizer tokenizer, string text, IReadOnlyList<int> ids)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(ids);
        var ends = new int[ids.Count];
        int previous = 0;
        var prefix = new List<int>(ids.Count);
        for (int i = 0; i < ids.Count; i++)
        {
            prefix.Add(ids[i]);
            string decoded = tokenizer.Decode(prefix, skipSpecialTokens: true);
            int common = CommonPrefix(decoded, text);
            // A token whose decoded text runs past the common prefix ends inside a character (byte fallback) or
            // differs from the text: it ends where the agreement ends, never before the previous token.
            ends[i] = previous = Math.Max(previous, common);
        }
        string all = tokenizer.Decode(ids, skipSpecialTokens: true);
        if (all != text)
            Throw.Argument($"the ids do not decode back to the text (decoded \"{Clip(all)}\"), so token offsets cannot be found", "text", Clip(text));
        return ends;
    }

    /// <summary>The index of the first token that covers a character at or after <paramref name="offset"/>, or ids.Count if none does.</summary>
    public static int FirstTokenAt(int[] ends, int offset)
    {
        for (int i = 0; i < ends.Length; i++)
            if (ends[i] > offset) return i;
        return ends.Length;
    }

    static int CommonPrefix(string a, string b)
    {
        int n = Math.Min(a.Length, b.Length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    static string Clip(string s) => s.Length <= 80 ? s : s[..77] + "...";
}

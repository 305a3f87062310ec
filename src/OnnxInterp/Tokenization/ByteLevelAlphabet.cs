namespace OnnxInterp.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-character table, as HF's ByteLevel pre-tokenizer and decoder use it:
/// printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 upwards (space is 'Ġ', newline 'Ċ').
/// </summary>
static class ByteLevelAlphabet
{
    static readonly char[] s_byteToChar = BuildTable();

    public static char ByteToChar(byte b) => s_byteToChar[b];
    static readonly Dictionary<char, byte> s_charToByte = BuildReverse();

    static char[] BuildTable()
    {
        var table = new char[256];
        var isPrintable = new bool[256];
        for (int b = '!'; b <= '~'; b++) isPrintable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) isPrintable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) isPrintable[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++)
            table[b] = isPrintable[b] ? (char)b : (char)(256 + next++);
        return table;
    }

    static Dictionary<char, byte> BuildReverse()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[s_byteToChar[b]] = (byte)b;
        return d;
    }

    /// <summary>UTF-8 encodes <paramref name="text"/> and writes one table character per byte.</summary>
    public static string Encode(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (int i = 0; i < b.Length; i++) span[i] = s_byteToChar[b[i]];
        });
    }

    /// <summary>
    /// Maps each character of <paramref name="token"/> back to its byte. A character outside the table
    /// makes the whole token fall back to its own UTF-8 bytes, as HF's ByteLevel decoder does.
    /// </summary>
    public static void AppendBytes(string token, List<byte> into)
    {
        foreach (char c in token)
        {
            if (!s_charToByte.ContainsKey(c))
            {
                into.AddRange(System.Text.Encoding.UTF8.GetBytes(token));
                return;
            }
        }
        foreach (char c in token) into.Add(s_charToByte[c]);
    }
}

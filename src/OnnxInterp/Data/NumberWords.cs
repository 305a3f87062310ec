namespace OnnxInterp.Data;

/// <summary>English number words as the paper's comparison datasets spell them ("Fifty-one", "ninety-two").</summary>
public static class NumberWords
{
    static readonly string[] Ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
    static readonly string[] Tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

    /// <summary>0 ≤ n ≤ 99, lower case: 51 → "fifty-one".</summary>
    public static string Of(int n)
    {
        if (n < 0 || n > 99) throw new ArgumentOutOfRangeException(nameof(n), n, "0..99");
        if (n < 20) return Ones[n];
        return n % 10 == 0 ? Tens[n / 10] : $"{Tens[n / 10]}-{Ones[n % 10]}";
    }

    public static string Capitalized(int n)
    {
        var s = Of(n);
        return char.ToUpperInvariant(s[0]) + s[1..];
    }
}

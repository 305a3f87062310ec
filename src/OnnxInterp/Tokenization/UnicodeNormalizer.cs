using System.Globalization;
using System.Text;

namespace OnnxInterp.Tokenization;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) from generated tables. Needed because the project runs with
/// InvariantGlobalization, where string.Normalize() leaves non-ASCII text unchanged.
/// </summary>
static class UnicodeNormalizer
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    const int NCount = VCount * TCount, SCount = LCount * NCount;

    static readonly Lazy<Tables> s_tables = new(Tables.Load);

    sealed class Tables
    {
        public readonly Dictionary<int, (bool Compat, int[] To)> Decomp = new();
        public readonly Dictionary<int, int> Ccc = new();
        public readonly Dictionary<long, int> Comp = new();

        public static Tables Load()
        {
            var t = new Tables();
            foreach (var e in UnicodeNormalizationData.Decompositions.Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                bool compat = e[0] == '~';
                var body = compat ? e[1..] : e;
                int colon = body.IndexOf(':');
                int cp = Hex(body[..colon]);
                t.Decomp[cp] = (compat, body[(colon + 1)..].Split(' ').Select(Hex).ToArray());
            }
            foreach (var e in UnicodeNormalizationData.CombiningClasses.Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                int eq = e.IndexOf('=');
                t.Ccc[Hex(e[..eq])] = int.Parse(e[(eq + 1)..], CultureInfo.InvariantCulture);
            }
            foreach (var e in UnicodeNormalizationData.Compositions.Split(';', StringSplitOptions.RemoveEmptyEntries))
            {
                int sp = e.IndexOf(' '), gt = e.IndexOf('>');
                t.Comp[Key(Hex(e[..sp]), Hex(e[(sp + 1)..gt]))] = Hex(e[(gt + 1)..]);
            }
            return t;
        }

        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    public static string Normalize(string s, NormalizationForm form)
    {
        bool ascii = true;
        foreach (char c in s) if (c >= 0x80) { ascii = false; break; }
        if (ascii) return s;

        var t = s_tables.Value;
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;

        // 1. Full decomposition.
        var cps = new List<int>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = s[i];
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { cp = char.ConvertToUtf32(s[i], s[i + 1]); i++; }
            Decompose(cp, compat, t, cps);
        }

        // 2. Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            int c = Ccc(cps[i], t);
            if (c == 0) continue;
            int j = i;
            while (j > 0 && Ccc(cps[j - 1], t) > c) { (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]); j--; }
        }

        // 3. Canonical composition.
        if (compose && cps.Count > 1)
        {
            var outp = new List<int>(cps.Count);
            int starter = -1, lastCcc = 0;
            foreach (int cp in cps)
            {
                int c = Ccc(cp, t);
                // cp may join the last starter unless a character between them has ccc 0 or ccc >= cp's.
                bool notBlocked = starter >= 0 && (outp.Count - 1 == starter || (lastCcc != 0 && lastCcc < c));
                if (notBlocked && TryCompose(outp[starter], cp, t, out int composed))
                {
                    outp[starter] = composed;
                    continue;
                }
                outp.Add(cp);
                if (c == 0) starter = outp.Count - 1;
                lastCcc = c;
            }
            cps = outp;
        }

        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    static int Ccc(int cp, Tables t) => t.Ccc.TryGetValue(cp, out int c) ? c : 0;

    static void Decompose(int cp, bool compat, Tables t, List<int> into)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int si = cp - SBase;
            into.Add(LBase + si / NCount);
            into.Add(VBase + si % NCount / TCount);
            if (si % TCount != 0) into.Add(TBase + si % TCount);
            return;
        }
        if (t.Decomp.TryGetValue(cp, out var d) && (compat || !d.Compat))
        {
            foreach (int x in d.To) Decompose(x, compat, t, into);
            return;
        }
        into.Add(cp);
    }

    static bool TryCompose(int a, int b, Tables t, out int composed)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount)
        {
            composed = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount)
        {
            composed = a + (b - TBase);
            return true;
        }
        return t.Comp.TryGetValue(Key(a, b), out composed);
    }
}

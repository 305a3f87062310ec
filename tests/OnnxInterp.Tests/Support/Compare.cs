namespace OnnxInterp.Tests.Support;

/// <summary>Tolerance checks between an ORT result and the double-precision reference.</summary>
public static class Compare
{
    /// <summary>
    /// Largest error of <paramref name="actual"/> against <paramref name="expected"/> over the vectors at real
    /// (unpadded) positions, relative to each vector's largest magnitude (at least 1).
    /// </summary>
    public static double MaxRelativeError(FloatTensor actual, double[][][] expected, int[][] mask)
    {
        double worst = 0;
        for (int b = 0; b < expected.Length; b++)
            for (int s = 0; s < expected[b].Length; s++)
            {
                if (mask[b][s] == 0) continue;
                var e = expected[b][s];
                var a = actual.Vector(b, s);
                if (a.Length != e.Length) throw new AssertionException($"vector length {a.Length} != {e.Length}");
                double scale = Math.Max(1.0, e.Max(Math.Abs));
                for (int i = 0; i < e.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - e[i]) / scale);
            }
        return worst;
    }

    public static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new AssertionException($"length {a.Length} != {b.Length}");
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}

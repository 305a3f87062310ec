using System.Globalization;

namespace OnnxInterp.Analysis.Knowledge;

/// <summary>
/// A knowledge-storage matrix: for each layer (row) and statement token position (column), the patching effect
/// (log P(True)/P(False) after patching) averaged over <see cref="Pairs"/> statement pairs. Row 0 is layer 0, the
/// layer nearest the embeddings; <see cref="PositionLabels"/> name the columns ("The", "s1", "s2", "o1", ".").
/// </summary>
/// <remarks>
/// The record checks its inputs when built through the constructor: at least one layer and one position, every
/// value finite, one label per column, <see cref="Pairs"/> not negative. Record equality compares
/// <see cref="Values"/> by reference; compare cells with <see cref="ToJagged()"/> when needed.
/// </remarks>
public sealed record KnowledgeMatrix(string Model, double[,] Values, IReadOnlyList<string> PositionLabels, int Pairs)
{
    /// <summary>Number of bins the paper's normalisation splits the matrix's range into.</summary>
    public const int NormalizationBins = 20;

    /// <summary>The padding the paper puts on either side of [min, max] before binning.</summary>
    public const double NormalizationPadding = 1e-5;

    public string Model { get; init; } = Model ?? throw new InvalidArgumentException("model name is null", "model");

    public double[,] Values { get; init; } = CheckValues(Values, "values");

    public IReadOnlyList<string> PositionLabels { get; init; } = CheckLabels(Values, PositionLabels);

    public int Pairs { get; init; } = Pairs >= 0 ? Pairs
        : throw new InvalidArgumentException("pair count must not be negative", "pairs", Pairs.ToString(CultureInfo.InvariantCulture));

    /// <summary>Number of layers (rows).</summary>
    public int Layers => Values.GetLength(0);

    /// <summary>Number of token positions (columns).</summary>
    public int Positions => Values.GetLength(1);

    /// <summary>This matrix with its values replaced by <see cref="Normalize"/>'s.</summary>
    public KnowledgeMatrix Normalized() => this with { Values = Normalize(Values) };

    /// <summary>
    /// The paper's normalisation (<c>normalize</c> in Knowledge+Truthfulness/patching_visualize.py), in float64:
    /// <code>
    /// bins = np.linspace(min - 1e-5, max + 1e-5, 21)      # 21 edges, 20 equal-width bins
    /// idx  = np.digitize(values, bins)                     # 1..20; bins[i-1] &lt;= x &lt; bins[i]
    /// out  = concat(zeros(10), linspace(0.1, 1.0, 10))[idx - 1]
    /// </code>
    /// Edges are computed as numpy's linspace does: <c>edge[i] = lo + i * ((hi - lo) / 20)</c> for i &lt; 20 and
    /// <c>edge[20] = hi</c>, with <c>lo = min - 1e-5</c>, <c>hi = max + 1e-5</c>. A value's bin is the number of
    /// edges less than or equal to it, so a value exactly on an inner edge belongs to the bin above that edge
    /// (lower edge inclusive, upper edge exclusive); the minimum is always in bin 1 and the maximum in bin 20,
    /// because the 1e-5 padding keeps them strictly inside [lo, hi]. Bins 1–10 (the lower half of the range) map to
    /// 0; bins 11, 12, …, 20 map to 0.1, 0.2, …, 1.0 (written here as k / 10, which can differ from numpy's
    /// linspace levels by one unit in the last place, e.g. 0.3 against 0.30000000000000004).
    /// Differences from the paper's code, each for a case it does not handle: a constant matrix (min == max)
    /// normalises to all zeros (in numpy the value lands on the middle edge and float rounding decides: 0.1 for
    /// most values, 0 for some, e.g. 0.0); if |max| is so large (above about 1e11) that adding 1e-5 does not change it, the maximum would fall past
    /// the last edge, where numpy raises IndexError, and is kept in bin 20 instead. The paper accumulates in float32;
    /// this works in float64.
    /// </summary>
    public static double[,] Normalize(double[,] values)
    {
        CheckValues(values, "values");
        int rows = values.GetLength(0), cols = values.GetLength(1);
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        var result = new double[rows, cols];
        if (min == max) return result;

        var edges = BinEdges(min, max);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                result[r, c] = Level(Bin(values[r, c], edges));
        return result;
    }

    /// <summary>The 21 bin edges the paper's normalisation uses for a matrix whose range is [min, max].</summary>
    public static double[] BinEdges(double min, double max)
    {
        double lo = min - NormalizationPadding, hi = max + NormalizationPadding;
        double step = (hi - lo) / NormalizationBins;
        var edges = new double[NormalizationBins + 1];
        for (int i = 0; i < NormalizationBins; i++) edges[i] = i * step + lo;
        edges[NormalizationBins] = hi;
        return edges;
    }

    /// <summary>numpy.digitize(x, edges) for increasing edges, clamped to 1..20: the count of edges &lt;= x.</summary>
    static int Bin(double x, double[] edges)
    {
        int count = 0;
        while (count < edges.Length && edges[count] <= x) count++;
        return Math.Clamp(count, 1, NormalizationBins);
    }

    static double Level(int bin) => bin <= NormalizationBins / 2 ? 0.0 : (bin - NormalizationBins / 2) / 10.0;

    /// <summary>
    /// The cell-wise mean of per-pair matrices (the paper's <c>sum_array / len(results_list)</c>), summed in float64.
    /// Every matrix must have the same shape; at least one is required.
    /// </summary>
    public static double[,] Average(IEnumerable<double[,]> perPair)
    {
        ArgumentNullException.ThrowIfNull(perPair);
        double[,]? sum = null;
        int n = 0;
        foreach (var m in perPair)
        {
            CheckValues(m, $"perPair[{n}]");
            if (sum is null) sum = new double[m.GetLength(0), m.GetLength(1)];
            else if (m.GetLength(0) != sum.GetLength(0) || m.GetLength(1) != sum.GetLength(1))
                throw new InvalidArgumentException(
                    $"pair {n} has shape {Shape(m)}, the first pair has {Shape(sum)}", $"perPair[{n}]", Shape(m));
            for (int r = 0; r < m.GetLength(0); r++)
                for (int c = 0; c < m.GetLength(1); c++)
                    sum[r, c] += m[r, c];
            n++;
        }
        if (sum is null) throw new InvalidArgumentException("no per-pair matrices to average", "perPair", "0");
        for (int r = 0; r < sum.GetLength(0); r++)
            for (int c = 0; c < sum.GetLength(1); c++)
                sum[r, c] /= n;
        return sum;
    }

    /// <summary>The mean of <paramref name="perPair"/> as a matrix, with <see cref="Pairs"/> set to their count.</summary>
    public static KnowledgeMatrix FromPairs(string model, IReadOnlyCollection<double[,]> perPair, IReadOnlyList<string> positionLabels)
    {
        ArgumentNullException.ThrowIfNull(perPair);
        return new KnowledgeMatrix(model, Average(perPair), positionLabels, perPair.Count);
    }

    /// <summary>The values as rows of a jagged array (JSON serialisers do not take rectangular arrays).</summary>
    public double[][] ToJagged() => ToJagged(Values);

    public static double[][] ToJagged(double[,] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var rows = new double[values.GetLength(0)][];
        for (int r = 0; r < rows.Length; r++)
        {
            rows[r] = new double[values.GetLength(1)];
            for (int c = 0; c < rows[r].Length; c++) rows[r][c] = values[r, c];
        }
        return rows;
    }

    /// <summary>A rectangular array from rows that all have the same length.</summary>
    public static double[,] FromJagged(double[][] rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Length == 0) throw new InvalidArgumentException("no rows", "values", "0");
        int cols = rows[0]?.Length ?? throw new InvalidArgumentException("row 0 is null", "values[0]");
        var m = new double[rows.Length, cols];
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r] ?? throw new InvalidArgumentException($"row {r} is null", $"values[{r}]");
            if (row.Length != cols)
                throw new InvalidArgumentException($"row {r} has {row.Length} values, row 0 has {cols}", $"values[{r}]",
                    row.Length.ToString(CultureInfo.InvariantCulture));
            for (int c = 0; c < cols; c++) m[r, c] = row[c];
        }
        return m;
    }

    /// <summary>A JSON-friendly copy (jagged values, label array).</summary>
    public KnowledgeMatrixDto ToDto() => new(Model, ToJagged(), [.. PositionLabels], Pairs);

    /// <summary>The matrix a <see cref="ToDto"/> copy describes, checked as the constructor checks.</summary>
    public static KnowledgeMatrix FromDto(KnowledgeMatrixDto dto)
    {
        ArgumentNullException.ThrowIfNull(dto);
        return new KnowledgeMatrix(dto.Model, FromJagged(dto.Values), dto.PositionLabels ?? throw new InvalidArgumentException(
            "position labels are null", "positionLabels"), dto.Pairs);
    }

    internal static string Shape(double[,] m) => $"[{m.GetLength(0)}, {m.GetLength(1)}]";

    static double[,] CheckValues(double[,] values, string field)
    {
        if (values is null) throw new InvalidArgumentException("matrix is null", field);
        if (values.GetLength(0) == 0 || values.GetLength(1) == 0)
            throw new InvalidArgumentException($"matrix has shape {Shape(values)}; it needs at least one layer and one position", field, Shape(values));
        for (int r = 0; r < values.GetLength(0); r++)
            for (int c = 0; c < values.GetLength(1); c++)
                if (!double.IsFinite(values[r, c]))
                    throw new InvalidArgumentException($"cell [{r}, {c}] is not finite", field, values[r, c].ToString(CultureInfo.InvariantCulture));
        return values;
    }

    static IReadOnlyList<string> CheckLabels(double[,] values, IReadOnlyList<string> labels)
    {
        if (labels is null) throw new InvalidArgumentException("position labels are null", "positionLabels");
        if (values is not null && labels.Count != values.GetLength(1))
            throw new InvalidArgumentException($"{labels.Count} position labels for {values.GetLength(1)} columns", "positionLabels",
                string.Join(" ", labels));
        for (int i = 0; i < labels.Count; i++)
            if (labels[i] is null) throw new InvalidArgumentException($"position label {i} is null", $"positionLabels[{i}]");
        return labels;
    }
}

/// <summary>The JSON form of a <see cref="KnowledgeMatrix"/>: values as rows ([layers][positions]).</summary>
public sealed record KnowledgeMatrixDto(string Model, double[][] Values, string[] PositionLabels, int Pairs);

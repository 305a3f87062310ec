using System.Globalization;
using OnnxInterp.Internals;
using ScottPlot;

namespace OnnxInterp.Reports;

/// <summary>
/// PNG heatmaps of [layers, positions] matrices (knowledge matrices and their differences), drawn with ScottPlot 5.
/// Layers run up the y axis with layer 0 at the bottom; token positions run along the x axis, labelled with the
/// given column labels; a colour bar on the right carries <c>colorbarLabel</c>.
/// </summary>
public static class Heatmap
{
    /// <summary>Up to this many layers every layer is labelled; above it every k-th, k = ceil(layers / this).</summary>
    public const int MaxLayerLabels = 32;

    /// <summary>Labels longer than this, or more than <see cref="MaxUnrotatedColumns"/> columns, are drawn rotated.</summary>
    public const int MaxUnrotatedLabelLength = 3;

    public const int MaxUnrotatedColumns = 24;

    /// <summary>
    /// Draws <paramref name="values"/> and writes it to <paramref name="path"/> as PNG (written to a temporary file in
    /// the same folder, then moved into place).
    /// </summary>
    /// <param name="path">The PNG file to write; its folder is created if missing.</param>
    /// <param name="values">[layers, positions]; every value finite.</param>
    /// <param name="columnLabels">One label per position.</param>
    /// <param name="title">The plot's title.</param>
    /// <param name="colorbarLabel">The colour bar's label (e.g. "log P(T)/P(F)").</param>
    /// <param name="diverging">
    /// true for differences: a blue–white–red map centred at 0 over [−m, m], m = max |value| (the paper's
    /// <c>draw_figure</c> scale: rgb(0,0,255), rgb(245,245,245), rgb(255,0,0)); false for matrices: viridis over
    /// <paramref name="range"/> or the data's [min, max].
    /// </param>
    /// <param name="width">Image width in pixels; by default it grows with the number of positions.</param>
    /// <param name="height">Image height in pixels; by default it grows with the number of layers.</param>
    /// <param name="range">The colour scale's [min, max] for sequential maps (e.g. [0, 1] for normalised matrices).</param>
    /// <param name="cellLabels">[layers, positions] short texts drawn inside the cells (e.g. the logit lens's top token), or null.</param>
    /// <returns>The written image's size.</returns>
    public static (int Width, int Height) WritePng(string path, double[,] values, IReadOnlyList<string> columnLabels, string title,
        string colorbarLabel, bool diverging, int? width = null, int? height = null, (double Min, double Max)? range = null, string[,]? cellLabels = null)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InvalidArgumentException("output path is empty", "path", path);
        var (w, h, bytes) = Render(values, columnLabels, title, colorbarLabel, diverging, width, height, range, cellLabels);
        AtomicFile.Write(path, fs => fs.Write(bytes));
        return (w, h);
    }

    /// <summary>The PNG bytes <see cref="WritePng"/> would write.</summary>
    public static (int Width, int Height, byte[] Png) Render(double[,] values, IReadOnlyList<string> columnLabels, string title,
        string colorbarLabel, bool diverging, int? width = null, int? height = null, (double Min, double Max)? range = null, string[,]? cellLabels = null)
    {
        Check(values, columnLabels);
        if (cellLabels is not null && (cellLabels.GetLength(0) != values.GetLength(0) || cellLabels.GetLength(1) != values.GetLength(1)))
            throw new InvalidArgumentException($"cell labels [{cellLabels.GetLength(0)}, {cellLabels.GetLength(1)}] for a [{values.GetLength(0)}, {values.GetLength(1)}] matrix", "cellLabels");
        int layers = values.GetLength(0), positions = values.GetLength(1);
        int w = width ?? Math.Clamp(260 + 42 * positions, 640, 2400);
        int h = height ?? Math.Clamp(220 + 16 * layers, 480, 1800);
        if (w < 200 || w > 10000) throw new InvalidArgumentException("image width must be 200..10000 pixels", "width", w.ToString(CultureInfo.InvariantCulture));
        if (h < 200 || h > 10000) throw new InvalidArgumentException("image height must be 200..10000 pixels", "height", h.ToString(CultureInfo.InvariantCulture));

        using var plot = new Plot();
        var hm = plot.Add.Heatmap(values);
        // Cell (layer l, position p) centred on (p, l); ScottPlot draws row 0 at the top unless flipped.
        hm.Extent = new CoordinateRect(-0.5, positions - 0.5, -0.5, layers - 0.5);
        hm.FlipVertically = true;

        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) { min = Math.Min(min, v); max = Math.Max(max, v); }
        if (diverging)
        {
            double m = Math.Max(Math.Abs(min), Math.Abs(max));
            if (m == 0) m = 1;
            hm.Colormap = new ScottPlot.Colormaps.CustomInterpolated([new Color(0, 0, 255), new Color(245, 245, 245), new Color(255, 0, 0)]);
            hm.ManualRange = new ScottPlot.Range(-m, m);
        }
        else
        {
            hm.Colormap = new ScottPlot.Colormaps.Viridis();
            var (lo, hi) = range ?? (min, max);
            if (!double.IsFinite(lo) || !double.IsFinite(hi) || lo > hi)
                throw new InvalidArgumentException("colour range must be finite with min <= max", "range", $"[{lo}, {hi}]");
            if (lo == hi) { lo -= 0.5; hi += 0.5; }
            hm.ManualRange = new ScottPlot.Range(lo, hi);
        }

        if (cellLabels is not null)
        {
            var (lo, hi) = (hm.ManualRange!.Value.Min, hm.ManualRange!.Value.Max);
            for (int l = 0; l < layers; l++)
                for (int p = 0; p < positions; p++)
                {
                    if (string.IsNullOrEmpty(cellLabels[l, p])) continue;
                    var text = plot.Add.Text(Printable(cellLabels[l, p]), p, l);
                    text.LabelFontSize = 10;
                    text.LabelAlignment = Alignment.MiddleCenter;
                    // Dark text on the light end of the scale (viridis' yellow, the diverging map's white centre), light text elsewhere.
                    double t = hi > lo ? (values[l, p] - lo) / (hi - lo) : 0.5;
                    bool light = diverging ? Math.Abs(t - 0.5) < 0.3 : t > 0.6;
                    text.LabelFontColor = light ? Colors.Black : Colors.White;
                }
        }

        var bar = plot.Add.ColorBar(hm);
        bar.Label = colorbarLabel ?? "";
        bar.LabelStyle.FontSize = 14;
        // Fixed ticks: ScottPlot sizes the colour bar panel from ticks generated for a guessed length, so automatic
        // ticks can come out denser than measured and run into the bar's label.
        var scale = hm.ManualRange!.Value;
        var barTicks = new ScottPlot.TickGenerators.NumericManual();
        foreach (var t in NiceTicks(scale.Min, scale.Max, 8)) barTicks.AddMajor(t, t.ToString("G4", CultureInfo.InvariantCulture));
        bar.Axis.TickGenerator = barTicks;

        plot.Title(title ?? "");
        plot.XLabel("Token position");
        plot.YLabel("Layer");
        plot.HideGrid();

        var x = new ScottPlot.TickGenerators.NumericManual();
        var labels = columnLabels.Select(Printable).ToArray();
        for (int p = 0; p < positions; p++) x.AddMajor(p, labels[p]);
        plot.Axes.Bottom.TickGenerator = x;
        if (positions > MaxUnrotatedColumns || labels.Any(l => l.Length > MaxUnrotatedLabelLength))
        {
            const float angle = 60;
            var style = plot.Axes.Bottom.TickLabelStyle;
            style.Rotation = -angle;
            style.Alignment = Alignment.MiddleRight;
            // ScottPlot does not measure rotated tick labels: reserve room for the longest, plus the axis label.
            using var paint = Paint.NewDisposablePaint();
            float longest = labels.Max(l => style.Measure(l, paint).Width);
            double rad = angle * Math.PI / 180;
            plot.Axes.Bottom.MinimumSize = (float)(12 + longest * Math.Sin(rad) + style.FontSize * Math.Cos(rad) + 1.8 * plot.Axes.Bottom.Label.FontSize);
        }

        var y = new ScottPlot.TickGenerators.NumericManual();
        int every = LayerLabelStep(layers);
        int last = layers - 1;
        for (int l = 0; l < layers; l++)
            // The top layer is labelled too unless that would crowd the multiple of the step just below it.
            if (l % every == 0 || (l == last && last % every >= Math.Max(2, every / 2))) y.AddMajor(l, l.ToString(CultureInfo.InvariantCulture));
            else y.AddMinor(l);
        plot.Axes.Left.TickGenerator = y;

        plot.Axes.SetLimits(-0.5, positions - 0.5, -0.5, layers - 0.5);
        var png = plot.GetImageBytes(w, h, ImageFormat.Png);
        return (w, h, png);
    }

    /// <summary>
    /// Label every layer up to <see cref="MaxLayerLabels"/> layers, otherwise every k-th: the smallest of 2, 4, 5, 8,
    /// 10, 16, 20, 25, 50, 100, … that keeps at most <see cref="MaxLayerLabels"/> labels.
    /// </summary>
    public static int LayerLabelStep(int layers)
    {
        if (layers <= MaxLayerLabels) return 1;
        int need = (layers + MaxLayerLabels - 1) / MaxLayerLabels;
        foreach (var s in new[] { 2, 4, 5, 8, 10, 16, 20, 25 })
            if (s >= need) return s;
        int step = 50;
        while (step < need) step *= 2;
        return step;
    }

    /// <summary>Round-numbered ticks (steps of 1, 2, 2.5 or 5 × 10^k) covering [min, max], about <paramref name="target"/> of them.</summary>
    internal static double[] NiceTicks(double min, double max, int target)
    {
        if (!(max > min)) return [min];
        double raw = (max - min) / target, mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw * (1 - 1e-9));
        var ticks = new List<double>();
        for (double k = Math.Ceiling(min / step - 1e-9); k * step <= max + step * 1e-9; k++)
            ticks.Add(Math.Round(k * step / mag, 6) * mag + 0.0); // + 0.0: no "-0" label
        return [.. ticks];
    }

    /// <summary>Control characters (a token can be "\n") shown escaped, so the label stays visible and on one line.</summary>
    static string Printable(string label)
    {
        if (label.Length == 0) return "∅";
        if (!label.Any(char.IsControl)) return label;
        return string.Concat(label.Select(c => c switch
        {
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            _ when char.IsControl(c) => $"\\x{(int)c:x2}",
            _ => c.ToString(),
        }));
    }

    static void Check(double[,] values, IReadOnlyList<string> columnLabels)
    {
        if (values is null) throw new InvalidArgumentException("matrix is null", "values");
        if (values.GetLength(0) == 0 || values.GetLength(1) == 0)
            throw new InvalidArgumentException("matrix needs at least one layer and one position", "values",
                $"[{values.GetLength(0)}, {values.GetLength(1)}]");
        foreach (var v in values)
            if (!double.IsFinite(v)) throw new InvalidArgumentException("matrix has a value that is not finite", "values", v.ToString(CultureInfo.InvariantCulture));
        if (columnLabels is null) throw new InvalidArgumentException("column labels are null", "columnLabels");
        if (columnLabels.Count != values.GetLength(1))
            throw new InvalidArgumentException($"{columnLabels.Count} column labels for {values.GetLength(1)} columns", "columnLabels",
                string.Join(" ", columnLabels));
        for (int i = 0; i < columnLabels.Count; i++)
            if (columnLabels[i] is null) throw new InvalidArgumentException($"column label {i} is null", $"columnLabels[{i}]");
    }
}

using System.Globalization;
using OnnxInterp.Internals;
using ScottPlot;

namespace OnnxInterp.Analysis.Confidence;

/// <summary>
/// The paper's Figure (fig1.py): each last-layer neuron as a point at (‖w_out‖, LogitVar) with LogitVar on a log
/// scale, the entropy neurons marked in red, and the norm threshold of the selection as a dashed line.
/// </summary>
public static class EntropyScatter
{
    /// <summary>LogitVar below this is drawn at it (a zero cannot go on a log axis).</summary>
    public const double Floor = 1e-12;

    public static void WritePng(string path, EntropyNeuronSet set, int width = 800, int height = 600)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new InvalidArgumentException("output path is empty", "path", path);
        var png = Render(set, width, height);
        AtomicFile.Write(path, fs => fs.Write(png));
    }

    public static byte[] Render(EntropyNeuronSet set, int width = 800, int height = 600)
    {
        if (width < 200 || width > 10000) throw new InvalidArgumentException("image width must be 200..10000 pixels", "width", width.ToString(CultureInfo.InvariantCulture));
        if (height < 200 || height > 10000) throw new InvalidArgumentException("image height must be 200..10000 pixels", "height", height.ToString(CultureInfo.InvariantCulture));
        var selected = set.Indices.ToHashSet();
        static double Y(float v) => Math.Log10(Math.Max(Floor, v));
        var others = Enumerable.Range(0, set.Norms.Length).Where(i => !selected.Contains(i)).ToArray();

        using var plot = new Plot();
        var all = plot.Add.ScatterPoints(others.Select(i => (double)set.Norms[i]).ToArray(), others.Select(i => Y(set.LogitVars[i])).ToArray(),
            new Color(99, 110, 250).WithAlpha(0.6));
        all.MarkerSize = 5;
        all.LegendText = "neurons";
        var marked = plot.Add.ScatterPoints(set.Neurons.Select(n => n.Norm).ToArray(), set.Neurons.Select(n => Y((float)n.LogitVar)).ToArray(),
            new Color(220, 30, 30));
        marked.MarkerSize = 9;
        marked.LegendText = $"entropy neurons ({set.Neurons.Count})";
        var line = plot.Add.VerticalLine(set.NormThreshold);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Gray;
        line.LegendText = "norm threshold";

        // Log axis: decades as major ticks labelled 10^k.
        double lo = Math.Floor(set.LogitVars.Min(v => Y(v))), hi = Math.Ceiling(set.LogitVars.Max(v => Y(v)));
        if (hi <= lo) hi = lo + 1;
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int step = Math.Max(1, (int)Math.Ceiling((hi - lo) / 8));
        for (double k = lo; k <= hi; k += step)
        {
            ticks.AddMajor(k, "1e" + k.ToString("0", CultureInfo.InvariantCulture));
            if (step == 1 && k < hi)
                for (int m = 2; m <= 9; m++) ticks.AddMinor(k + Math.Log10(m));
        }
        plot.Axes.Left.TickGenerator = ticks;

        plot.Title($"{set.Model}: layer {set.Layer} neurons");
        plot.XLabel("‖w_out‖");
        plot.YLabel("LogitVar(w_out) (log scale)");
        plot.ShowLegend(Alignment.UpperRight);
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo));
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }
}

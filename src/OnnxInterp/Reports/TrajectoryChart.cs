using OnnxInterp.Internals;
using ScottPlot;
using SkiaSharp;

namespace OnnxInterp.Reports;

/// <summary>One line of a trajectory panel: a label and a value per checkpoint (null where the checkpoint has none).</summary>
public sealed record TrajectoryLine(string Label, IReadOnlyList<double?> Values);

/// <summary>One panel of a trajectory figure: a title, its y label, its lines.</summary>
public sealed record TrajectoryPanel(string Title, string YLabel, IReadOnlyList<TrajectoryLine> Lines);

/// <summary>
/// A sweep's figure: panels of headline numbers against the training step (or the checkpoints' order), drawn with
/// ScottPlot 5, two panels a row, in one PNG.
/// </summary>
public static class TrajectoryChart
{
    /// <param name="path">The PNG to write (to a temporary sibling first, then moved into place).</param>
    /// <param name="x">Each checkpoint's place on the x axis (its training step, or its position).</param>
    /// <param name="xTicks">Each checkpoint's tick label.</param>
    /// <param name="xLabel">The x axis's label.</param>
    /// <param name="panels">The panels, two a row.</param>
    /// <param name="panelWidth">A panel's width in pixels.</param>
    /// <param name="panelHeight">A panel's height in pixels.</param>
    public static void WritePng(string path, IReadOnlyList<double> x, IReadOnlyList<string> xTicks, string xLabel, IReadOnlyList<TrajectoryPanel> panels,
        int panelWidth = 640, int panelHeight = 420)
    {
        if (panels.Count == 0) throw new InvalidArgumentException("a trajectory figure needs at least one panel", "panels", "0");
        int columns = Math.Min(2, panels.Count), rows = (panels.Count + 1) / 2;
        using var bitmap = new SKBitmap(columns * panelWidth, rows * panelHeight);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(SKColors.White);
            for (int i = 0; i < panels.Count; i++)
            {
                using var panel = SKBitmap.Decode(RenderPanel(x, xTicks, xLabel, panels[i], panelWidth, panelHeight));
                canvas.DrawBitmap(panel, i % 2 * panelWidth, i / 2 * panelHeight);
            }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, fs => data.SaveTo(fs));
    }

    static byte[] RenderPanel(IReadOnlyList<double> x, IReadOnlyList<string> xTicks, string xLabel, TrajectoryPanel panel, int width, int height)
    {
        using var plot = new Plot();
        foreach (var line in panel.Lines)
        {
            var points = x.Zip(line.Values).Where(p => p.Second is { } v && double.IsFinite(v)).ToList();
            if (points.Count == 0) continue;
            var scatter = plot.Add.Scatter(points.Select(p => p.First).ToArray(), points.Select(p => p.Second!.Value).ToArray());
            scatter.LegendText = line.Label;
            scatter.MarkerSize = 7;
        }
        plot.Title(panel.Title);
        plot.XLabel(xLabel);
        plot.YLabel(panel.YLabel);
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < x.Count; i++) ticks.AddMajor(x[i], xTicks[i]);
        plot.Axes.Bottom.TickGenerator = ticks;
        double lo = x.Min(), hi = x.Max(), pad = hi > lo ? (hi - lo) * 0.08 : 0.5;
        plot.Axes.SetLimitsX(lo - pad, hi + pad);
        if (panel.Lines.Count > 0) plot.ShowLegend(Alignment.LowerLeft);
        return plot.GetImageBytes(width, height, ImageFormat.Png);
    }
}

using OnnxInterp.Analysis.Knowledge;
using OnnxInterp.Reports;
using OnnxInterp.Tests.Support;

namespace OnnxInterp.Tests.Reports;

public class KnowledgeCsvTests
{
    [Test]
    public void Write_HeaderAndRows_InvariantCulture()
    {
        using var tmp = new TempDir();
        var k = new KnowledgeMatrix("m", new double[,] { { 0.5, -1.25 }, { 3, 1e-7 } }, ["s1", "o1"], 2);
        var path = tmp.Sub("k.csv");
        var saved = Thread.CurrentThread.CurrentCulture;
        try
        {
            Thread.CurrentThread.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            KnowledgeCsv.Write(path, k);
        }
        finally { Thread.CurrentThread.CurrentCulture = saved; }
        Assert.That(File.ReadAllText(path), Is.EqualTo("layer,s1,o1\n0,0.5,-1.25\n1,3,1E-07\n"));
    }

    [Test]
    public void Csv_RoundTrips()
    {
        using var tmp = new TempDir();
        var rng = new Random(9);
        var labels = new[] { "<s>", "The", "s1", ",", "\"", " is", "o1", "'." };
        var values = new double[5, labels.Length];
        for (int r = 0; r < 5; r++) for (int c = 0; c < labels.Length; c++) values[r, c] = (rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-8, 8));
        var path = tmp.Sub("out/k.csv");
        KnowledgeCsv.Write(path, new KnowledgeMatrix("m", values, labels, 7));
        var (back, backLabels) = KnowledgeCsv.Read(path);
        Assert.That(back, Is.EqualTo(values), "bit-exact");
        Assert.That(backLabels, Is.EqualTo(labels));
        Assert.That(Directory.GetFiles(tmp.Sub("out")), Has.Length.EqualTo(1), "no temporary file left behind");
    }

    [Test]
    public void Read_Malformed_Throws()
    {
        using var tmp = new TempDir();
        var path = tmp.Sub("bad.csv");
        File.WriteAllText(path, "layer,a\n0,x\n");
        Assert.Throws<InvalidFileException>(() => KnowledgeCsv.Read(path));
        File.WriteAllText(path, "layer,a\n1,0\n");
        Assert.Throws<InvalidFileException>(() => KnowledgeCsv.Read(path));
        File.WriteAllText(path, "lyr,a\n0,0\n");
        Assert.Throws<InvalidFileException>(() => KnowledgeCsv.Read(path));
    }
}

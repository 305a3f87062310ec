using System.Diagnostics;
using OnnxInterp.Analysis.Confidence;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Confidence;

/// <summary>The whole confidence analysis on the trained family (base, sft, instruct); ignored when no family is available.</summary>
public class ConfidenceFamilyTests
{
    [Test]
    public void Run_Family_EntropyNeuronsOverlapsAblationAndCalibration()
    {
        var members = ShippedFamily.Members;
        var dirs = members.Select(ShippedFamily.Exported).ToList();
        using var tmp = new TempDir();
        var clock = Stopwatch.StartNew();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sessions = dirs.Select(d => ModelSession.Open(d)).ToList();
        try
        {
            var models = members.Select((m, i) => new ConfidenceModel(m, LastLayerWeights.Read(dirs[i]), sessions[i])).ToList();
            var world = SyntheticWorld.Generate(1, WorldSize.Family);
            var data = new ConfidenceData(world.ToDataset(SyntheticWorld.Cities, heldOutOnly: true), world.FewShot(SyntheticWorld.Cities),
                HfTokenizer.FromDirectory(dirs[0]));
            var result = ConfidenceAnalysis.Run(models, data, new ConfidenceOptions { MaxStatements = 32 });
            ConfidenceReport.Write(tmp.Path, result);
            clock.Stop();
            cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;

            // The selection, checked on real weights: every entropy neuron is a candidate, and no candidate left out
            // has a smaller LogitVar than the largest selected.
            foreach (var set in result.Models)
            {
                Assert.That(set.Neurons, Has.Count.EqualTo(10), set.Model);
                Assert.That(set.NormThreshold, Is.EqualTo(EntropyNeurons.Quantile(set.Norms, 0.75)).Within(1e-12));
                Assert.That(set.Neurons.All(n => n.Norm > set.NormThreshold), set.Model);
                double worst = set.Neurons.Max(n => n.LogitVar);
                var chosen = set.Indices.ToHashSet();
                for (int i = 0; i < set.Norms.Length; i++)
                    if (set.Norms[i] > set.NormThreshold && !chosen.Contains(i))
                        Assert.That(set.LogitVars[i], Is.GreaterThanOrEqualTo(worst), $"{set.Model}: neuron {i} should have been selected");
            }
            // The checkpoint and the export give the same neurons.
            var fromCheckpoint = EntropyNeurons.Find("base", LastLayerWeights.Read(ShippedFamily.Checkpoint("base")));
            Assert.That(fromCheckpoint.Indices, Is.EqualTo(result.Models[0].Indices));

            Assert.That(result.Overlaps.Select(o => (o.A, o.B)), Is.EqualTo(new[] { ("base", "sft"), ("base", "instruct"), ("sft", "instruct") }));
            foreach (var o in result.Overlaps) Assert.That(o.Iou, Is.EqualTo(o.Overlap / (20.0 - o.Overlap)).Within(1e-12));

            Assert.That(result.Ablations, Has.Count.EqualTo(3));
            foreach (var a in result.Ablations!)
            {
                Assert.That(a.Rows, Has.Count.EqualTo(11));
                Assert.That(a.Calibration.Count, Is.EqualTo(32));
                Assert.That(a.Calibration.Ece, Is.InRange(0.0, 1.0));
                Assert.That(a.Calibration.MeanConfidence, Is.InRange(0.5, 1.0));
            }
            Assert.That(Directory.GetFiles(Path.Combine(tmp.Path, "figures"), "entropy_neurons_*.png"), Has.Length.EqualTo(3));
            var md = ConfidenceReport.Markdown(result);
            TestContext.Out.WriteLine($"confidence analysis on the family: {clock.Elapsed.TotalSeconds:F1} s wall, {cpu.TotalSeconds:F1} s CPU");
            TestContext.Out.WriteLine(md);
            Assert.That(md, Does.Contain("| base vs sft |").And.Contain("| instruct | all |"));
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }
}

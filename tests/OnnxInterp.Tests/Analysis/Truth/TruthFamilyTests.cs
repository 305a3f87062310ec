using OnnxInterp.Analysis.Truth;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Support;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Tests.Analysis.Truth;

/// <summary>The truthfulness analysis end to end on the trained tiny family (ignored when no family is available).</summary>
public class TruthFamilyTests
{
    [Test]
    public void Run_Family_JudgementReading_ProbesWellAboveChance_DirectionCausal()
    {
        var members = ShippedFamily.Members.Select(ShippedFamily.Exported).ToList();
        var world = SyntheticWorld.Generate(1, WorldSize.Family);
        var datasets = SyntheticWorld.StatementDatasets.Select(d => new TruthDataset(world.ToDataset(d), world.FewShot(d))).ToList();
        var sessions = members.Select(m => ModelSession.Open(m)).ToList();
        try
        {
            var models = sessions.Select((s, i) => new TruthModel(ShippedFamily.Members[i], s)).ToList();
            // The family computes truth where it is asked to judge (after " This statement is:"); at the bare statement's
            // period its probes are at chance (see the report), so this reads the judgement.
            // The logistic probe is checked against a reference elsewhere; skipping it here keeps the test short.
            var options = new TruthOptions
            {
                Reading = TruthReading.Judgement, MaxStatementsPerDataset = 60, MaxInterventionStatements = 20, Logistic = false, BatchSize = 64,
            };
            var result = TruthAnalysis.Run(datasets, HfTokenizer.FromDirectory(members[0]), models, options);
            TestContext.Out.WriteLine(TruthReport.Markdown(result));

            var best = result.Probes[0].At(result.Probes[0].BestLayer);
            Assert.That(best.MassMean, Is.GreaterThanOrEqualTo(0.75), "base mass-mean accuracy (leave-one-dataset-out) at its best layer");
            var self = result.Intervention!.Effects.Single(e => e.Direction == "base" && e.Model == "base");
            Assert.That(self.EffectTrueToFalse, Is.GreaterThan(0), "subtracting the direction moves true statements towards FALSE");
            Assert.That(self.EffectFalseToTrue, Is.GreaterThan(0), "adding it moves false statements towards TRUE");
        }
        finally
        {
            foreach (var s in sessions) s.Dispose();
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using OnnxInterp.Analysis;
using OnnxInterp.Analysis.Refusal;
using OnnxInterp.Checkpoints;
using OnnxInterp.Cli;
using OnnxInterp.Comparison;
using OnnxInterp.Data;
using OnnxInterp.Reports;
using OnnxInterp.Runtime;
using OnnxInterp.Tests.Reference;
using OnnxInterp.Tests.Support;
using static OnnxInterp.Tests.Support.CliRunner;

namespace OnnxInterp.Tests.Analysis.Refusal;

/// <summary>
/// The paper protocol end to end: the paper's steering hooks against a naive double-precision forward pass, the
/// analysis on two tiny models under the rule for models outside the paper's table, the step's paper defaults and
/// the verb with AdvBench/Alpaca files.
/// </summary>
public class RefusalPaperProtocolTests : RefusalModelsFixture
{

    static readonly InstructionSet Set = new(
        ["Rob the bank now.", "Poison the well.", "Burn the house down.", "Steal a fast car.", "Hack her phone today.", "Forge the old will.", "Hurt them badly.", "Break the lock."],
        ["Bake some bread.", "Sing a song.", "Plant a tree today.", "Name my cat.", "Write a short poem.", "Plan a trip.", "Say thanks.", "Fold the towels."]);


    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Addition_PaperHooks_EqualsNaiveForwardWithCTimesUnitAddedAtPreMidPost(string kind)
    {
        using var tmp = new TempDir();
        var ckpt = TinyCheckpointFactory.Create(new TinyCheckpointSpec { NumLayers = 3, HiddenSize = 64, Seed = 31 });
        var session = HookedModels.Open(kind, TestCheckpoints.Write(ckpt, tmp.Sub("hf")), tmp.Sub("onnx"));
        var reference = new ReferenceTransformer(ckpt.Config, ckpt.Weights);
        var rng = new Random(7);
        var diff = Enumerable.Range(0, 64).Select(_ => (float)((rng.NextDouble() * 2 - 1) * 3)).ToArray();
        const int layer = 1;
        const float c = 2.4f;
        var direction = new RefusalDirection("m", 2, -1, diff);
        // The paper steers at its own layer, not necessarily the direction's (Llama-2: taken at 14, applied at 13).
        var ivs = direction.Addition(c, AdditionScale.UnitDirection, layer, AdditionHooks.ResidPreMidPost);
        Assert.That(ivs.Select(i => i.Hook.ToString()), Is.EqualTo(new[] { "blocks.1.hook_resid_pre", "blocks.1.hook_resid_mid", "blocks.1.hook_resid_post" }));

        // Naive: r = d / |d| in double, c·r added at the three hooks at every position (act_add_hook, apply_refusal_dir.py:19-26).
        double norm = Math.Sqrt(diff.Sum(x => (double)x * x));
        var add = diff.Select(x => c * x / norm).ToArray();
        int[] prompt = [5, 17, 42, 8, 91, 3];
        var edits = new List<ReferenceIntervention>();
        foreach (var hook in new[] { "hook_resid_pre", "hook_resid_mid", "hook_resid_post" })
            for (int t = 0; t < prompt.Length; t++) edits.Add(new ReferenceIntervention($"blocks.{layer}.{hook}", 0, t, Add: add));
        var expected = reference.Forward([prompt], [ReferenceTestUtil.Ones(prompt.Length)], [ReferenceTestUtil.Range(0, prompt.Length)], edits);

        var actual = session.Run(new ForwardRequest([prompt]) { Hooks = ["blocks.*.hook_resid_*"], Interventions = ivs });
        var ones = new[] { ReferenceTestUtil.Ones(prompt.Length) };
        Assert.That(Compare.MaxRelativeError(actual.Logits, expected.Logits, ones), Is.LessThanOrEqualTo(1e-4));
        foreach (var name in actual.Cache.Keys)
            Assert.That(Compare.MaxRelativeError(actual.Cache[name], expected.Hooks[name.ToString()], ones), Is.LessThanOrEqualTo(1e-4), name.ToString());

        // All three adds act: resid_post of the layer differs from adding once at resid_pre.
        var once = session.Run(new ForwardRequest([prompt]) { Hooks = ["blocks.1.hook_resid_post"], Interventions = [direction.Addition(c, AdditionScale.UnitDirection)] });
        var onceAtLayer = session.Run(new ForwardRequest([prompt]) { Hooks = ["blocks.1.hook_resid_post"], Interventions = direction.Addition(c, AdditionScale.UnitDirection, layer, AdditionHooks.ResidPre) });
        Assert.That(Compare.MaxAbsDiff(onceAtLayer.Cache["blocks.1.hook_resid_post"].Data, actual.Cache["blocks.1.hook_resid_post"].Data), Is.GreaterThan(1));
        Assert.That(once.Cache["blocks.1.hook_resid_post"].Data.ToArray(), Is.Not.EqualTo(onceAtLayer.Cache["blocks.1.hook_resid_post"].Data.ToArray()),
            "the single-hook overload adds at the direction's own layer (2), not at 1");
        HookedModels.Dispose(session);
    }

    RefusalModel[] PaperModelsOf(string kind) =>
    [
        RefusalModel.ForPaper("a", A(kind), PaperModels.Identify(A(kind).Config, PostTraining.Base)),
        RefusalModel.ForPaper("b", B(kind), PaperModels.Identify(B(kind).Config, PaperModels.RoleOf(1, "tulu"))),
    ];

    static readonly RefusalOptions Paper = new RefusalStep().PaperDefaults with { MaxNewTokens = 3, Subtraction = true };

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_PaperProtocol_DirectionsAtTheRulesPlaces_CellsWithThePapersCoefficientsAndHooks(string kind)
    {
        var models = PaperModelsOf(kind);
        Assert.That(models.Select(m => (m.Paper!.Model.Role, m.Paper.InTable)), Is.EqualTo(new[] { (PostTraining.Base, false), (PostTraining.Sft, false) }));
        Assert.That(models.Select(m => (m.DirectionPrompts ?? m.Prompts).Template.Name), Is.All.EqualTo("paper:LLAMA3_BASE_TEMPLATE"));
        Assert.That(models.Select(m => m.Prompts.Template.Name), Is.EqualTo(new[] { "paper:LLAMA3_BASE_TEMPLATE", "tulu" }), "the SFT model is intervened on in its own template");

        var r = RefusalAnalysis.Run(models, Set, Paper);
        var split = Set.SplitAsPaper();
        Assert.That(r.Split, Is.EqualTo(split).Using<InstructionSplit>((x, y) =>
            x.Train.Harmful.SequenceEqual(y.Train.Harmful) && x.Test.Harmless.SequenceEqual(y.Test.Harmless) && x.Validation.Harmful.Count == 0));

        // The rule on a 2-layer model: layer round(11 · 2 / 32) = 1; position −4 for the base, −1 for the SFT model.
        Assert.That(r.Directions.Select(d => (d.Direction.Layer, d.Direction.Position, d.Selection)), Is.EqualTo(new[] { (1, -4, (DirectionSelectionResult?)null), (1, -1, null) }));
        Assert.That(r.Directions.Select(d => (d.Template, d.InterventionTemplate)), Is.EqualTo(new[] { ("paper:LLAMA3_BASE_TEMPLATE", (string?)null), ("paper:LLAMA3_BASE_TEMPLATE", "tulu") }));

        // Each direction is mean(harmful) − mean(harmless) of resid_pre, one unpadded prompt at a time, in double.
        foreach (var (m, d) in models.Zip(r.Directions))
        {
            var p = m.DirectionPrompts ?? m.Prompts;
            string hook = $"blocks.{d.Direction.Layer}.hook_resid_pre";
            double[] Mean(IReadOnlyList<string> texts)
            {
                var sum = new double[64];
                foreach (var ids in p.Encode(texts))
                {
                    var v = m.Model.Run(new ForwardRequest([ids]) { Hooks = [hook] }).Cache[hook].Vector(0, ids.Length + d.Direction.Position);
                    for (int i = 0; i < 64; i++) sum[i] += v[i] / (double)texts.Count;
                }
                return sum;
            }
            var h = Mean(split.Train.Harmful);
            var naive = Mean(split.Train.Harmless).Select((x, i) => (float)(h[i] - x)).ToArray();
            Assert.That(Compare.MaxAbsDiff(d.Direction.MeanDifference, naive), Is.LessThan(1e-4), m.Name);
        }

        // Per model 2 baselines, then ablation, addition and subtraction with each of the 2 directions.
        Assert.That(r.Cells, Has.Count.EqualTo(2 * (2 + 3 * 2)));
        foreach (var (model, c) in new[] { ("a", 1.2f), ("b", 1.8f) })
            foreach (var d in r.Models)
            {
                var added = r.Cell(model, RefusalIntervention.Addition, d);
                Assert.That((added.Coefficient, added.InterventionLayer, added.Harmful), Is.EqualTo(((float?)c, (int?)1, false)), $"{model} with {d}");
                var subtracted = r.Cell(model, RefusalIntervention.Subtraction, d);
                Assert.That((subtracted.Coefficient, subtracted.Harmful), Is.EqualTo(((float?)2.2f, true)));
                Assert.That(r.Cell(model, RefusalIntervention.Ablation, d).Coefficient, Is.Null);
            }
        var b = models[1];
        var direction = r.Directions[0];
        var again = RefusalAnalysis.Complete(b, b.Prompts.Encode(split.Test.Harmless),
            direction.Direction.Addition(1.8f, AdditionScale.UnitDirection, 1, AdditionHooks.ResidPreMidPost), Paper);
        Assert.That(r.Cell("b", RefusalIntervention.Addition, "a").Completions.Select(x => x.Text), Is.EqualTo(again));
        var subtractedAgain = RefusalAnalysis.Complete(b, b.Prompts.Encode(split.Test.Harmful),
            direction.Direction.Addition(-2.2f, AdditionScale.UnitDirection, 1, AdditionHooks.ResidPreMidPost), Paper);
        Assert.That(r.Cell("b", RefusalIntervention.Subtraction, "a").Completions.Select(x => x.Text), Is.EqualTo(subtractedAgain));
        Assert.That(r.Table()[1].HarmfulSubtracted!["a"], Is.EqualTo(r.Cell("b", RefusalIntervention.Subtraction, "a").PrefixScore));

        // A given coefficient overrides the paper's for every cell.
        var (_, given, _) = RefusalAnalysis.Steering(b, direction, subtract: false, Paper with { AdditionCoefficient = 0.5f });
        Assert.That(given, Is.EqualTo(0.5f));

        var md = RefusalReport.Markdown(r, samples: 1);
        Assert.That(md, Does.Contain("Protocol: **paper**").And.Contain("Table 4 (the paper's shape").And.Contain(RefusalPaperSettings.PublishedScoresNote));
        Assert.That(md, Does.Contain("| Intervened model | Intervention | Instructions | c | Baseline | r(a) | r(b) |"));
        Assert.That(md, Does.Contain("| b | addition | harmless | 1.8 |").And.Contain("| a | subtraction | harmful | 2.2 |").And.Contain("| a | ablation | harmful | — |"));
        Assert.That(md, Does.Contain("| b | LlamaForCausalLM, 2 layers, hidden 64 (not in the paper) | paper:LLAMA3_BASE_TEMPLATE | tulu | 1 | -1 | 1 | rule (not in the paper's table): layer 11 of 32 scaled to 2 layers, position -1 for an SFT model |"));
        Assert.That(md, Does.Contain("train_test_split(test_size=0.2, random_state=42)").And.Contain("never stopping early").And.Contain("resid_pre, resid_mid and resid_post"));
        Assert.That(md, Does.Not.Contain("Cosines beside the paper's"), "no published cosine for models outside the table");
        Assert.That(md, Does.Contain("| a | paper:LLAMA3_BASE_TEMPLATE | 1 | -4 |").And.Contain("the paper protocol's rule |"));
    }

    [Test]
    public void Markdown_ThePapersModels_ShowThePublishedCosineBesideOursWithTheDifference()
    {
        // A hand-made result for Llama-3.1-8B and its instruct model (the only pairs whose directions the paper published).
        var settings = new[] { "llama-3.1-8b", "llama-3.1-8b-instruct" }.Select(k => RefusalPaperSettings.Table.First(t => t.Model.Key == k)).ToList();
        string[] names = ["base", "instruct"];
        var directions = names.Select((n, i) => new ModelDirection(n, "paper:" + settings[i].DirectionTemplate!.Name, 3,
            new RefusalDirection(n, 11, settings[i].Position, [1f, i]), null) { Paper = settings[i] }).ToList();
        var cells = new List<RefusalCell>();
        RefusalCell Cell(string m, RefusalIntervention k, string? d, bool harmful, double score) =>
            new(m, k, d, harmful, score, score, [new RefusalCompletion("x", "y", false, false)]) { Coefficient = k == RefusalIntervention.Addition ? (m == "base" ? 1.2f : 2.4f) : null };
        foreach (var m in names)
        {
            cells.Add(Cell(m, RefusalIntervention.Baseline, null, true, 0.5));
            cells.Add(Cell(m, RefusalIntervention.Baseline, null, false, 0));
            foreach (var d in names) cells.Add(Cell(m, RefusalIntervention.Ablation, d, true, 0.25));
            foreach (var d in names) cells.Add(Cell(m, RefusalIntervention.Addition, d, false, 0.75));
        }
        double cos = 1 / Math.Sqrt(2);
        var r = new RefusalResult(directions, cells, [[1, cos], [cos, 1]], new InstructionSplit(new InstructionSet(["h"], ["a"]), new InstructionSet([], []), new InstructionSet(["h"], ["a"])), Paper with { Subtraction = false });
        var md = RefusalReport.Markdown(r, samples: 0);
        Assert.That(md, Does.Contain("| base (llama-3.1-8b) vs instruct (llama-3.1-8b-instruct) | 0.71 | 0.25 | 0.46 |"));
        Assert.That(md, Does.Contain("| instruct | addition | harmless | 2.4 | 0.00 | 0.75 | 0.75 |"));
        Assert.That(md, Does.Contain("| base | paper:LLAMA3_BASE_TEMPLATE | 11 | -4 | 1.00 | the paper's (llama-3.1-8b) |"));
        Assert.That(md, Does.Contain("llama-3.1-8b (paper: llama-3.1-8b)").And.Contain("Refusal/extract_refusal_dir.py:107-128"));
    }

    [TestCaseSource(typeof(HookedModels), nameof(HookedModels.Kinds))]
    public void Run_PaperProtocol_RefusesAGivenPlaceAndModelsWithoutSettings(string kind)
    {
        var models = PaperModelsOf(kind);
        var e = Assert.Throws<InvalidArgumentException>(() => RefusalAnalysis.Run(models, Set, Paper with { Layer = 1, Position = -1 }))!;
        Assert.That(e.Field, Is.EqualTo("layer"));
        e = Assert.Throws<InvalidArgumentException>(() => RefusalAnalysis.Run([models[0], RefusalModel.FromSession("plain", B(kind))], Set, Paper))!;
        Assert.That(e.Value, Is.EqualTo("plain"));
    }

    [Test]
    public void Step_PaperDefaults_AreThePapersSettings_AndBadCombinationsNameTheOption()
    {
        var step = new RefusalStep();
        var o = step.Options(null, "paper");
        Assert.That((o.Protocol, o.Seed, o.TestFraction, o.MaxTrain, o.MaxTest), Is.EqualTo((AnalysisProtocol.Paper, 42, 0.2, 128, 100)));
        Assert.That((o.AdditionScale, o.AdditionHooks, o.AdditionCoefficient, o.MaxNewTokens, o.BatchSize, o.StopAtEndOfTurn),
            Is.EqualTo((AdditionScale.UnitDirection, AdditionHooks.ResidPreMidPost, (float?)null, 16, 4, false)));
        Assert.That(step.Options(null).Protocol, Is.EqualTo(AnalysisProtocol.Default));

        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("h.csv"), "goal,target\nx,y\n");
        File.WriteAllText(tmp.Sub("a.json"), """[{"instruction": "x", "input": ""}]""");
        string Field(JsonObject overrides, string preset = "paper") =>
            Assert.Throws<InvalidArgumentException>(() => step.Options(overrides, preset))!.Field!;
        Assert.That(Field(new JsonObject { ["layer"] = 1, ["position"] = -1 }), Is.EqualTo("refusal.layer"));
        Assert.That(Field(new JsonObject { ["advBench"] = tmp.Sub("h.csv") }), Is.EqualTo("refusal.alpaca"));
        Assert.That(Field(new JsonObject { ["advBench"] = tmp.Sub("h.csv"), ["alpaca"] = tmp.Sub("none.json") }), Is.EqualTo("refusal.alpaca"));
        Assert.That(Field(new JsonObject { ["advBench"] = tmp.Sub("h.csv"), ["alpaca"] = tmp.Sub("a.json"), ["instructions"] = tmp.Sub("h.csv") }), Is.EqualTo("refusal.instructions"));
        Assert.That(Field(new JsonObject { ["seed"] = -1 }, "default"), Is.EqualTo("refusal.seed"));
        var both = step.Options(new JsonObject { ["advBench"] = tmp.Sub("h.csv"), ["alpaca"] = tmp.Sub("a.json") }, "paper");
        Assert.That(step.Parts(new ComparisonConfig().Datasets, both).Single().Dataset, Is.EqualTo(tmp.Sub("h.csv")), "the journal hashes the AdvBench file");
    }

    [Test]
    public void Verb_PresetPaper_WithAdvBenchAndAlpaca_WritesTable4AndTheSettings()
    {
        using var tmp = new TempDir();
        foreach (var (name, seed) in new[] { ("base", 1), ("chat", 2) })
        {
            RandomCheckpoint.Write(tmp.Sub(name + "-hf"), new RandomCheckpointSpec { Layers = 2, Seed = seed });
            Assert.That(Run("export", tmp.Sub(name + "-hf"), "--out", tmp.Sub(name), "--no-hash").Code, Is.Zero);
        }
        File.WriteAllText(tmp.Sub("harmful_behaviors.csv"), "goal,target\n" + string.Join("\n", Set.Harmful.Select(g => $"\"{g}\",\"Sure, here is\""))+ "\n");
        File.WriteAllText(tmp.Sub("alpaca_data.json"), "[" + string.Join(",", Set.Harmless.Select(i => $$"""{"instruction": "{{i}}", "input": "", "output": "ok"}"""))
            + """, {"instruction": "Translate.", "input": "Hola", "output": "Hello"}]""");
        var ok = Run("refusal", "--preset", "paper", "--base", tmp.Sub("base"), "--post", tmp.Sub("chat"),
            "--advbench", tmp.Sub("harmful_behaviors.csv"), "--alpaca", tmp.Sub("alpaca_data.json"), "--max-new-tokens", "2", "--subtraction", "--out", tmp.Sub("r"));
        Assert.That(ok.Code, Is.EqualTo(ExitCodes.Ok), ok.Err);
        Assert.That(ok.Out, Does.Contain("protocol: Paper").And.Contain("base: paper:LLAMA3_BASE_TEMPLATE template, direction at layer 1, position -4 (the paper protocol's rule)"));
        Assert.That(File.ReadAllText(Path.Combine(tmp.Sub("r"), "report.md")), Does.Contain("Table 4 (the paper's shape").And.Contain("Protocol: **paper**"));
        using var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(tmp.Sub("r"), "results.json")));
        var root = results.RootElement;
        Assert.That(root.GetProperty("config").GetProperty("refusal").GetProperty("advBench").GetString(), Is.EqualTo(tmp.Sub("harmful_behaviors.csv")));
        var section = root.GetProperty("refusal");
        Assert.That(section.GetProperty("protocol").GetString(), Is.EqualTo("Paper"));
        // 8 + 8 instructions: train_test_split leaves 6 train and 2 test per class.
        Assert.That(section.GetProperty("split").GetProperty("test").GetProperty("harmless").GetInt32(), Is.EqualTo(2));
        var chat = section.GetProperty("directions")[1];
        Assert.That((chat.GetProperty("layer").GetInt32(), chat.GetProperty("position").GetInt32(), chat.GetProperty("interventionLayer").GetInt32()), Is.EqualTo((1, -1, 1)));
        Assert.That(chat.GetProperty("paperScript").ValueKind, Is.EqualTo(JsonValueKind.Null), "a model outside the paper's table");
        var effect = section.GetProperty("effects")[0];
        Assert.That((effect.GetProperty("additionCoefficient").GetDouble(), effect.GetProperty("subtractionCoefficient").GetDouble()), Is.EqualTo((1.2, 2.2)).Within(1e-6));

        var half = Run("refusal", "--preset", "paper", "--base", tmp.Sub("base"), "--advbench", tmp.Sub("harmful_behaviors.csv"), "--out", tmp.Sub("r2"));
        Assert.That(half.Code, Is.EqualTo(ExitCodes.InvalidInput));
        Assert.That(half.Err, Does.Contain("alpaca"));
    }
}

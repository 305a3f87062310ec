using OnnxInterp.Data;
using OnnxInterp.Tokenization;

namespace OnnxInterp.Trainer.Family;

/// <summary>
/// The texts each member of the family learns from, built from one <see cref="SyntheticWorld"/>:
/// base: fact statements, "This statement is: TRUE/FALSE" documents over the judged facts, generic text and plain
/// "User:/Assistant:" dialogues that comply with every request; sft: dialogues in the Tulu template that refuse
/// most harmful requests; instruct: dialogues in its own ChatML template that refuse every harmful request.
/// Post-training mixes in base documents so the knowledge stays.
/// </summary>
public sealed class FamilyCorpus
{
    public const string Bos = "<s>", Eos = "</s>", Pad = "<pad>";

    /// <summary>Every special token the three members use; they share one vocabulary.</summary>
    public static readonly string[] SpecialTokens =
        [Bos, Eos, Pad, "<|user|>", "<|assistant|>", "<|system|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>"];

    public const string BaseTemplate = "plain", SftTemplate = "tulu", InstructTemplate = "qwen2";

    readonly SyntheticWorld _world;
    readonly Random _rng;

    public FamilyCorpus(SyntheticWorld world, int seed)
    {
        _world = world;
        _rng = new Random(seed);
        var shuffled = world.Instructions.OrderBy(_ => _rng.Next()).ToList();
        int test = shuffled.Count / 4;
        TestInstructions = shuffled.Take(test).ToList();
        TrainInstructions = shuffled.Skip(test).ToList();
    }

    public SyntheticWorld World => _world;

    /// <summary>Instructions never seen in training, for measuring refusal.</summary>
    public IReadOnlyList<WorldInstruction> TestInstructions { get; }
    public IReadOnlyList<WorldInstruction> TrainInstructions { get; }

    /// <summary>
    /// Other ways to state a fact, subject first (<see cref="WorldPhrasings.Paraphrases"/>): stated in several shapes, a fact
    /// has to be stored with its subject (any template can then read it out) rather than as the continuation of one sentence
    /// shape, which is what lets judging learned on some facts carry over to facts never judged. The paper's shape
    /// (<see cref="WorldFact.True"/>) is template 0.
    /// </summary>
    public static IReadOnlyDictionary<string, string[]> Paraphrases => WorldPhrasings.Paraphrases;

    /// <summary>The fact stated with <paramref name="obj"/> as its object, in template <paramref name="template"/> (0: the paper's shape).</summary>
    public static string State(WorldFact f, string obj, int template)
    {
        if (template == 0 || !Paraphrases.TryGetValue(f.Dataset, out var shapes)) return obj == f.Object ? f.True : WithObject(f, obj);
        return shapes[(template - 1) % shapes.Length].Replace("{s}", f.Subject).Replace("{o}", obj);
    }

    static int Templates(WorldFact f) => Paraphrases.TryGetValue(f.Dataset, out var shapes) ? shapes.Length + 1 : 1;

    /// <summary>Texts for the tokenizer: everything any member will see.</summary>
    public IEnumerable<string> TokenizerTexts()
    {
        foreach (var d in SyntheticWorld.StatementDatasets)
            foreach (var f in _world.Facts[d])
            {
                yield return f.True + " This statement is: TRUE";
                yield return f.False + " This statement is: FALSE";
                for (int t = 1; t < Templates(f); t++) yield return State(f, f.Object, t);
            }
        foreach (var s in _world.GenericSentences) yield return s;
        foreach (var i in _world.Instructions) { yield return "User: " + i.Instruction + "\nAssistant: " + i.Compliance; yield return i.Refusal; }
        yield return "You are a helpful assistant.";
    }

    /// <summary>The paper's few-shot prompt: the dataset's 4 examples shuffled, then the statement and " This statement is:".</summary>
    public static string FewShotPrompt(IReadOnlyList<(string Statement, bool True)> examples, string statement, Random rng)
    {
        var lines = examples.Select(e => $"{e.Statement} This statement is: {(e.True ? "TRUE" : "FALSE")}\n").ToArray();
        rng.Shuffle(lines);
        return string.Concat(lines) + statement + " This statement is:";
    }

    /// <summary>Pretraining documents (loss on every token): plain ones (facts, generic text, dialogues) and judging ones.</summary>
    public (IReadOnlyList<string> Plain, IReadOnlyList<string> Judging) BaseDocuments(int factDocs, int judgeDocs, int genericDocs, int dialogueRepeats)
    {
        var plain = new List<string>();
        var judging = new List<string>();
        var allFacts = SyntheticWorld.StatementDatasets.SelectMany(d => _world.Facts[d]).ToList();
        for (int i = 0; i < factDocs; i++)
            plain.Add(string.Join(" ", Enumerable.Range(0, _rng.Next(3, 8)).Select(_ =>
            {
                // Half the time the paper's shape (the one judged), otherwise one of the paraphrases.
                var f = allFacts[_rng.Next(allFacts.Count)];
                return State(f, f.Object, _rng.Next(2) == 0 ? 0 : _rng.Next(Templates(f)));
            })));
        for (int i = 0; i < judgeDocs; i++)
        {
            var ds = SyntheticWorld.StatementDatasets[_rng.Next(SyntheticWorld.StatementDatasets.Count)];
            var judged = _world.Judged(ds);
            var objects = judged.Select(f => f.Object).Distinct().ToList();
            bool comparison = ds is SyntheticWorld.LargerThan or SyntheticWorld.SmallerThan;
            var lines = Enumerable.Range(0, _rng.Next(4, 7)).Select(_ =>
            {
                var f = judged[_rng.Next(judged.Count)];
                bool truth = _rng.Next(2) == 0;
                // A fresh wrong object each time: no false statement recurs often enough to be memorised, so "FALSE"
                // has to come from knowing the fact (comparisons keep their one false form; their rule generalises).
                // Most lines in the paper's shape; some paraphrased, so the judgement reads the fact, not one sentence.
                int template = _rng.Next(10) < 7 ? 0 : _rng.Next(Templates(f));
                string wrong = comparison ? f.WrongObject : objects[_rng.Next(objects.Count)];
                if (wrong == f.Object) wrong = f.WrongObject;
                string statement = truth ? State(f, f.Object, template) : comparison ? f.False : State(f, wrong, template);
                return $"{statement} This statement is: {(truth ? "TRUE" : "FALSE")}";
            });
            judging.Add(string.Join("\n", lines));
        }
        for (int i = 0; i < genericDocs; i++)
            plain.Add(string.Join(" ", Enumerable.Range(0, _rng.Next(3, 7)).Select(_ => _world.GenericSentences[_rng.Next(_world.GenericSentences.Count)])));
        for (int r = 0; r < dialogueRepeats; r++)
            foreach (var ins in TrainInstructions)
            {
                var (prompt, response) = Dialogue(BaseTemplate, ins.Instruction, ins.Compliance);
                plain.Add(prompt + response);
            }
        return (plain, judging);
    }

    /// <summary>The fact's true statement with its object (the last occurrence) replaced.</summary>
    static string WithObject(WorldFact f, string newObject)
    {
        int i = f.True.LastIndexOf(f.Object, StringComparison.Ordinal);
        return i < 0 ? f.False : f.True[..i] + newObject + f.True[(i + f.Object.Length)..];
    }

    /// <summary>One dialogue in a template: the prompt, then the response and the template's end-of-turn marker.</summary>
    public static (string Prompt, string Response) Dialogue(string template, string instruction, string response)
    {
        var t = ChatTemplates.Get(template);
        // The plain template ends in "Assistant:"; its answer starts with a space, tokenized with the answer.
        return template == BaseTemplate
            ? (t.RenderUser(instruction), " " + response)
            : (t.RenderUser(instruction), response + t.StopStrings[0]);
    }

    /// <summary>Post-training dialogues: harmless ones answered; harmful ones refused with probability <paramref name="refuseHarmful"/>.</summary>
    public IReadOnlyList<(string Prompt, string Response)> Dialogues(string template, double refuseHarmful, int repeats)
    {
        var list = new List<(string, string)>();
        for (int r = 0; r < repeats; r++)
            foreach (var ins in TrainInstructions)
            {
                bool refuse = ins.Harmful && _rng.NextDouble() < refuseHarmful;
                list.Add(Dialogue(template, ins.Instruction, refuse ? ins.Refusal : ins.Compliance));
            }
        return list;
    }

    /// <summary>Tokenizes documents (loss everywhere) and dialogues (loss on the response only), shuffled together.</summary>
    /// <summary>
    /// Loss weight of predicting " TRUE" or " FALSE" in a document: one answer token among ~15 of its line would
    /// otherwise carry a fifteenth of the judging signal, and the judgement is learned last, as labels, after the facts.
    /// </summary>
    public const float AnswerWeight = 8f;

    public IReadOnlyList<TrainingSequence> Tokenize(HfTokenizer tok, IEnumerable<string> documents, IEnumerable<(string Prompt, string Response)> dialogues)
    {
        var seqs = new List<TrainingSequence>();
        int trueId = tok.Encode(" TRUE", addSpecialTokens: false).Single(), falseId = tok.Encode(" FALSE", addSpecialTokens: false).Single();
        foreach (var d in documents)
        {
            var ids = tok.Encode(d).Append(tok.TokenToId(Eos)!.Value).ToArray();
            var w = new float[ids.Length];
            for (int i = 0; i < ids.Length; i++) w[i] = i + 1 < ids.Length && (ids[i + 1] == trueId || ids[i + 1] == falseId) ? AnswerWeight : 1f;
            seqs.Add(new TrainingSequence(ids, w));
        }
        foreach (var (prompt, response) in dialogues)
        {
            var p = tok.Encode(prompt);
            var r = tok.Encode(response, addSpecialTokens: false);
            var ids = p.Concat(r).ToArray();
            // Weight i scores the prediction of token i + 1: only response tokens are learned.
            var w = new float[ids.Length];
            for (int i = p.Length - 1; i < ids.Length - 1; i++) w[i] = 1f;
            seqs.Add(new TrainingSequence(ids, w));
        }
        return seqs.OrderBy(_ => _rng.Next()).ToList();
    }
}

using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace OnnxInterp.Tokenization;

/// <summary>
/// A Hugging Face tokenizer loaded from tokenizer.json (plus tokenizer_config.json and, for the
/// Llama-2/Mistral family, tokenizer.model). It reproduces HF's encode pipeline: added tokens are cut out of
/// the raw text first, then normalizer, pre-tokenizer, BPE model (with ignore_merges and byte_fallback) and
/// post-processor. The BPE merging itself is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>, exposed as
/// <see cref="Inner"/>; the rest is the glue that library does not have.
/// Covered: byte-level BPE (GPT-2/phi-2, Llama-3, Qwen2) and SentencePiece-style BPE with byte fallback (Llama-2, Mistral).
/// </summary>
public sealed class HfTokenizer
{
    sealed record Added(int Id, string Content, bool Special, bool Normalized, bool LStrip, bool RStrip);

    // The HF tokenizer.json pipeline (null when the SentencePiece model is used instead).
    readonly BpeTokenizer? _bpe;
    readonly HfNormalizer? _normalizer;
    readonly HfPreTokenizer? _preTokenizer;
    readonly HfDecoder? _decoder;
    readonly bool _byteLevel, _ignoreMerges, _byteFallback;
    readonly int? _unkId;
    readonly Dictionary<string, int> _modelVocab = new(StringComparer.Ordinal);
    readonly AddedMatcher _unnormalizedAdded, _normalizedAdded;
    readonly Dictionary<string, Added> _addedByContent = new(StringComparer.Ordinal);
    readonly (int Id, string Token)[] _prefix, _suffix;

    // The tokenizer.model path.
    readonly SentencePieceTokenizer? _sp;
    readonly bool _spAddBos, _spAddEos;

    readonly Dictionary<int, string> _idToToken = new();
    readonly Dictionary<string, int> _tokenToId = new(StringComparer.Ordinal);
    readonly HashSet<int> _specialIds = new();

    /// <summary>The underlying Microsoft.ML.Tokenizers tokenizer: a <see cref="BpeTokenizer"/> for tokenizer.json, a <see cref="LlamaTokenizer"/> for tokenizer.model.</summary>
    public Tokenizer Inner { get; }

    /// <summary>Number of distinct ids: the model's vocabulary together with the added tokens (HF's <c>len(tokenizer)</c>).</summary>
    public int VocabSize => _idToToken.Count;

    /// <summary>The beginning-of-sequence id: tokenizer_config's bos_token, else the single token the post-processor puts first.</summary>
    public int? BosTokenId { get; }

    /// <summary>The end-of-sequence ids: tokenizer_config's eos_token and generation_config.json's eos_token_id, when present.</summary>
    public IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>tokenizer_config's pad_token, when it is set.</summary>
    public int? PadTokenId { get; }

    /// <summary>True when the SentencePiece tokenizer.model drives encoding instead of tokenizer.json.</summary>
    public bool UsesSentencePieceModel => _sp is not null;

    /// <summary>
    /// Loads dir/tokenizer.json with dir/tokenizer_config.json and dir/generation_config.json when present.
    /// A dir/tokenizer.model (SentencePiece) is used only when tokenizer.json is absent.
    /// </summary>
    public static HfTokenizer FromDirectory(string dir)
    {
        if (!Directory.Exists(dir))
            throw new InvalidFileException("The tokenizer directory does not exist", dir, null, null);
        string json = Path.Combine(dir, "tokenizer.json");
        string? config = File.Exists(Path.Combine(dir, "tokenizer_config.json")) ? Path.Combine(dir, "tokenizer_config.json") : null;
        string? generation = File.Exists(Path.Combine(dir, "generation_config.json")) ? Path.Combine(dir, "generation_config.json") : null;
        string? spModel = File.Exists(Path.Combine(dir, "tokenizer.model")) ? Path.Combine(dir, "tokenizer.model") : null;
        if (!File.Exists(json) && spModel is null)
            throw new InvalidFileException("The directory has neither tokenizer.json nor tokenizer.model", json, null, null);
        // tokenizer.json is the path verified against goldens; tokenizer.model is the fallback when it is absent.
        if (spModel is not null && !File.Exists(json))
            return FromSentencePiece(spModel, File.Exists(json) ? json : null, config, generation);
        return new HfTokenizer(json, config, generation);
    }

    /// <summary>Loads a tokenizer.json and, optionally, its tokenizer_config.json.</summary>
    public static HfTokenizer FromFiles(string tokenizerJson, string? tokenizerConfigJson) =>
        new(tokenizerJson, tokenizerConfigJson, null);

    /// <summary>Loads a SentencePiece tokenizer.model; tokenizer.json (optional) contributes its added tokens.</summary>
    public static HfTokenizer FromSentencePiece(string tokenizerModel, string? tokenizerJson, string? tokenizerConfigJson, string? generationConfigJson = null) =>
        new(tokenizerModel, tokenizerJson, tokenizerConfigJson, generationConfigJson);

    HfTokenizer(string jsonPath, string? configPath, string? generationPath)
    {
        var r = new JsonReader(jsonPath);
        using var doc = JsonReader.Parse(jsonPath);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw r.Invalid("Expected a JSON object", "$", root);
        var config = ConfigInfo.Read(configPath);

        // Model.
        var model = r.Req(root, "model", "");
        string type = r.OptString(model, "type", "model") ?? (JsonReader.Opt(model, "merges") is not null ? "BPE" : "");
        if (type != "BPE")
            throw r.Unsupported("Only BPE tokenizer models are supported", "model.type", type);
        var vocab = r.Req(model, "vocab", "model");
        if (vocab.ValueKind != JsonValueKind.Object) throw r.Invalid("Expected an object of token → id", "model.vocab", vocab);
        foreach (var p in vocab.EnumerateObject())
        {
            int id = r.AsInt(p.Value, $"model.vocab.{p.Name}");
            if (id < 0) throw r.Invalid("Token ids must be non-negative", $"model.vocab.{p.Name}", p.Value);
            _modelVocab[p.Name] = id;
        }
        // Microsoft.ML.Tokenizers inverts the vocabulary: an id shared by two tokens would fail there, untyped.
        var ids = new Dictionary<int, string>();
        foreach (var (token, id) in _modelVocab)
            if (!ids.TryAdd(id, token))
                throw new InvalidFileException($"Two tokens of the vocabulary share an id (the other is '{ids[id]}')", jsonPath, $"model.vocab.{token}", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var merges = new List<string>();
        if (r.OptArray(model, "merges", "model") is { } mergesJson)
        {
            int i = 0;
            foreach (var m in mergesJson.EnumerateArray())
            {
                string field = $"model.merges[{i++}]";
                string merge = m.ValueKind switch
                {
                    JsonValueKind.String => m.GetString()!,
                    JsonValueKind.Array when m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String
                        => m[0].GetString()!.Contains(' ') || m[1].GetString()!.Contains(' ')
                            ? throw r.Unsupported("Merges of tokens that contain a space are not supported", field, m.GetRawText())
                            : $"{m[0].GetString()} {m[1].GetString()}",
                    _ => throw r.Invalid("A merge must be \"a b\" or [\"a\", \"b\"]", field, m),
                };
                int space = merge.IndexOf(' ');
                // "a b c" cannot say which space separates the pair (vocabularies with space-holding tokens have
                // such lines); HF's JS reader takes the first two fields, which never match, so the merge is dead.
                // Skipping it keeps the order of all other merges, which is all BPE uses.
                if (space <= 0 || space == merge.Length - 1 || merge.IndexOf(' ', space + 1) >= 0)
                    continue;
                merges.Add(merge);
            }
        }
        _ignoreMerges = r.OptBool(model, "ignore_merges", "model") ?? false;
        _byteFallback = r.OptBool(model, "byte_fallback", "model") ?? false;
        if (r.OptString(model, "continuing_subword_prefix", "model") is { Length: > 0 } csp)
            throw r.Unsupported("continuing_subword_prefix is not supported", "model.continuing_subword_prefix", csp);
        if (r.OptString(model, "end_of_word_suffix", "model") is { Length: > 0 } eows)
            throw r.Unsupported("end_of_word_suffix is not supported", "model.end_of_word_suffix", eows);
        if (JsonReader.Opt(model, "dropout") is { ValueKind: JsonValueKind.Number } dropout && dropout.GetDouble() != 0)
            throw r.Unsupported("BPE dropout is not supported", "model.dropout", dropout.GetRawText());
        string? unk = r.OptString(model, "unk_token", "model");
        if (unk is not null)
        {
            if (!_modelVocab.TryGetValue(unk, out int u)) throw new InvalidFileException("unk_token is not in the vocabulary", jsonPath, "model.unk_token", unk);
            _unkId = u;
        }

        // Added tokens: tokenizer.json's, then tokenizer_config's added_tokens_decoder for ids not yet seen.
        var added = new List<Added>();
        if (r.OptArray(root, "added_tokens", "") is { } addedJson)
        {
            int i = 0;
            foreach (var a in addedJson.EnumerateArray())
                added.Add(ReadAdded(a, r, $"added_tokens[{i++}]", null));
        }
        foreach (var a in config.AddedTokens)
            if (!added.Any(x => x.Id == a.Id)) added.Add(a);
        added = FirstOfEachContent(added);

        foreach (var (token, id) in _modelVocab) { _idToToken.TryAdd(id, token); _tokenToId[token] = id; }
        foreach (var a in added)
        {
            _idToToken[a.Id] = a.Content;
            _tokenToId[a.Content] = a.Id;
            _addedByContent[a.Content] = a;
            if (a.Special) _specialIds.Add(a.Id);
        }

        _normalizer = HfNormalizer.FromJson(JsonReader.Opt(root, "normalizer"), r);
        _preTokenizer = HfPreTokenizer.FromJson(JsonReader.Opt(root, "pre_tokenizer"), r);
        _byteLevel = _preTokenizer.ByteLevel;
        _decoder = HfDecoder.FromJson(JsonReader.Opt(root, "decoder"), r, added.Select(a => a.Content).ToHashSet(StringComparer.Ordinal));

        // HF matches normalized added tokens in the normalized text, by their normalized content.
        var unnormalized = new List<(string, Added)>();
        var normalized = new List<(string, Added)>();
        foreach (var a in added)
        {
            if (a.Normalized && _normalizer is not null)
            {
                string n = _normalizer.Normalize(a.Content);
                normalized.Add((n, a));
                _addedByContent.TryAdd(n, a);
            }
            else unnormalized.Add((a.Content, a));
        }
        _unnormalizedAdded = new AddedMatcher(unnormalized);
        _normalizedAdded = new AddedMatcher(normalized);

        // Post-processor, possibly overridden by tokenizer_config's add_bos_token/add_eos_token as HF's Llama tokenizer does.
        var prefix = new List<(int, string)>();
        var suffix = new List<(int, string)>();
        ReadPostProcessor(JsonReader.Opt(root, "post_processor"), "post_processor", r, prefix, suffix);
        if (config.OverridesSpecialTokens)
        {
            prefix.Clear();
            suffix.Clear();
            if (config.AddBos && config.BosToken is { } b) prefix.Add((TokenToIdOrThrow(b, config, "bos_token"), b));
            if (config.AddEos && config.EosToken is { } e) suffix.Add((TokenToIdOrThrow(e, config, "eos_token"), e));
        }
        _prefix = [.. prefix];
        _suffix = [.. suffix];
        foreach (var (id, token) in _prefix.Concat(_suffix))
            if (!_idToToken.ContainsKey(id))
                throw new InvalidFileException("The post-processor adds an id that is not in the vocabulary", jsonPath, "post_processor", $"{token} = {id}");

        // The BPE model, on Microsoft.ML.Tokenizers.
        var specialTokens = added.Where(a => !_modelVocab.ContainsKey(a.Content)).ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        try
        {
            _bpe = BpeTokenizer.Create(new BpeOptions(_modelVocab)
            {
                Merges = merges,
                SpecialTokens = specialTokens.Count > 0 ? specialTokens : null,
                Normalizer = _normalizer,
                PreTokenizer = _preTokenizer,
                UnknownToken = unk,
                FuseUnknownTokens = _byteFallback || (r.OptBool(model, "fuse_unk", "model") ?? false),
                ByteLevel = _byteLevel,
            });
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new InvalidFileException($"The BPE vocabulary and merges are inconsistent: {e.Message}", jsonPath, "model.merges", null, e);
        }
        Inner = _bpe;

        (BosTokenId, EosTokenIds, PadTokenId) = SpecialIds(config, generationPath);
    }

    HfTokenizer(string modelPath, string? jsonPath, string? configPath, string? generationPath)
    {
        var config = ConfigInfo.Read(configPath);
        var added = new List<Added>();
        if (jsonPath is not null)
        {
            var r = new JsonReader(jsonPath);
            using var doc = JsonReader.Parse(jsonPath);
            if (r.OptArray(doc.RootElement, "added_tokens", "") is { } addedJson)
            {
                int i = 0;
                foreach (var a in addedJson.EnumerateArray()) added.Add(ReadAdded(a, r, $"added_tokens[{i++}]", null));
            }
        }
        foreach (var a in config.AddedTokens)
            if (!added.Any(x => x.Id == a.Id)) added.Add(a);
        added = FirstOfEachContent(added);

        _spAddBos = config.AddBosSet ? config.AddBos : true;
        _spAddEos = config.AddEosSet && config.AddEos;
        try
        {
            using var stream = File.OpenRead(modelPath);
            var special = added.Count == 0 ? null : added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
            _sp = LlamaTokenizer.Create(stream, _spAddBos, _spAddEos, special);
        }
        catch (Exception e) when (e is not OnnxInterpException and not IOException)
        {
            throw new InvalidFileException($"Cannot read the SentencePiece model: {e.Message}", modelPath, null, null, e);
        }
        catch (IOException e)
        {
            throw new InvalidFileException($"Cannot read the SentencePiece model: {e.Message}", modelPath, null, null, e);
        }
        Inner = _sp;
        foreach (var (token, id) in _sp.Vocabulary) { _idToToken.TryAdd(id, token); _tokenToId[token] = id; }
        foreach (var a in added)
        {
            _idToToken[a.Id] = a.Content;
            _tokenToId[a.Content] = a.Id;
            if (a.Special) _specialIds.Add(a.Id);
        }
        _specialIds.Add(_sp.BeginningOfSentenceId);
        _specialIds.Add(_sp.EndOfSentenceId);
        _specialIds.Add(_sp.UnknownId);
        _unnormalizedAdded = new AddedMatcher([]);
        _normalizedAdded = new AddedMatcher([]);
        _prefix = [];
        _suffix = [];
        (BosTokenId, EosTokenIds, PadTokenId) = SpecialIds(config, generationPath);
        BosTokenId ??= _sp.BeginningOfSentenceId;
        if (EosTokenIds.Count == 0) EosTokenIds = [_sp.EndOfSentenceId];
    }

    /// <summary>
    /// An added token listed twice with different ids (tokenizer.json against tokenizer_config.json, or twice in one
    /// file) keeps its first id, as transformers does: it adds a config token only when its content is not known yet.
    /// </summary>
    static List<Added> FirstOfEachContent(List<Added> added)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        return added.Where(a => seen.Add(a.Content)).ToList();
    }

    int TokenToIdOrThrow(string token, ConfigInfo config, string field) =>
        TokenToId(token) ?? throw new InvalidFileException("The token is not in the vocabulary", config.Path, field, token);

    (int?, IReadOnlyList<int>, int?) SpecialIds(ConfigInfo config, string? generationPath)
    {
        int? bos = config.BosToken is { } b ? TokenToIdOrThrow(b, config, "bos_token")
            : !config.Present && _prefix.Length == 1 ? _prefix[0].Id : null;
        var eos = new List<int>();
        if (config.EosToken is { } e) eos.Add(TokenToIdOrThrow(e, config, "eos_token"));
        if (generationPath is not null)
        {
            var r = new JsonReader(generationPath);
            using var doc = JsonReader.Parse(generationPath);
            if (JsonReader.Opt(doc.RootElement, "eos_token_id") is { } ids)
            {
                if (ids.ValueKind == JsonValueKind.Array)
                {
                    int i = 0;
                    foreach (var x in ids.EnumerateArray()) { int id = r.AsInt(x, $"eos_token_id[{i++}]"); if (!eos.Contains(id)) eos.Add(id); }
                }
                else { int id = r.AsInt(ids, "eos_token_id"); if (!eos.Contains(id)) eos.Add(id); }
            }
        }
        int? pad = config.PadToken is { } p ? TokenToIdOrThrow(p, config, "pad_token") : null;
        return (bos, eos, pad);
    }

    static Added ReadAdded(JsonElement a, JsonReader r, string path, int? id) => new(
        id ?? r.ReqInt(a, "id", path),
        r.ReqString(a, "content", path),
        r.OptBool(a, "special", path) ?? false,
        r.OptBool(a, "normalized", path) ?? !(r.OptBool(a, "special", path) ?? false),
        r.OptBool(a, "lstrip", path) ?? false,
        r.OptBool(a, "rstrip", path) ?? false);

    void ReadPostProcessor(JsonElement? spec, string path, JsonReader r, List<(int, string)> prefix, List<(int, string)> suffix)
    {
        if (spec is null) return;
        string type = r.ReqString(spec.Value, "type", path);
        switch (type)
        {
            case "ByteLevel":
                return;
            case "Sequence":
            {
                int i = 0;
                foreach (var p in r.ReqArray(spec.Value, "processors", path).EnumerateArray())
                    ReadPostProcessor(p, $"{path}.processors[{i++}]", r, prefix, suffix);
                return;
            }
            case "TemplateProcessing":
            {
                var specials = JsonReader.Opt(spec.Value, "special_tokens");
                bool seenA = false;
                int i = 0;
                foreach (var item in r.ReqArray(spec.Value, "single", path).EnumerateArray())
                {
                    string ipath = $"{path}.single[{i++}]";
                    if (JsonReader.Opt(item, "Sequence") is { } seq)
                    {
                        string which = r.ReqString(seq, "id", $"{ipath}.Sequence");
                        if (which != "A") throw r.Invalid("A single-sequence template can only hold sequence A", $"{ipath}.Sequence.id", seq.GetProperty("id"));
                        seenA = true;
                        continue;
                    }
                    var st = r.Req(item, "SpecialToken", ipath);
                    string name = r.ReqString(st, "id", $"{ipath}.SpecialToken");
                    var target = seenA ? suffix : prefix;
                    if (specials is { } sp && JsonReader.Opt(sp, name) is { } entry)
                    {
                        var ids = r.ReqArray(entry, "ids", $"{path}.special_tokens.{name}").EnumerateArray().ToList();
                        var toks = r.ReqArray(entry, "tokens", $"{path}.special_tokens.{name}").EnumerateArray().ToList();
                        if (ids.Count != toks.Count) throw r.Invalid("ids and tokens differ in length", $"{path}.special_tokens.{name}", entry);
                        for (int k = 0; k < ids.Count; k++)
                        {
                            if (toks[k].ValueKind != JsonValueKind.String) throw r.Invalid("Expected a string", $"{path}.special_tokens.{name}.tokens[{k}]", toks[k]);
                            target.Add((r.AsInt(ids[k], $"{path}.special_tokens.{name}.ids[{k}]"), toks[k].GetString()!));
                        }
                    }
                    else
                    {
                        int id = TokenToId(name) ?? throw new InvalidFileException("The template's special token is not in the vocabulary", r.File, $"{ipath}.SpecialToken.id", name);
                        target.Add((id, name));
                    }
                }
                return;
            }
            case "RobertaProcessing":
            case "BertProcessing":
            {
                (int, string) Pair(string name)
                {
                    var v = r.ReqArray(spec.Value, name, path);
                    if (v.GetArrayLength() != 2 || v[0].ValueKind != JsonValueKind.String) throw r.Invalid("Expected [token, id]", $"{path}.{name}", v);
                    return (r.AsInt(v[1], $"{path}.{name}[1]"), v[0].GetString()!);
                }
                prefix.Add(Pair("cls"));
                suffix.Add(Pair("sep"));
                return;
            }
            default:
                throw r.Unsupported("This post-processor type is not supported", $"{path}.type", type);
        }
    }

    /// <summary>Encodes <paramref name="text"/> to ids; <paramref name="addSpecialTokens"/> adds BOS/EOS as the post-processor (or tokenizer_config) says.</summary>
    public int[] Encode(string text, bool addSpecialTokens = true) =>
        EncodeCore(text, addSpecialTokens).Select(t => t.Id).ToArray();

    /// <summary>Encodes <paramref name="text"/> to the vocabulary's token strings ('Ġ' / '▁' forms), e.g. to label plots.</summary>
    public IReadOnlyList<string> EncodeToTokens(string text, bool addSpecialTokens = true) =>
        EncodeCore(text, addSpecialTokens).Select(t => t.Token).ToArray();

    List<(int Id, string Token)> EncodeCore(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<(int, string)>();
        if (_sp is not null)
        {
            foreach (var t in _sp.EncodeToTokens(text, out _, addSpecialTokens && _spAddBos, addSpecialTokens && _spAddEos))
                output.Add((t.Id, t.Value));
            return output;
        }
        if (addSpecialTokens) output.AddRange(_prefix);
        var sections = _unnormalizedAdded.Split(text);
        for (int i = 0; i < sections.Count; i++)
        {
            var (section, token) = sections[i];
            if (token is not null) { output.Add((token.Id, token.Content)); continue; }
            if (section.Length == 0) continue;
            if (_addedByContent.TryGetValue(section, out var whole)) { output.Add((whole.Id, whole.Content)); continue; }
            string normalized = _normalizer?.Normalize(section) ?? section;
            if (normalized.Length == 0) continue;
            foreach (var (sub, subToken) in _normalizedAdded.Split(normalized))
            {
                if (subToken is not null) { output.Add((subToken.Id, subToken.Content)); continue; }
                if (sub.Length == 0) continue;
                if (_addedByContent.TryGetValue(sub, out var w)) { output.Add((w.Id, w.Content)); continue; }
                foreach (var piece in _preTokenizer!.Split(sub, i)) EncodeWord(piece, output);
            }
        }
        if (addSpecialTokens) output.AddRange(_suffix);
        return output;
    }

    void EncodeWord(string piece, List<(int, string)> output)
    {
        if (_ignoreMerges)
        {
            string key = _byteLevel ? ByteLevelAlphabet.Encode(piece) : piece;
            if (_modelVocab.TryGetValue(key, out int id)) { output.Add((id, key)); return; }
        }
        var tokens = _bpe!.EncodeToTokens(piece, out _, considerPreTokenization: false, considerNormalization: false);
        if (_byteLevel)
        {
            foreach (var t in tokens) output.Add((t.Id, t.Value));
            return;
        }
        // Characters the vocabulary lacks come back as <unk> (or not at all without an unk_token):
        // byte_fallback replaces them with their UTF-8 bytes as <0xXX> tokens, as HF does.
        int pos = 0;
        foreach (var t in tokens)
        {
            var (start, length) = t.Offset.GetOffsetAndLength(piece.Length);
            if (start > pos) Fallback(piece[pos..start], output);
            if (_unkId is { } unk && t.Id == unk && _byteFallback) Fallback(piece.Substring(start, length), output);
            else output.Add((t.Id, t.Value));
            pos = Math.Max(pos, start + length);
        }
        if (pos < piece.Length) Fallback(piece[pos..], output);
    }

    void Fallback(string chars, List<(int, string)> output)
    {
        if (_byteFallback)
        {
            var bytes = Encoding.UTF8.GetBytes(chars);
            var ids = new List<(int, string)>(bytes.Length);
            foreach (byte b in bytes)
            {
                string name = $"<0x{b:X2}>";
                if (!_modelVocab.TryGetValue(name, out int id)) { ids = null; break; }
                ids.Add((id, name));
            }
            if (ids is not null) { output.AddRange(ids); return; }
        }
        if (_unkId is { } unk) output.Add((unk, _idToToken[unk]));
    }

    /// <summary>Decodes ids to text through the tokenizer.json decoder (no clean_up_tokenization_spaces).</summary>
    public string Decode(IReadOnlyList<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        foreach (int id in ids)
            if (!_idToToken.ContainsKey(id))
                throw new InvalidArgumentException("The id is not in the tokenizer's vocabulary", nameof(ids), id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (_sp is not null)
            return _sp.Decode(skipSpecialTokens ? ids.Where(i => !_specialIds.Contains(i)) : ids, considerSpecialTokens: !skipSpecialTokens);
        var tokens = new List<string>(ids.Count);
        foreach (int id in ids)
            if (!(skipSpecialTokens && _specialIds.Contains(id))) tokens.Add(_idToToken[id]);
        return _decoder!.Decode(tokens);
    }

    /// <summary>The id of a token string (vocabulary form, e.g. "ĠParis" or "▁Paris"), added tokens included.</summary>
    public int? TokenToId(string token) => _tokenToId.TryGetValue(token, out int id) ? id : null;

    /// <summary>The token string of an id, or null when the id is unknown.</summary>
    public string? IdToToken(int id) => _idToToken.TryGetValue(id, out var t) ? t : null;

    /// <summary>Leftmost-longest matching of added tokens in text, as HF's added vocabulary splits it.</summary>
    sealed class AddedMatcher
    {
        readonly Dictionary<char, List<(string Content, Added Token)>> _byFirst = new();

        public AddedMatcher(IEnumerable<(string Content, Added Token)> tokens)
        {
            foreach (var t in tokens)
            {
                if (t.Content.Length == 0) continue;
                if (!_byFirst.TryGetValue(t.Content[0], out var list)) _byFirst[t.Content[0]] = list = [];
                list.Add(t);
            }
            foreach (var list in _byFirst.Values) list.Sort((a, b) => b.Content.Length.CompareTo(a.Content.Length));
        }

        public List<(string Text, Added? Token)> Split(string text)
        {
            var result = new List<(string, Added?)>();
            if (_byFirst.Count == 0) { result.Add((text, null)); return result; }
            int start = 0, i = 0;
            while (i < text.Length)
            {
                (string Content, Added Token)? match = null;
                if (_byFirst.TryGetValue(text[i], out var candidates))
                    foreach (var c in candidates)
                        if (string.CompareOrdinal(text, i, c.Content, 0, c.Content.Length) == 0 && i + c.Content.Length <= text.Length) { match = c; break; }
                if (match is { } m)
                {
                    if (i > start) result.Add((text[start..i], null));
                    result.Add((m.Content, m.Token));
                    i += m.Content.Length;
                    start = i;
                }
                else i++;
            }
            if (start < text.Length) result.Add((text[start..], null));

            // lstrip / rstrip: an added token swallows the whitespace beside it.
            for (int k = 0; k < result.Count; k++)
            {
                if (result[k].Item2 is not { } tok) continue;
                if (tok.LStrip && k > 0 && result[k - 1].Item2 is null) result[k - 1] = (result[k - 1].Item1.TrimEnd(), null);
                if (tok.RStrip && k + 1 < result.Count && result[k + 1].Item2 is null) result[k + 1] = (result[k + 1].Item1.TrimStart(), null);
            }
            return result;
        }
    }

    /// <summary>What tokenizer_config.json says about special tokens.</summary>
    sealed class ConfigInfo
    {
        public string? Path;
        public bool Present;
        public string? BosToken, EosToken, PadToken;
        public bool AddBos, AddEos, AddBosSet, AddEosSet;
        public bool OverridesSpecialTokens;
        public List<Added> AddedTokens = [];

        static readonly HashSet<string> s_llamaClasses = new(StringComparer.Ordinal)
        {
            "LlamaTokenizer", "LlamaTokenizerFast", "CodeLlamaTokenizer", "CodeLlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast",
        };

        public static ConfigInfo Read(string? path)
        {
            var c = new ConfigInfo { Path = path };
            if (path is null) return c;
            var r = new JsonReader(path);
            using var doc = JsonReader.Parse(path);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw r.Invalid("Expected a JSON object", "$", root);
            c.Present = true;
            c.BosToken = TokenField(root, "bos_token", r);
            c.EosToken = TokenField(root, "eos_token", r);
            c.PadToken = TokenField(root, "pad_token", r);
            if (r.OptBool(root, "add_bos_token", "") is { } ab) { c.AddBos = ab; c.AddBosSet = true; }
            if (r.OptBool(root, "add_eos_token", "") is { } ae) { c.AddEos = ae; c.AddEosSet = true; }
            string? cls = r.OptString(root, "tokenizer_class", "");
            if ((c.AddBosSet || c.AddEosSet) && cls is not null && s_llamaClasses.Contains(cls))
            {
                c.OverridesSpecialTokens = true;
                if (!c.AddBosSet) c.AddBos = true;
            }
            if (JsonReader.Opt(root, "added_tokens_decoder") is { } dec)
            {
                if (dec.ValueKind != JsonValueKind.Object) throw r.Invalid("Expected an object of id → token", "added_tokens_decoder", dec);
                foreach (var p in dec.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                        throw new InvalidFileException("An added token's id is not an integer", path, "added_tokens_decoder", p.Name);
                    c.AddedTokens.Add(ReadAdded(p.Value, r, $"added_tokens_decoder.{p.Name}", id));
                }
            }
            return c;
        }

        static string? TokenField(JsonElement root, string name, JsonReader r)
        {
            var v = JsonReader.Opt(root, name);
            if (v is null) return null;
            return v.Value.ValueKind switch
            {
                JsonValueKind.String => v.Value.GetString(),
                JsonValueKind.Object => r.ReqString(v.Value, "content", name),
                _ => throw r.Invalid("Expected a string or an object with \"content\"", name, v.Value),
            };
        }
    }
}

// Golden token ids for OnnxInterp's HfTokenizer, from an independent implementation: transformers.js
// (@huggingface/transformers, which tokenizes with @huggingface/tokenizers).
//
// How to rerun (from the repository root):
//   1. Install transformers.js in a scratch folder OUTSIDE the repository (it is never committed):
//        mkdir -p /tmp/tokref && (cd /tmp/tokref && npm init -y && npm install @huggingface/transformers)
//   2. Write the synthetic Llama-3 / Qwen2 style tokenizer folders the C# tests build:
//        ONNXINTERP_TOKENIZER_FIXTURES=/tmp/onnxinterp-tokenizer-fixtures \
//          dotnet test tests/OnnxInterp.Tests --filter "FullyQualifiedName~TokenizerFixtureWriter"
//   3. Run this script with that node_modules on the path:
//        NODE_PATH=/tmp/tokref/node_modules node tools/goldens/tokenizer-goldens.mjs \
//          [--fixtures /tmp/onnxinterp-tokenizer-fixtures] [--shared ../shared/tokenizers]
//      It writes tests/OnnxInterp.Tests/Goldens/tokenizers/<name>.json, one per tokenizer.
// Never edit a golden by hand: when HfTokenizer disagrees, fix the loader.
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const arg = (name, fallback) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : fallback;
};
const fixtures = path.resolve(arg('--fixtures', '/tmp/onnxinterp-tokenizer-fixtures'));
const shared = path.resolve(arg('--shared', path.join(repo, '..', 'shared', 'tokenizers')));
const outDir = path.join(repo, 'tests', 'OnnxInterp.Tests', 'Goldens', 'tokenizers');

// Resolve transformers.js from NODE_PATH (ESM ignores NODE_PATH, createRequire honours it).
const require = createRequire(path.join(process.cwd(), 'noop.js'));
const resolveFrom = (name) => {
    for (const base of (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean)) {
        const candidate = path.join(base, ...name.split('/'));
        if (fs.existsSync(candidate)) return candidate;
    }
    return path.dirname(require.resolve(name + '/package.json'));
};
const transformersDir = resolveFrom('@huggingface/transformers');
const tokenizersDir = resolveFrom('@huggingface/tokenizers');
const transformersVersion = JSON.parse(fs.readFileSync(path.join(transformersDir, 'package.json'), 'utf8')).version;
const tokenizersVersion = JSON.parse(fs.readFileSync(path.join(tokenizersDir, 'package.json'), 'utf8')).version;
const { AutoTokenizer, env } = await import(path.join(transformersDir, 'dist', 'transformers.node.mjs'));

env.allowRemoteModels = false;
env.allowLocalModels = true;

const TEXTS = [
    '',
    'Hello world',
    'The city of Paris is in France. This statement is: TRUE',
    'The city of Rome is in Spain. This statement is: FALSE',
    'The capital of Germany is Berlin.',
    'Q: Is the sky green?\nA: FALSE',
    ' leading space',
    'trailing space ',
    '  two leading spaces',
    'multiple   spaces    here',
    '   ',
    'line one\nline two\n\nline four',
    'tabs\tand\t\ttabs',
    '\n',
    'ends with newline\n',
    '12345 1234567 3.14159 2024-01-01 7',
    'Hello, world! (test) [x] {y}; a-b_c...?!',
    "don't I'm they'll we've she's it'd",
    "DON'T I'M",
    'café naïve résumé Zürich',
    'cafe\u0301 (decomposed e-acute)',
    '東京は日本の首都です。',
    '中文测试',
    'emoji 😀 and 🦙s 👍🏽',
    '🤗',
    '<s>',
    'Hello <s> world </s>',
    'a<s>b',
    '<|begin_of_text|>Hello',
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
    '<|im_start|>user\nHi<|im_end|>',
    '<|endoftext|>',
    'x = f(y) + 2*z;  // comment',
    '    indented code',
    'Ω≈ç√∫ ∑ ∞',
];

const TOKENIZERS = [
    { name: 'llama2', dir: path.join(shared, 'llama2'), source: 'shared/tokenizers/llama2' },
    { name: 'phi-2', dir: path.join(shared, 'phi-2'), source: 'shared/tokenizers/phi-2' },
    { name: 'llama3-synthetic', dir: path.join(fixtures, 'llama3'), source: 'synthetic:llama3 (tests/OnnxInterp.Tests/Tokenization/SyntheticTokenizers.cs)' },
    { name: 'qwen2-synthetic', dir: path.join(fixtures, 'qwen2'), source: 'synthetic:qwen2 (tests/OnnxInterp.Tests/Tokenization/SyntheticTokenizers.cs)' },
];

const decode = (tok, ids, skip) =>
    ids.length === 0 ? '' : tok.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });

fs.mkdirSync(outDir, { recursive: true });
for (const t of TOKENIZERS) {
    const jsonPath = path.join(t.dir, 'tokenizer.json');
    if (!fs.existsSync(jsonPath)) {
        console.error(`skipping ${t.name}: ${jsonPath} not found`);
        continue;
    }
    env.localModelPath = path.dirname(t.dir) + path.sep;
    const tok = await AutoTokenizer.from_pretrained(path.basename(t.dir), { local_files_only: true });
    const cases = TEXTS.map((text) => {
        const withSpecial = tok._tokenizer.encode(text, { add_special_tokens: true });
        const ids = withSpecial.ids;
        const idsNoSpecial = tok.encode(text, { add_special_tokens: false });
        return {
            text,
            ids,
            tokens: withSpecial.tokens,
            ids_no_special: idsNoSpecial,
            decoded: decode(tok, ids, false),
            decoded_skip_special: decode(tok, ids, true),
        };
    });
    const golden = {
        generator: 'tools/goldens/tokenizer-goldens.mjs',
        reference: `@huggingface/transformers ${transformersVersion} (@huggingface/tokenizers ${tokenizersVersion})`,
        transformers_js_version: transformersVersion,
        tokenizers_js_version: tokenizersVersion,
        decode_options: { clean_up_tokenization_spaces: false },
        tokenizer: t.name,
        source: t.source,
        tokenizer_json_sha256: createHash('sha256').update(fs.readFileSync(jsonPath)).digest('hex'),
        cases,
    };
    const out = path.join(outDir, `${t.name}.json`);
    fs.writeFileSync(out, JSON.stringify(golden, null, 1) + '\n');
    console.log(`wrote ${out} (${cases.length} cases)`);
}

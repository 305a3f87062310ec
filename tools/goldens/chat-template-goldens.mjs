// Golden chat-template renderings for OnnxInterp's ChatTemplates, from an independent implementation:
// @huggingface/jinja (the Jinja interpreter transformers.js uses for apply_chat_template).
//
// How to rerun (from the repository root):
//   1. Install transformers.js (which brings @huggingface/jinja) in a scratch folder OUTSIDE the repository:
//        mkdir -p /tmp/tokref && (cd /tmp/tokref && npm init -y && npm install @huggingface/transformers)
//   2. Run this script with that node_modules on the path:
//        NODE_PATH=/tmp/tokref/node_modules node tools/goldens/chat-template-goldens.mjs
//      It writes tests/OnnxInterp.Tests/Goldens/chat/<name>.json, one per template.
// Never edit a golden by hand: when ChatTemplate disagrees, fix ChatTemplate.
//
// The jinja strings below are copied verbatim (only re-quoted as JavaScript strings) from the published
// tokenizer_config.json "chat_template" of each model. Where the original tokenizer_config.json was not
// in reach, the copy comes from a public repository that quotes it, named beside it.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const outDir = path.join(repo, 'tests', 'OnnxInterp.Tests', 'Goldens', 'chat');

// Resolve @huggingface/jinja from NODE_PATH (ESM ignores NODE_PATH, createRequire honours it).
const require = createRequire(path.join(process.cwd(), 'noop.js'));
const resolveFrom = (name) => {
    for (const base of (process.env.NODE_PATH ?? '').split(path.delimiter).filter(Boolean)) {
        const candidate = path.join(base, ...name.split('/'));
        if (fs.existsSync(candidate)) return candidate;
    }
    return path.dirname(require.resolve(name + '/package.json'));
};
const jinjaDir = resolveFrom('@huggingface/jinja');
const jinjaVersion = JSON.parse(fs.readFileSync(path.join(jinjaDir, 'package.json'), 'utf8')).version;
const { Template } = await import(path.join(jinjaDir, 'dist', 'index.js'));

const TEMPLATES = {
    // meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json "chat_template".
    // Copy read from github.com/YJiangcm/WebR, file Meta-Llama-3-8B-Instruct/tokenizer_config.json
    // (commit fb2f249a5547f6be5001f8191451ac1b7877e57c).
    llama3: {
        source: 'meta-llama/Meta-Llama-3-8B-Instruct tokenizer_config.json (copy: YJiangcm/WebR Meta-Llama-3-8B-Instruct/tokenizer_config.json)',
        bos_token: '<|begin_of_text|>',
        eos_token: '<|eot_id|>',
        chat_template: "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    },
    // meta-llama/Llama-3.1-8B-Instruct, tokenizer_config.json "chat_template".
    // Copy read from github.com/huggingface/huggingface.js, packages/jinja/test/e2e.test.js, entry
    // "meta-llama/Llama-3.1-8B-Instruct" (commit fe42e68017ffc76d09922ea8f9b38a6964345710).
    'llama3.1': {
        source: 'meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json (copy: huggingface/huggingface.js packages/jinja/test/e2e.test.js)',
        bos_token: '<|begin_of_text|>',
        eos_token: '<|eot_id|>',
        chat_template: `{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- set date_string = "26 Jul 2024" %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n{#- This block extracts the system message, so we can slot it into the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = "" %}\n{%- endif %}\n\n{#- System message + builtin tools #}\n{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}\n{%- if builtin_tools is defined or tools is not none %}\n    {{- "Environment: ipython\\n" }}\n{%- endif %}\n{%- if builtin_tools is defined %}\n    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}\n{%- endif %}\n{{- "Cutting Knowledge Date: December 2023\\n" }}\n{{- "Today Date: " + date_string + "\\n\\n" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}\n    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}\n    {{- "Do not use variables.\\n\\n" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- "\\n\\n" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- "<|eot_id|>" }}\n\n{#- Custom tools are passed in a user message with some extra guidance #}\n{%- if tools_in_user_message and not tools is none %}\n    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n    {{- "Given the following functions, please respond with a JSON for a function call " }}\n    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}\n    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}\n    {{- "Do not use variables.\\n\\n" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- "\\n\\n" }}\n    {%- endfor %}\n    {{- first_user_message + "<|eot_id|>"}}\n{%- endif %}\n\n{%- for message in messages %}\n    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n            {{- raise_exception("This model only supports single tool-calls at once!") }}\n        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- "<|python_tag|>" + tool_call.name + ".call(" }}\n            {%- for arg_name, arg_val in tool_call.arguments | items %}\n                {{- arg_name + '="' + arg_val + '"' }}\n                {%- if not loop.last %}\n                    {{- ", " }}\n                {%- endif %}\n                {%- endfor %}\n            {{- ")" }}\n        {%- else  %}\n            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n            {{- '{"name": "' + tool_call.name + '", ' }}\n            {{- '"parameters": ' }}\n            {{- tool_call.arguments | tojson }}\n            {{- "}" }}\n        {%- endif %}\n        {%- if builtin_tools is defined %}\n            {#- This means we're in ipython mode #}\n            {{- "<|eom_id|>" }}\n        {%- else %}\n            {{- "<|eot_id|>" }}\n        {%- endif %}\n    {%- elif message.role == "tool" or message.role == "ipython" %}\n        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- "<|eot_id|>" }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n`,
    },
    // mistralai/Mistral-7B-Instruct-v0.2, tokenizer_config.json "chat_template" as first published (the
    // template that refuses a system message). Copy read from github.com/ggml-org/llama.cpp,
    // tests/test-chat-template.cpp, entry "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a
    // system prompt)". Later revisions of that tokenizer_config.json accept a system message; this one does not.
    mistral: {
        source: 'mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json, original revision (copy: ggml-org/llama.cpp tests/test-chat-template.cpp)',
        bos_token: '<s>',
        eos_token: '</s>',
        chat_template: "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    },
    // Qwen/Qwen2-7B-Instruct (the whole Qwen2-Instruct family ships this ChatML template; Qwen1.5-Chat
    // has the same string). Copy read from the huggingface/trl documentation page on chat templates, which
    // prints AutoTokenizer.from_pretrained("Qwen/Qwen2-0.5B-Instruct").chat_template, and from
    // huggingface/huggingface.js packages/jinja/test/e2e.test.js entry "Qwen/Qwen1.5-72B-Chat".
    qwen2: {
        source: 'Qwen/Qwen2-7B-Instruct tokenizer_config.json (copy: huggingface/trl docs chat_templates, Qwen/Qwen2-0.5B-Instruct chat_template)',
        bos_token: '',
        eos_token: '<|im_end|>',
        chat_template: "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    },
    // allenai/Llama-3.1-Tulu-3-8B, tokenizer_config.json "chat_template" (eos_token "<|end_of_text|>").
    // Copy read from github.com/allenai/open-instruct, open_instruct/dataset_transformation.py,
    // CHAT_TEMPLATES["tulu"] (commit 29e5ad10525ff5df6c161520aa973be5f695359c), the template the Tulu 3 models
    // were trained and released with.
    tulu: {
        source: 'allenai/Llama-3.1-Tulu-3-8B tokenizer_config.json (copy: allenai/open-instruct open_instruct/dataset_transformation.py CHAT_TEMPLATES["tulu"])',
        bos_token: '<|begin_of_text|>',
        eos_token: '<|end_of_text|>',
        chat_template: "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}{% elif message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\n'  + message['content'] + eos_token + '\n' }}{% else %}{{ '<|assistant|>\n'  + message['content'] + eos_token }}{% endif %}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}{% endfor %}",
    },
};

const u = (content) => ({ role: 'user', content });
const a = (content) => ({ role: 'assistant', content });
const s = (content) => ({ role: 'system', content });

// Conversations rendered with add_generation_prompt true and false each.
const CONVERSATIONS = [
    ['single user turn', [u('What is the capital of France?')]],
    ['system + user', [s('You are a concise assistant.'), u('Name a prime number.')]],
    ['user/assistant/user', [u('Hi!'), a('Hello! How can I help?'), u('Tell me a joke.')]],
    ['user/assistant', [u('Is the sky green?'), a('No, it is usually blue.')]],
    ['system + user/assistant/user', [s('Answer TRUE or FALSE.'), u('Paris is in France.'), a('TRUE'), u('Rome is in Spain.')]],
    ['surrounding whitespace', [u('  \n Leading and trailing spaces and newlines \n\n  ')]],
    ['whitespace in every role', [s('\tSystem with tab\n'), u(' user '), a('\n assistant \n'), u('last\n')]],
    ['inner newlines kept', [u('Line one\n\nLine two\n  indented')]],
    ['non-ASCII', [u('Wie heißt die Hauptstadt von Österreich? 東京は日本の首都です。 Привет 🙂')]],
    ['unicode spaces', [u('\u00a0\u3000full-width and no-break spaces\u2003\u00a0')]],
    ['empty content', [u('')]],
    ['markers in content', [u('<|eot_id|> [INST] <|im_end|> <|user|> </s> text')]],
    ['system only', [s('Only a system message.')]],
    ['assistant first', [a('I speak first.'), u('Then me.')]],
    ['two user turns in a row', [u('First.'), u('Second.')]],
    ['system after the first message', [u('Question?'), s('Late system message.')]],
];

fs.mkdirSync(outDir, { recursive: true });
for (const [name, t] of Object.entries(TEMPLATES)) {
    const template = new Template(t.chat_template);
    const cases = [];
    for (const [title, messages] of CONVERSATIONS) {
        for (const addGenerationPrompt of [true, false]) {
            const c = { title, add_generation_prompt: addGenerationPrompt, messages };
            try {
                c.rendered = template.render({
                    messages,
                    add_generation_prompt: addGenerationPrompt,
                    bos_token: t.bos_token,
                    eos_token: t.eos_token,
                });
            } catch (e) {
                c.error = String(e.message ?? e);
            }
            cases.push(c);
        }
    }
    const golden = {
        name,
        source: t.source,
        reference: `@huggingface/jinja ${jinjaVersion}`,
        bos_token: t.bos_token,
        eos_token: t.eos_token,
        chat_template: t.chat_template,
        cases,
    };
    const file = path.join(outDir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(golden, null, 2) + '\n');
    console.log(`${file}: ${cases.length} cases (${cases.filter((c) => c.error).length} raise)`);
}

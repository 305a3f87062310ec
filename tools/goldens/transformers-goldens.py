#!/usr/bin/env python3
# Run from the repository root:  python3 tools/goldens/transformers-goldens.py [OUT]
# OUT defaults to tests/OnnxInterp.Tests/Goldens/transformers; one folder per case, read by
# tests/OnnxInterp.Tests/Export/TransformersGoldenTests.cs. Needs torch, transformers 5.x, safetensors, numpy; CPU
# only, no internet, no tokenizer. Exits non-zero if any case fails (a failed case leaves no folder behind).
"""Fidelity goldens from Hugging Face transformers itself.

For each case: a tiny random model built by transformers (AutoModelForCausalLM.from_config), written by
save_pretrained in the case's dtype (some cases sharded), reloaded from disk in float32 with eager attention, and run
on a left-padded batch with forward hooks on every block. The case folder holds the checkpoint exactly as
transformers wrote it plus expected.safetensors (activations under OnnxInterp's hook names) and case.json.

The reference runs in float32, not float64: with float64 weights transformers' eager attention adds float64's
lowest value to masked scores and then takes the softmax in float32, where that value is -inf, so the fully masked
rows of left padding become NaN and reach the real rows through the values of the next layer.
"""

import json
import math
import os
import platform
import shutil
import sys
import traceback

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

DEFAULT_OUT = os.path.join("tests", "OnnxInterp.Tests", "Goldens", "transformers")
PAD_ID = 0
BATCH_LENGTHS = (9, 5, 7)  # left-padded to 9
GEN_PROMPT_LENGTH = 7
GEN_NEW_TOKENS = 6
MIN_MARGIN = 0.02  # smallest accepted top-1 minus top-2 logit at any greedy step (ours runs fp32 too: ~1e-5 apart)
WEIGHT_STD = 0.15
BIAS_STD = 0.1
NORM_STD = 0.1  # norm weights 1 + N(0, 0.1²)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

# Shared shape of most cases: head_dim 16 everywhere.
SMALL = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, vocab_size=128,
             max_position_embeddings=256)

CASES = [
    dict(name="llama-gqa-untied", model_type="llama", dtype="float32", shard=None, seed=101,
         varied="GQA 4 query / 2 KV heads, untied embeddings, default rope, fp32, one file",
         config=dict(SMALL, num_key_value_heads=2, tie_word_embeddings=False)),
    dict(name="llama-tied-llama3rope-bf16", model_type="llama", dtype="bfloat16", shard=None, seed=102,
         varied="tied embeddings, llama3 rope scaling (orig 64: head_dim 16 has high, medium and low bands), "
                "rope_theta 500000, bf16, 3 layers",
         config=dict(SMALL, intermediate_size=128, num_hidden_layers=3, vocab_size=256, num_key_value_heads=2,
                     tie_word_embeddings=True,
                     rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                          high_freq_factor=4.0, original_max_position_embeddings=64))),
    dict(name="llama-bias-fp16-sharded", model_type="llama", dtype="float16", shard="100KB", seed=103,
         varied="attention_bias (q, k, v, o) and mlp_bias, fp16, sharded, 3 layers",
         config=dict(SMALL, intermediate_size=128, num_hidden_layers=3, num_key_value_heads=2,
                     attention_bias=True, mlp_bias=True)),
    dict(name="llama-linear-rope-mha", model_type="llama", dtype="float32", shard=None, seed=104,
         varied="linear rope scaling factor 2, MHA (4 KV heads), fp32",
         config=dict(SMALL, intermediate_size=48, num_key_value_heads=4,
                     rope_parameters=dict(rope_type="linear", rope_theta=10000.0, factor=2.0))),
    dict(name="llama-head-dim", model_type="llama", dtype="float32", shard=None, seed=105,
         varied="explicit head_dim 16 with hidden 32 and 4 heads (q width 64 != hidden), GQA 4/2, 3 layers",
         config=dict(SMALL, hidden_size=32, num_hidden_layers=3, num_key_value_heads=2, head_dim=16)),
    dict(name="mistral-sliding-window", model_type="mistral", dtype="float32", shard=None, seed=106,
         varied="sliding_window 3 (the prompts are up to 9 tokens, generation reaches 13), GQA 4/2, fp32",
         config=dict(SMALL, num_key_value_heads=2, sliding_window=3)),
    dict(name="qwen2-tied-biases-sharded", model_type="qwen2", dtype="float32", shard="80KB", seed=107,
         varied="Qwen2 q/k/v biases, tied embeddings, fp32, sharded",
         config=dict(SMALL, num_key_value_heads=2, tie_word_embeddings=True)),
    dict(name="qwen2-sliding-mqa", model_type="qwen2", dtype="bfloat16", shard=None, seed=108,
         varied="use_sliding_window with sliding_window 3 and max_window_layers 1 (layer_types full, sliding, "
                "sliding), MQA (1 KV head), bf16, 3 layers",
         config=dict(SMALL, num_hidden_layers=3, num_key_value_heads=1, use_sliding_window=True, sliding_window=3,
                     max_window_layers=1)),
]


class CaseError(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CaseError(message)


def scale_init(model, seed):
    """Weights N(0, 0.15²), biases N(0, 0.1²), norm weights 1 + N(0, 0.1²): activations of order 1, non-trivial attention."""
    g = torch.Generator().manual_seed(seed)
    seen = 0
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied parameters appear once
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + NORM_STD * noise)
            elif name.endswith(".bias"):
                p.copy_(BIAS_STD * noise)
            else:
                check(p.dim() == 2, f"unexpected parameter {name} {tuple(p.shape)}")
                p.copy_(WEIGHT_STD * noise)
            seen += 1
    return seen


def random_prompt(g, length, vocab):
    # Ids from 1 so that no real token is the padding id.
    return torch.randint(1, vocab, (length,), generator=g, dtype=torch.int64)


def left_pad(prompts):
    """As OnnxInterp's ForwardRequest.FromPrompts and transformers' generate: left padding with PAD_ID, mask 0 there,
    position_ids = cumsum(mask) - 1 with 1 at padded positions."""
    length = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), length), PAD_ID, dtype=torch.int64)
    mask = torch.zeros((len(prompts), length), dtype=torch.int64)
    for b, p in enumerate(prompts):
        ids[b, length - len(p):] = p
        mask[b, length - len(p):] = 1
    positions = mask.cumsum(-1) - 1
    positions.masked_fill_(mask == 0, 1)
    return ids, mask, positions


def layer_output(output):
    # Decoder layers return a tensor in transformers 5; older versions returned a tuple.
    return output if torch.is_tensor(output) else output[0]


def first_arg(args, kwargs, name):
    return args[0] if args else kwargs[name]


class Capture:
    """Forward hooks on every decoder layer, named as OnnxInterp's hook points."""

    def __init__(self, model):
        self.model = model
        self.values = {}
        self.checks = {}
        self.handles = []

    def put(self, store, key, tensor):
        check(key not in store, f"hook {key} fired twice in one forward")
        store[key] = tensor.detach().to(torch.float32).clone()

    def __enter__(self):
        layers = self.model.model.layers
        for l, layer in enumerate(layers):
            def pre(mod, args, kwargs, l=l):
                self.put(self.values, f"blocks.{l}.hook_resid_pre", first_arg(args, kwargs, "hidden_states"))

            def post(mod, args, kwargs, output, l=l):
                self.put(self.values, f"blocks.{l}.hook_resid_post", layer_output(output))

            def attn(mod, args, kwargs, output, l=l):
                self.put(self.checks, f"attn_out.{l}", output[0] if isinstance(output, tuple) else output)

            def mid(mod, args, l=l):
                self.put(self.values, f"blocks.{l}.hook_resid_mid", args[0])

            def mlp_post(mod, args, l=l):
                self.put(self.values, f"blocks.{l}.mlp.hook_post", args[0])

            self.handles += [
                layer.register_forward_pre_hook(pre, with_kwargs=True),
                layer.register_forward_hook(post, with_kwargs=True),
                layer.self_attn.register_forward_hook(attn, with_kwargs=True),
                layer.post_attention_layernorm.register_forward_pre_hook(mid),
                layer.mlp.down_proj.register_forward_pre_hook(mlp_post),
            ]

        def final_norm(mod, args):
            self.put(self.checks, "final_norm_in", args[0])

        self.handles.append(self.model.model.norm.register_forward_pre_hook(final_norm))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        return False


def max_rel(a, b):
    """Largest |a - b| over the largest |b| (at least 1), as the C# test measures."""
    return float((a - b).abs().max()) / max(1.0, float(b.abs().max()))


def greedy(model, prompt, steps):
    """Greedy decoding with transformers' KV cache; returns the new ids and each step's logits."""
    ids = prompt[None, :]
    mask = torch.ones_like(ids)
    out = model(input_ids=ids, attention_mask=mask, use_cache=True)
    tokens, scores = [], []
    for step in range(steps):
        logits = out.logits[0, -1].to(torch.float32)
        token = int(torch.argmax(logits))
        tokens.append(token)
        scores.append(logits.clone())
        if step + 1 == steps:
            break
        mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], dim=1)
        out = model(input_ids=torch.tensor([[token]], dtype=torch.int64), attention_mask=mask,
                    past_key_values=out.past_key_values, use_cache=True)
    return torch.tensor(tokens, dtype=torch.int64), torch.stack(scores)


def top1_margin(scores):
    top2 = torch.topk(scores, 2, dim=-1).values
    return float((top2[:, 0] - top2[:, 1]).min())


def run_case(case, out_root):
    name = case["name"]
    case_dir = os.path.join(out_root, name)
    if os.path.exists(case_dir):
        shutil.rmtree(case_dir)
    torch.manual_seed(case["seed"])

    config = AutoConfig.for_model(case["model_type"], **case["config"])
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    scale_init(model, case["seed"])
    if config.tie_word_embeddings:
        check(model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "lm_head is not tied")
    save_dtype = DTYPES[case["dtype"]]
    model.to(save_dtype)

    # Safetensors is the only format transformers 5 writes (save_pretrained has no safe_serialization any more).
    if case["shard"]:
        model.save_pretrained(case_dir, max_shard_size=case["shard"])
    else:
        model.save_pretrained(case_dir)
    written = sorted(os.listdir(case_dir))
    check("config.json" in written, f"no config.json written: {written}")
    if case["shard"]:
        check("model.safetensors.index.json" in written, f"expected a sharded checkpoint: {written}")
        check(sum(f.endswith(".safetensors") for f in written) >= 2, f"expected several shards: {written}")
    else:
        check("model.safetensors" in written, f"expected one model.safetensors: {written}")
    check(not any(f.endswith(".bin") for f in written), f"pytorch .bin written: {written}")
    with open(os.path.join(case_dir, "config.json")) as f:
        saved_config = json.load(f)
    check(saved_config.get("dtype", saved_config.get("torch_dtype")) == case["dtype"],
          f"config.json dtype {saved_config.get('dtype')} != {case['dtype']}")

    ref = AutoModelForCausalLM.from_pretrained(case_dir, dtype=torch.float32, attn_implementation="eager")
    ref.eval()
    check(ref.config._attn_implementation == "eager", f"attention is {ref.config._attn_implementation}")
    check(next(ref.parameters()).dtype == torch.float32, "reference is not float32")
    # The reference must hold exactly the saved (rounded) weights: a weight missing from the files would be
    # initialized silently.
    saved = {k: v.to(torch.float32) for k, v in model.state_dict().items()}
    loaded = ref.state_dict()
    check(set(saved) == set(loaded), f"state dict keys differ: {set(saved) ^ set(loaded)}")
    for k, v in saved.items():
        check(torch.equal(v, loaded[k]), f"reloaded weight {k} differs from the saved one")
    vocab = config.vocab_size
    layers = config.num_hidden_layers

    g = torch.Generator().manual_seed(case["seed"] * 7919)
    prompts = [random_prompt(g, n, vocab) for n in BATCH_LENGTHS]
    ids, mask, positions = left_pad(prompts)
    with torch.no_grad(), Capture(ref) as cap:
        out = ref(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False)
    logits = out.logits.to(torch.float32)
    batch, seq = ids.shape
    check(tuple(logits.shape) == (batch, seq, vocab), f"logits shape {tuple(logits.shape)}")
    expected_hooks = {f"blocks.{l}.{h}" for l in range(layers)
                      for h in ("hook_resid_pre", "hook_resid_mid", "hook_resid_post", "mlp.hook_post")}
    check(set(cap.values) == expected_hooks, f"hooks captured: {sorted(set(cap.values) ^ expected_hooks)}")

    real = mask.bool()[:, :, None]

    def at_real(t):
        return t[real.expand(t.shape[0], t.shape[1], t.shape[2])]

    # The hooks must be what their names say (checked at real positions: padded rows are meaningless).
    for l in range(layers):
        pre, mid = cap.values[f"blocks.{l}.hook_resid_pre"], cap.values[f"blocks.{l}.hook_resid_mid"]
        err = max_rel(at_real(pre + cap.checks[f"attn_out.{l}"]), at_real(mid))
        check(err <= 1e-6, f"layer {l}: resid_mid != resid_pre + attention output ({err:.2e})")
        if l + 1 < layers:
            check(torch.equal(at_real(cap.values[f"blocks.{l}.hook_resid_post"]),
                              at_real(cap.values[f"blocks.{l + 1}.hook_resid_pre"])),
                  f"layer {l} output is not layer {l + 1} input")
    check(torch.equal(at_real(cap.values[f"blocks.{layers - 1}.hook_resid_post"]), at_real(cap.checks["final_norm_in"])),
          "last layer output is not the final norm's input")

    tensors = {"logits": logits}
    tensors.update(cap.values)
    for k, v in tensors.items():
        r = real.expand(v.shape[0], v.shape[1], v.shape[2])
        check(bool(torch.isfinite(at_real(v)).all()), f"{k} is not finite at real positions")
        # Padded positions carry no meaning (transformers gives them a uniform attention): zero them.
        tensors[k] = torch.where(r, v, torch.zeros_like(v)).contiguous()

    # Greedy generation from one unpadded prompt; redraw the prompt until no step is a near tie.
    margin, gen_prompt, tokens, scores, draws = -1.0, None, None, None, 0
    while margin < MIN_MARGIN and draws < 50:
        gen_prompt = random_prompt(g, GEN_PROMPT_LENGTH, vocab)
        with torch.no_grad():
            tokens, scores = greedy(ref, gen_prompt, GEN_NEW_TOKENS)
        margin = top1_margin(scores)
        draws += 1
    check(margin >= MIN_MARGIN, f"no prompt in {draws} draws gives a top-1 margin of {MIN_MARGIN} (best {margin})")
    # The cached decoding must agree with one full forward over prompt + generated tokens.
    with torch.no_grad():
        full = ref(input_ids=torch.cat([gen_prompt, tokens[:-1]])[None, :], use_cache=False).logits[0].to(torch.float32)
    cache_vs_full = max_rel(scores, full[GEN_PROMPT_LENGTH - 1:])
    check(cache_vs_full <= 1e-4, f"cached decoding differs from the full forward by {cache_vs_full:.2e}")

    tensors.update({
        "input_ids": ids.contiguous(),
        "attention_mask": mask.contiguous(),
        "position_ids": positions.contiguous(),
        "generation_prompt": gen_prompt.contiguous(),
        "generated_ids": tokens.contiguous(),
        "generated_scores": scores.contiguous(),
    })
    safetensors.torch.save_file(tensors, os.path.join(case_dir, "expected.safetensors"),
                                metadata={"format": "pt", "producer": "tools/goldens/transformers-goldens.py"})

    max_abs = {k: float(v.abs().max()) for k, v in sorted(tensors.items()) if v.is_floating_point()}
    info = {
        "case": name,
        "family": case["model_type"],
        "architecture": saved_config.get("architectures", [None])[0],
        "dtype": case["dtype"],
        "sharded": bool(case["shard"]),
        "varied": case["varied"],
        "seed": case["seed"],
        "reference": "transformers eager attention in float32 on the saved (rounded) weights, CPU",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "safetensors_version": safetensors.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "checkpoint_files": written,
        "batch": {"prompt_lengths": list(BATCH_LENGTHS), "pad_token_id": PAD_ID, "padding": "left",
                  "position_ids": "cumsum(attention_mask) - 1, 1 at padded positions",
                  "padded_positions": "zeroed in every tensor; compare real positions only"},
        "generation": {"prompt_length": GEN_PROMPT_LENGTH, "max_new_tokens": GEN_NEW_TOKENS, "greedy": True,
                       "stops_at_eos": False, "prompt_draws": draws, "min_top1_margin": margin,
                       "cache_vs_full_forward_max_rel": cache_vs_full},
        "max_abs": max_abs,
    }
    with open(os.path.join(case_dir, "case.json"), "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(case_dir, f)) for f in os.listdir(case_dir))
    weights = sum(os.path.getsize(os.path.join(case_dir, f)) for f in written if f.endswith(".safetensors"))
    print(f"== {name}: {size / 1024:.0f} KB ({weights / 1024:.0f} KB of weights), files {sorted(os.listdir(case_dir))}")
    print(f"   generated {tokens.tolist()} min top-1 margin {margin:.4f}, cache vs full {cache_vs_full:.1e}")
    for k, v in max_abs.items():
        print(f"   max|{k}| = {v:.4f}")
    check(weights <= 320 * 1024, f"checkpoint weights are {weights / 1024:.0f} KB, above 320 KB")


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, safetensors {safetensors.__version__}")
    if int(transformers.__version__.split(".")[0]) < 5:
        print("transformers 5.x is required (the goldens pin what v5 writes)", file=sys.stderr)
        return 2
    os.makedirs(out_root, exist_ok=True)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    names = {c["name"] for c in CASES}
    for entry in sorted(os.listdir(out_root)):
        path = os.path.join(out_root, entry)
        if os.path.isdir(path) and entry not in names and os.path.exists(os.path.join(path, "case.json")):
            print(f"removing stale case {entry}")
            shutil.rmtree(path)
    failed = []
    for case in CASES:
        try:
            run_case(case, out_root)
        except Exception:
            traceback.print_exc()
            print(f"!! {case['name']} FAILED", file=sys.stderr)
            failed.append(case["name"])
            shutil.rmtree(os.path.join(out_root, case["name"]), ignore_errors=True)
    print(f"{len(CASES) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

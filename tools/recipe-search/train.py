"""Recipe search for the embedded family's base model, on a GPU.

The C# trainer (tools/OnnxInterp.Trainer) takes ~20 min per base run on 2 cores; this replica of it (same Llama
architecture, init, AdamW with decay on projections only, global-norm clipping, warmup + cosine to 10%, one document
per right-padded row, the loss weights of the dump) trains one variant in about a minute, so data and optimizer variants
can be compared before one is run for real in C#. Data come from `OnnxInterp.Trainer dump-recipe OUT.json.gz k=v ...`.

    python3 train.py DATA.json.gz --name NAME [--steps 5000 --fact-steps 1000 --lr 3e-3 --wd 0.1 ...]

Prints one JSON line per evaluation: held-out judging accuracy (overall and per dataset), judged accuracy, recall.
"""
import argparse, gzip, json, math, random, sys, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("data"); p.add_argument("--name", default="run")
p.add_argument("--steps", type=int, default=5000); p.add_argument("--fact-steps", type=int, default=1000)
p.add_argument("--lr", type=float, default=3e-3); p.add_argument("--wd", type=float, default=0.1)
p.add_argument("--warmup", type=int, default=100); p.add_argument("--clip", type=float, default=1.0)
p.add_argument("--batch", type=int, default=16); p.add_argument("--seq", type=int, default=96)
p.add_argument("--hidden", type=int, default=160); p.add_argument("--layers", type=int, default=6)
p.add_argument("--heads", type=int, default=5); p.add_argument("--kv", type=int, default=1)
p.add_argument("--head-dim", type=int, default=32); p.add_argument("--mlp", type=int, default=448)
p.add_argument("--answer-weight", type=float, default=None, help="override the dump's answer-token weight")
p.add_argument("--judge-share", type=float, default=None, help="fraction of rows drawn from judging documents after the fact phase (default: by count)")
p.add_argument("--pack", action="store_true", help="pack several documents per row (EOS-separated)")
p.add_argument("--eval-every", type=int, default=500); p.add_argument("--seed", type=int, default=1)
a = p.parse_args()

torch.manual_seed(a.seed); random.seed(a.seed)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
d = json.load(gzip.open(a.data))
V, PAD, TRUE, FALSE = d["vocab"], d["pad"], d["true_id"], d["false_id"]

def seqs(key):
    out = []
    for s in d[key]:
        w = list(map(float, s["w"]))
        if a.answer_weight is not None:
            w = [a.answer_weight if x > 1 else x for x in w]
        out.append((s["t"], w))
    return out
plain, judging = seqs("plain"), seqs("judging")

class Rope:
    def __init__(self, hd, n, theta=10000.0):
        inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        f = torch.outer(torch.arange(n, dtype=torch.float64), inv)
        emb = torch.cat([f, f], -1)
        self.cos, self.sin = emb.cos().float().to(dev), emb.sin().float().to(dev)
    def __call__(self, x):  # x [B, H, T, hd]
        T = x.shape[2]; c, s = self.cos[:T], self.sin[:T]
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], -1)
        return x * c + rot * s

class RMS(torch.nn.Module):
    def __init__(self, n):
        super().__init__(); self.weight = torch.nn.Parameter(torch.ones(n))
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.weight

class Block(torch.nn.Module):
    def __init__(s):
        super().__init__()
        H, hd = a.hidden, a.head_dim
        s.n1, s.n2 = RMS(H), RMS(H)
        s.q = torch.nn.Linear(H, a.heads * hd, bias=False); s.k = torch.nn.Linear(H, a.kv * hd, bias=False)
        s.v = torch.nn.Linear(H, a.kv * hd, bias=False); s.o = torch.nn.Linear(a.heads * hd, H, bias=False)
        s.g = torch.nn.Linear(H, a.mlp, bias=False); s.u = torch.nn.Linear(H, a.mlp, bias=False); s.dn = torch.nn.Linear(a.mlp, H, bias=False)
    def forward(s, x, rope):
        B, T, _ = x.shape; hd = a.head_dim
        h = s.n1(x)
        q = rope(s.q(h).view(B, T, a.heads, hd).transpose(1, 2))
        k = rope(s.k(h).view(B, T, a.kv, hd).transpose(1, 2))
        v = s.v(h).view(B, T, a.kv, hd).transpose(1, 2)
        rep = a.heads // a.kv
        k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.o(att.transpose(1, 2).reshape(B, T, -1))
        h = s.n2(x)
        return x + s.dn(F.silu(s.g(h)) * s.u(h))

class Model(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = torch.nn.Embedding(V, a.hidden)
        s.blocks = torch.nn.ModuleList([Block() for _ in range(a.layers)])
        s.norm = RMS(a.hidden); s.head = torch.nn.Linear(a.hidden, V, bias=False)
        s.rope = Rope(a.head_dim, 512)
        std, res = 0.02, 0.02 / math.sqrt(2 * a.layers)
        for n, prm in s.named_parameters():
            if prm.dim() == 1: continue
            torch.nn.init.normal_(prm, 0, res if (n.endswith("o.weight") or n.endswith("dn.weight")) else std)
    def forward(s, ids):
        x = s.emb(ids)
        for b in s.blocks: x = b(x, s.rope)
        return s.head(s.norm(x))

model = Model().to(dev)
decay = [p_ for n, p_ in model.named_parameters() if p_.dim() == 2 and not n.startswith("emb")]
nodecay = [p_ for n, p_ in model.named_parameters() if not (p_.dim() == 2 and not n.startswith("emb"))]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
                        lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=dev == "cuda")

def lr_at(step):
    if step < a.warmup: return a.lr * (step + 1) / a.warmup
    prog = min(1.0, max(0.0, (step - a.warmup) / max(1, a.steps - a.warmup - 1)))
    return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))

class Rows:
    def __init__(self, pool, seed):
        self.pool, self.rng, self.order, self.i = pool, random.Random(seed), list(range(len(pool))), len(pool)
    def next(self):
        if self.i == len(self.order): self.rng.shuffle(self.order); self.i = 0
        self.i += 1
        return self.pool[self.order[self.i - 1]]

rows_plain, rows_judge, rows_all = Rows(plain, a.seed), Rows(judging, a.seed + 7), Rows(plain + judging, a.seed + 100)
wrng = random.Random(a.seed + 3)
def draw(step):
    if step < a.fact_steps: return rows_plain.next()
    if a.judge_share is None: return rows_all.next()
    return rows_judge.next() if wrng.random() < a.judge_share else rows_plain.next()

def batch(step):
    T = a.seq
    ids = torch.full((a.batch, T), PAD, dtype=torch.long); tg = torch.full((a.batch, T), PAD, dtype=torch.long)
    w = torch.zeros((a.batch, T))
    for b in range(a.batch):
        pos = 0
        while pos < T:
            t, ws = draw(step)
            start = wrng.randrange(len(t) - T) if len(t) > T + 1 else 0
            n = min(T - pos, len(t) - start - 1)
            ids[b, pos:pos + n] = torch.tensor(t[start:start + n]); tg[b, pos:pos + n] = torch.tensor(t[start + 1:start + n + 1])
            w[b, pos:pos + n] = torch.tensor(ws[start:start + n])
            pos += n
            if not a.pack: break
    return ids.to(dev), tg.to(dev), w.to(dev)

def pad_batch(items):
    L = max(len(it["ids"]) for it in items)
    x = torch.full((len(items), L), PAD, dtype=torch.long)
    for i, it in enumerate(items): x[i, :len(it["ids"])] = torch.tensor(it["ids"])
    return x.to(dev), torch.tensor([len(it["ids"]) - 1 for it in items], device=dev)

@torch.no_grad()
def judge(items):
    ok, by = [], {}
    for s in range(0, len(items), 256):
        chunk = items[s:s + 256]
        x, last = pad_batch(chunk)
        lg = model(x)[torch.arange(len(chunk), device=dev), last]
        pred = (lg[:, TRUE] > lg[:, FALSE]).long().tolist()
        for it, pr in zip(chunk, pred):
            o = pr == it["label"]; ok.append(o); by.setdefault(it["ds"], []).append(o)
    return sum(ok) / len(ok), {k: round(sum(v) / len(v), 3) for k, v in by.items()}

@torch.no_grad()
def recall(items):
    x, last = pad_batch(items)
    lg = model(x)[torch.arange(len(items), device=dev), last]
    return sum(int(p_ == it["target"]) for p_, it in zip(lg.argmax(-1).tolist(), items)) / len(items)

def evaluate(step, loss):
    model.eval()
    h, by = judge(d["held"]); j, _ = judge(d["judged"]); r = recall(d["recall"])
    model.train()
    print(json.dumps({"name": a.name, "step": step, "loss": round(loss, 4), "held": round(h, 4), "judged": round(j, 4), "recall": round(r, 3), "by": by,
                      "t": round(time.time() - t0, 1)}), flush=True)

t0 = time.time(); loss_avg = 0.0
for step in range(a.steps):
    for g in opt.param_groups: g["lr"] = lr_at(step)
    ids, tg, w = batch(step)
    lg = model(ids)
    ce = F.cross_entropy(lg.view(-1, V), tg.view(-1), reduction="none")
    loss = (ce * w.view(-1)).sum() / w.sum()
    opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
    opt.step()
    loss_avg = 0.98 * loss_avg + 0.02 * loss.item() if step else loss.item()
    if (step + 1) % a.eval_every == 0 or step + 1 == a.steps: evaluate(step + 1, loss_avg)
print(json.dumps({"name": a.name, "done": True, "params": sum(p_.numel() for p_ in model.parameters()), "seconds": round(time.time() - t0, 1)}), flush=True)

#!/usr/bin/env bash
# Runs recipe variants in parallel on one GPU machine: each line of the plan file is "NAME DATA [train.py options]".
# Usage: tools/recipe-search/search.sh PLAN DATA_DIR OUT_DIR [PARALLEL]
set -u
plan=$1; data=$2; out=$3; par=${4:-12}
here=$(dirname "$0")
mkdir -p "$out/logs"
nvidia-cuda-mps-control -d 2>/dev/null && echo "MPS on" || echo "MPS not started"
while read -r name file opts; do
  while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do sleep 1; done
  PYTHONUNBUFFERED=1 python3 "$here/train.py" "$data/$file" --name "$name" $opts >"$out/logs/$name.txt" 2>&1 &
done < <(grep -v '^\s*#' "$plan" | grep -v '^\s*$')
wait
cat "$out"/logs/*.txt > "$out/all.jsonl"
python3 - "$out/all.jsonl" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    try: r = json.loads(line)
    except Exception: print("!", line.strip()[:200]); continue
    if "step" in r: rows.setdefault(r["name"], []).append(r)
for n, rs in sorted(rows.items()):
    best = max(rs, key=lambda r: r["held"])
    last = rs[-1]
    print(f"{n:28s} last step {last['step']:5d} held {last['held']:.3f} judged {last['judged']:.3f} recall {last['recall']:.2f} loss {last['loss']:.3f} | best held {best['held']:.3f}@{best['step']} | {last['by']} | {last['t']}s")
PY

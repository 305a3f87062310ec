#!/usr/bin/env bash
# The real-size costs of `compare --preset paper`: a random checkpoint pair of TinyLlama-1.1B's shape (hidden 2048,
# 22 layers, 32/4 heads, MLP 5632, bf16) carrying the real Llama-2 tokenizer, exported, then each analysis run alone on
# the paper's cities.csv, each under /usr/bin/time (wall time and peak resident memory). Nothing is downloaded; the
# checkpoints are written to a temporary folder and deleted at the end (KEEP=1 keeps them).
#
#   tools/paper-bench/run.sh [SHARED_DIR]        (default ../shared beside the repository)
#
# Settings (environment): PAIRS (knowledge pairs, default 2), STATEMENTS (truth statements per dataset, default 32),
# TRAIN/INSTRUCTIONS (refusal training and test instructions per class from the paper's refusal_train.csv, default 32/8),
# STEPS (default "knowledge truth refusal entropy"), TMP (default a mktemp folder), LAYERS/HIDDEN/MLP/HEADS/KV for
# another shape, THREADS (ORT intra-op threads, default 0 = ORT's), SKIP_WRITE=1 to reuse TMP's checkpoints and exports.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shared=${1:-"$repo/../shared"}
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is needed (Debian: apt-get install time)" >&2; exit 1; }
[ -f "$shared/datasets/paper/cities.csv" ] || { echo "error: $shared/datasets/paper/cities.csv not found" >&2; exit 1; }
PAIRS=${PAIRS:-2} STATEMENTS=${STATEMENTS:-32} TRAIN=${TRAIN:-32} INSTRUCTIONS=${INSTRUCTIONS:-8}
STEPS=${STEPS:-"knowledge truth refusal entropy"}
LAYERS=${LAYERS:-22} HIDDEN=${HIDDEN:-2048} MLP=${MLP:-5632} HEADS=${HEADS:-32} KV=${KV:-4} THREADS=${THREADS:-0}
tmp=${TMP:-$(mktemp -d)}
mkdir -p "$tmp"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT

dotnet build "$repo/src/OnnxInterp.Cli" -c Release -v q -nologo >/dev/null
cli=(dotnet "$repo/src/OnnxInterp.Cli/bin/Release/net10.0/OnnxInterp.Cli.dll")
results="$tmp/bench.tsv"
printf 'what\tseconds\tpeak_rss_mb\n' > "$results"

measure() {  # measure LABEL CMD...: runs CMD under /usr/bin/time, appends a row
  local label=$1; shift
  /usr/bin/time -f '%e %M' -o "$tmp/time.txt" "$@" > "$tmp/$label.out" 2> "$tmp/$label.err" || {
    echo "error: $label failed:" >&2; tail -5 "$tmp/$label.err" >&2; exit 1; }
  read -r secs kb < "$tmp/time.txt"
  printf '%s\t%s\t%d\n' "$label" "$secs" $((kb / 1024)) >> "$results"
  printf '%-28s %8ss %8d MB\n' "$label" "$secs" $((kb / 1024))
}

for m in base:1 instruct:2; do
  [ "${SKIP_WRITE:-0}" = 1 ] && break
  name=${m%%:*} seed=${m##*:}
  measure "sample-$name" "${cli[@]}" sample --out "$tmp/$name-hf" --layers "$LAYERS" --hidden "$HIDDEN" --intermediate "$MLP" \
    --heads "$HEADS" --kv-heads "$KV" --dtype bf16 --seed "$seed" --tokenizer "$shared/tokenizers/llama2"
  measure "export-$name" "${cli[@]}" export "$tmp/$name-hf" --out "$tmp/$name"
done
d="$shared/datasets/paper"
for step in $STEPS; do
  datasets="$d/cities.csv"
  case $step in
    knowledge) sets=(--set "knowledge.maxPairs=$PAIRS");;
    # The paper's truth protocol learns on five datasets and intervenes on cities (probe_transfer.py, interventions.py).
    truth) datasets="$d/cities.csv,$d/sp_en_trans.csv,$d/animal_class.csv,$d/inventors.csv,$d/element_symb.csv,$d/facts.csv"
           sets=(--set "truth.maxStatementsPerDataset=$STATEMENTS" --set "truth.maxInterventionStatements=$((STATEMENTS / 4))");;
    refusal) sets=(--set "refusal.instructions=$d/refusal_train.csv" --set "refusal.maxTrain=$TRAIN" --set "refusal.maxTest=$INSTRUCTIONS");;
    *) sets=();;
  esac
  rm -rf "$tmp/report-$step"
  measure "compare-$step" "${cli[@]}" compare --base "base=$tmp/base" --post "instruct=$tmp/instruct" --preset paper \
    --datasets "$datasets" --only "$step" --threads "$THREADS" "${sets[@]}" --out "$tmp/report-$step"
done
echo "rows: $results"; cat "$results"

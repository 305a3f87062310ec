#!/bin/sh
# Runs on the GPU machine after join.sh: reports which CUDA 13 / cuDNN 9 libraries the CUDA provider of ONNX Runtime
# 1.31.0 finds, then runs the published benchmarks with --provider cuda. No .NET SDK needed (the publish is
# self-contained). POSIX sh, coreutils, ldd and ldconfig; python3 only to find NVIDIA wheels.
#
#   check.sh [--publish DIR] [--out DIR] [--libs-only] [--with-cpu] [--timeout S] [-- BENCHMARK OPTIONS]
#
# --publish: the extracted publish (default: tools/gpu-check/out/onnxinterp-gpu-check, or ../onnxinterp-gpu-check
#            beside a parts folder holding this script). --out: results (default: PUBLISH/../results).
# --libs-only: stop after the library report. --with-cpu: also run both benchmarks with --provider cpu.
# --timeout: seconds per benchmark run (default 240). Options after -- go to both benchmarks (e.g. --rounds 20).
# Exit codes: 0 done; 2 usage or no publish; 3 CUDA libraries missing; 4 a benchmark failed or timed out;
# 5 the published executable does not start.
set -u

here=$(cd "$(dirname "$0")" && pwd)
publish= out= libs_only=0 with_cpu=0 limit=240
while [ $# -gt 0 ]; do
  case $1 in
    --publish) publish=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --libs-only) libs_only=1; shift ;;
    --with-cpu) with_cpu=1; shift ;;
    --timeout) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: check.sh [--publish DIR] [--out DIR] [--libs-only] [--with-cpu] [--timeout S] [-- BENCHMARK OPTIONS]" >&2; exit 2 ;;
  esac
done
if [ -z "$publish" ]; then
  if [ -f "$here/MANIFEST" ]; then publish=$(dirname "$here")/onnxinterp-gpu-check; else publish=$here/out/onnxinterp-gpu-check; fi
fi
exe=$publish/OnnxInterp.Benchmarks
cuda_ep=$publish/libonnxruntime_providers_cuda.so
if [ ! -f "$cuda_ep" ] || [ ! -f "$exe" ]; then
  echo "check.sh: no publish with OnnxInterp.Benchmarks and libonnxruntime_providers_cuda.so in $publish; run join.sh first" >&2
  exit 2
fi
publish=$(cd "$publish" && pwd)
[ -n "$out" ] || out=$(dirname "$publish")/results
mkdir -p "$out"
out=$(cd "$out" && pwd)
report=$out/libraries.txt
: > "$report"
say() { echo "$*"; echo "$*" >> "$report"; }

# Library folders beyond the loader's defaults: NVIDIA's Python wheels (CUDA 13 wheels put theirs under
# site-packages/nvidia/cu13/lib, cuDNN under nvidia/cudnn/lib), the CUDA toolkit, a container's driver mount.
extra=
add_dir() { [ -d "$1" ] || return 0; case ":$extra:" in *":$1:"*) ;; *) extra=${extra:+$extra:}$1 ;; esac; }
if command -v python3 >/dev/null 2>&1; then
  for d in $(timeout 30 python3 -c '
import glob, os, site, sys
roots = set(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
try:
    roots.update(site.getsitepackages()); roots.add(site.getusersitepackages())
except AttributeError:
    pass
for r in sorted(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "lib64"))):
        print(d)
' 2>/dev/null); do add_dir "$d"; done
fi
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu/nvidia; do add_dir "$d"; done
# A LD_LIBRARY_PATH set by the caller comes first and wins.
if [ -n "$extra" ]; then
  LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$extra
  export LD_LIBRARY_PATH
fi
say "== gpu-check on $(uname -n), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout 60 nvidia-smi > "$out/nvidia-smi.txt" 2>&1
  say "nvidia-smi: $(timeout 60 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1); $(grep -o 'CUDA Version: [0-9.]*' "$out/nvidia-smi.txt" | head -1)"
else
  say "nvidia-smi: not found"
fi

ldconfig_p=$( (ldconfig -p || /sbin/ldconfig -p) 2>/dev/null )
# Prints where the loader would find $1: the first LD_LIBRARY_PATH folder holding it, else the ldconfig cache.
find_lib() {
  old_ifs=$IFS; IFS=:
  for d in ${LD_LIBRARY_PATH:-}; do
    if [ -n "$d" ] && [ -e "$d/$1" ]; then IFS=$old_ifs; echo "$d/$1"; return 0; fi
  done
  IFS=$old_ifs
  echo "$ldconfig_p" | awk -v l="$1" '$1 == l && /x86-64/ { print $NF; exit }' | grep . && return 0
  return 1
}
# Other versions of the same library (libcublas.so.12 where .so.13 is needed), for the report.
other_versions() {
  stem=${1%%.so*}.so
  { echo "$ldconfig_p" | awk '{ print $1 }'
    old_ifs=$IFS; IFS=:
    for d in ${LD_LIBRARY_PATH:-}; do [ -d "$d" ] && ls "$d"; done
    IFS=$old_ifs
  } 2>/dev/null | grep "^$stem\.[0-9]" | grep -vx "$1" | sort -u | tr '\n' ' '
}

# The list: the NEEDED entries of libonnxruntime_providers_cuda.so 1.31.0 (readelf -d; the system ones, libc,
# libstdc++ and so on, left out), then what it dlopens: cuDNN 9 (which loads its sub-libraries as needed) and NVRTC.
required="libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libcudnn.so.9"
optional="libcudnn_graph.so.9 libcudnn_ops.so.9 libcudnn_cnn.so.9 libcudnn_adv.so.9 libcudnn_engines_precompiled.so.9 libcudnn_engines_runtime_compiled.so.9 libcudnn_heuristic.so.9 libnvrtc.so.13"
missing=
say ""
say "== libraries (required: NEEDED by the CUDA provider, and libcudnn.so.9 it dlopens; optional: loaded on demand)"
for lib in $required $optional; do
  case " $required " in *" $lib "*) kind=required ;; *) kind=optional ;; esac
  if path=$(find_lib "$lib"); then
    say "ok       $kind  $lib  $path"
  else
    others=$(other_versions "$lib")
    say "MISSING  $kind  $lib${others:+  (found other versions: $others)}"
    [ "$kind" = required ] && missing="$missing $lib"
  fi
done
say ""
say "== ldd $cuda_ep"
ldd "$cuda_ep" > "$out/ldd-providers-cuda.txt" 2>&1
cat "$out/ldd-providers-cuda.txt" | tee -a "$report"
# "libX => not found", and "version `libX' not found" where an older build of a library is found first.
for lib in $(awk '/=> not found/ { print $1 }' "$out/ldd-providers-cuda.txt") \
           $(sed -n "s/.*version \`\([^']*\)' not found.*/\1(version)/p" "$out/ldd-providers-cuda.txt"); do
  case " $missing " in *" $lib "*) ;; *) missing="$missing $lib" ;; esac
done
say ""
if [ -n "$missing" ]; then
  say "check.sh: CUDA provider cannot load, missing:$missing"
  say "  install CUDA 13 and cuDNN 9 (e.g. pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand nvidia-cudnn-cu13, whose lib folders this script adds) or put their folders on LD_LIBRARY_PATH"
  exit 3
fi
say "check.sh: every required library resolves"

if ! timeout 60 "$exe" --help > "$out/help.txt" 2>&1; then
  say "check.sh: $exe does not start:"
  tail -5 "$out/help.txt" | tee -a "$report"
  exit 5
fi
[ "$libs_only" = 1 ] && exit 0

failed=
run_bench() {  # VERB PROVIDER [BENCHMARK OPTIONS]
  verb=$1 provider=$2; shift 2
  log=$out/$verb-$provider.log
  echo "== $verb --provider $provider $* (log $log)"
  timeout "$limit" "$exe" "$verb" --provider "$provider" --json "$out/$verb-$provider.json" "$@" > "$log" 2>&1
  rc=$?
  tail -25 "$log"
  if [ $rc -ne 0 ]; then
    if [ $rc -eq 124 ]; then why="ran past $limit s"; else why="exit code $rc"; fi
    say "check.sh: $verb --provider $provider failed ($why); see $log"
    failed="$failed $verb-$provider"
  fi
}
for verb in forward trace; do
  run_bench "$verb" cuda "$@"
  [ "$with_cpu" = 0 ] || run_bench "$verb" cpu "$@"
done
echo "results in $out: $(cd "$out" && ls | tr '\n' ' ')"
[ -z "$failed" ] || exit 4

#!/bin/sh
# Builds the GPU check on a machine with the .NET SDK: publishes tools/OnnxInterp.Benchmarks self-contained for
# linux-x64 with the CUDA provider, then packs it into parts a GPU machine can receive one at a time (pack.sh).
#
#   tools/gpu-check/build.sh [--compressor zstd|xz|gzip] [--part-bytes N] [--out DIR]
#
# Writes DIR/onnxinterp-gpu-check/ (the publish) and DIR/parts/ (the parts, MANIFEST, join.sh, check.sh);
# DIR defaults to tools/gpu-check/out (ignored by git: never commit the parts).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$here/out
compressor=zstd
part_bytes=62914560   # 60 MiB: one part per 64 MiB transfer, with room for the MANIFEST
while [ $# -gt 0 ]; do
  case $1 in
    --compressor) compressor=$2; shift 2 ;;
    --part-bytes) part_bytes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "build.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

pub=$out/onnxinterp-gpu-check
rm -rf "$pub" "$out/parts"
mkdir -p "$out"
# The library references Microsoft.ML.OnnxRuntime.Gpu (OnnxRuntimeFlavor=Gpu is the default; only the tool package
# switches to Cpu): the linux-x64 publish carries libonnxruntime_providers_cuda.so. InvariantGlobalization: the GPU
# machine may have no ICU, and the benchmarks need none. Its own artifacts path keeps the tree's bin/ and obj/ as they are.
echo "build.sh: dotnet publish (self-contained linux-x64, CUDA provider) -> $pub"
dotnet publish "$root/tools/OnnxInterp.Benchmarks/OnnxInterp.Benchmarks.csproj" -c Release -r linux-x64 --self-contained true \
  -p:OnnxRuntimeFlavor=Gpu -p:InvariantGlobalization=true -p:SatelliteResourceLanguages=en \
  --artifacts-path "$out/artifacts" -o "$pub" -nologo -v:q

# Microsoft.ML.OnnxRuntime.Gpu.Windows's build props copy its natives (onnxruntime*.dll, 215 MB) into every x64
# output, Linux included; the managed Microsoft.ML.OnnxRuntime.dll stays.
rm -f "$pub"/onnxruntime*.dll
for f in OnnxInterp.Benchmarks libonnxruntime.so libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
  [ -f "$pub/$f" ] || { echo "build.sh: the publish lacks $f" >&2; exit 1; }
done
echo "build.sh: publish $(du -sb "$pub" | cut -f1) bytes in $(find "$pub" -type f | wc -l) files"

sh "$here/pack.sh" "$pub" "$out/parts" --compressor "$compressor" --part-bytes "$part_bytes"
# The parts folder is all a machine without this repository needs.
cp "$here/join.sh" "$here/check.sh" "$out/parts/"

#!/usr/bin/env bash
# Make a tiny random checkpoint, export it to ONNX with hook I/O, inspect it and capture the residual stream.
# (The README starts with the demo on the embedded family; this is the smallest tour of export, inspect and capture.)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out/quickstart}
cli() { dotnet run --project src/OnnxInterp.Cli -c Release --verbosity quiet -- "$@"; }
dotnet build src/OnnxInterp.Cli -c Release --verbosity quiet --nologo
cli sample --out "$out/tiny-hf" --family llama --layers 4
cli export "$out/tiny-hf" --out "$out/tiny-onnx"
cli inspect "$out/tiny-onnx"
cli run "$out/tiny-onnx" --prompt "The city of Paris is in France." --hooks 'blocks.*.hook_resid_post' --save "$out/activations.safetensors"

#!/bin/sh
# Packs a folder into a compressed tar split into parts of at most N bytes, with a MANIFEST of sizes and SHA-256
# sums that join.sh checks. POSIX sh, coreutils, tar and the compressor.
#
#   pack.sh DIR OUTDIR [--compressor zstd|xz|gzip] [--part-bytes N] [--name NAME]
#
# OUTDIR gets NAME.part-00, NAME.part-01, ... and MANIFEST; NAME defaults to DIR's name + .tar.zst (.tar.xz, .tar.gz).
set -eu

usage() { echo "usage: pack.sh DIR OUTDIR [--compressor zstd|xz|gzip] [--part-bytes N] [--name NAME]" >&2; exit 2; }
[ $# -ge 2 ] || usage
src=$1 dest=$2; shift 2
compressor=zstd part_bytes=62914560 name=
while [ $# -gt 0 ]; do
  case $1 in
    --compressor) compressor=$2; shift 2 ;;
    --part-bytes) part_bytes=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    *) usage ;;
  esac
done
[ -d "$src" ] || { echo "pack.sh: no folder $src" >&2; exit 2; }
case $part_bytes in ''|*[!0-9]*) echo "pack.sh: --part-bytes must be a positive integer, not '$part_bytes'" >&2; exit 2 ;; esac
[ "$part_bytes" -gt 0 ] || { echo "pack.sh: --part-bytes must be positive" >&2; exit 2; }
# zstd -19: level 19 with the default 8 MiB window, so any zstd decoder (python's included) reads it without --long.
case $compressor in
  zstd) ext=zst; compress='zstd -19 -T0 -q -c' ;;
  xz) ext=xz; compress='xz -9 -T0 -c' ;;
  gzip) ext=gz; compress='gzip -9 -c' ;;
  *) echo "pack.sh: --compressor must be zstd, xz or gzip, not '$compressor'" >&2; exit 2 ;;
esac
command -v "$compressor" >/dev/null 2>&1 || { echo "pack.sh: $compressor is not installed here; try --compressor xz or gzip" >&2; exit 2; }

src=$(cd "$src" && pwd)
top=$(basename "$src")
[ -n "$name" ] || name=$top.tar.$ext
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
rm -f "$dest/$name" "$dest/$name".part-* "$dest/MANIFEST"

raw_bytes=$(du -sb "$src" | cut -f1)
start=$(date +%s)
# Owner and group are dropped so extraction as any user gives the same tree; modes (the executable bit) are kept.
tar -C "$(dirname "$src")" --owner=0 --group=0 --numeric-owner -cf - "$top" | $compress > "$dest/$name"
archive_bytes=$(wc -c < "$dest/$name" | tr -d ' ')
archive_sum=$(sha256sum "$dest/$name" | cut -d' ' -f1)
(cd "$dest" && split -b "$part_bytes" -d -a 2 "$name" "$name.part-")
rm -f "$dest/$name"

{
  echo "# onnxinterp gpu-check parts: join.sh checks each part, joins them in this order, checks the archive, extracts."
  echo "format 1"
  echo "compressor $compressor"
  echo "root $top"
  echo "unpacked_bytes $raw_bytes"
  echo "archive $name $archive_sum $archive_bytes"
  for p in "$dest/$name".part-*; do
    echo "part $(basename "$p") $(sha256sum "$p" | cut -d' ' -f1) $(wc -c < "$p" | tr -d ' ')"
  done
} > "$dest/MANIFEST"

parts=$(grep -c '^part ' "$dest/MANIFEST")
echo "pack.sh: $top: $raw_bytes bytes -> $name $archive_bytes bytes ($compressor, $(( $(date +%s) - start )) s) -> $parts part(s) of at most $part_bytes bytes in $dest"

#!/bin/sh
# Runs on the GPU machine (no .NET, no network needed): checks every part named in MANIFEST, joins them, checks the
# archive and extracts it. POSIX sh, coreutils and tar; the decompressor is the compressor's command, else python3.
#
#   join.sh [PARTS_DIR] [DEST] [--no-extract]
#
# PARTS_DIR: the folder with MANIFEST and the parts (default: this script's folder if it holds a MANIFEST, else
# tools/gpu-check/out/parts). DEST: where ROOT/ is extracted (default: PARTS_DIR/..). --no-extract leaves the
# checked archive in DEST instead.
# Exit codes: 0 done; 2 usage or no MANIFEST; 3 a part is missing; 4 a part is corrupt; 5 the joined archive does
# not match; 6 no decompressor, or extraction failed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
parts= dest= extract=1
for a in "$@"; do
  case $a in
    --no-extract) extract=0 ;;
    -*) echo "usage: join.sh [PARTS_DIR] [DEST] [--no-extract]" >&2; exit 2 ;;
    *) if [ -z "$parts" ]; then parts=$a; elif [ -z "$dest" ]; then dest=$a; else echo "join.sh: unexpected '$a'" >&2; exit 2; fi ;;
  esac
done
if [ -z "$parts" ]; then
  if [ -f "$here/MANIFEST" ]; then parts=$here; else parts=$here/out/parts; fi
fi
[ -f "$parts/MANIFEST" ] || { echo "join.sh: no MANIFEST in $parts" >&2; exit 2; }
parts=$(cd "$parts" && pwd)
[ -n "$dest" ] || dest=$(dirname "$parts")
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)

field() { awk -v k="$1" '$1 == k { print $2; exit }' "$parts/MANIFEST"; }
compressor=$(field compressor)
root=$(field root)
set -- $(awk '$1 == "archive" { print $2, $3, $4; exit }' "$parts/MANIFEST")
archive=$1 archive_sum=$2 archive_bytes=$3

# Every part first, so one run names every missing or corrupt part.
missing= corrupt= n=0
while read -r kind name sum bytes; do
  [ "$kind" = part ] || continue
  n=$((n + 1))
  if [ ! -f "$parts/$name" ]; then missing="$missing $name"; continue; fi
  size=$(wc -c < "$parts/$name" | tr -d ' ')
  actual=$(sha256sum "$parts/$name" | cut -d' ' -f1)
  if [ "$size" != "$bytes" ] || [ "$actual" != "$sum" ]; then
    corrupt="$corrupt $name"
    echo "join.sh: $name is corrupt: $size bytes, sha256 $actual; the MANIFEST says $bytes bytes, sha256 $sum" >&2
  fi
done < "$parts/MANIFEST"
if [ -n "$missing" ]; then echo "join.sh: missing part(s):$missing (of $n, in $parts)" >&2; exit 3; fi
if [ -n "$corrupt" ]; then echo "join.sh: corrupt part(s):$corrupt; copy them again" >&2; exit 4; fi
echo "join.sh: $n part(s) checked"

tmp=$dest/.join.$$
rm -rf "$tmp"
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT
awk '$1 == "part" { print $2 }' "$parts/MANIFEST" | while read -r name; do cat "$parts/$name"; done > "$tmp/$archive"
actual=$(sha256sum "$tmp/$archive" | cut -d' ' -f1)
[ "$actual" = "$archive_sum" ] || { echo "join.sh: the joined $archive has sha256 $actual, not $archive_sum" >&2; exit 5; }
echo "join.sh: $archive ($archive_bytes bytes) matches the MANIFEST"

if [ "$extract" = 0 ]; then
  mv "$tmp/$archive" "$dest/$archive"
  echo "join.sh: left $dest/$archive"
  exit 0
fi

# The compressor's own command if present, else python3's (lzma and gzip are in its standard library; zstd needs the
# zstandard package or Python 3.14's compression.zstd).
py_copy='import shutil, sys; shutil.copyfileobj(OPEN(sys.stdin.buffer), sys.stdout.buffer)'
decompress() {
  case $compressor in
    zstd)
      if command -v zstd >/dev/null 2>&1; then zstd -dc -q
      elif python3 -c 'import zstandard' 2>/dev/null; then python3 -c 'import sys, zstandard; zstandard.ZstdDecompressor().copy_stream(sys.stdin.buffer, sys.stdout.buffer)'
      elif python3 -c 'import compression.zstd' 2>/dev/null; then python3 -c "from compression import zstd; $(echo "$py_copy" | sed 's/OPEN/zstd.open/')"
      else echo "join.sh: no zstd decoder here (zstd, python3 -m pip install zstandard, or Python 3.14); rebuild with build.sh --compressor xz" >&2; return 1
      fi ;;
    xz)
      if command -v xz >/dev/null 2>&1; then xz -dc
      else python3 -c "import lzma; $(echo "$py_copy" | sed 's/OPEN/lzma.open/')"
      fi ;;
    gzip)
      if command -v gzip >/dev/null 2>&1; then gzip -dc
      else python3 -c "import gzip; $(echo "$py_copy" | sed 's/OPEN/gzip.open/')"
      fi ;;
    *) echo "join.sh: unknown compressor '$compressor' in MANIFEST" >&2; return 1 ;;
  esac
}
mkdir "$tmp/x"
if ! decompress < "$tmp/$archive" | tar -xf - -C "$tmp/x"; then
  echo "join.sh: could not extract $archive" >&2
  exit 6
fi
[ -d "$tmp/x/$root" ] || { echo "join.sh: $archive holds no $root/" >&2; exit 6; }
rm -rf "${dest:?}/$root"
mv "$tmp/x/$root" "$dest/$root"
echo "join.sh: extracted $dest/$root ($(du -sb "$dest/$root" | cut -f1) bytes)"

#!/usr/bin/env bash
# Log store yardsticks: compression vs `zstd -3`, ingest MB of JSON per CPU
# second, and needle search time vs `grep -F` over the raw file in page cache.
# Everything runs on the same generated corpus in the same run.
#
#   bench/logs/run.sh [SIZE] [WORKDIR]      # SIZE like 200M or 1G (default 1G)
#
# Needs: cargo, zstd, grep, /usr/bin/time. Prints a markdown table.
# SKIP_BUILD=1 uses the binaries already in $CARGO_TARGET_DIR/release.
set -euo pipefail

SIZE="${1:-1G}"
WORK="${2:-/tmp/sightline-logs-bench}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RUNS="${RUNS:-20}"

mkdir -p "$WORK"
CORPUS="$WORK/corpus-$SIZE.jsonl"
STORE="$WORK/store-$SIZE"

if [[ -z "${SKIP_BUILD:-}" ]]; then
  (cd "$ROOT" && cargo build --release -q -p sightline-logstore --bins)
fi
BIN="$CARGO_TARGET_DIR/release"

if [[ ! -s "$CORPUS" || ! -s "$CORPUS.needles.tsv" ]]; then
  "$BIN/gen-corpus" --bytes "$SIZE" --out "$CORPUS"
fi
RAW=$(stat -c %s "$CORPUS")
LINES=$(wc -l < "$CORPUS")

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }

# --- zstd -3 on the raw file
t0=$(now)
zstd -3 -q -f -k "$CORPUS" -o "$WORK/corpus.zst"
t1=$(now)
ZSTD=$(stat -c %s "$WORK/corpus.zst")
ZSTD_S=$(secs "$t0" "$t1")
rm -f "$WORK/corpus.zst"

# --- ingest (fresh store; CPU = user+sys of the process, all threads)
ING=$(/usr/bin/time -f "time_user=%U time_sys=%S" "$BIN/logbench" ingest --corpus "$CORPUS" --dir "$STORE" 2>&1)
echo "$ING" >&2
MBCPU=$(grep -o 'mb_per_cpu_s=[0-9.]*' <<<"$ING" | cut -d= -f2)
CPU=$(grep -o 'cpu_s=[0-9.]*' <<<"$ING" | head -1 | cut -d= -f2)
WALL=$(grep -o 'wall_s=[0-9.]*' <<<"$ING" | cut -d= -f2)
STORE_BYTES=$(du -sb "$STORE" | cut -f1)
SEG_BYTES=$(du -sb "$STORE/segments" | cut -f1)

# --- warm the page cache for grep
cat "$CORPUS" > /dev/null
cat "$CORPUS" > /dev/null

# best wall time and the CPU time (user+sys) of that run; output goes to a
# file, not /dev/null (GNU grep stops at the first match when writing there)
best_grep() {
  local needle="$1" best=999999 cpu=0 t0 t1 d c n
  for _ in 1 2 3; do
    t0=$(now)
    c=$( { /usr/bin/time -f "%U %S" grep -F -- "$needle" "$CORPUS" > "$WORK/grep.out"; } 2>&1 | tail -1)
    t1=$(now)
    d=$(secs "$t0" "$t1")
    if (( $(echo "$d < $best" | bc -l) )); then best=$d; cpu=$(echo "$c" | awk '{print $1 + $2}'); fi
  done
  n=$(wc -l < "$WORK/grep.out")
  echo "$best $cpu $n"
}

echo
echo "corpus: $RAW bytes, $LINES lines ($SIZE), $(nproc) cores"
echo
echo "| measure | Sightline | yardstick | ratio | target |"
echo "| --- | --- | --- | --- | --- |"
printf "| on-disk bytes (all files) | %d | zstd -3: %d (%.2fs) | %.2fx smaller than zstd -3 | >= 1.4x |\n" \
  "$STORE_BYTES" "$ZSTD" "$ZSTD_S" "$(echo "$ZSTD / $STORE_BYTES" | bc -l)"
printf "| compression ratio (raw / bytes) | %.2f | %.2f | | |\n" \
  "$(echo "$RAW / $STORE_BYTES" | bc -l)" "$(echo "$RAW / $ZSTD" | bc -l)"
printf "| ingest MB of JSON per CPU-second | %.1f (%.2f CPU-s, %.2f s wall) | | | >= 80 |\n" "$MBCPU" "$CPU" "$WALL"
while IFS=$'\t' read -r kind needle count; do
  read -r g gc n <<<"$(best_grep "$needle")"
  S=$("$BIN/logbench" search --dir "$STORE" --needle "$needle" --runs "$RUNS")
  st=$(grep -o 'best_s=[0-9.]*' <<<"$S" | cut -d= -f2)
  sc=$(grep -o 'avg_cpu_s=[0-9.]*' <<<"$S" | cut -d= -f2)
  m=$(grep -o 'matches=[0-9]*' <<<"$S" | cut -d= -f2)
  br=$(grep -o 'blocks_read_per_run=[0-9]*' <<<"$S" | cut -d= -f2)
  bs=$(grep -o 'blocks_skipped_per_run=[0-9]*' <<<"$S" | cut -d= -f2)
  if [[ "$m" != "$n" ]]; then echo "MISMATCH for $needle: store $m, grep $n" >&2; fi
  printf "| needle %s (%s lines; blocks read %s, skipped %s) | %.4fs wall, %.4fs CPU | grep -F: %.4fs wall, %.2fs CPU | %.3fx wall, %.3fx CPU | <= 0.05x |\n" \
    "$kind" "$n" "$br" "$bs" "$st" "$sc" "$g" "$gc" "$(echo "$st / $g" | bc -l)" "$(echo "$sc / ($gc + 0.000001)" | bc -l)"
done < "$CORPUS.needles.tsv"
echo
echo "segments: $SEG_BYTES bytes; store dir (segments + WAL): $STORE_BYTES bytes"

#!/usr/bin/env bash
# Counts the instructions the operator executes for one nightly sync of an unchanged
# district, under valgrind's callgrind: a measure that does not move with the machine's
# load, so two builds compare by a fraction of a percent where wall and CPU times on a
# shared 2-core machine move by 10-20% from run to run (docs/benchmarks.md).
#
#   hack/count-instructions.sh                       # the current tree's release build
#   hack/count-instructions.sh /tmp/before /tmp/after
#   PRESET=small hack/count-instructions.sh
#
# Each argument is a `classlink-operator` binary (copy the release build aside before
# changing the code, to compare). For each, against the simulator at 0 ms (preset medium
# unless PRESET says otherwise, page size 10,000, 4 requests at a time): a first sync fills
# an SQLite store outside valgrind, then the unchanged sync runs under callgrind. Printed:
# instructions in all, in page decoding (`decode_page_within`), in reading the stored rows
# (`load_snapshot`), and the first binary's count divided by each one's.
#
# Valgrind runs the code about fifty times slower, and does not offer the CPU's SHA
# instructions, so SHA-256 (the rows' fingerprints) costs several times more here than on
# the machine: read the counts as a comparison of builds, not as where the time goes.
# Needs valgrind (apt-get install valgrind), jq and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "count-instructions: $*" >&2
  exit 1
}
log() { echo "count-instructions: $*" >&2; }

preset="${PRESET:-medium}"
case "$preset" in
tiny | small | medium | large | xl) ;;
*) fail "unknown preset $preset (tiny, small, medium, large, xl)" ;;
esac
for tool in valgrind callgrind_annotate jq python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed (apt-get install valgrind jq python3)"
done

log "building release binaries"
nice -n 10 cargo build --release --quiet -p classlink-operator -p oneroster-sim
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=("$target_dir/release/classlink-operator")
for bin in "${bins[@]}"; do
  [ -x "$bin" ] || fail "$bin is not an executable"
done

work="$target_dir/count-instructions"
rm -rf "$work"
mkdir -p "$work/resources"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$target_dir/release/oneroster-sim" serve --preset "$preset" --seed 1 --as-of 2026-03-01 \
  --listen "127.0.0.1:$port" >"$work/simulator.log" 2>&1 &
simulator=$!
trap 'kill $simulator 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "listening on" "$work/simulator.log" && break
  kill -0 $simulator 2>/dev/null || fail "the simulator stopped: $(tail -3 "$work/simulator.log")"
  sleep 0.1
done
sed "s#http://127.0.0.1:18080#http://127.0.0.1:$port#" examples/demo/classlinksync.yaml \
  >"$work/resources/classlinksync.yaml"
printf '  pageSize: 10000\n  maxConcurrentRequests: 4\n' >>"$work/resources/classlinksync.yaml"
cp examples/demo/secret.yaml "$work/resources/"

sync_once() {
  local store=$1
  shift
  "$@" sync -f "$work/resources" -n bench --store "$store" --allow-insecure-http \
    --as-of 2026-03-01 -o json
}

# The inclusive count of the functions named $2 (every instance of a generic one), in
# callgrind's file $1; "PROGRAM TOTALS" for the whole.
inclusive() {
  callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
    awk -v name="$2" '
      (name == "PROGRAM TOTALS" && index($0, name)) || index($0, "::" name " [") {
        gsub(",", "", $1); sum += $1; found = 1
      }
      END { if (found) printf "%.0f\n", sum }'
}

echo "| binary | instructions | page decoding | stored rows read | first / this |"
echo "|---|---|---|---|---|"
first=""
n=0
for bin in "${bins[@]}"; do
  n=$((n + 1))
  store="$work/roster-$n.db"
  log "$bin: first sync"
  sync_once "$store" "$bin" >"$work/first-$n.json" 2>"$work/first-$n.log" ||
    fail "the first sync of $bin failed: $(tail -3 "$work/first-$n.log")"
  log "$bin: unchanged sync under callgrind"
  out="$work/callgrind-$n.out"
  sync_once "$store" valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" \
    >"$work/unchanged-$n.json" 2>"$work/unchanged-$n.log" ||
    fail "the unchanged sync of $bin failed under valgrind: $(tail -3 "$work/unchanged-$n.log")"
  written=$(jq -r '.rowsWritten' "$work/unchanged-$n.json")
  [ "$written" = 0 ] || fail "the unchanged sync of $bin wrote $written rows"
  total=$(inclusive "$out" "PROGRAM TOTALS")
  decoding=$(inclusive "$out" "decode_page_within")
  stored=$(inclusive "$out" "load_snapshot::{{closure}}")
  [ -n "$total" ] && [ -n "$decoding" ] && [ -n "$stored" ] ||
    fail "no count in $out (a stripped binary has no function names)"
  first=${first:-$total}
  ratio=$(python3 -c "print(f'{$first / $total:.3f}')")
  printf '| %s | %s | %s | %s | %s |\n' "$bin" "$total" "$decoding" "$stored" "$ratio"
done

#!/usr/bin/env bash
# A large district on one machine, measured side by side with the anchors (issue 12).
#
# Builds the release binaries, then for each latency (0 ms, then 50 ms per request) starts
# the OneRoster simulator as its own process and measures, each with /usr/bin/time -v (wall
# time, peak RSS):
#   - the operator's first sync into an empty store and an unchanged second sync, on SQLite
#     and on PostgreSQL (a fresh database per run), through `classlink-operator sync`;
#   - anchor (a): the GETs the operator makes (its collections, page size and filter),
#     fetched by `curl --parallel --parallel-max 4`, bodies discarded; again with gzip;
#   - anchor (b): sequential paging at limit=100 without a filter, as open-source OneRoster
#     clients do (curl, one keep-alive connection, bodies discarded);
#   - anchor (c): a Python `requests` client, sequential, limit=100, parsing every page
#     (hack/bench-python-client.py).
# With latency, anchors (b) and (c) read every BENCH_SLOW_EVERY-th page and their times are
# scaled to all pages; the table says so. Then it prints one table (also written to
# TARGET/bench/PRESET/table.md): wall time, the operator's seconds reading the roster,
# planning and writing (from the sync's own log), CPU time (user + system of the process and its
# children; PostgreSQL's server is not among them), the simulator's CPU time, peak RSS, rows
# written, the simulator's count of GETs and body bytes sent, and the wall time's ratio to
# anchors (a) and (b) at the same latency (the median of each run's ratio to the anchor's time
# in the same run). The anchors sign in with OAuth 2.0 client credentials,
# which the simulator offers next to OAuth 1.0a; the operator signs every request.
#
#   hack/bench.sh                # preset large
#   hack/bench.sh medium
#   BENCH_RUNS=3 hack/bench.sh   # medians of 3 runs
#
# Environment: BENCH_RUNS (1), BENCH_LATENCIES ("0 50", milliseconds), BENCH_SLOW_EVERY (20),
# BENCH_POSTGRES_URL (postgres://postgres:postgres@127.0.0.1:5432/postgres; run
# hack/ensure-postgres.sh first). Needs curl, jq, psql, python3 with requests, and
# /usr/bin/time (Debian: apt-get install time python3-requests postgresql-client jq).
set -euo pipefail
cd "$(dirname "$0")/.."

preset="${1:-large}"
runs="${BENCH_RUNS:-1}"
latencies="${BENCH_LATENCIES:-0 50}"
slow_every="${BENCH_SLOW_EVERY:-20}"
pg_url="${BENCH_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
# The ClassLinkSync below asks for these; anchor (a) makes the same requests.
page_size=10000
concurrency=4
active_filter="filter=status%3D%27active%27"
collections="schools academicSessions courses classes users enrollments"
as_of=2026-03-01
export client_id=demo-client-id client_secret=demo-client-secret

fail() {
  echo "bench: $*" >&2
  exit 1
}
log() { echo "bench: $*" >&2; }

case "$preset" in
tiny | small | medium | large | xl) ;;
*) fail "unknown preset $preset (tiny, small, medium, large, xl)" ;;
esac
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || fail "BENCH_RUNS must be a positive number, not $runs"
[[ "$slow_every" =~ ^[1-9][0-9]*$ ]] || fail "BENCH_SLOW_EVERY must be a positive number"
for latency in $latencies; do
  [[ "$latency" =~ ^[0-9]+$ ]] || fail "BENCH_LATENCIES: $latency is not a number of milliseconds"
done
for tool in curl jq psql python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done
[ -x /usr/bin/time ] || fail "/usr/bin/time is needed (apt-get install time)"
python3 -c 'import requests' 2>/dev/null || fail "python3 with requests is needed (apt-get install python3-requests)"
PGCONNECT_TIMEOUT=5 psql "$pg_url" -qtAc 'select 1' >/dev/null ||
  fail "cannot log in to PostgreSQL at $pg_url (hack/ensure-postgres.sh sets it up)"

log "building release binaries"
nice -n 10 cargo build --release --quiet -p classlink-operator -p oneroster-sim
target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
bin="$target_dir/release"
work="$target_dir/bench/$preset"
rm -rf "$work"
mkdir -p "$work"
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . || commit="$commit with uncommitted changes"
results="$work/results.tsv"
: >"$results"
: >"$work/load"

sim_pid=""
databases=()
cleanup() {
  local status=$?
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  for db in "${databases[@]}"; do
    psql "$pg_url" -qtAc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_sim LATENCY_MS: the simulator on a free port; sets base and api.
start_sim() {
  local latency=$1 port simlog="$work/simulator-${1}ms.log"
  port=$(free_port)
  "$bin/oneroster-sim" serve --preset "$preset" --seed 1 --as-of "$as_of" \
    --listen "127.0.0.1:$port" --fault "latency-ms=$latency" >"$simlog" 2>&1 &
  sim_pid=$!
  for _ in $(seq 1 600); do
    grep -q "listening on" "$simlog" && break
    kill -0 "$sim_pid" 2>/dev/null || {
      cat "$simlog" >&2
      sim_pid=""
      fail "the simulator did not start"
    }
    sleep 0.1
  done
  grep -q "listening on" "$simlog" || fail "the simulator is not listening after 60 s"
  base="http://127.0.0.1:$port"
  api="$base/ims/oneroster/v1p1"
}

stop_sim() {
  kill "$sim_pid"
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
}

metrics() { curl -sf "$base/admin/metrics"; }
reset_metrics() { curl -sf -X DELETE "$base/admin/metrics" >/dev/null; }

# The simulator's CPU time so far (user + system), in seconds.
sim_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$sim_pid/stat"
}

# timed NAME COMMAND...: runs it under /usr/bin/time -v (stdout to NAME.out, stderr to
# NAME.err); sets wall (seconds, from the clock around it: time -v shows hundredths),
# cpu (user + system seconds of the command and its children), rss_kb (time -v's peak
# RSS), sim_cpu_used, and gets and bytes_sent (the simulator's metrics for it). On a
# shared machine the CPU time says what the wall time cannot: whether the run waited for
# a core. A failure ends the benchmark.
timed() {
  local name=$1 started ended sim_cpu_before
  shift
  reset_metrics
  cut -d' ' -f1 /proc/loadavg >>"$work/load"
  sim_cpu_before=$(sim_cpu)
  started=$(date +%s.%N)
  if ! /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err"; then
    tail -n 20 "$work/$name.err" >&2
    fail "$name failed (output in $work/$name.*)"
  fi
  ended=$(date +%s.%N)
  wall=$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.3f", b - a}')
  sim_cpu_used=$(awk -v a="$sim_cpu_before" -v b="$(sim_cpu)" 'BEGIN {printf "%.2f", b - a}')
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$work/$name.time")
  rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/$name.time")
  [ -n "$rss_kb" ] || fail "$name: no peak RSS in $work/$name.time"
  local m
  m=$(metrics)
  gets=$(jq -r .requestsServed <<<"$m")
  bytes_sent=$(jq -r .bodyBytesSent <<<"$m")
}

# record RUN LATENCY ROWS SCALE NOTE [PHASES]: one line of results (times scaled by SCALE);
# PHASES is an operator run's "read plan write" seconds.
record() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$wall" "$3" "$4" "$rss_kb" \
    "$gets" "$bytes_sent" "$5" "$cpu" "$sim_cpu_used" "${6:-}" >>"$results"
}

# phases NAME: the seconds an operator run spent reading the roster, planning and writing,
# from the sync's own log (debug lines of classlink_operator::sync in NAME.err).
phases() {
  local err="$work/$1.err" read plan write
  read=$(sed -n 's/.*line=read .* in \([0-9.]*\) s$/\1/p' "$err" | tail -n1)
  plan=$(sed -n 's/.*line=planned in \([0-9.]*\) s$/\1/p' "$err" | tail -n1)
  write=$(sed -n 's/.*changes committed.*took=\([0-9.]*\) s.*/\1/p' "$err" | tail -n1)
  [ -n "$read" ] && [ -n "$plan" ] && [ -n "$write" ] ||
    fail "$1: no read, planning or commit time in its log ($err)"
  echo "$read $plan $write"
}

# An OAuth 2.0 token, then one curl with a config file of URLs (anchors a and b).
anchor_curl() {
  local base=$1 config=$2 token
  shift 2
  token=$(curl -sf -u "$client_id:$client_secret" -d grant_type=client_credentials \
    "$base/oauth2/token" | jq -r .access_token)
  curl -s -K "$config" -H "Authorization: Bearer $token" -w '%{http_code} %{size_download}\n' "$@"
}
export -f anchor_curl

# check_transfers NAME URLS: every transfer of a curl anchor answered 200.
check_transfers() {
  local answered ok
  answered=$(wc -l <"$work/$1.out")
  ok=$(grep -c '^200 ' "$work/$1.out" || true)
  [ "$answered" = "$2" ] && [ "$ok" = "$2" ] ||
    fail "$1: $ok of $2 requests answered 200 ($answered answers; see $work/$1.out)"
}

# total_of COLLECTION QUERY: the X-Total-Count the simulator announces (uses token, api).
total_of() {
  curl -sf -o /dev/null -D - -H "Authorization: Bearer $token" "$api/$1?limit=1&$2" |
    tr -d '\r' | awk -F': ' 'tolower($1) == "x-total-count" {print $2}'
}

operator_sync() { # NAME STORE_URL LATENCY RUN_LABEL
  timed "$1" env RUST_LOG=classlink_operator::sync=debug "$bin/classlink-operator" sync \
    -f "$resources" -n bench --store "$2" --allow-insecure-http --as-of "$as_of" -o json
  local result rows
  result=$(jq -r .result "$work/$1.out")
  rows=$(jq -r .rowsWritten "$work/$1.out")
  [ "$result" = Succeeded ] || fail "$1: the sync ended $result (report in $work/$1.out)"
  record "$4" "$3" "$rows" 1 "" "$(phases "$1")"
}

for latency in $latencies; do
  start_sim "$latency"
  log "simulator at $base, $preset, ${latency} ms per request"
  stats=$(curl -sf "$base/admin/stats")

  resources="$work/resources-${latency}ms"
  mkdir -p "$resources"
  sed "s#http://127.0.0.1:18080#$base#" examples/demo/classlinksync.yaml >"$resources/classlinksync.yaml"
  printf '  pageSize: %s\n  maxConcurrentRequests: %s\n' "$page_size" "$concurrency" \
    >>"$resources/classlinksync.yaml"
  cp examples/demo/secret.yaml "$resources/secret.yaml"

  # The anchors' URL lists, from the totals the simulator announces (not timed).
  token=$(curl -sf -u "$client_id:$client_secret" -d grant_type=client_credentials \
    "$base/oauth2/token" | jq -r .access_token)
  operator_urls="$work/operator-urls-${latency}ms.curl"
  paging_urls="$work/paging-urls-${latency}ms.curl"
  : >"$operator_urls"
  : >"$paging_urls"
  operator_gets=0
  paging_pages=0
  paging_read=0
  every=1
  if [ "$latency" -gt 0 ]; then every=$slow_every; fi
  for c in $collections; do
    total=$(total_of "$c" "$active_filter")
    [ -n "$total" ] || fail "no X-Total-Count for /$c"
    offset=0
    while :; do
      printf 'url = "%s/%s?limit=%s&offset=%s&%s"\noutput = "/dev/null"\n' \
        "$api" "$c" "$page_size" "$offset" "$active_filter" >>"$operator_urls"
      operator_gets=$((operator_gets + 1))
      offset=$((offset + page_size))
      [ "$offset" -lt "$total" ] || break
    done
    total=$(total_of "$c" "")
    pages=$(((total + 99) / 100))
    [ "$pages" -gt 0 ] || pages=1
    for ((page = 0; page < pages; page += every)); do
      printf 'url = "%s/%s?limit=100&offset=%s"\noutput = "/dev/null"\n' \
        "$api" "$c" "$((page * 100))" >>"$paging_urls"
      paging_read=$((paging_read + 1))
    done
    paging_pages=$((paging_pages + pages))
  done
  paging_scale=$(awk -v a="$paging_pages" -v b="$paging_read" 'BEGIN {printf "%.4f", a / b}')
  paging_note=""
  if [ "$every" -gt 1 ]; then
    paging_note="$paging_read of $paging_pages pages (every ${every}th), times scaled x$paging_scale"
  fi

  for run in $(seq 1 "$runs"); do
    tag="${latency}ms-$run"
    log "run $run of $runs at ${latency} ms: SQLite"
    operator_sync "sqlite-first-$tag" "sqlite://$work/roster-$tag.db" "$latency" "first sync, SQLite"
    [ "$gets" = "$operator_gets" ] ||
      fail "the operator made $gets requests, anchor (a) makes $operator_gets: bring anchor (a) in line with src/oneroster/client.rs"
    operator_sync "sqlite-second-$tag" "sqlite://$work/roster-$tag.db" "$latency" "unchanged sync, SQLite"

    log "run $run of $runs at ${latency} ms: PostgreSQL"
    db="classlink_bench_$$_${latency}ms_$run"
    psql "$pg_url" -qtAc "CREATE DATABASE \"$db\"" >/dev/null
    databases+=("$db")
    operator_sync "postgres-first-$tag" "${pg_url%/*}/$db" "$latency" "first sync, PostgreSQL"
    operator_sync "postgres-second-$tag" "${pg_url%/*}/$db" "$latency" "unchanged sync, PostgreSQL"
    psql "$pg_url" -qtAc "DROP DATABASE \"$db\"" >/dev/null

    log "run $run of $runs at ${latency} ms: anchors"
    timed "anchor-a-$tag" bash -c 'anchor_curl "$@"' _ "$base" "$operator_urls" \
      --parallel --parallel-max "$concurrency"
    check_transfers "anchor-a-$tag" "$operator_gets"
    record "anchor (a): the operator's GETs, curl --parallel-max $concurrency" "$latency" "" 1 ""
    timed "anchor-a-gzip-$tag" bash -c 'anchor_curl "$@"' _ "$base" "$operator_urls" \
      --parallel --parallel-max "$concurrency" --compressed
    check_transfers "anchor-a-gzip-$tag" "$operator_gets"
    record "anchor (a) with gzip (curl --compressed)" "$latency" "" 1 ""

    timed "anchor-b-$tag" bash -c 'anchor_curl "$@"' _ "$base" "$paging_urls"
    check_transfers "anchor-b-$tag" "$paging_read"
    record "anchor (b): sequential limit=100, no filter, curl" "$latency" "" "$paging_scale" "$paging_note"

    timed "anchor-c-$tag" python3 hack/bench-python-client.py "$base" "$client_id" "$client_secret" "$every"
    read_pages=$(jq -r .pagesRead "$work/anchor-c-$tag.out")
    all_pages=$(jq -r .pages "$work/anchor-c-$tag.out")
    python_scale=$(awk -v a="$all_pages" -v b="$read_pages" 'BEGIN {printf "%.4f", a / b}')
    python_note="$(jq -r .records "$work/anchor-c-$tag.out") records kept; gzip, as requests asks by default"
    if [ "$every" -gt 1 ]; then
      python_note="$read_pages of $all_pages pages (every ${every}th), times scaled x$python_scale, RSS not scaled; gzip"
    fi
    record "anchor (c): Python requests, sequential limit=100, JSON parsed" "$latency" "" "$python_scale" "$python_note"
  done
  stop_sim
done

schools=$(jq -r .schools <<<"$stats")
students=$(jq -r .students <<<"$stats")
enrollments=$(jq -r .enrollments <<<"$stats")
{
  echo "preset $preset ($schools schools, $students students, $enrollments active enrollments), commit $commit, $(date -u +%Y-%m-%d)"
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); medians of $runs run(s); MiB = 2^20 bytes;" \
    "load average (1 min) before the runs from $(sort -n "$work/load" | head -n1) to $(sort -n "$work/load" | tail -n1)"
  echo
  python3 - "$results" <<'PY'
import statistics
import sys

rows = {}
order = []
for line in open(sys.argv[1]):
    run, latency, wall, rows_written, scale, rss_kb, gets, sent, note, cpu, sim_cpu, seconds = \
        line.rstrip("\n").split("\t")
    key = (run, int(latency))
    if key not in rows:
        rows[key] = []
        order.append(key)
    rows[key].append(
        dict(wall=float(wall) * float(scale), cpu=float(cpu) * float(scale),
             sim_cpu=float(sim_cpu) * float(scale), rss=int(rss_kb) / 1024, rows=rows_written,
             gets=int(gets), sent=int(sent) / 2**20, note=note,
             phases=[float(p) for p in seconds.split()] or None))


def median(key, field):
    return statistics.median(r[field] for r in rows[key])


def phases(key):
    if rows[key][0]["phases"] is None:
        return "-"
    return " / ".join(f"{statistics.median(r['phases'][i] for r in rows[key]):.2f}" for i in range(3))


def ratio(key, prefix):
    """The median over the runs of this run's wall time over the anchor's in the same run:
    each run measures the operator and the anchors within a minute, so a machine that is
    slower for a while slows both sides of a ratio."""
    for anchor in order:
        if anchor[0].startswith(prefix) and anchor[1] == key[1]:
            return statistics.median(r["wall"] / a["wall"] for r, a in zip(rows[key], rows[anchor]))
    return None


print("| run | latency | wall s | read / plan / write s | CPU s | simulator CPU s | peak RSS MiB | rows written "
      "| GETs | MiB sent | vs anchor (a) | vs anchor (b) | note |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for key in order:
    run, latency = key
    wall = median(key, "wall")
    a = ratio(key, "anchor (a):")
    b = ratio(key, "anchor (b):")
    last = rows[key][-1]
    print(f"| {run} | {latency} ms | {wall:.2f} | {phases(key)} | {median(key, 'cpu'):.2f} | {median(key, 'sim_cpu'):.2f} "
          f"| {median(key, 'rss'):.0f} | {last['rows'] or '-'} "
          f"| {last['gets']} | {median(key, 'sent'):.2f} | {a:.2f}x | {b:.3f}x | {last['note']} |")
PY
} | tee "$work/table.md"

#!/usr/bin/env bash
# The main job, locally: start the OneRoster simulator (small preset, about 1,000 students)
# on loopback, seed a few platform users, run one sync into a local SQLite file and print the
# report: the guide's Sync Details. Run it again to see a second sync match everyone.
#
#   hack/demo.sh                 # store in target/demo/roster.db
#   DEMO_PORT=18181 hack/demo.sh # another port for the simulator
set -euo pipefail
cd "$(dirname "$0")/.."

port="${DEMO_PORT:-18080}"
cargo build --quiet -p classlink-operator -p oneroster-sim
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug"
work="$target_dir/demo"
mkdir -p "$work"
store="sqlite://$work/roster.db"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "demo: port $port is taken; set DEMO_PORT to a free one" >&2
  exit 1
fi
"$bin/oneroster-sim" serve --preset small --seed 1 --listen "127.0.0.1:$port" >"$work/simulator.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$sim" 2>/dev/null || { cat "$work/simulator.log" >&2; exit 1; }
  sleep 0.1
done

# The demo's ClassLinkSync names port 18080; point a copy at the port in use.
resources="$work/resources"
mkdir -p "$resources"
sed "s#http://127.0.0.1:18080#http://127.0.0.1:$port#" examples/demo/classlinksync.yaml >"$resources/classlinksync.yaml"
cp examples/demo/secret.yaml "$resources/secret.yaml"

"$bin/classlink-operator" identities import --namespace demo examples/demo/identities.csv --store "$store"
set +e
"$bin/classlink-operator" sync -f "$resources" -n demo --store "$store" --allow-insecure-http
status=$?
set -e
echo
echo "store: $work/roster.db (classlink-operator identities list -n demo --store $store)"
exit "$status"

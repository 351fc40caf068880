#!/usr/bin/env bash
# The scale benchmark (benches/scale.rs): N ClassLinkSyncs on one operator against the test
# control plane and the OneRoster simulator. Usage: hack/bench-scale.sh [N] (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
KUBEBUILDER_ASSETS="$(hack/install-test-tools.sh)"
export KUBEBUILDER_ASSETS
cargo bench --bench scale -- "${1:-1000}"

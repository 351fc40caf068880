#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, and every test, including those
# against a real etcd + kube-apiserver (started by the tests themselves) and a real
# PostgreSQL. On a fresh Debian machine, run it as root: it installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test tools (etcd, kube-apiserver, kubectl, helm)"
KUBEBUILDER_ASSETS="$(hack/install-test-tools.sh)"
export KUBEBUILDER_ASSETS
echo "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS" >&2

step "PostgreSQL on 127.0.0.1:5432"
hack/ensure-postgres.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

# The suite above runs at a pinned hour outside the US window (tests/common/operator.rs);
# the controller's decisions run once more with the US nightly window open, so neither hour
# can break them unseen. See docs/development.md.
step "cargo test --test controller, inside the US nightly window"
CLASSLINK_TEST_NOW=2026-11-30T01:30:00Z cargo test --locked --test controller

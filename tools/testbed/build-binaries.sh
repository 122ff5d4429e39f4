#!/usr/bin/env bash
# Builds the test bed's binaries from upstream Go modules into a cache outside
# the repository, keyed by version. Each component is built at most once: a
# finished build leaves a stamp, so a second run returns in well under a second.
#
#   build-binaries.sh [all|kubernetes|etcd|kwok|istioctl|minikube]
#
# Prints the bin directory of each component it ensured. A failed build names
# the component and the log file that holds the compiler's output.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${ROLLOUTS_TESTBED_CACHE:-$HOME/.cache/rollouts-istio-testbed}"
mkdir -p "$cache/bin" "$cache/logs" "$cache/src"

# minikube's sum is not in the checksum database; every other module is checked as usual.
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local GONOSUMDB=k8s.io/minikube

die() { echo "testbed build: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed (Go 1.24 or newer is needed)"

# run_logged NAME LOG CMD... : run a build step, keep its output in LOG, and on
# failure show the end of the log so the cause is visible without digging.
run_logged() {
  local name=$1 log=$2; shift 2
  if ! "$@" >>"$log" 2>&1; then
    echo "testbed build: building $name failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
}

# The path of k8s.io/kubernetes' go.mod at KUBE_VERSION, or a clear error naming the version.
kube_gomod() {
  local out gomod
  out=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" 2>&1) || true
  gomod=$(printf '%s\n' "$out" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  if [ ! -f "$gomod" ]; then
    die "cannot fetch k8s.io/kubernetes@$KUBE_VERSION (KUBE_VERSION) from the Go module proxy: $(printf '%s\n' "$out" | sed -n 's/.*"Error": "\(.*\)".*/\1/p' | head -n1)"
  fi
  echo "$gomod"
}

# Kubernetes' own go.mod maps every staging module to ./staging; a module that
# depends on k8s.io/kubernetes must map each to the matching v0.X.Y release.
kube_staging_replaces() {
  local gomod=$1 minor
  minor="v0.${KUBE_VERSION#v1.}"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" | sort -u |
    while read -r m; do echo "replace $m => $m $minor"; done
}

kube_etcd_version() {
  local gomod
  gomod=$(kube_gomod) || exit 1
  awk '$1 ~ /^go.etcd.io\/etcd\/(client|api)\/v3$/ {print $2; exit}' "$gomod"
}

build_kubernetes() {
  local out="$cache/bin/kubernetes-$KUBE_VERSION" src="$cache/src/kubernetes-$KUBE_VERSION"
  local log="$cache/logs/kubernetes-$KUBE_VERSION.log"
  if [ ! -f "$out/.done" ]; then
    local gomod; gomod=$(kube_gomod) || exit 1
    echo "testbed build: kubernetes $KUBE_VERSION (cold: about 5 minutes on 2 cores; log: $log)" >&2
    : >"$log"
    rm -rf "$src" && mkdir -p "$src" "$out"
    local major minor
    major=$(echo "$KUBE_VERSION" | cut -d. -f1 | tr -d v)
    minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
    {
      echo "module testbed/kubernetes"
      echo "go 1.24"
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      kube_staging_replaces "$gomod"
    } >"$src/go.mod"
    # Without these the servers report v0.0.0 and clients refuse or misbehave.
    local ld="-s -w" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
      ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      (cd "$src" && run_logged "$c $KUBE_VERSION" "$log" go build -trimpath -ldflags "$ld" -o "$out/$c" "k8s.io/kubernetes/cmd/$c")
    done
    touch "$out/.done"
  fi
  echo "$out"
}

build_etcd() {
  local version; version=$(kube_etcd_version) || exit 1
  [ -n "$version" ] || die "cannot find the etcd version in k8s.io/kubernetes@$KUBE_VERSION's go.mod"
  local out="$cache/bin/etcd-$version" src="$cache/src/etcd-$version" log="$cache/logs/etcd-$version.log"
  if [ ! -f "$out/.done" ]; then
    echo "testbed build: etcd $version (log: $log)" >&2
    : >"$log"
    rm -rf "$src" && mkdir -p "$src" "$out"
    printf 'module testbed/etcd\ngo 1.24\nrequire go.etcd.io/etcd/server/v3 %s\n' "$version" >"$src/go.mod"
    cat >"$src/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    (cd "$src" && run_logged "etcd $version" "$log" go build -trimpath -ldflags "-s -w" -o "$out/etcd" .)
    touch "$out/.done"
  fi
  echo "$out"
}

build_kwok() {
  local out="$cache/bin/kwok-$KWOK_VERSION" log="$cache/logs/kwok-$KWOK_VERSION.log"
  if [ ! -f "$out/.done" ]; then
    echo "testbed build: kwok $KWOK_VERSION (log: $log)" >&2
    : >"$log"
    mkdir -p "$out"
    # From a directory of its own: `go install pkg@version` must not see the caller's go.mod.
    (cd "$out" && run_logged "kwok $KWOK_VERSION" "$log" env GOBIN="$out" GOFLAGS= go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION")
    touch "$out/.done"
  fi
  echo "$out"
}

build_istioctl() {
  local key="istio-${ISTIO_MODULE_VERSION##*-}"
  local out="$cache/bin/$key" src="$cache/src/$key" log="$cache/logs/$key.log"
  if [ ! -f "$out/.done" ]; then
    echo "testbed build: istioctl ($ISTIO_MODULE_VERSION, about 3 minutes; log: $log)" >&2
    : >"$log"
    rm -rf "$src" && mkdir -p "$src" "$out"
    # istio.io/istio's go.mod asks for pseudo-versions the proxy does not serve.
    cat >"$src/go.mod" <<GOMOD
module testbed/istio
go 1.24
require istio.io/istio $ISTIO_MODULE_VERSION
replace istio.io/api => istio.io/api $ISTIO_API_VERSION
replace istio.io/client-go => istio.io/client-go $ISTIO_API_VERSION
replace github.com/envoyproxy/go-control-plane/envoy => github.com/envoyproxy/go-control-plane/envoy $ENVOY_GCP_ENVOY_VERSION
replace github.com/envoyproxy/go-control-plane/contrib => github.com/envoyproxy/go-control-plane/contrib $ENVOY_GCP_CONTRIB_VERSION
GOMOD
    (cd "$src" && run_logged istioctl "$log" go mod download istio.io/istio)
    local moddir version
    moddir=$(cd "$src" && go list -m -f '{{.Dir}}' istio.io/istio)
    # The release line the source declares in its VERSION file, with "-dev" as
    # Istio's own Makefile adds it: an honest version instead of "unknown".
    version="$(tr -d '[:space:]' <"$moddir/VERSION")-dev"
    echo "$version" >"$out/VERSION"
    (cd "$src" && run_logged istioctl "$log" go build -trimpath \
      -ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=$version -X istio.io/istio/pkg/version.buildGitRevision=${ISTIO_MODULE_VERSION##*-} -X istio.io/istio/pkg/version.buildStatus=Clean -X istio.io/istio/pkg/version.buildTag=$version" \
      -o "$out/istioctl" istio.io/istio/istioctl/cmd/istioctl)
    touch "$out/.done"
  fi
  echo "$out"
}

# minikube's go.mod replaces three docker-machine forks; a module that depends on
# k8s.io/minikube must carry the same replaces or the build resolves the originals.
minikube_replaces() {
  local gomod
  gomod=$(go mod download -json "k8s.io/minikube@$MINIKUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "cannot fetch k8s.io/minikube@$MINIKUBE_VERSION from the Go module proxy"
  # Both forms: a `replace ( ... )` block and single-line `replace a => b v`.
  awk '
    /^replace \(/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    inblock && /=>/ { sub(/^[ \t]+/, ""); print "replace " $0; next }
    /^replace [^(]/ { print }
  ' "$gomod"
}

build_minikube() {
  local out="$cache/bin/minikube-$MINIKUBE_VERSION" src="$cache/src/minikube-$MINIKUBE_VERSION"
  local log="$cache/logs/minikube-$MINIKUBE_VERSION.log"
  if [ ! -f "$out/.done" ]; then
    echo "testbed build: minikube $MINIKUBE_VERSION (cold: about 2 minutes on 2 cores; log: $log)" >&2
    : >"$log"
    rm -rf "$src" && mkdir -p "$src" "$out"
    local replaces
    replaces=$(minikube_replaces)
    {
      echo "module testbed/minikube"
      echo "go 1.24"
      echo "require k8s.io/minikube $MINIKUBE_VERSION"
      echo "$replaces"
    } >"$src/go.mod"
    (cd "$src" && run_logged "minikube $MINIKUBE_VERSION" "$log" go mod download k8s.io/minikube)
    # What minikube's own Makefile stamps in; without it `minikube version` says v0.0.0-unset.
    local commit ld
    commit=$(cd "$src" && go mod download -json "k8s.io/minikube@$MINIKUBE_VERSION" |
      sed -n 's/.*"Hash": "\(.*\)".*/\1/p')
    ld="-s -w -X k8s.io/minikube/pkg/version.version=$MINIKUBE_VERSION"
    ld="$ld -X k8s.io/minikube/pkg/version.isoVersion=$MINIKUBE_ISO_VERSION"
    ld="$ld -X k8s.io/minikube/pkg/version.gitCommitID=${commit:-unknown}"
    ld="$ld -X k8s.io/minikube/pkg/version.storageProvisionerVersion=v5"
    (cd "$src" && run_logged "minikube $MINIKUBE_VERSION" "$log" go build -trimpath -ldflags "$ld" \
      -o "$out/minikube" k8s.io/minikube/cmd/minikube)
    echo "$MINIKUBE_VERSION" >"$out/VERSION"
    touch "$out/.done"
  fi
  echo "$out"
}

what="${1:-all}"
case "$what" in
  all) build_etcd; build_kwok; build_istioctl; build_kubernetes; build_minikube ;;
  kubernetes|etcd|kwok|istioctl|minikube) "build_$what" ;;
  *) die "unknown component '$what' (expected all, kubernetes, etcd, kwok, istioctl or minikube)" ;;
esac

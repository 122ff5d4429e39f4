#!/usr/bin/env bash
# Builds minikube from its Go module into the test bed's cache, keyed by version,
# for the install_minikube role's tests (`minikube version`, `minikube profile
# list -o json`, and a real binary to install from a file). A finished build
# leaves a stamp, so a second run returns in well under a second.
#
#   build-minikube.sh            (MINIKUBE_VERSION overrides the pinned v1.37.0)
#
# Prints the bin directory. A failed build shows the end of its log file.
set -euo pipefail

MINIKUBE_VERSION="${MINIKUBE_VERSION:-v1.37.0}"
# The ISO minikube would boot; only reported by `minikube version`, nothing is fetched.
MINIKUBE_ISO_VERSION="${MINIKUBE_ISO_VERSION:-$MINIKUBE_VERSION}"

cache="${ROLLOUTS_TESTBED_CACHE:-$HOME/.cache/rollouts-istio-testbed}"
mkdir -p "$cache/bin" "$cache/logs" "$cache/src"

# minikube's sum is not in the checksum database; everything else is checked as usual.
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local GONOSUMDB=k8s.io/minikube

die() { echo "testbed build: $*" >&2; exit 1; }
command -v go >/dev/null || die "go is not installed (Go 1.24 or newer is needed)"

run_logged() {
  local name=$1 log=$2; shift 2
  if ! "$@" >>"$log" 2>&1; then
    echo "testbed build: building $name failed; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    exit 1
  fi
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

build_minikube

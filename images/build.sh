#!/usr/bin/env bash
# Builds the container images (kvtui/reconciler, kvtui/launcher, kvtui/demo) with podman or docker.
# Usage: images/build.sh [TAG]   (default: the package version). REGISTRY=registry.example/ prefixes names.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)}"
registry="${REGISTRY:-}"
engine="${CONTAINER_ENGINE:-}"
if [[ -z "$engine" ]]; then
    for candidate in podman docker; do
        # A docker CLI without a reachable daemon cannot build: probe, don't just look for the binary.
        if command -v "$candidate" >/dev/null && "$candidate" info >/dev/null 2>&1; then
            engine="$candidate"
            break
        fi
    done
fi
if [[ -z "$engine" ]]; then
    echo "images: no container engine available (neither podman nor a docker with a running daemon);" >&2
    echo "images: install podman (apt-get install podman) or start docker, then run 'make images' again" >&2
    exit 1
fi

demo_dir="${KVTUI_DEMO_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvtui/images/demo/latest}"
if [[ ! -f "$demo_dir/vmlinuz" ]]; then
    echo "images: building the demo guest first (kvtui images build demo)"
    .venv/bin/kvtui images build demo
fi

build() {  # name, Containerfile, context
    echo "images: $engine build ${registry}kvtui/$1:$tag"
    "$engine" build -f "$2" -t "${registry}kvtui/$1:$tag" "$3"
}
# A staged context with only what the images copy: the work tree's .venv and caches stay out.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp -r pyproject.toml README.md cluster kvtui launcher "$context"/
find "$context" -name __pycache__ -prune -exec rm -rf {} +
build reconciler images/reconciler/Containerfile "$context"
build launcher images/launcher/Containerfile "$context"
build demo images/demo/Containerfile "$demo_dir"
echo "images: built ${registry}kvtui/{reconciler,launcher,demo}:$tag"
echo "images: push them, then name them in a kustomize overlay's images: (see README, Deploying to a real cluster)"

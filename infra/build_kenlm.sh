#!/usr/bin/env bash
# Builds KenLM's trainer (lmplz) and build_binary from the kenlm sdist and installs them into the venv's bin folder.
# The PyPI kenlm module only scores; `sieve lm train` needs these two programs. Idempotent: does nothing when both
# are installed and run. The two built programs are also kept in the user's cache folder (like pip's wheel cache), so
# another clone or a fresh venv copies them instead of building again (delete the folder to force a build).
# Usage: infra/build_kenlm.sh [VENV]   (default: .venv at the repository root)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(cd "${1:-$ROOT/.venv}" && pwd)"
KENLM_VERSION=0.3.0
BUILD="$ROOT/build/kenlm-$KENLM_VERSION"   # inside the repository (build/ is git-ignored)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/sieve/kenlm-$KENLM_VERSION-$(uname -m)"
APT_PACKAGES=(libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
              zlib1g-dev libbz2-dev liblzma-dev)

works() {  # both programs present and runnable: each prints its usage (and exits non-zero) without arguments
    [[ "$("$VENV/bin/lmplz" --help 2>&1)" == *"Builds unpruned language models"* &&
       "$("$VENV/bin/build_binary" 2>&1)" == *"Usage:"* ]]
}

if [[ -x "$VENV/bin/lmplz" && -x "$VENV/bin/build_binary" ]] && works; then
    echo "kenlm: lmplz and build_binary already in $VENV/bin"
    exit 0
fi

if [[ -x "$CACHE/lmplz" && -x "$CACHE/build_binary" ]]; then
    install -m 755 "$CACHE/lmplz" "$CACHE/build_binary" "$VENV/bin/"
    if works; then
        echo "kenlm: lmplz and build_binary copied from $CACHE"
        exit 0
    fi
    echo "kenlm: the cached programs in $CACHE do not run here; building them"
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || missing+=(make)
if (( ${#missing[@]} )); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "kenlm: missing system packages; install them, then rerun this script:" >&2
        echo "  sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "kenlm: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" || { apt-get update -q && apt-get install -y -q "${missing[@]}"; }
fi

mkdir -p "$BUILD"
if [[ ! -d "$BUILD/src" ]]; then
    # --no-binary kenlm only (not :all:, which would build cmake itself from source).
    "$VENV/bin/python" -m pip download --quiet --no-cache-dir --no-deps --no-binary kenlm "kenlm==$KENLM_VERSION" -d "$BUILD"
    mkdir -p "$BUILD/src.tmp"
    tar -xzf "$BUILD"/kenlm-*.tar.gz -C "$BUILD/src.tmp" --strip-components=1
    mv "$BUILD/src.tmp" "$BUILD/src"
fi

mkdir -p "$BUILD/src/build"
cd "$BUILD/src/build"
echo "kenlm: building lmplz and build_binary in $BUILD (about 2 minutes on 2 cores)"
cmake .. -DKENLM_MAX_ORDER=6 -DCMAKE_BUILD_TYPE=Release > cmake.log 2>&1 || { tail -30 cmake.log >&2; exit 1; }
make -j2 lmplz build_binary > make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
install -m 755 bin/lmplz bin/build_binary "$VENV/bin/"
works || { echo "kenlm: the installed lmplz/build_binary do not run" >&2; exit 1; }
mkdir -p "$CACHE" && install -m 755 bin/lmplz bin/build_binary "$CACHE/"
echo "kenlm: installed lmplz and build_binary into $VENV/bin"

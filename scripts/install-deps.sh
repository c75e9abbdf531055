#!/usr/bin/env bash
# install-deps.sh — installs what Kiln needs on a fresh Debian bookworm machine:
# Debian packages (apt-get, only the missing ones) and the pinned npm test
# oracle (tests/ort, onnxruntime-node from package-lock.json).
# Idempotent and quiet when everything is present. Needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config       # C11 toolchain
  clang libclang-rt-14-dev               # libFuzzer + sanitizer runtimes
  libdnnl-dev                            # oneDNN (CPU backend)
  libjpeg62-turbo-dev libpng-dev         # image decoding
  libjpeg-turbo-progs netpbm             # djpeg / pngtopnm: independent decoders for tests
  libonnx-testdata                       # ONNX's own backend node tests
  nodejs npm                             # ONNX Runtime test oracle (npm onnxruntime-node)
)

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from another repo (nodesource); accept the commands too
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ONNX Runtime for Node, pinned by tests/ort/package-lock.json. Its postinstall
# would download GPU binaries from a host we cannot reach: skip it.
if [ -f tests/ort/package-lock.json ] && [ ! -d tests/ort/node_modules/onnxruntime-node ]; then
  echo "install-deps: installing tests/ort (onnxruntime-node, pinned)"
  (cd tests/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error)
fi
exit 0

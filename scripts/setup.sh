#!/usr/bin/env bash
# Installs the Debian packages kiln builds and tests with. Idempotent: installs only what is
# missing, fetches nothing else. Run as root or with sudo available.
# `scripts/setup.sh --peers` also installs NumPy and PyTorch for bench/compare.py (large).
set -euo pipefail

PKGS=(cmake ninja-build g++ lld
      llvm-19-dev llvm-19-tools
      libeigen3-dev libopenblas-dev libabsl-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev
      clang-format)
if [ "${1:-}" = "--peers" ]; then
  PKGS+=(python3-numpy python3-torch)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs the Debian 12 packages attnsweep needs to build, test and report, if missing.
# Runs apt-get as root, through sudo otherwise. Usage: scripts/install-deps.sh [extra packages]
# Optional, only for the PyTorch comparison (scripts/bench_vs_torch.sh; no test needs it):
#   scripts/install-deps.sh python3-torch
set -euo pipefail
# openssh-client: Open MPI's launcher wants an rsh agent even on one node; procps: pgrep
# in the end-to-end tests; iproute2: the simulated hosts of the multi-host tests
# (tests/cluster, network namespaces); chromium: the report's browser test
# (tests/e2e/test_report_browser.py); clang, libclang-rt-14-dev: libFuzzer for tests/fuzz;
# python3-pandas: optional for scripts/attnsweep_results.py, installed so its DataFrame
# path is tested (tests/e2e/test_results_api.py).
pkgs=(build-essential cmake pkg-config libopenmpi-dev openmpi-bin openssh-client libopenblas-dev
      libhdf5-dev hdf5-tools libcjson-dev check python3-h5py python3-numpy python3-matplotlib
      python3-pandas procps iproute2 chromium clang libclang-rt-14-dev "$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

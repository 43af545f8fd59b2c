#!/usr/bin/env bash
# Installs everything herd needs to build and test on Debian 12 (bookworm).
# Idempotent: packages already present are skipped; apt-get update runs at most
# once per machine (a stamp file records it) unless HERD_APT_UPDATE=1.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --runtime  only what is needed to build and run herd
#                                      (and the demo's runtime-API client, socat)
#   scripts/install-deps.sh --bench    build + test dependencies, plus the optional
#                                      benchmark tools (JMeter, a JDK for its launcher,
#                                      matplotlib for the plot); never installed by default
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libboost1.81-dev liburing-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libssl-dev libcrypt-dev
)
# The demo (scripts/demo.sh, README) talks to the runtime API with socat.
DEMO_PKGS=(socat curl)
TEST_PKGS=(
  libgtest-dev googletest
  haproxy serf nginx-light wrk socat curl python3 iproute2 procps
  prometheus-haproxy-exporter hatop tmux chromium clang libclang-rt-14-dev
  strace
)
# Only with --bench: bench/jmeter.sh (JMeter 2.13 + javac for bench/jmeter/Launcher.java)
# and bench/plot.py (run with /usr/bin/python3, which sees Debian's matplotlib).
BENCH_PKGS=(
  jmeter jmeter-http openjdk-17-jdk-headless python3-matplotlib
)

want=("${BUILD_PKGS[@]}" "${DEMO_PKGS[@]}")
if [[ "${1:-}" != "--runtime" ]]; then
  want+=("${TEST_PKGS[@]}")
fi
if [[ "${1:-}" == "--bench" ]]; then
  want+=("${BENCH_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
stamp=/var/lib/apt/periodic/herd-apt-updated
if [[ ! -e $stamp || "${HERD_APT_UPDATE:-0}" == 1 ]]; then
  $SUDO apt-get update -qq
  $SUDO mkdir -p "$(dirname $stamp)" && $SUDO touch "$stamp"
fi
echo "install-deps: installing ${missing[*]}"
# Services shipped by these packages (nginx, haproxy) must not be started by
# the package scripts: the tests start their own instances on loopback.
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

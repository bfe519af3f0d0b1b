#!/usr/bin/env bash
# Installs everything herald needs to build, test and benchmark on Debian 12.
# Idempotent: when every package is already present it only runs dpkg-query
# (well under a second) and never touches the network.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config ninja-build git
  libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  liburing-dev libhiredis-dev libsimdjson-dev libmimetic-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libtomlplusplus-dev libconcurrentqueue-dev libsystemd-dev libjemalloc-dev
)
# Real peers the tests start themselves (never as services), load tools and
# fault-injection helpers.
TEST_PKGS=(
  postfix python3 python3-aiosmtpd redis-server redis-tools
  kannel kannel-extras openssl curl wrk fiu-utils libfiu-dev
  util-linux procps
)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" != "--build-only" ]]; then want+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Postfix asks for a mail configuration; herald only uses its smtp-sink and
# smtp-source tools, so preseed "No configuration" (no local MTA is set up).
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
# policy-rc.d 101 keeps apt from starting redis/kannel/postfix as services:
# the tests start their own instances on ephemeral ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null
  $SUDO chmod +x $policy
  created_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
if ((created_policy)); then $SUDO rm -f $policy; fi

#!/usr/bin/env bash
# Installs dependencies and test peers, builds, and runs every test: the
# GoogleTest unit tests and the integration tests against real peers
# (Postfix smtp-sink, ...), all through CTest.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
ctest --preset release "$@"

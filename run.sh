#!/usr/bin/env bash
# Installs dependencies, builds a release and starts heraldd in the
# foreground with config/heraldd.toml (default transport: outbox, so messages
# land in var/outbox/ with no external server). Ctrl-C stops it gracefully.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target heraldd herald-logdump
exec build/release/daemon/heraldd --config config/heraldd.toml "$@"

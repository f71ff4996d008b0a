#!/usr/bin/env bash
# Builds and runs the product. For now that is the server: sotto-server on 127.0.0.1:8448 with its
# embedded SQLite database in ./sotto-data. Extra arguments go to sotto-server (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked -p sotto-server
exec target/release/sotto-server "$@"

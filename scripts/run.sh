#!/usr/bin/env bash
# Builds and runs the product, headless for now: sotto-server on 127.0.0.1:8448 with its embedded
# SQLite database in ./sotto-data, and the `sotto` command-line client next to it
# (target/release/sotto). Extra arguments go to sotto-server (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
cargo build --release --locked -p sotto-server -p sotto-cli
cat >&2 <<'HELP'

sotto-server is starting (on http://127.0.0.1:8448 unless --listen says otherwise; Ctrl-C
stops it). In another terminal:

  export SOTTO_SERVER=http://127.0.0.1:8448
  echo 'a long password' | target/release/sotto --profile ./alice register alice --password-stdin
  echo 'another password' | target/release/sotto --profile ./bob register bob --password-stdin
  target/release/sotto --profile ./alice send bob "hello, bob"
  target/release/sotto --profile ./bob listen          # prints messages as JSON lines

Profiles keep their key in the system keychain (Secret Service); on a machine without one, add
--no-keychain --passphrase-stdin and give the passphrase as the second line of stdin.

HELP
exec target/release/sotto-server "$@"

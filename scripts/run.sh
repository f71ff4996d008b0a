#!/usr/bin/env bash
# Builds and runs the product. With a display: the Sotto desktop app (release build), whose first
# screen offers "Run a server on this computer" (a sotto-server inside the app, with its SQLite
# database in the app's data folder; others on the network can join at the address it shows) or
# "Connect to a server". Without a display (SSH, a server box): sotto-server alone on
# 127.0.0.1:8448 with its data in ./sotto-data, and the `sotto` command-line client beside it.
# Extra arguments go to sotto-server in the headless case (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "${SOTTO_HEADLESS:-}" != 1 ]; then
  npm ci --prefix ui --no-audit --no-fund --loglevel=error
  npm --prefix ui run build
  cargo build --release --locked -p sotto-app -p sotto-cli
  echo "Starting Sotto. On first start choose \"Run a server on this computer\" (or connect to yours)." >&2
  exec target/release/sotto-app
fi

cargo build --release --locked -p sotto-server -p sotto-cli
cat >&2 <<'HELP'

No display here, so sotto-server runs alone (on http://127.0.0.1:8448 unless --listen says
otherwise; Ctrl-C stops it). The desktop app can connect to it from another machine when it
listens on the network (--listen 0.0.0.0:8448). In another terminal:

  export SOTTO_SERVER=http://127.0.0.1:8448
  echo 'a long password' | target/release/sotto --profile ./alice register alice --password-stdin
  echo 'another password' | target/release/sotto --profile ./bob register bob --password-stdin
  target/release/sotto --profile ./alice send bob "hello, bob"
  target/release/sotto --profile ./bob listen          # prints messages as JSON lines

Profiles keep their key in the system keychain (Secret Service); on a machine without one, add
--no-keychain --passphrase-stdin and give the passphrase as the second line of stdin.

HELP
exec target/release/sotto-server "$@"

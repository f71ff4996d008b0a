#!/usr/bin/env bash
# Runs the whole test suite: the UI's type check, build and component tests; formatting and
# lints; every Rust test (unit tests, the integration tests that start the real sotto-server
# binary on loopback with real clients and real SQLCipher profiles, and the app-window tests that
# drive the real desktop app through WebDriver under Xvfb; the blob store also on an S3-compatible
# server, moto's, installed from PyPI into target/moto-venv; the store suite also on PostgreSQL, a
# throwaway cluster from scripts/postgres.sh); the deployment files in deploy/
# (systemd-analyze, nginx and Caddy in front of the real server, and in front of two nodes on a
# database of that cluster, one of them killed); the .deb and .rpm packages; and the benchmarks'
# smoke runs. One shared target directory.
#
# The tests run inside a private D-Bus session with an unlocked gnome-keyring (a real Secret
# Service), with its storage in a temporary XDG_DATA_HOME, so they never touch the user's keyring.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SOTTO_TEST_SESSION:-}" != 1 ]; then
  scripts/setup-debian.sh
  keyring_home=$(mktemp -d)
  mkdir -p "$keyring_home/data" "$keyring_home/cache"
  trap 'rm -rf "$keyring_home"' EXIT
  # Not exec: the trap must run. HOME stays (rustup lives there).
  XDG_DATA_HOME="$keyring_home/data" XDG_CACHE_HOME="$keyring_home/cache" SOTTO_TEST_SESSION=1 \
    dbus-run-session -- bash -c 'echo -n sotto-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
                                 exec keyctl session - bash "$0"' "$0"
  exit $?
fi

# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# One cold build: incremental caches only cost time and disk here.
export CARGO_INCREMENTAL=0

echo "== an S3-compatible object store for the blob store's tests (moto's server, from PyPI)"
moto_venv=target/moto-venv
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.6'
fi
export SOTTO_MOTO_SERVER="$PWD/$moto_venv/bin/moto_server"
echo "== UI: install, type check, build, component tests"
npm ci --prefix ui --no-audit --no-fund --loglevel=error
npm --prefix ui run build
npm --prefix ui test
echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
# The PostgreSQL store's tests (the store suite, and the server binary on PostgreSQL) run on a
# throwaway cluster: PostgreSQL from Debian's packages, started here, stopped when this exits.
# shellcheck source=scripts/postgres.sh
. scripts/postgres.sh
# Every target of the workspace in one build (one feature set, so nothing below compiles a
# crate again): the end-to-end tests start these binaries from the shared target directory, the
# app embeds the UI built above, and the benchmarks' smoke runs use the same binaries.
cargo build --locked --workspace --all-targets
command -v tauri-driver >/dev/null 2>&1 || cargo install tauri-driver --locked --version 2.1.0
# A virtual display for the app-window tests (WebKitGTK through tauri-driver).
xvfb-run -a -s "-screen 0 1280x800x24" cargo nextest run --workspace --locked --no-fail-fast
# The app crate has no doc tests, and building its library for rustdoc would compile the Tauri
# stack a second time.
cargo test --workspace --doc --locked --exclude sotto-app --exclude sotto-app-macros
echo "== deployment: deploy/ (systemd units, nginx, Caddy) checked with the real tools in front of one server and of two nodes"
# (Two nodes on a database of the PostgreSQL cluster started above: SOTTO_TEST_POSTGRES_URL.)
deploy/check.sh
echo "== packages: .deb and .rpm of the same debug build"
TAURI_APP_PATH=src-tauri ui/node_modules/.bin/tauri bundle --debug --ci --bundles deb,rpm
ls target/debug/bundle/deb/*.deb target/debug/bundle/rpm/*.rpm
echo "== benchmark smoke runs (fail if any message is lost, duplicated, fails, reads back wrong or is not restored)"
# The relay also on PostgreSQL (the cluster from scripts/postgres.sh, above): one node, then two
# nodes on one database with messages crossing between them.
target/debug/sotto-bench --quick --postgres "$SOTTO_TEST_POSTGRES_URL" > target/bench-smoke.txt
grep -v '^{' target/bench-smoke.txt || true
target/debug/sotto-engine-bench --quick --sqlite3 none --no-drop-caches > target/engine-bench-smoke.txt
grep -v '^{' target/engine-bench-smoke.txt | tail -n 12 || true
xvfb-run -a -s "-screen 0 1280x800x24" target/debug/sotto-app-bench --quick > target/app-bench-smoke.txt
grep -v '^{' target/app-bench-smoke.txt || true
target/debug/sotto-backup-bench --quick > target/backup-bench-smoke.txt
grep -v '^{' target/backup-bench-smoke.txt || true
# (16 MiB: the debug build encrypts at a few MiB/s; the figures come from the release build.)
target/debug/sotto-files-bench --mib 16 > target/files-bench-smoke.txt
grep -v '^{' target/files-bench-smoke.txt || true
echo "== disk used by the build: $(du -sh target | cut -f1)"
echo "== all tests passed"

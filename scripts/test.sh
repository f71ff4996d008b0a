#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, and every test (unit tests and the integration
# tests that start the real sotto-server binary on loopback). One shared target directory.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-debian.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format"
cargo fmt --all --check
echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi
echo "== benchmark smoke run (fails if any message is lost or fails)"
cargo build --locked -p sotto-server -p sotto-bench
target/debug/sotto-bench --quick > target/bench-smoke.txt
tail -n 20 target/bench-smoke.txt | grep -v '^{' || true
echo "== all tests passed"

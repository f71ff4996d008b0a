#!/usr/bin/env bash
# Installs what building and testing Sotto needs on Debian/Ubuntu: a C toolchain, pkg-config and
# libssl-dev (for the bundled SQLCipher), curl, D-Bus, gnome-keyring and keyutils (the Secret
# Service keychain the client keeps its profile keys in, also under test), and Rust (via rustup)
# when cargo is missing. Safe to run again:
# it only installs what is absent.
set -euo pipefail

packages=(build-essential pkg-config libssl-dev curl ca-certificates dbus gnome-keyring keyutils)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "Rust is installed in ~/.cargo/bin; add it to PATH (source ~/.cargo/env)."
  else
    echo "Installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  fi
fi

#!/usr/bin/env bash
# Installs what building and testing Sotto needs on Debian/Ubuntu: a C toolchain, pkg-config and
# libssl-dev (for the bundled SQLCipher), curl, D-Bus, gnome-keyring and keyutils (the Secret
# Service keychain the client keeps its profile keys in, also under test), the WebKitGTK and GTK
# libraries the desktop app links (with the tray's appindicator), WebKitWebDriver, Xvfb and xdotool
# (to drive the real window, and the system's file chooser, in tests), trayer and dunst (a real
# system tray and notification server for the app-window tests), xclip (a picture on the
# clipboard to paste in them), nginx, Caddy, systemd, openssl and strace (deploy/check.sh runs
# the deployment files with them), python3 with venv (for the S3-compatible test server, moto's,
# from PyPI), Node.js >= 20 (the
# UI build) and Rust (via rustup) when missing. Safe to run again: it only installs what is absent.
set -euo pipefail

packages=(build-essential pkg-config libssl-dev curl ca-certificates file xz-utils dbus gnome-keyring keyutils
  libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev
  webkit2gtk-driver xvfb xauth xdotool trayer dunst xclip
  nginx caddy systemd openssl strace util-linux python3 python3-venv)
# Web servers installed here are for deploy/check.sh, which runs its own instances: the system
# services their packages enable and start are stopped and disabled again.
services=(nginx caddy)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing[@]})); then
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  # Caddy is packaged from Debian 12 on; where the release has none, deploy/check.sh says it
  # skipped the Caddyfile.
  if ! apt-cache show caddy >/dev/null 2>&1; then
    available=()
    for p in "${missing[@]}"; do
      if [ "$p" = caddy ]; then
        echo "No caddy package for this release: deploy/check.sh will skip the Caddyfile."
      else
        available+=("$p")
      fi
    done
    missing=("${available[@]}")
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  for service in "${services[@]}"; do
    if [[ " ${missing[*]} " == *" $service "* ]] && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$service.service" >/dev/null 2>&1 || true
    fi
  done
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    echo "Rust is installed in ~/.cargo/bin; add it to PATH (source ~/.cargo/env)."
  else
    echo "Installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  fi
fi

# Node.js 20.19 or newer for the UI build (Vite); Debian's own package is older, so take the
# official build when node is missing or too old.
node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'
}
if ! node_ok; then
  version=v22.12.0
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "No Node.js build for $(uname -m); install Node.js >= 20.19 yourself." >&2; exit 1 ;;
  esac
  echo "Installing Node.js $version into /usr/local"
  curl -fsSL "https://nodejs.org/dist/$version/node-$version-linux-$arch.tar.xz" |
    $sudo tar -xJ -C /usr/local --strip-components=1 --exclude='*.md' --exclude=LICENSE
fi

# Shared by .ci/start, .ci/test and .ci/run: install what is missing and
# start the services the tests need. Sourced, not run.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# One-shot builds (CI, tests) gain nothing from incremental state but disk use.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen crate in Cargo.lock
CARGO_LEPTOS_VERSION=0.3.11

say() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

install_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
    say "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (~3 min)"
    # Not --locked: its lockfile names a crate version the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
  if [ "$(cargo leptos --version 2>/dev/null | awk '{print $2}')" != "$CARGO_LEPTOS_VERSION" ]; then
    say "Installing cargo-leptos $CARGO_LEPTOS_VERSION from .ci/cargo-leptos (~20 min, once)"
    cargo install --path "$ROOT/.ci/cargo-leptos" --locked --force
  fi
}

install_browser_tools() {
  if [ ! -x /usr/bin/chromium ]; then
    say "Installing Debian's chromium"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  # Without a colour-emoji font Chromium draws emoji as empty boxes, and the
  # screenshots (and anyone checking them) cannot tell an emoji from a bug.
  if [ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    say "Installing Debian's colour-emoji font"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-color-emoji >/dev/null
  fi
  if [ ! -d "$ROOT/end2end/node_modules/@playwright/test" ]; then
    say "Installing the end-to-end test packages (npm)"
    (cd "$ROOT/end2end" && npm ci --no-audit --no-fund)
  fi
}

# The S3-compatible server the storage tests (and the two-node end-to-end
# run) use. MinIO does not install here; moto does, from PyPI.
S3_PORT=5055
install_s3_server() {
  if ! python3 -c 'import moto.server' >/dev/null 2>&1; then
    say "Installing moto[server] (an S3-compatible test server, from PyPI)"
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
  fi
}

wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "$what did not come up" >&2
  return 1
}

mariadb_up() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
s3_up() { curl -fsS -o /dev/null "http://127.0.0.1:$S3_PORT/"; }

start_services() {
  if ! mariadb_up >/dev/null 2>&1; then
    say "Starting MariaDB"
    as_root mkdir -p /run/mysqld
    as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for "MariaDB" mariadb_up
  fi
  if ! redis_up; then
    say "Starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    wait_for "Redis" redis_up
  fi
  if ! s3_up; then
    say "Starting moto_server (S3) on 127.0.0.1:$S3_PORT"
    # Detached, as the other services are: it outlives this script. Started
    # from a subshell so that it is not this shell's child: a `wait` here
    # (the test script's exit trap) would otherwise wait for it for ever.
    (setsid nohup python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >/tmp/natter-moto.log 2>&1 </dev/null &)
    wait_for "moto_server" s3_up
  fi
}

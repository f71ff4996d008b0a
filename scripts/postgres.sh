# shellcheck shell=bash
# A throwaway PostgreSQL cluster for the store tests (the PostgreSQL store runs the same suite
# as SQLite: crates/server/src/store/postgres/tests.rs). Sourced, not run:
#
#     . scripts/postgres.sh            # scripts/test.sh does this before the tests
#     cargo nextest run -p sotto-server
#
# It installs PostgreSQL from the Debian packages if `initdb` is missing, creates a cluster in a
# temporary directory as an unprivileged user (as root: the system user `sotto-pg`, created if
# absent; PostgreSQL refuses to run as root), starts it on a free loopback port with trust
# authentication (nothing but this machine can reach it) and a TLS certificate from a throwaway
# CA, exports SOTTO_TEST_POSTGRES_URL (and the CA's certificate as SOTTO_TEST_POSTGRES_CA), and
# stops and deletes the cluster when the shell exits. Durability is off (fsync, full pages): the
# tests need PostgreSQL's locking and transactions, not its crash safety, and CI has two cores.
# SOTTO_PG_OPTIONS adds server options after these (the last one wins), e.g. for a benchmark
# with a durable cluster: SOTTO_PG_OPTIONS="-c fsync=on -c full_page_writes=on".

sotto_pg_bindir() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  # Debian keeps the server binaries out of PATH, one directory per major version.
  local newest
  newest=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [ -n "$newest" ] && [ -x "$newest/initdb" ] && echo "$newest"
}

sotto_pg_start() {
  local bindir sudo="" owner run=() dir port
  bindir=$(sotto_pg_bindir) || true
  if [ -z "$bindir" ]; then
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing PostgreSQL (Debian packages) for the store tests"
    # Only the binaries: no cluster of the package's own, no service started.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/sotto-tests.conf >/dev/null
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    bindir=$(sotto_pg_bindir) || true
    [ -n "$bindir" ] || { echo "PostgreSQL was installed but initdb is not found" >&2; return 1; }
  fi

  owner=$(id -un)
  if [ "$(id -u)" -eq 0 ]; then
    owner=sotto-pg
    id -u "$owner" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$owner"
    run=(runuser -u "$owner" --)
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/sotto-pg.XXXXXX")
  chown "$owner" "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

  # From inside the cluster's directory: the user may not be allowed into the current one.
  (cd "$dir" && "${run[@]}" "$bindir/initdb" --pgdata="$dir/data" --username=sotto --auth=trust --encoding=UTF8 \
    --locale=C --no-sync >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; return 1; }
  # TLS with a certificate from a throwaway CA, which no system trusts: most tests connect without
  # TLS (sslmode=disable); some check that `sslmode=require` verifies the certificate and refuses
  # it, and that it is accepted with the CA given (SOTTO_TEST_POSTGRES_CA, like --database-ca).
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  { openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=Sotto test CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req "${ec[@]}" -subj /CN=localhost -keyout "$dir/tls.key" -out "$dir/tls.csr" &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
      >"$dir/tls.ext" &&
    openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
      -extfile "$dir/tls.ext" -out "$dir/tls.crt"; } >/dev/null 2>&1 ||
    { echo "openssl could not make the test cluster's certificates" >&2; return 1; }
  chown "$owner" "$dir/tls.key" "$dir/tls.crt"
  chmod 644 "$dir/ca.crt"
  chmod 600 "$dir/tls.key"
  local options="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c max_connections=400"
  options+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  options+=" -c ssl=on -c ssl_cert_file=$dir/tls.crt -c ssl_key_file=$dir/tls.key"
  options+="${SOTTO_PG_OPTIONS:+ $SOTTO_PG_OPTIONS}"
  if ! (cd "$dir" && "${run[@]}" "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait --silent \
    -o "$options" start); then
    cat "$dir/server.log" >&2
    return 1
  fi
  SOTTO_PG_DIR=$dir SOTTO_PG_BINDIR=$bindir SOTTO_PG_RUN="${run[*]}"
  export SOTTO_TEST_POSTGRES_URL="postgres://sotto@127.0.0.1:$port/postgres?sslmode=disable"
  export SOTTO_TEST_POSTGRES_CA="$dir/ca.crt"
  echo "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (cluster in $dir)"
}

sotto_pg_stop() {
  [ -n "${SOTTO_PG_DIR:-}" ] || return 0
  # shellcheck disable=SC2086 # SOTTO_PG_RUN is a command line of plain words (or empty).
  (cd "$SOTTO_PG_DIR" && $SOTTO_PG_RUN "$SOTTO_PG_BINDIR/pg_ctl" --pgdata="$SOTTO_PG_DIR/data" --mode=immediate \
    --silent stop) || true
  rm -rf "$SOTTO_PG_DIR"
  SOTTO_PG_DIR=
}

sotto_pg_start
# Stopped at exit, after whatever the shell already does then.
sotto_pg_previous_exit=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\\1/")
# shellcheck disable=SC2064 # expanded now on purpose: the previous trap's command
trap "sotto_pg_stop${sotto_pg_previous_exit:+; $sotto_pg_previous_exit}" EXIT

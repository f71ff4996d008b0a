#!/usr/bin/env bash
# Checks the files in deploy/ with the real tools, against real sotto-servers:
# 1. they agree with the code: the socket route, the server's largest body, its ping interval,
#    its port and its health route; the two-node template unit is the single unit but for its
#    port, description, secrets file and start limit;
# 2. the systemd units (deploy/sotto-server.service and an instance of
#    deploy/two-nodes/sotto-server@.service) pass `systemd-analyze verify` (copies pointing at
#    the built binary) and `systemd-analyze security` rates their exposure at most 2.0 of 10;
# 3. nginx (`nginx -t`) and Caddy (`caddy validate`) accept their files, and each, started with
#    its file as written except for the host's ports and a throwaway self-signed certificate,
#    serves sotto-server over HTTPS: /healthz and /readyz answer, plain HTTP is redirected,
#    /metrics stays private, a sign-up goes through, a WebSocket without a token gets the
#    server's 401, one with a token is upgraded (101) and carries the server's first frame,
#    and a body over the limit is refused by the proxy (413).
# 4. the server, traced while it served all that and stopped (as an unprivileged user), used
#    only system calls and socket families the unit allows, wrote only in its data directory
#    and read only its own part of /proc.
# 5. two nodes on one new PostgreSQL database (on the cluster SOTTO_TEST_POSTGRES_URL names),
#    node B started with a copy of node A's signing key, behind nginx and Caddy with the files
#    of deploy/two-nodes/ as written except for ports, nodes' ports and certificate: through
#    each, /readyz answers, a sign-up goes through, the account's requests are served by both
#    nodes (each node's /metrics) and a WebSocket is upgraded and carries the first frame; the
#    nodes hear each other over the database and refuse none of it; with
#    node A killed (-9), requests, a sign-up and a new WebSocket still go through (to node B),
#    and each proxy marks A down (nginx's passive check, Caddy's active one on /readyz); node A
#    restarted is used again.
#
# Needs systemd-analyze, nginx, caddy, openssl, curl and strace (scripts/setup-debian.sh installs
# them), the sotto-server binary (SOTTO_SERVER_BIN, or target/debug/sotto-server of the cargo
# target directory) and a PostgreSQL cluster it may create a database on, with psql: run it after
# `. scripts/postgres.sh`, which installs PostgreSQL if need be, starts a throwaway cluster and
# exports SOTTO_TEST_POSTGRES_URL (as scripts/test.sh does). Runs as any user; binds only free
# loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "deploy/check.sh: $*" >&2
  exit 1
}

target_dir="${CARGO_TARGET_DIR:-target}"
server_bin="${SOTTO_SERVER_BIN:-$target_dir/debug/sotto-server}"
[ -x "$server_bin" ] || fail "no sotto-server at $server_bin (cargo build -p sotto-server, or set SOTTO_SERVER_BIN)"
server_bin="$(realpath "$server_bin")"
for tool in systemd-analyze nginx openssl curl strace setpriv; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing (scripts/setup-debian.sh installs it)"
done
command -v psql >/dev/null 2>&1 || fail "psql is missing (scripts/postgres.sh installs PostgreSQL)"
# Section 5 runs two nodes on a database of their own on this PostgreSQL cluster.
[ -n "${SOTTO_TEST_POSTGRES_URL:-}" ] ||
  fail "SOTTO_TEST_POSTGRES_URL is not set: source scripts/postgres.sh first, which starts a throwaway PostgreSQL cluster and sets it (bash -c '. scripts/postgres.sh && deploy/check.sh')"
# Caddy has no package before Debian 12: then its part is skipped, loudly.
have_caddy=true
command -v caddy >/dev/null 2>&1 || have_caddy=false

work="$(mktemp -d)"
pids=()
two_db=""
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "$two_db" ]; then
    PGCONNECT_TIMEOUT=5 psql "$SOTTO_TEST_POSTGRES_URL" -qAtc "DROP DATABASE IF EXISTS $two_db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- 1. The files agree with the code -------------------------------------------------------

# `const NAME: usize = 16 * 1024 * 1024;` -> the number.
rust_usize() {
  local expr
  expr="$(sed -n "s/^pub const $1: usize = \(.*\);/\1/p" crates/proto/src/limits.rs)"
  [ -n "$expr" ] || fail "no $1 in crates/proto/src/limits.rs"
  echo $((expr))
}
largest_body=$(($(rust_usize MAX_BACKUP_BYTES) + 64 * 1024))
grep -q "DefaultBodyLimit::max(MAX_BACKUP_BYTES + 64 \* 1024)" crates/server/src/api/mod.rs ||
  fail "the backup route's body limit in crates/server/src/api/mod.rs changed: update this check and the proxies"
ping_secs="$(sed -n 's/^pub const DEFAULT_PING_INTERVAL_SECS: u64 = \([0-9]*\);/\1/p' crates/server/src/ws.rs)"
[ -n "$ping_secs" ] || fail "no DEFAULT_PING_INTERVAL_SECS in crates/server/src/ws.rs"
ws_path="$(sed -n 's/^ *Connect: Get "\([^"]*\)".*/\1/p' crates/proto/src/routes.rs)"
[ -n "$ws_path" ] || fail "no Connect route in crates/proto/src/routes.rs"

ready_path="$(sed -n 's/^pub const READY_PATH: &str = "\([^"]*\)";/\1/p' crates/proto/src/routes.rs)"
[ -n "$ready_path" ] || fail "no READY_PATH in crates/proto/src/routes.rs"

# The same rules for the one-node files and the two-node ones (each is complete on its own).
for conf in deploy/nginx.conf deploy/two-nodes/nginx.conf; do
  grep -q "^ *location = $ws_path {" "$conf" || fail "$conf has no location for the socket route $ws_path"
  nginx_body="$(sed -n 's/^ *client_max_body_size \([0-9]*\)m;/\1/p' "$conf")"
  if [ -z "$nginx_body" ] || ((nginx_body * 1024 * 1024 < largest_body)); then
    fail "$conf: client_max_body_size must be at least $largest_body bytes (the backup route's limit)"
  fi
  # The socket's location: both of its timeouts must outlast the server's ping interval.
  ws_block="$(sed -n "/location = ${ws_path//\//\\/} {/,/}/p" "$conf")"
  for timeout in proxy_read_timeout proxy_send_timeout; do
    secs="$(sed -n "s/^ *$timeout \([0-9]*\)s;/\1/p" <<<"$ws_block")"
    if [ -z "$secs" ] || ((secs <= ping_secs)); then
      fail "$conf: $timeout of $ws_path must be longer than the server's ping interval (${ping_secs}s)"
    fi
  done
  # X-Forwarded-For: the address nginx saw, in both proxied locations (never appended to).
  # shellcheck disable=SC2016 # $remote_addr is nginx's
  [ "$(grep -c '^ *proxy_set_header X-Forwarded-For $remote_addr;$' "$conf")" = 2 ] ||
    fail "$conf: both proxied locations must set X-Forwarded-For to \$remote_addr"
done
for conf in deploy/Caddyfile deploy/two-nodes/Caddyfile; do
  caddy_body="$(sed -n 's/^\s*max_size \([0-9]*\)MiB$/\1/p' "$conf")"
  if [ -z "$caddy_body" ] || ((caddy_body * 1024 * 1024 < largest_body)); then
    fail "$conf: request_body max_size must be at least $largest_body bytes (the backup route's limit)"
  fi
done
grep -q "Environment=.*SOTTO_LISTEN=127.0.0.1:8448" deploy/sotto-server.service || fail "the unit must listen on 127.0.0.1:8448"
grep -q "server 127.0.0.1:8448;" deploy/nginx.conf || fail "nginx.conf must proxy to 127.0.0.1:8448"
grep -q "reverse_proxy 127.0.0.1:8448$" deploy/Caddyfile || fail "the Caddyfile must proxy to 127.0.0.1:8448"
# The two-node files: the nodes sotto-server@8448 and sotto-server@8449 of the template unit.
for port in 8448 8449; do
  grep -q "^ *server 127.0.0.1:$port max_fails=[0-9]* fail_timeout=[0-9]*s;$" deploy/two-nodes/nginx.conf ||
    fail "two-nodes/nginx.conf must proxy to 127.0.0.1:$port (with max_fails and fail_timeout)"
done
grep -q "^\s*reverse_proxy 127.0.0.1:8448 127.0.0.1:8449 {$" deploy/two-nodes/Caddyfile ||
  fail "two-nodes/Caddyfile must proxy to 127.0.0.1:8448 and 127.0.0.1:8449"
grep -q "^\s*health_uri $ready_path$" deploy/two-nodes/Caddyfile || fail "two-nodes/Caddyfile must check the nodes' $ready_path"
unit_vars="$(sed -n 's/^Environment=//p' deploy/sotto-server.service)"
# The template is the single unit, line for line, but for its description, its port, its
# secrets file and its restarts without a limit (and comments): the same user, limits and sandbox.
template=deploy/two-nodes/sotto-server@.service
unit_rules() {
  sed -n '/^\[Unit\]/,$p' "$1" |
    grep -v -e '^#' -e '^$' -e '^Description=' -e '^Environment=' -e '^EnvironmentFile=' -e '^StartLimitIntervalSec=' || true
}
if ! unit_diff="$(diff <(unit_rules deploy/sotto-server.service) <(unit_rules "$template"))"; then
  fail "$template differs from deploy/sotto-server.service in more than its description, environment, start limit and comments (keep them in step): $unit_diff"
fi
grep -qx 'StartLimitIntervalSec=0' "$template" ||
  fail "$template must restart a node for as long as its database is away (StartLimitIntervalSec=0)"
# The node's shutdown grace (/readyz at 503 while it still serves) must outlast Caddy's active
# health check, so the proxy has marked a stopping node down before its sockets close.
template_vars="$(sed -n 's/^Environment=//p' "$template")"
grace="$(sed -n 's/^Environment=.* SOTTO_SHUTDOWN_GRACE_SECS=\([0-9]*\)$/\1/p' "$template")"
if [ -z "$grace" ] ||
  [ "$template_vars" != "${unit_vars/SOTTO_LISTEN=127.0.0.1:8448/SOTTO_LISTEN=127.0.0.1:%i} SOTTO_SHUTDOWN_GRACE_SECS=$grace" ]; then
  fail "$template: its Environment= must be the single unit's with SOTTO_LISTEN=127.0.0.1:%i, then SOTTO_SHUTDOWN_GRACE_SECS=N"
fi
health_interval="$(sed -n 's/^\s*health_interval \([0-9]*\)s$/\1/p' deploy/two-nodes/Caddyfile)"
[ -n "$health_interval" ] || fail "deploy/two-nodes/Caddyfile has no health_interval in seconds"
((grace > health_interval)) ||
  fail "$template: SOTTO_SHUTDOWN_GRACE_SECS=$grace must be longer than Caddy's health_interval (${health_interval}s)"
grep -qx 'EnvironmentFile=-/etc/sotto/sotto-server.env' "$template" || fail "$template must read /etc/sotto/sotto-server.env"
grep -qx 'EnvironmentFile=/etc/sotto/secrets.env' "$template" ||
  fail "$template must require /etc/sotto/secrets.env (SOTTO_DATABASE_URL): a node without it would keep its own SQLite database"
grep -q '^SOTTO_DATABASE_URL=postgres://' deploy/two-nodes/secrets.env || fail "two-nodes/secrets.env must set SOTTO_DATABASE_URL"
# Every variable the units and the environment files set is one the server reads.
known_vars="$("$server_bin" --help | grep -o 'env: SOTTO_[A-Z_]*' | sed 's/^env: //')"
for name in $(tr ' ' '\n' <<<"$unit_vars" | cut -d= -f1) \
  $(sed -n 's/^#\{0,1\}\(SOTTO_[A-Z_]*\)=.*/\1/p' deploy/sotto-server.env deploy/two-nodes/secrets.env); do
  grep -qx "$name" <<<"$known_vars" && continue
  fail "$name (deploy/) is not a variable sotto-server reads; see sotto-server --help"
done
echo "deploy: the files agree with the code (socket $ws_path, bodies up to $largest_body bytes, ping every ${ping_secs}s, health $ready_path; the template unit is the unit)"

# --- 2. The systemd unit ----------------------------------------------------------------------

# The unit, and the template as its instance for port 8448.
for unit in deploy/sotto-server.service:sotto-server.service "$template:sotto-server@8448.service"; do
  file="${unit%%:*}" copy="$work/${unit#*:}"
  sed "s|^ExecStart=/usr/local/bin/sotto-server$|ExecStart=$server_bin|" "$file" >"$copy"
  grep -q "^ExecStart=$server_bin$" "$copy" || fail "$file: its ExecStart is not /usr/local/bin/sotto-server"
  # verify prints what it dislikes (unknown keys included) but exits 0 for some of it: any output fails.
  verify="$(systemd-analyze verify "$copy" 2>&1)" || fail "systemd-analyze verify $file: $verify"
  [ -z "$verify" ] || fail "systemd-analyze verify $file: $verify"
  systemd-analyze security --offline=yes --threshold=20 "$copy" >"$work/security.txt" 2>&1 ||
    fail "$file: its exposure is above 2.0: $(tail -n 1 "$work/security.txt")"
  echo "deploy: systemd-analyze verify passes on $file; $(tail -n 1 "$work/security.txt" | sed 's/^→ //')"
done

# --- 3. The proxies in front of a real server -------------------------------------------------

# A loopback port nothing listens on, below the range the kernel takes outgoing connections'
# ports from (a later bind can still lose a race; rare, and it fails loudly).
ephemeral_start="$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)"
((ephemeral_start > 12000)) || ephemeral_start=32768
free_port() {
  local port
  while :; do
    port=$((10000 + RANDOM % (ephemeral_start - 10000)))
    if ! (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

wait_for() {
  local what="$1" url="$2" deadline=$((SECONDS + 30))
  shift 2
  until curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$what did not answer $url within 30 s"
    sleep 0.2
  done
}

server_port="$(free_port)"
server_args=(--data-dir "$work/data" --listen "127.0.0.1:$server_port")
# The server runs with the unit's defaults and the environment file as shipped (and nothing
# else from this environment); only its data directory and port are the test's.
read -ra server_env <<<"$unit_vars"
while IFS= read -r line; do
  server_env+=("$line")
done < <(grep -E '^[A-Z_]+=' deploy/sotto-server.env)
# Under strace, to hold its system calls against the unit's filter at the end (section 4), and
# never as root, as under the unit (SQLite, for one, behaves differently for root: it hands the
# files it creates to the database's owner).
as_user=()
if [ "$(id -u)" -eq 0 ]; then
  mkdir -m 0700 "$work/data"
  chown nobody:"$(id -gn nobody)" "$work/data"
  chmod 0711 "$work"
  as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi
env -i PATH="$PATH" "${server_env[@]}" strace -f -qq -o "$work/strace.txt" \
  "${as_user[@]}" "$server_bin" "${server_args[@]}" >"$work/server.log" 2>&1 &
strace_pid=$!
pids+=("$strace_pid")
wait_for sotto-server "http://127.0.0.1:$server_port/healthz"
server_pid="$(ps -o pid= --ppid "$strace_pid" | tr -d ' ')"
[ -n "$server_pid" ] || fail "cannot find the sotto-server that strace started"
pids+=("$server_pid")
[ "$(head -c 1 "$work/server.log")" = "{" ] || fail "the server did not log JSON as the unit asks: $(head -n 3 "$work/server.log")"

host=chat.example.org
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=$host" \
  -addext "subjectAltName=DNS:$host" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
# The largest backup the server takes, as its JSON request, and a body over every limit.
{
  printf '{"expected_version":0,"blob":"'
  head -c "$(rust_usize MAX_BACKUP_BYTES)" /dev/zero | tr '\0' A
  printf '"}'
} >"$work/largest-backup.json"
head -c $((largest_body + 1024 * 1024)) /dev/zero >"$work/too-large.bin"

# Everything a client does through a proxy on https://$host:$1 (and plain http on $2).
probe() {
  local name="$1" https_port="$2" http_port="$3"
  local base="https://$host:$https_port"
  local curl_tls=(--resolve "$host:$https_port:127.0.0.1" --cacert "$work/cert.pem" --max-time 10 -sS)
  local status body token out

  for path in /healthz /readyz; do
    status="$(curl "${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$base$path")"
    [ "$status" = 200 ] || fail "$name: $path answered $status"
  done
  status="$(curl --resolve "$host:$http_port:127.0.0.1" --max-time 10 -sS -o /dev/null -w '%{http_code} %{redirect_url}' \
    "http://$host:$http_port/healthz")"
  [[ "$status" =~ ^30[178]\ https://$host ]] || fail "$name: plain HTTP answered '$status', not a redirect to HTTPS"
  status="$(curl "${curl_tls[@]}" -o /dev/null -w '%{http_code}' "$base/metrics")"
  [ "$status" = 404 ] || fail "$name: /metrics answered $status through the proxy; it must stay private"
  curl -fsS -o /dev/null "http://127.0.0.1:$server_port/metrics" || fail "$name: the server's own /metrics does not answer"

  body="$(curl "${curl_tls[@]}" -H 'Content-Type: application/json' \
    -d "{\"user_id\":\"probe-$name\",\"password\":\"correct horse battery\"}" "$base/v1/accounts")"
  token="$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$body")"
  [ -n "$token" ] || fail "$name: signing up through the proxy gave no token: $body"

  local upgrade=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
  out="$(curl "${curl_tls[@]}" --http1.1 -i "${upgrade[@]}" "$base$ws_path" || true)"
  if ! [[ "$out" =~ ^HTTP/1.1\ 401 && "$out" == *'"code":"'* ]]; then
    fail "$name: a socket without a token did not get the server's JSON 401: $out"
  fi
  # The socket stays open: curl stops after 3 s with what arrived (the 101 and the first frames).
  out="$(curl "${curl_tls[@]}" --http1.1 -i -N --max-time 3 "${upgrade[@]}" -H "Authorization: Bearer $token" \
    "$base$ws_path" 2>/dev/null | tr -d '\0' || true)"
  [[ "$out" =~ ^HTTP/1.1\ 101 ]] || fail "$name: the WebSocket was not upgraded: $out"
  [[ "$out" == *'"type":"synced"'* ]] || fail "$name: no frame from the server came through the socket: $out"

  # The largest body the server takes goes through; one over the limit is refused. nginx refuses
  # it itself, from its length, before reading it (the server's own 413 would be JSON). Caddy
  # streams bodies, so the server, whose limits are lower, refuses it first: a 413, a 502 when
  # the server closed the connection before Caddy had passed the whole body on, or (on a loaded
  # machine) no answer at all, the HTTP/2 stream reset. Either way nothing was stored: the
  # backup slot still holds the largest backup's version.
  status="$(curl "${curl_tls[@]}" -o "$work/answer" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" --data-binary "@$work/largest-backup.json" "$base/v1/backup")"
  [ "$status" = 200 ] || fail "$name: the largest backup answered $status: $(head -c 300 "$work/answer")"
  local stored
  stored="$(cat "$work/answer")"
  rm -f "$work/answer"
  status="$(curl "${curl_tls[@]}" -o "$work/answer" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" --data-binary "@$work/too-large.bin" "$base/v1/backup" || true)"
  if [ "$name" = nginx ]; then
    if [ "$status" != 413 ] || grep -q '"code"' "$work/answer"; then
      fail "nginx: a body over client_max_body_size answered $status: $(head -c 300 "$work/answer")"
    fi
  elif [ "$status" != 413 ] && [ "$status" != 502 ] && [ "$status" != 000 ]; then
    fail "$name: a body over the limit answered $status: $(head -c 300 "$work/answer" 2>/dev/null)"
  fi
  local version
  version="$(curl "${curl_tls[@]}" -H "Authorization: Bearer $token" "$base/v1/backup" | grep -o '"version":[0-9]*')"
  [[ "$stored" == *"$version"* ]] || fail "$name: after a body over the limit the backup is at $version, not $stored"

  # The server sees each client's own address through the proxy (--trusted-proxy), and a client
  # cannot claim another: ten wrong passwords from 127.0.0.2, each with a made-up
  # X-Forwarded-For, use up that address's budget for the account; the owner, from 127.0.0.3,
  # still signs in. (Were the proxy not trusted, both would count as the proxy's address.)
  local sign_in=(-o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "$base/v1/sessions")
  for i in 1 2 3 4 5 6 7 8 9 10; do
    status="$(curl "${curl_tls[@]}" --interface 127.0.0.2 -H "X-Forwarded-For: 198.51.100.$i" \
      -d "{\"user_id\":\"probe-$name\",\"password\":\"not the password\"}" "${sign_in[@]}")"
    [ "$status" = 401 ] || fail "$name: wrong password $i through the proxy answered $status"
  done
  status="$(curl "${curl_tls[@]}" --interface 127.0.0.2 -H "X-Forwarded-For: 198.51.100.99" \
    -d "{\"user_id\":\"probe-$name\",\"password\":\"not the password\"}" "${sign_in[@]}")"
  [ "$status" = 429 ] || fail "$name: an 11th wrong password from one address answered $status, not 429"
  status="$(curl "${curl_tls[@]}" --interface 127.0.0.3 \
    -d "{\"user_id\":\"probe-$name\",\"password\":\"correct horse battery\"}" "${sign_in[@]}")"
  [ "$status" = 200 ] || fail "$name: the owner, from another address, answered $status: the proxy's client address is not used"
  echo "deploy: $name serves sotto-server over HTTPS (health, redirect, private metrics, sign-up, WebSocket, body limits, client addresses)"
}

# nginx with the site file $1 as written but for its ports (HTTPS $3, plain HTTP $4), the test
# certificate and the sed expressions after them (its nodes' addresses), run from the directory
# $2 with a minimal nginx.conf of its own (no root needed, nothing outside $work).
start_nginx() {
  local site="$1" dir="$2" https="$3" http="$4" nginx_test expr
  shift 4
  local nodes=()
  for expr in "$@"; do
    nodes+=(-e "$expr")
  done
  mkdir -p "$dir"
  sed -e "s|^\( *\)listen 443 ssl http2;|\1listen 127.0.0.1:$https ssl http2;|" \
    -e "s|^\( *\)listen 80;|\1listen 127.0.0.1:$http;|" \
    -e '/listen \[::\]:/d' \
    -e "s|/etc/letsencrypt/live/$host/fullchain.pem|$work/cert.pem|" \
    -e "s|/etc/letsencrypt/live/$host/privkey.pem|$work/key.pem|" \
    "${nodes[@]}" "$site" >"$dir/sotto.conf"
  if ! grep -q "listen 127.0.0.1:$https ssl" "$dir/sotto.conf" || ! grep -q "$work/cert.pem" "$dir/sotto.conf"; then
    fail "$site: the listen or certificate lines changed shape; update this check"
  fi
  ! grep -v '^\s*#' "$dir/sotto.conf" | grep -q '127\.0\.0\.1:844[89]' || fail "$site: the nodes' addresses changed shape; update this check"
  local user_line=""
  [ "$(id -u)" -ne 0 ] || user_line="user root;"
  cat >"$dir/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/sotto.conf;
}
EOF
  nginx_test="$(nginx -t -q -p "$dir" -c "$dir/nginx.conf" 2>&1)" || fail "nginx -t ($site): $nginx_test"
  [ -z "$nginx_test" ] || echo "deploy: nginx -t ($site) says: $nginx_test"
  nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' &
  pids+=($!)
  wait_for "nginx ($site)" "https://$host:$https/healthz" --resolve "$host:$https:127.0.0.1" --cacert "$work/cert.pem"
}

# Caddy with the Caddyfile $1 as written but for its ports (HTTPS $3, plain HTTP $4), the test
# certificate instead of ACME and the sed expressions after them (its nodes' addresses), written
# to $2 (its log beside it, its state in $work).
start_caddy() {
  local site="$1" file="$2" https="$3" http="$4" expr
  shift 4
  local nodes=()
  for expr in "$@"; do
    nodes+=(-e "$expr")
  done
  {
    printf '{\n\tadmin off\n\thttp_port %s\n\thttps_port %s\n\tstorage file_system %s\n}\n\n' \
      "$http" "$https" "$file.storage"
    sed -e "s|^$host {|$host:$https {\n\ttls $work/cert.pem $work/key.pem|" "${nodes[@]}" "$site"
  } >"$file"
  grep -q "^$host:$https {" "$file" || fail "$site: the site line changed shape; update this check"
  ! grep -v '^\s*#' "$file" | grep -q '127\.0\.0\.1:844[89]' || fail "$site: the nodes' addresses changed shape; update this check"
  caddy validate --config "$file" --adapter caddyfile >"$file.validate.log" 2>&1 ||
    fail "caddy validate ($site): $(cat "$file.validate.log")"
  caddy run --config "$file" --adapter caddyfile >"$file.log" 2>&1 &
  pids+=($!)
  wait_for "caddy ($site)" "https://$host:$https/healthz" --resolve "$host:$https:127.0.0.1" --cacert "$work/cert.pem"
}

nginx_https="$(free_port)"
nginx_http="$(free_port)"
start_nginx deploy/nginx.conf "$work/nginx" "$nginx_https" "$nginx_http" \
  "s|server 127.0.0.1:8448;|server 127.0.0.1:$server_port;|"
probe nginx "$nginx_https" "$nginx_http"

if ! $have_caddy; then
  echo "deploy: SKIPPED the Caddyfile: caddy is not installed (no package for this release?)"
else
  export XDG_DATA_HOME="$work/caddy" XDG_CONFIG_HOME="$work/caddy"
  caddy_https="$(free_port)"
  caddy_http="$(free_port)"
  start_caddy deploy/Caddyfile "$work/Caddyfile" "$caddy_https" "$caddy_http" \
    "s|reverse_proxy 127.0.0.1:8448$|reverse_proxy 127.0.0.1:$server_port|"
  probe caddy "$caddy_https" "$caddy_http"
fi

# --- 4. What the unit's sandbox allows is what the server used ---------------------------------

# A graceful stop, so its system calls are in the trace too.
kill -TERM "$server_pid"
deadline=$((SECONDS + 30))
while kill -0 "$strace_pid" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "sotto-server did not stop within 30 s of SIGTERM"
  sleep 0.2
done
# The unit's SystemCallFilter= lines, groups expanded: allowed minus denied.
expand_syscalls() {
  local entry
  for entry in "$@"; do
    if [[ "$entry" == @* ]]; then
      # shellcheck disable=SC2046 # word splitting wanted: one name per word
      expand_syscalls $(systemd-analyze syscall-filter "$entry" | tail -n +2 | sed -e 's/#.*//' -e 's/^\s*//' | grep -v '^$')
    else
      echo "$entry"
    fi
  done
}
allowed=()
denied=()
while IFS= read -r filter; do
  if [[ "$filter" == ~* ]]; then
    read -ra words <<<"${filter#\~}"
    denied+=("${words[@]}")
  else
    read -ra words <<<"$filter"
    allowed+=("${words[@]}")
  fi
done < <(sed -n 's/^SystemCallFilter=//p' deploy/sotto-server.service)
((${#allowed[@]})) || fail "the unit has no SystemCallFilter= allow list"
expand_syscalls "${allowed[@]}" | sort -u >"$work/allowed.txt"
expand_syscalls "${denied[@]}" | sort -u >"$work/denied.txt"
comm -23 "$work/allowed.txt" "$work/denied.txt" >"$work/permitted.txt"
# From the exec of sotto-server on (before it, setpriv dropped root).
sed -n "\|execve(\"$server_bin\"|,\$p" "$work/strace.txt" >"$work/server-trace.txt"
# (strace pads the pid column: `6007  read(…` as well as `12345 read(…`.)
sed -n -e 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' -e 's/^[0-9]\+ \+<\.\.\. \([a-z0-9_]\+\) resumed>.*/\1/p' \
  "$work/server-trace.txt" | sort -u >"$work/used.txt"
if ! [ -s "$work/used.txt" ]; then
  fail "strace recorded no system call of sotto-server ($server_bin): $(wc -l <"$work/strace.txt") trace lines, \
$(wc -l <"$work/server-trace.txt") after its exec; its execs: $(grep -F execve "$work/strace.txt" | cut -c1-160 | head -n 5); \
the trace begins: $(head -n 5 "$work/strace.txt" | cut -c1-160)"
fi
# systemd applies the filter before the exec, so every call in the trace counts, execve too.
refused="$(comm -23 "$work/used.txt" "$work/permitted.txt" | paste -sd ' ')"
[ -z "$refused" ] || fail "sotto-server used system calls the unit's SystemCallFilter= refuses: $refused"
families="$(grep -o 'socket(AF_[A-Z0-9]*' "$work/server-trace.txt" | sed 's/socket(//' | sort -u | paste -sd ' ')"
for family in $families; do
  grep -q "RestrictAddressFamilies=.*\b$family\b" deploy/sotto-server.service ||
    fail "sotto-server opened an $family socket, which the unit's RestrictAddressFamilies= refuses"
done
# ProtectSystem=strict: files are written only in the data directory (and /dev/null).
writes="$(grep -E '^[0-9]+ +open(at)?\(.*O_(WRONLY|RDWR|CREAT)' "$work/server-trace.txt" |
  grep -o '"[^"]*"' | tr -d '"' | grep -v -e "^$work/data" -e '^/dev/null$' | sort -u | paste -sd ' ' || true)"
[ -z "$writes" ] || fail "sotto-server opened files for writing outside its data directory: $writes"
# ProcSubset=pid: of /proc, only the processes' own directories are there (glibc's malloc reads
# /proc/sys/vm/overcommit_memory when it can, and does without).
hidden="$(grep -o '"/proc/[^"]*"' "$work/server-trace.txt" | tr -d '"' |
  grep -v -E '^/proc/(self|thread-self|[0-9]+)(/|$)|^/proc/sys/vm/overcommit_memory$' |
  sort -u | paste -sd ' ' || true)"
[ -z "$hidden" ] || fail "sotto-server read from /proc what the unit's ProcSubset=pid hides: $hidden"
echo "deploy: sotto-server used $(wc -l <"$work/used.txt") system calls, all allowed by the unit; sockets: $families; writes only in its data directory"

# --- 5. Two nodes on one PostgreSQL database behind each proxy --------------------------------

two_start=$SECONDS
# A database of their own on the cluster SOTTO_TEST_POSTGRES_URL names (dropped at exit).
two_db="sotto_deploy_$$_$RANDOM"
psql_out="$(PGCONNECT_TIMEOUT=10 psql "$SOTTO_TEST_POSTGRES_URL" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE $two_db" 2>&1)" ||
  fail "cannot create a database on SOTTO_TEST_POSTGRES_URL's cluster (is it running? source scripts/postgres.sh): $psql_out"
node_url="$(sed -E "s|^(postgres(ql)?://[^/?]*)(/[^?]*)?|\\1/$two_db|" <<<"$SOTTO_TEST_POSTGRES_URL")"
[[ "$node_url" == *"/$two_db"* ]] || fail "cannot make a URL for the new database from SOTTO_TEST_POSTGRES_URL"

# The nodes run with the template unit's settings (%i: the node's port), the environment file
# as shipped and the database's URL (secrets.env); only data directories and ports are the
# test's. Each node has a data directory of its own, as on separate machines: node B gets a
# copy of node A's signing key before it first starts, as deploy/README.md says.
declare -A node_port node_pid
node_port[a]="$(free_port)"
node_port[b]="$(free_port)"
start_node() {
  local node="$1" port="${node_port[$1]}" env=() line
  read -ra env <<<"$(sed -n 's/^Environment=//p' "$template" | sed "s/%i/$port/g")"
  while IFS= read -r line; do
    env+=("$line")
  done < <(grep -E '^[A-Z_]+=' deploy/sotto-server.env)
  env -i PATH="$PATH" "${env[@]}" "SOTTO_DATABASE_URL=$node_url" "${as_user[@]}" "$server_bin" \
    --data-dir "$work/node-$node" --listen "127.0.0.1:$port" >>"$work/node-$node.log" 2>&1 &
  node_pid[$node]=$!
  pids+=($!)
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port$ready_path" 2>/dev/null; do
    kill -0 "${node_pid[$node]}" 2>/dev/null || fail "node $node exited: $(tail -n 5 "$work/node-$node.log")"
    ((SECONDS < deadline)) || fail "node $node did not answer $ready_path within 30 s: $(tail -n 5 "$work/node-$node.log")"
    sleep 0.2
  done
}
for node in a b; do
  mkdir -m 0700 "$work/node-$node"
  [ -z "${as_user[*]}" ] || chown nobody:"$(id -gn nobody)" "$work/node-$node"
done
start_node a
key=jwt-signing-key.pem
[ -s "$work/node-a/$key" ] || fail "node A made no $key in its data directory"
cp "$work/node-a/$key" "$work/node-b/$key"
chmod 0600 "$work/node-b/$key"
[ -z "${as_user[*]}" ] || chown nobody:"$(id -gn nobody)" "$work/node-b/$key"
start_node b
jwks_a="$(curl -fsS --max-time 10 "http://127.0.0.1:${node_port[a]}/v1/jwks.json")"
jwks_b="$(curl -fsS --max-time 10 "http://127.0.0.1:${node_port[b]}/v1/jwks.json")"
[ "$jwks_a" = "$jwks_b" ] || fail "the two nodes sign with different keys (node B did not take the copy of $key): $jwks_a / $jwks_b"

# Requests for GET /v1/devices answered 200 by a node so far (its own /metrics).
served() {
  local metrics
  metrics="$(curl -fsS --max-time 10 "http://127.0.0.1:${node_port[$1]}/metrics")" ||
    fail "node $1's /metrics does not answer"
  awk '/^sotto_http_requests_total\{/ && /method="GET"/ && /route="\/v1\/devices"/ && /status="200"/ { n += $NF }
       END { print n + 0 }' <<<"$metrics"
}

# Both proxies, with the two-node files, in front of both nodes.
declare -A proxy_port
proxy_port[nginx]="$(free_port)"
start_nginx deploy/two-nodes/nginx.conf "$work/nginx-two" "${proxy_port[nginx]}" "$(free_port)" \
  "s|server 127.0.0.1:8448 |server 127.0.0.1:${node_port[a]} |" "s|server 127.0.0.1:8449 |server 127.0.0.1:${node_port[b]} |"
proxies=(nginx)
if $have_caddy; then
  proxy_port[caddy]="$(free_port)"
  start_caddy deploy/two-nodes/Caddyfile "$work/Caddyfile-two" "${proxy_port[caddy]}" "$(free_port)" \
    "s|reverse_proxy 127.0.0.1:8448 127.0.0.1:8449 {|reverse_proxy 127.0.0.1:${node_port[a]} 127.0.0.1:${node_port[b]} {|"
  proxies+=(caddy)
else
  echo "deploy: SKIPPED two-nodes/Caddyfile: caddy is not installed (no package for this release?)"
fi

# curl through proxy $1 (to https://$host:<its port>$2).
via() {
  local port="${proxy_port[$1]}" path="$2"
  shift 2
  curl --resolve "$host:$port:127.0.0.1" --cacert "$work/cert.pem" --max-time 10 -sS "$@" "https://$host:$port$path"
}
# A new account through proxy $1; prints its access token.
sign_up() {
  local body token
  body="$(via "$1" /v1/accounts -H 'Content-Type: application/json' \
    -d "{\"user_id\":\"$2\",\"password\":\"correct horse battery\"}" || true)"
  token="$(sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' <<<"$body")"
  [ -n "$token" ] || fail "$1 (two nodes): signing up $2 $3 gave no token: $body"
  echo "$token"
}
# $3 requests for GET /v1/devices with the token $2 through proxy $1; each must be answered 200.
list_devices() {
  local i status
  for ((i = 1; i <= $3; i++)); do
    status="$(via "$1" /v1/devices -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $2" || true)"
    [ "$status" = 200 ] || fail "$1 (two nodes): GET /v1/devices $4 answered $status (request $i of $3)"
  done
}
# A WebSocket through each proxy at once, each with its token (tokens[proxy]): upgraded, and
# carrying the server's first frame. curl stops after 3 s with what arrived.
declare -A tokens
sockets() {
  local proxy out
  local upgrade=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==')
  local jobs=() job
  for proxy in "${proxies[@]}"; do
    { via "$proxy" "$ws_path" --http1.1 -i -N --max-time 3 "${upgrade[@]}" -H "Authorization: Bearer ${tokens[$proxy]}" \
      2>/dev/null | tr -d '\0' >"$work/socket-$proxy.txt" || true; } &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do
    wait "$job" || true
  done
  for proxy in "${proxies[@]}"; do
    out="$(cat "$work/socket-$proxy.txt")"
    [[ "$out" =~ ^HTTP/1.1\ 101 ]] || fail "$proxy (two nodes): the WebSocket $1 was not upgraded: $out"
    [[ "$out" == *'"type":"synced"'* ]] || fail "$proxy (two nodes): no frame came through the WebSocket $1: $out"
  done
}

# Both nodes up: the proxy answers, signs up, and spreads one account's requests over both
# nodes (a token either node issued works on the other: they share the key).
for proxy in "${proxies[@]}"; do
  for path in "$ready_path" /metrics; do
    status="$(via "$proxy" "$path" -o /dev/null -w '%{http_code}' || true)"
    want=200
    [ "$path" != /metrics ] || want=404
    [ "$status" = "$want" ] || fail "$proxy (two nodes): $path answered $status, not $want"
  done
  tokens[$proxy]="$(sign_up "$proxy" "two-$proxy" "with both nodes up")"
  before_a="$(served a)" before_b="$(served b)"
  list_devices "$proxy" "${tokens[$proxy]}" 20 "with both nodes up"
  on_a=$(($(served a) - before_a)) on_b=$(($(served b) - before_b))
  ((on_a + on_b == 20)) || fail "$proxy (two nodes): the nodes count $on_a + $on_b of 20 requests"
  ((on_a > 0 && on_b > 0)) || fail "$proxy (two nodes): 20 requests all went to one node (A: $on_a, B: $on_b)"
  echo "deploy: $proxy (two nodes) spread 20 requests over both nodes (A: $on_a, B: $on_b)"
done
sockets "with both nodes up"
# The nodes hear each other over the database (each socket above told the other node where it
# is), and neither refused a notification, as a node with another signing key would.
# bus_count NODE METRIC: the sum of that counter's samples, labels or not, in the node's /metrics.
bus_count() {
  local metrics
  metrics="$(curl -fsS --max-time 10 "http://127.0.0.1:${node_port[$1]}/metrics")" ||
    fail "node $1's /metrics does not answer"
  awk -v name="$2" '$1 == name || index($1, name "{") == 1 { n += $2 } END { print n + 0 }' <<<"$metrics"
}
heard=$(($(bus_count a sotto_bus_events_received_total) + $(bus_count b sotto_bus_events_received_total)))
((heard > 0)) || fail "the nodes heard nothing from each other over the database"
for node in a b; do
  refused="$(bus_count "$node" sotto_bus_events_refused_total)"
  [ "$refused" = 0 ] || fail "node $node refused $refused notifications from the other node (another signing key?)"
done
echo "deploy: the nodes heard each other over the database ($heard events), none refused"

# Node A killed: everything goes on through node B, at once (the proxy tries the request again
# on B when A refuses the connection).
caddy_lines_before=0
! $have_caddy || caddy_lines_before="$(wc -l <"$work/Caddyfile-two.log")"
kill -KILL "${node_pid[a]}"
wait "${node_pid[a]}" 2>/dev/null || true
killed_at=$SECONDS
for proxy in "${proxies[@]}"; do
  before_b="$(served b)"
  list_devices "$proxy" "${tokens[$proxy]}" 10 "with node A killed"
  on_b=$(($(served b) - before_b))
  ((on_b == 10)) || fail "$proxy (two nodes): with node A killed, node B served $on_b of 10 requests"
  tokens[$proxy]="$(sign_up "$proxy" "after-$proxy" "with node A killed")"
done
sockets "with node A killed"
echo "deploy: with node A killed, requests, sign-ups and WebSockets went on through node B ($((SECONDS - killed_at))s)"

# Each proxy marked A down: nginx on the refused connection (passive), Caddy by its active check
# of /readyz (every 3 s).
a_addr="127.0.0.1:${node_port[a]}"
deadline=$((SECONDS + 20))
until grep -q "upstream server temporarily disabled.*upstream: \"http://$a_addr/" "$work/nginx-two/error.log" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "nginx (two nodes) did not mark node A ($a_addr) down: $(tail -n 5 "$work/nginx-two/error.log")"
  sleep 0.2
done
if $have_caddy; then
  until tail -n +"$((caddy_lines_before + 1))" "$work/Caddyfile-two.log" |
    grep 'health_checker.active' | grep -q "\"host\":\"$a_addr\""; do
    ((SECONDS < deadline)) || fail "Caddy's active health check did not mark node A ($a_addr) down within 20 s"
    sleep 0.2
  done
fi
echo "deploy: the proxies marked node A down (nginx: its connection refused; Caddy: $ready_path failed)"

# Node A back (same data directory, same key): each proxy sends it requests again, once its
# check has seen it answer (nginx after fail_timeout, Caddy after its next active check and
# fail_duration).
restarted_at=$SECONDS
start_node a
for proxy in "${proxies[@]}"; do
  before_a="$(served a)"
  deadline=$((SECONDS + 30))
  until (($(served a) > before_a)); do
    ((SECONDS < deadline)) || fail "$proxy (two nodes): node A, restarted, got no request within 30 s"
    list_devices "$proxy" "${tokens[$proxy]}" 1 "after node A restarted"
    sleep 0.2
  done
done
if $have_caddy; then
  grep -q "\"msg\":\"host is up\",\"host\":\"$a_addr\"" "$work/Caddyfile-two.log" ||
    fail "Caddy used node A again without its active health check saying it is up"
fi
echo "deploy: node A, restarted, serves requests through the proxies again ($((SECONDS - restarted_at))s)"
names="${proxies[*]}"
echo "deploy: two nodes on one PostgreSQL database behind ${names// / and }: checked in $((SECONDS - two_start))s"

echo "deploy: all checks passed"

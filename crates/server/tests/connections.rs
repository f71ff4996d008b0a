//! Connection limits of the real server binary: idle and half-sent connections are closed by
//! their timeouts and new clients are served; over the total or per-address cap a connection is
//! answered 503 while health checks and the connections and sockets already open keep working;
//! at a small open-file limit the server still answers; a WebSocket that stops answering pings
//! is closed while one that answers stays.
//!
//! The tests talk raw HTTP/1.1 over TCP where they need to know exactly which connection a
//! request travels on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use sotto_proto::{ClientFrame, EphemeralTarget, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(TIMEOUT, TcpStream::connect(addr)).await.expect("connect timed out").expect("connect")
}

/// A connection from `source` (one of this machine's addresses) to `addr`.
async fn connect_from(source: IpAddr, addr: SocketAddr) -> TcpStream {
    let socket = match source {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    tokio::time::timeout(TIMEOUT, socket.connect(addr)).await.expect("connect timed out").expect("connect")
}

/// Sends `GET path` on `stream` (kept alive) and reads the response.
async fn get(stream: &mut TcpStream, path: &str) -> RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: sotto\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write request");
    tokio::time::timeout(TIMEOUT, read_response(stream)).await.expect("no response in time")
}

async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read response");
        assert!(n > 0, "the connection closed before a response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("read body");
        assert!(n > 0, "the connection closed inside a body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// One request on a connection of its own.
async fn get_once(addr: SocketAddr, path: &str) -> RawResponse {
    get(&mut connect(addr).await, path).await
}

/// [`get_once`], or `None` when the server closed the connection without an answer.
async fn answer_once(addr: SocketAddr, path: &str) -> Option<RawResponse> {
    let mut stream = connect(addr).await;
    let request = format!("GET {path} HTTP/1.1\r\nHost: sotto\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut raw)).await.expect("no answer in time").ok()?;
    if raw.is_empty() {
        return None;
    }
    let status_line = raw.split(|b| *b == b'\n').next()?;
    let status = std::str::from_utf8(status_line).ok()?.split(' ').nth(1)?.parse().ok()?;
    Some(RawResponse { status, headers: Vec::new(), body: String::from_utf8_lossy(&raw).into_owned() })
}

/// Waits until the server closes `stream` (end of stream or reset), discarding what it sends;
/// panics if it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) {
    let wait = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(limit, wait).await.expect("the server kept the connection open");
}

/// Whether the server has closed `stream` (without waiting for it).
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1];
    matches!(tokio::time::timeout(Duration::from_millis(50), stream.read(&mut chunk)).await, Ok(Ok(0) | Err(_)))
}

/// A metric's value from `/metrics` (0 when the series does not exist yet), read on a
/// connection of its own (which is answered even over the caps).
async fn metric(addr: SocketAddr, series: &str) -> f64 {
    let text = get_once(addr, "/metrics").await.body;
    text.lines()
        .find_map(|line| line.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Opens connections that each send one request for an unknown route, kept alive, until one is
/// answered 503; returns the ones served (404) and the 503.
async fn fill(addr: SocketAddr, at_most: usize) -> (Vec<TcpStream>, RawResponse) {
    let mut served = Vec::new();
    for _ in 0..at_most {
        let mut stream = connect(addr).await;
        let response = get(&mut stream, "/v1/no-such-route").await;
        match response.status {
            404 => served.push(stream),
            503 => return (served, response),
            other => panic!("unexpected status {other}: {response:?}"),
        }
    }
    panic!("{at_most} connections were all served; no cap applied");
}

/// Asserts the 503 an over-cap connection gets: `Retry-After`, the JSON error shape (`code`:
/// `server_busy` over the total cap, `rate_limited` over the address's), and the connection
/// closed afterwards.
fn assert_busy(response: &RawResponse) {
    assert_eq!(response.status, 503, "{response:?}");
    let retry_after: u64 = response.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1, "{response:?}");
    assert!(response.header("content-type").is_some_and(|t| t.starts_with("application/json")), "{response:?}");
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    let body: serde_json::Value = serde_json::from_str(&response.body).expect("JSON body");
    let code = body["code"].as_str().unwrap_or_default();
    let per_address = response.body.contains("your address");
    assert_eq!(code, if per_address { "rate_limited" } else { "server_busy" }, "{response:?}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{response:?}");
}

/// Keeps sending header lines, one every 200 ms, without ever ending the head; returns when the
/// server closes the connection (a write fails) or after `limit`, with how long it kept up.
async fn trickle_headers(mut stream: TcpStream, limit: Duration) -> Duration {
    let start = Instant::now();
    if stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: sotto\r\n").await.is_err() {
        return start.elapsed();
    }
    while start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(b"X-Slow: a\r\n").await.is_err() {
            return start.elapsed();
        }
        if is_closed(&mut stream).await {
            return start.elapsed();
        }
    }
    start.elapsed()
}

/// The claim of the hardening issue: idle connections and connections that never finish their
/// headers used to stay open forever, so at the cap nobody else got in. Now each kind is closed
/// by its timeout, and a new client is served.
#[tokio::test]
async fn many_idle_connections_are_closed_and_new_clients_are_served() {
    let server = Server::start_with(Launch::new().args([
        "--header-read-timeout-secs",
        "1",
        "--idle-timeout-secs",
        "4",
        "--max-connections",
        "40",
    ]))
    .await;
    let addr = server.process.addr();
    let opened = Instant::now();

    // Kept alive after one request each.
    let mut kept_alive = Vec::new();
    for _ in 0..5 {
        let mut stream = connect(addr).await;
        assert_eq!(get(&mut stream, "/healthz").await.status, 200);
        kept_alive.push(stream);
    }
    // Connected, and never a byte.
    let mut silent = Vec::new();
    for _ in 0..25 {
        silent.push(connect(addr).await);
    }
    // Headers trickling in, never finished (slowloris).
    let mut trickling = Vec::new();
    for _ in 0..10 {
        trickling.push(tokio::spawn(trickle_headers(connect(addr).await, Duration::from_secs(20))));
    }
    // With the cap full, a new client is turned away.
    let refused = get_once(addr, "/v1/no-such-route").await;
    assert_busy(&refused);

    // Past the header-read timeout but inside the idle timeout, a kept-alive connection still
    // takes its next request: the two timeouts are distinct.
    tokio::time::sleep(Duration::from_millis(1500).saturating_sub(opened.elapsed())).await;
    for stream in &mut kept_alive {
        assert_eq!(get(stream, "/healthz").await.status, 200);
    }
    let second_requests = Instant::now();

    for stream in &mut silent {
        closed_within(stream, TIMEOUT).await;
    }
    for task in trickling {
        let kept_up = task.await.unwrap();
        assert!(kept_up < Duration::from_secs(10), "a connection trickling headers stayed open {kept_up:?}");
    }
    for stream in &mut kept_alive {
        closed_within(stream, TIMEOUT).await;
    }
    let idle_for = second_requests.elapsed();
    assert!(
        idle_for >= Duration::from_secs(3),
        "kept-alive connections closed after {idle_for:?}, before their idle timeout"
    );

    // Room again: a new client signs up and connects.
    let alice = server.register("alice").await;
    let mut ws = alice.ws().await;
    ws.until_synced().await;
    assert!(metric(addr, "sotto_connections_timed_out_total{kind=\"header\"}").await >= 35.0);
    assert!(metric(addr, "sotto_connections_timed_out_total{kind=\"idle\"}").await >= 5.0);
    assert!(metric(addr, "sotto_connections_refused_total{cap=\"total\"}").await >= 1.0);
}

/// Over the total cap: new connections get 503 with Retry-After; health checks, readiness and
/// metrics are still answered; connections and WebSockets already open keep working; and once
/// connections close, new ones are served again.
#[tokio::test]
async fn over_the_cap_health_checks_and_open_connections_still_work() {
    const CAP: usize = 12;
    let server = Server::start_with(Launch::new().args([
        "--max-connections",
        &CAP.to_string(),
        "--header-read-timeout-secs",
        "60",
        "--idle-timeout-secs",
        "60",
    ]))
    .await;
    let addr = server.process.addr();
    // Two devices of one user: ephemeral frames reach a user's other devices.
    let alice = server.register("alice").await;
    let alice2 = server.login("alice").await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let mut wb = alice2.ws().await;
    wb.until_synced().await;

    let (mut served, refused) = fill(addr, 2 * CAP).await;
    assert_busy(&refused);
    // Two sockets, at most two pooled HTTP connections (the harness's and the test's), the rest raw.
    assert!((CAP - 2 - 2..=CAP - 2).contains(&served.len()), "{} served before the cap", served.len());
    assert_eq!(metric(addr, "sotto_connections_max").await, CAP as f64);

    // A refused connection is closed after its answer.
    let mut stream = connect(addr).await;
    assert_busy(&get(&mut stream, "/v1/accounts").await);
    closed_within(&mut stream, TIMEOUT).await;

    // Monitoring still sees the server.
    let health = get_once(addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let ready = get_once(addr, "/readyz").await;
    assert_eq!((ready.status, ready.body.as_str()), (200, "ready"));
    assert!(metric(addr, "sotto_connections_refused_total{cap=\"total\"}").await >= 2.0);

    // Open connections and sockets are untouched.
    for stream in &mut served {
        assert_eq!(get(stream, "/v1/no-such-route").await.status, 404);
    }
    let typing = ClientFrame::Ephemeral { to: EphemeralTarget::User { user_id: uid("alice") }, body: "typing".into() };
    wa.send_frame(&typing).await;
    match wb.next_frame().await {
        ServerFrame::Ephemeral { body, .. } => assert_eq!(body, "typing"),
        other => panic!("expected the ephemeral frame, got {other:?}"),
    }

    // Closing connections makes room.
    served.truncate(served.len().saturating_sub(3));
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let response = get_once(addr, "/v1/no-such-route").await;
        if response.status == 404 {
            break;
        }
        assert_busy(&response);
        assert!(Instant::now() < deadline, "no connection served after others closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// This machine's address on its default route (not loopback, which is exempt from the
/// per-address cap). No packet is sent.
fn non_loopback_address() -> IpAddr {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    probe
        .connect("198.51.100.1:9")
        .expect("this test needs a non-loopback IPv4 address with a route (a network interface besides lo)");
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "{ip}");
    ip
}

/// One address gets at most `--max-connections-per-ip` connections; others (and loopback, where
/// a reverse proxy would connect from) are not affected, and a closed connection frees its place.
#[tokio::test]
async fn one_address_cannot_take_more_than_its_share() {
    let server = Server::start_with(Launch::new().args(["--max-connections-per-ip", "3"])).await;
    let addr = server.process.addr();
    let source = non_loopback_address();

    let mut from_source = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from(source, addr).await;
        assert_eq!(get(&mut stream, "/v1/no-such-route").await.status, 404);
        from_source.push(stream);
    }
    let mut fourth = connect_from(source, addr).await;
    let refused = get(&mut fourth, "/v1/no-such-route").await;
    assert_busy(&refused);
    assert!(refused.body.contains("your address"), "{refused:?}");
    // Health checks from that address are still answered.
    assert_eq!(get(&mut connect_from(source, addr).await, "/healthz").await.status, 200);

    // Loopback is exempt.
    let mut local = Vec::new();
    for _ in 0..6 {
        let mut stream = connect(addr).await;
        assert_eq!(get(&mut stream, "/v1/no-such-route").await.status, 404);
        local.push(stream);
    }
    assert!(metric(addr, "sotto_connections_refused_total{cap=\"per_address\"}").await >= 2.0);

    // The address's first connections still work, and closing one makes room for another.
    for stream in &mut from_source {
        assert_eq!(get(stream, "/v1/no-such-route").await.status, 404);
    }
    from_source.pop();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let response = get(&mut connect_from(source, addr).await, "/v1/no-such-route").await;
        if response.status == 404 {
            break;
        }
        assert_busy(&response);
        assert!(Instant::now() < deadline, "the address got no connection after closing one");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With `--trusted-proxy`, the proxy's address is exempt (it carries many clients) and loopback
/// counts like any other address.
#[tokio::test]
async fn a_trusted_proxy_is_exempt_and_then_loopback_is_not() {
    let proxy = non_loopback_address();
    let server = Server::start_with(Launch::new().args([
        "--max-connections-per-ip".to_owned(),
        "3".to_owned(),
        "--trusted-proxy".to_owned(),
        proxy.to_string(),
    ]))
    .await;
    let addr = server.process.addr();
    let mut proxied = Vec::new();
    for _ in 0..8 {
        let mut stream = connect_from(proxy, addr).await;
        assert_eq!(get(&mut stream, "/v1/no-such-route").await.status, 404);
        proxied.push(stream);
    }
    // The harness's health checks hold one loopback connection already.
    let (local, refused) = fill(addr, 10).await;
    assert_busy(&refused);
    assert!(refused.body.contains("your address"), "{refused:?}");
    assert!(local.len() <= 3, "{} loopback connections served", local.len());
}

/// Reads `ws` (answering pings, as a live client does) and forwards its server frames.
fn keep_reading(mut ws: Ws) -> tokio::sync::mpsc::UnboundedReceiver<ServerFrame> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) =
            ws.next_msg_within(Duration::from_secs(3600)).await
        {
            let frame: ServerFrame = serde_json::from_str(text.as_str()).unwrap();
            if tx.send(frame).is_err() {
                return;
            }
        }
    });
    rx
}

/// A WebSocket that stops answering pings (no frame at all) is closed after the ping interval
/// plus the pong timeout, and its device goes offline; a socket that answers stays open.
#[tokio::test]
async fn a_websocket_that_stops_answering_pings_is_closed() {
    let server =
        Server::start_with(Launch::new().args(["--ws-ping-interval-secs", "1", "--ws-pong-timeout-secs", "2"])).await;
    let addr = server.process.addr();
    let [alice, bob] = server.register_all(["alice", "bob"]).await;
    let mut wa = alice.ws().await;
    wa.until_synced().await;
    let mut alice_frames = keep_reading(wa);

    let mut wb = bob.ws().await;
    let bob_connected = Instant::now();
    wb.until_synced().await;
    // Bob stops reading: the server's pings go unanswered. The socket gauge drops when the
    // server ends the socket, together with its device's registration in the hub.
    let open = "sotto_websocket_connections";
    let deadline = Instant::now() + TIMEOUT;
    while metric(addr, open).await != 1.0 {
        assert!(Instant::now() < deadline, "the silent socket was never closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let silent_for = bob_connected.elapsed();
    assert!(
        silent_for >= Duration::from_millis(2500),
        "closed after {silent_for:?}, before ping interval + pong timeout"
    );
    assert_eq!(metric(addr, "sotto_connections_timed_out_total{kind=\"websocket\"}").await, 1.0);
    match wb.expect_end().await {
        WsEnd::Close(Some(4001)) | WsEnd::Dropped(_) => {}
        other => panic!("unexpected end of the silent socket: {other:?}"),
    }

    // Alice answered every ping: still connected well past the timeout, and still receiving.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(metric(addr, open).await, 1.0);
    // From Alice's other device (ephemeral frames reach a user's other devices).
    let mut wc = server.login("alice").await.ws().await;
    wc.until_synced().await;
    let to_alice = ClientFrame::Ephemeral { to: EphemeralTarget::User { user_id: uid("alice") }, body: "hi".into() };
    wc.send_frame(&to_alice).await;
    let frame = tokio::time::timeout(TIMEOUT, alice_frames.recv()).await.expect("alice got nothing");
    assert!(matches!(frame, Some(ServerFrame::Ephemeral { ref body, .. }) if body == "hi"), "{frame:?}");
    assert_eq!(metric(addr, "sotto_connections_timed_out_total{kind=\"websocket\"}").await, 1.0);
    // Bob comes back by connecting again.
    let mut wb = bob.ws().await;
    wb.until_synced().await;
}

/// A burst of connections (clients reconnecting after a restart) is queued by the kernel until
/// the server accepts it: with the default accept queue of 128, the rest of the burst had its
/// SYNs dropped and waited a second or more for the retransmission.
#[tokio::test]
async fn a_burst_of_connections_waits_in_the_accept_queue() {
    let server = Server::start().await;
    let addr = server.process.addr();
    let mut burst = Vec::new();
    let mut slowest = Duration::ZERO;
    for _ in 0..500 {
        let start = Instant::now();
        burst.push(connect(addr).await);
        slowest = slowest.max(start.elapsed());
    }
    // A retransmitted SYN takes a second at least; a queued one, microseconds.
    assert!(slowest < Duration::from_millis(900), "a connection took {slowest:?}");
    for stream in burst.iter_mut().step_by(50) {
        assert_eq!(get(stream, "/healthz").await.status, 200);
    }
}

/// Starts the server under a small open-file limit (soft 200, hard 256): it raises the soft
/// limit to the hard one, caps connections below it, and at the cap still answers — 503 for new
/// clients, 200 for health checks — instead of failing `accept` and stalling.
#[cfg(unix)]
#[tokio::test]
async fn at_a_small_open_file_limit_the_server_still_answers() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("sotto-server-limited");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nulimit -S -n 200 && ulimit -H -n 256 && exec {:?} \"$@\"\n",
            env!("CARGO_BIN_EXE_sotto-server")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let process = Launch::new().binary(&wrapper).start().await;
    let addr = process.addr();
    let logs = process.logs();
    assert!(logs.contains("soft_before=200") && logs.contains("soft=256"), "{logs}");
    assert!(logs.contains("max_connections=128"), "{logs}");

    let (served, refused) = fill(addr, 300).await;
    assert_busy(&refused);
    assert!(served.len() <= 128, "{} served", served.len());
    let health = get_once(addr, "/healthz").await;
    assert_eq!(health.status, 200);
    // A flood of connections that send nothing fills the pool of refused connections many times
    // over; a health check still gets in and is answered.
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(connect(addr).await);
    }
    // On a starved CPU the evicted connections may take longer to close than the loop waits
    // (100 ms), and then one attempt is closed unanswered: a monitor's next try gets in.
    let mut attempts = 0;
    let health = loop {
        attempts += 1;
        match answer_once(addr, "/healthz").await {
            Some(health) => break health,
            None if attempts < 10 => tokio::time::sleep(Duration::from_millis(200)).await,
            None => panic!("ten health checks in a row were closed unanswered"),
        }
    };
    assert_eq!(health.status, 200);
    drop(flood);
    assert_eq!(metric(addr, "sotto_accept_errors_total").await, 0.0);
    drop(served);
    // Once those close, the server serves again.
    let deadline = Instant::now() + TIMEOUT;
    while get_once(addr, "/v1/no-such-route").await.status != 404 {
        assert!(Instant::now() < deadline, "nothing served after the connections closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

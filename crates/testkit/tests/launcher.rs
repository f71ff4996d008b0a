//! The launcher against the real `sotto-server` binary of this build's target directory (build
//! it first: `cargo build -p sotto-server`): start, restart on the same port and data
//! directory, SIGKILL, SIGTERM, and failures that carry the server's own words.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use sotto_testkit::{Launch, LaunchError};

async fn healthy(url: &str) -> bool {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    http.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status() == 200)
}

#[tokio::test]
async fn a_restart_keeps_the_port_and_the_data_directory() {
    let mut server = Launch::new().start().await;
    let url = server.url().to_owned();
    assert_eq!(url, format!("http://127.0.0.1:{}", server.port()));
    assert!(healthy(&url).await);
    // The server's signing key is created on first start in its data directory.
    let key = std::fs::read(server.data_dir().join("jwt-signing-key.pem")).unwrap();

    server.kill9();
    assert!(server.pid().is_none());
    assert!(matches!(server.check_alive(), Err(LaunchError::NotRunning)));
    assert!(!healthy(&url).await, "killed, yet answering");

    server.restart().await;
    assert_eq!(server.url(), url);
    assert!(healthy(&url).await);
    server.check_alive().unwrap();
    assert_eq!(std::fs::read(server.data_dir().join("jwt-signing-key.pem")).unwrap(), key);
    // One log for both runs.
    assert!(server.logs().matches("listening").count() >= 2, "{}", server.logs());
}

#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let mut server = Launch::new().start().await;
    server.sigterm().unwrap();
    let status = server.wait_exit(Duration::from_secs(10)).await.unwrap().expect("exited within 10 s");
    assert!(status.success(), "{status}: {}", server.logs());
    assert!(matches!(server.wait_exit(Duration::ZERO).await, Err(LaunchError::NotRunning)));
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_with_its_log() {
    let Err(e) = Launch::new().args(["--no-such-flag"]).try_start().await else {
        panic!("started with an unknown flag");
    };
    assert!(matches!(e, LaunchError::Exited { .. }), "{e}");
    assert!(e.to_string().contains("--no-such-flag"), "the error does not quote the server: {e}");
}

#[tokio::test]
async fn a_restart_onto_a_taken_port_says_so() {
    let mut server = Launch::new().start().await;
    server.kill9();
    let _squatter = std::net::TcpListener::bind(server.addr()).unwrap();
    let e = server.try_restart().await.expect_err("restarted onto a taken port");
    assert!(e.to_string().contains("cannot listen"), "{e}");
}

#[test]
fn a_missing_binary_names_the_override() {
    let e = sotto_testkit::locate("sotto-no-such-binary", None).unwrap_err();
    assert!(e.to_string().contains("SOTTO_SOTTO_NO_SUCH_BINARY_BIN"), "{e}");
}

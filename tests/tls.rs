//! HTTPS end to end: the real server serving TLS itself (`--tls-cert`, `--tls-key`), real
//! clients (the engine in process, the `sotto` binary) connecting over `https` and `wss`.
//!
//! - A self-signed certificate is never accepted silently: the first connect fails with
//!   `untrusted_certificate` and its fingerprint; with that fingerprint trusted, accounts are made
//!   and messages flow over the socket.
//! - The attacker's test: the server (or someone in between) presents another certificate. The
//!   pinned clients refuse it (`certificate_changed`), send nothing through it, and stop syncing
//!   until the person trusts the new one.
//! - A certificate from an authority the system trusts (here a test CA given to the CLI through
//!   `SSL_CERT_FILE`, which the system verifier reads on Linux) needs no question; one for
//!   another name is refused as such.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;
use std::time::Duration;

use sotto_core::{Client, ConnectionState, ConversationId, ErrorCode, ServerTrust, SignIn};
use sotto_tests::{Cli, PASSWORD, Server, bodies, eventually, keychain, profiles, self_signed, write_pair};

fn sign_in<'a>(server: &'a Server, user: &'a str, trust: ServerTrust) -> SignIn<'a> {
    SignIn { server: server.url(), trust, user_id: user, password: PASSWORD, device_name: Some("test") }
}

/// Opens the profile in `dir` once the background tasks of its last client have let it go: a
/// request they had in flight ends first, which may take up to the engine's request timeout
/// (60 s) on a loaded machine.
async fn reopen(dir: &Path) -> Client {
    for _ in 0..600 {
        match Client::open(dir, None) {
            Err(e) if e.code() == ErrorCode::ProfileInUse => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return other.unwrap(),
        }
    }
    panic!("the profile in {} stayed in use", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_server_is_trusted_only_by_its_fingerprint_and_a_swapped_certificate_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, fingerprint) = self_signed(certs.path(), "first");
    let mut server = Server::start_tls(&cert, &key).await;
    assert!(server.url().starts_with("https://"), "{}", server.url());
    let dirs = profiles();

    // First contact: refused, with the fingerprint to compare; nothing is left behind.
    let url = sotto_core::ServerUrl::parse(server.url()).unwrap();
    let err = url.check(ServerTrust::System).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::UntrustedCertificate, "{err}");
    let alice_dir = dirs.path().join("alice");
    let err =
        Client::register(&alice_dir, sign_in(&server, "alice", ServerTrust::System), keychain()).await.unwrap_err();
    match &err {
        sotto_core::Error::UntrustedCertificate { fingerprint: shown, .. } => assert_eq!(*shown, fingerprint),
        other => panic!("expected untrusted_certificate, got [{}] {other}", other.code()),
    }
    assert!(err.to_string().contains(&fingerprint.to_string()), "the message shows the fingerprint: {err}");
    assert!(!sotto_core::profile::exists(&alice_dir), "no profile is left after a refused first contact");

    // A wrong fingerprint (someone else's certificate) is refused as a change, not accepted.
    let (_, _, other) = self_signed(certs.path(), "unrelated");
    let err = Client::register(&alice_dir, sign_in(&server, "alice", ServerTrust::Pinned(other)), keychain())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::CertificateChanged, "{err}");

    // Trusted after comparing: accounts, and messages over https and wss.
    url.check(ServerTrust::Pinned(fingerprint)).await.unwrap();
    let pinned = ServerTrust::Pinned(fingerprint);
    let alice = Client::register(&alice_dir, sign_in(&server, "alice", pinned), keychain()).await.unwrap();
    let bob_dir = dirs.path().join("bob");
    let bob = Client::register(&bob_dir, sign_in(&server, "bob", pinned), keychain()).await.unwrap();
    assert_eq!(alice.server_trust(), pinned);
    sotto_tests::start_online(&bob).await;
    alice.send_text(&"bob".parse().unwrap(), "over TLS").await.unwrap();
    let with_alice = ConversationId::Direct(alice.user_id().clone());
    eventually("bob receives over wss", || bodies(&bob, &with_alice).contains(&"over TLS".to_owned()).then_some(()))
        .await;

    // The pin outlives a restart of the client.
    drop(alice);
    let alice = Client::open(&alice_dir, None).unwrap();
    assert_eq!(alice.server_trust(), pinned);

    // The attacker's test: the same address now presents another certificate (a server whose
    // key was replaced, or someone in between). Bob's running client stops syncing and says
    // why; Alice's send is refused and stays queued; the server receives nothing.
    let (new_cert, new_key, new_fingerprint) = self_signed(certs.path(), "second");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    let mut bob_state = bob.connection_state();
    server.restart().await;
    tokio::time::timeout(Duration::from_secs(30), bob_state.wait_for(|s| *s == ConnectionState::CertificateChanged))
        .await
        .expect("bob's client notices the certificate change")
        .unwrap();
    let queued = alice.send_text(&"bob".parse().unwrap(), "not through a stranger").await.unwrap();
    assert_eq!(queued.status, sotto_core::MessageStatus::Queued, "kept for later, not sent and not failed");
    let err = alice.sync().await.unwrap_err();
    match &err {
        sotto_core::Error::CertificateChanged { expected, presented, .. } => {
            assert_eq!((*expected, *presented), (fingerprint, new_fingerprint));
        }
        other => panic!("expected certificate_changed, got [{}] {other}", other.code()),
    }
    assert!(!bodies(&bob, &with_alice).contains(&"not through a stranger".to_owned()));

    let problem = bob.certificate_problem().expect("bob's client says what it refused");
    assert_eq!((problem.trusted, problem.presented), (Some(fingerprint), new_fingerprint));

    // Once the owner confirms the new certificate, the person trusts it: Bob's client connects
    // again by itself, Alice's queued message goes out, and both pins are kept.
    alice.trust_server_certificate(new_fingerprint).await.unwrap();
    bob.trust_server_certificate(new_fingerprint).await.unwrap();
    assert_eq!(bob.certificate_problem(), None);
    tokio::time::timeout(Duration::from_secs(30), bob_state.wait_for(|s| *s == ConnectionState::Online))
        .await
        .expect("bob's client is back online with the new certificate")
        .unwrap();
    alice.sync().await.unwrap();
    eventually("the queued message arrives once the new certificate is trusted", || {
        bodies(&bob, &with_alice).contains(&"not through a stranger".to_owned()).then_some(())
    })
    .await;
    bob.shutdown();
    drop((alice, bob));
    let alice = Client::open(&alice_dir, None).unwrap();
    assert_eq!(alice.server_trust(), ServerTrust::Pinned(new_fingerprint));
    let bob = reopen(&bob_dir).await;
    assert_eq!(bob.server_trust(), ServerTrust::Pinned(new_fingerprint));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_shows_the_fingerprint_trusts_it_when_asked_and_accepts_a_trusted_authority() {
    let certs = tempfile::tempdir().unwrap();
    // A certificate authority this test trusts, and the server's certificate from it.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Sotto test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let ca_file = certs.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let issue = |name: &str, host: &str| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap().signed_by(&key, &ca).unwrap();
        write_pair(certs.path(), name, &cert.pem(), &key.serialize_pem(), cert.der())
    };
    let (cert, key, fingerprint) = issue("localhost", "localhost");
    let server = Server::start_tls(&cert, &key).await;
    // The certificate names `localhost`, so that is the address to use.
    let url = server.url().replace("127.0.0.1", "localhost");
    let dirs = profiles();
    let with_ca = |user: &str| {
        let mut cli = Cli::at(&url, dirs.path().join(user));
        cli.env.push(("SSL_CERT_FILE".into(), ca_file.display().to_string()));
        cli
    };

    // Without the authority: refused, with the fingerprint and what to do.
    let plain = Cli::at(&url, dirs.path().join("carol"));
    let out = plain.run(&["register", "carol", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(!out.ok, "{out:?}");
    assert_eq!(out.error_code(), "untrusted_certificate", "{}", out.stderr);
    assert!(out.stderr.contains(&fingerprint.to_string()), "{}", out.stderr);
    assert!(out.stderr.contains("--trust-certificate"), "the hint says how to go on: {}", out.stderr);
    // With the fingerprint, as the hint says (in lower case without colons, as people paste it).
    let pasted = fingerprint.to_string().replace(':', "").to_lowercase();
    let out =
        plain.run(&["register", "carol", "--password-stdin", "--trust-certificate", &pasted], &format!("{PASSWORD}\n"));
    assert!(out.ok, "{}", out.stderr);

    // With the authority trusted by the system: no question.
    let dave = with_ca("dave");
    let out = dave.run(&["register", "dave", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(out.ok, "{}", out.stderr);
    let out = dave.run(&["send", "carol", "signed by an authority"], "");
    assert!(out.ok, "{}", out.stderr);
    let out = plain.run(&["sync"], "");
    assert!(out.ok, "{}", out.stderr);
    let history = plain.run(&["history", "dave"], "");
    assert!(history.stdout.contains("signed by an authority"), "{}", history.stdout);

    // The same authority, but the address is not the name on the certificate: refused as such,
    // and not offered for trust on first use.
    let by_ip = Cli { server: server.url().to_owned(), ..with_ca("erin") };
    let out = by_ip.run(&["register", "erin", "--password-stdin"], &format!("{PASSWORD}\n"));
    assert!(!out.ok, "{out:?}");
    assert_eq!(out.error_code(), "invalid_certificate", "{}", out.stderr);
    assert!(out.stderr.contains("another name"), "{}", out.stderr);
}

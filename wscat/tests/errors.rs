//! Errors in words and a non-zero exit: connection refused, handshake rejected (status and
//! body), invalid URL, TLS failure, unreadable files, usage errors.

mod common;

use common::{run, Ca, TempDir, TestServer};
use tokio::net::TcpListener;
use ws_tokio::http::StatusCode;
use ws_tokio::Refusal;

#[tokio::test]
async fn connection_refused() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let done = run(&["-c", &format!("ws://127.0.0.1:{port}/")]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("connection refused"), "{done:?}");
    assert!(done.stdout.is_empty());
}

#[tokio::test]
async fn handshake_rejected_with_status_and_body() {
    let srv = TestServer::start_with(
        |b| b.verify_client(|_, _| Err::<(), _>(Refusal::new(StatusCode::FORBIDDEN).with_body("go away, stranger"))),
        None,
    )
    .await;
    let done = run(&["-c", &srv.url("/")]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(
        done.stderr.contains("handshake rejected: the server answered 403 Forbidden: go away, stranger"),
        "{done:?}"
    );

    let done = run(&["-c", &srv.url("/"), "--json"]).await;
    let err: serde_json::Value = serde_json::from_str(done.stdout.trim()).unwrap();
    assert_eq!(err["error"], "rejected");
    assert_eq!(err["status"], 403);
    assert_eq!(err["body"], "go away, stranger");
}

#[tokio::test]
async fn invalid_urls() {
    for url in ["ftp://127.0.0.1/", "ws://127.0.0.1:99999/", "ws://127.0.0.1/#fragment"] {
        let done = run(&["-c", url]).await;
        assert_eq!(done.code, Some(1), "{url}: {done:?}");
        assert!(done.stderr.contains("invalid URL"), "{url}: {done:?}");
    }
}

#[tokio::test]
async fn tls_failure_with_an_untrusted_certificate() {
    let ca = Ca::new("untrusted test CA");
    let (cert, key) = ca.server_leaf();
    let config = ws_tokio::tls::server_config_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
    let srv = TestServer::start_with(|b| b, Some(config)).await;
    let done = run(&["-c", &format!("wss://localhost:{}/", srv.addr.port())]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("TLS failure"), "{done:?}");
    assert!(done.stderr.contains("--ca"), "with a hint: {done:?}");
}

#[tokio::test]
async fn unreadable_or_invalid_tls_files() {
    let dir = TempDir::new("badfiles");
    let done = run(&["-c", "wss://127.0.0.1:1/", "--ca", dir.path("nope.pem").to_str().unwrap()]).await;
    assert_eq!(done.code, Some(1));
    assert!(done.stderr.contains("cannot read --ca"), "{done:?}");
    let junk = dir.file("junk.pem", "not a certificate");
    let done = run(&["-c", "wss://127.0.0.1:1/", "--ca", junk.to_str().unwrap()]).await;
    assert_eq!(done.code, Some(1));
    assert!(done.stderr.contains("no usable certificate in --ca"), "{done:?}");
}

#[tokio::test]
async fn usage_errors_exit_with_2() {
    for args in [
        &[][..],
        &["-c", "ws://x", "-l", "1"],
        &["-c", "ws://x", "--deflate-level", "10"],
        &["-c", "ws://x", "-H", "nocolon"],
    ] {
        let done = run(args).await;
        assert_eq!(done.code, Some(2), "{args:?}: {done:?}");
    }
}

#[tokio::test]
async fn listen_on_a_busy_port_fails() {
    let busy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let done = run(&["-l", &port, "--bind", "127.0.0.1"]).await;
    assert_eq!(done.code, Some(1), "{done:?}");
    assert!(done.stderr.contains("cannot listen on 127.0.0.1"), "{done:?}");
}

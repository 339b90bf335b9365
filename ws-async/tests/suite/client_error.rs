//! The `client_error` hook (Node's `wsClientError` event) on the `Server` and on `accept_with`:
//! it sees the error and the request of an invalid upgrade request, and its response reaches
//! the client byte for byte; without it (or when it keeps the default) the default answer is
//! sent.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ws_async::http::{Request, StatusCode};
use ws_async::server::{ClientInfo, Server};
use ws_async::{
    accept_async_with, accept_hdr_with, accept_with, AcceptError, Bytes, HandshakeError, Rejection, ServerOptions,
    UpgradeRequest,
};

use crate::harness::client_error::*;
use crate::harness::*;

/// Sends `request` on a fresh connection to `addr` and returns everything the server answers.
async fn exchange<T: TestRt>(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
    within(tcp.write_all(request)).await.unwrap();
    let mut response = Vec::new();
    within(tcp.read_to_end(&mut response)).await.unwrap();
    response
}

/// An `accept_with` server on a listener: answers `requests` connections with `options`,
/// returning each `accept_with` result's status.
async fn accept_server<T: TestRt>(options: ServerOptions, requests: usize) -> (SocketAddr, Task<Vec<Option<u16>>>) {
    let listener = T::listen();
    let addr = T::listener_addr(&listener);
    let options = Arc::new(options);
    let task = T::spawn(async move {
        let mut statuses = Vec::new();
        for _ in 0..requests {
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let status = match accept_with::<_, T::R>(tcp, config(), options.clone()).await {
                Err(AcceptError::Rejected { status, .. }) => Some(status.as_u16()),
                _ => None,
            };
            statuses.push(status);
        }
        statuses
    });
    (addr, task)
}

on_every_runtime! {
    /// `Server`'s `client_error`: the hook sees the error and the request; its response reaches
    /// the client byte for byte; `Default` sends the same bytes as no hook at all.
    async fn server_client_error_hook_replaces_or_keeps_the_answer<T: TestRt>() {
        let seen = Seen::default();
        let server = within(Server::<T::R>::builder().client_error(hook(seen.clone())).bind("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        assert_eq!(exchange::<T>(addr, POST).await, TEAPOT);
        assert_eq!(exchange::<T>(addr, BAD_VERSION).await, DEFAULT_BAD_VERSION);
        assert_eq!(
            *seen.lock().unwrap(),
            [
                (HandshakeError::MethodNotGet, "POST /chat".to_owned()),
                (HandshakeError::UnsupportedVersion, "GET /chat?room=1".to_owned()),
            ]
        );

        // No hook: the default answers.
        let plain = within(Server::<T::R>::builder().bind("127.0.0.1", 0)).await.unwrap();
        let addr = plain.local_addr().unwrap();
        assert_eq!(exchange::<T>(addr, BAD_VERSION).await, DEFAULT_BAD_VERSION);
        let post = exchange::<T>(addr, POST).await;
        assert!(post.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"), "{}", String::from_utf8_lossy(&post));
        assert!(String::from_utf8_lossy(&post).contains("\r\nallow: GET\r\n"));
    }

    /// The hook covers the routing checks (`path`: 400) and `respond` for hosts that write the
    /// answer; `verify_client`'s own refusal is not a client error.
    async fn server_client_error_hook_scope<T: TestRt>() {
        let seen = Seen::default();
        let builder = Server::<T::R>::builder()
            .path("/chat")
            .client_error(hook(seen.clone()))
            .verify_client(|req, _| req.query() != Some("deny"));
        let server = within(builder.bind("127.0.0.1", 0)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let wrong_path = exchange::<T>(addr, &VALID.replace_path("/other")).await;
        assert!(wrong_path.starts_with(b"HTTP/1.1 418 "), "{}", String::from_utf8_lossy(&wrong_path));
        let denied = exchange::<T>(addr, &VALID.replace_path("/chat?deny")).await;
        assert!(denied.starts_with(b"HTTP/1.1 401 Unauthorized\r\n"), "{}", String::from_utf8_lossy(&denied));
        // `respond` (hyper, axum) hands the hook's answer to the host.
        let head = Request::post("/chat")
            .header("host", "h")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .body(())
            .unwrap();
        let rejection = server.respond(&head, &Default::default()).unwrap_err();
        assert_eq!(&rejection.bytes()[..], TEAPOT);
        let response = ws_async::server::rejection_response(&rejection);
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(&response.body()[..], b"{\"error\":\"bad request\"}");
        let errors: Vec<HandshakeError> = seen.lock().unwrap().iter().map(|(e, _)| e.clone()).collect();
        assert_eq!(errors, [HandshakeError::PathNotFound, HandshakeError::MethodNotGet]);
    }

    /// `accept_with` with `ServerOptions::client_error`: the same hook, the same bytes; without
    /// it the default answer.
    async fn accept_with_client_error_hook<T: TestRt>() {
        let seen = Seen::default();
        let (addr, task) = accept_server::<T>(ServerOptions::default().client_error(hook(seen.clone())), 2).await;
        assert_eq!(exchange::<T>(addr, POST).await, TEAPOT);
        assert_eq!(exchange::<T>(addr, BAD_VERSION).await, DEFAULT_BAD_VERSION);
        assert_eq!(within(task).await, [Some(418), Some(400)]);
        assert_eq!(seen.lock().unwrap().len(), 2);

        let (addr, task) = accept_server::<T>(ServerOptions::default(), 1).await;
        assert_eq!(exchange::<T>(addr, BAD_VERSION).await, DEFAULT_BAD_VERSION);
        assert_eq!(within(task).await, [Some(400)]);
    }

    /// `ClientErrorReply::Drop` (Node's `socket.destroy()`): the client sees EOF without a
    /// single byte, from the `Server` (listener, `accept_stream`, `handle_upgrade`) and from
    /// `accept_with`, `accept_hdr_with` and `accept_async_with` (a refusal `decide` builds from
    /// a `HandshakeError` included), which return `AcceptError::Dropped`; errors the hook keeps
    /// are still answered.
    async fn client_error_drop_closes_without_an_answer<T: TestRt>() {
        let server = within(Server::<T::R>::builder().path("/chat").client_error(dropping).bind("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        assert_eq!(exchange::<T>(addr, POST).await, b"");
        assert_eq!(exchange::<T>(addr, &VALID.replace_path("/other")).await, b"");
        assert_eq!(exchange::<T>(addr, BAD_VERSION).await, DEFAULT_BAD_VERSION);

        // `accept_stream` and `handle_upgrade` on streams accepted by hand (`noServer`).
        let server = Arc::new(Server::<T::R>::builder().client_error(dropping).build());
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let task = T::spawn({
            let server = server.clone();
            async move {
                let (tcp, _) = T::accept(&listener).await.unwrap();
                let streamed = server.accept_stream(tcp, ClientInfo::default()).await.map(|_| ());
                let (tcp, _) = T::accept(&listener).await.unwrap();
                let head = Request::post("/chat")
                    .header("host", "h")
                    .header("upgrade", "websocket")
                    .header("connection", "Upgrade")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .header("sec-websocket-version", "13")
                    .body(())
                    .unwrap();
                let upgraded = server.handle_upgrade(&head, tcp, Bytes::new(), ClientInfo::default()).await.map(|_| ());
                (streamed, upgraded)
            }
        });
        assert_eq!(exchange::<T>(addr, POST).await, b"");
        let mut tcp = raw::<T>(within(T::connect(addr)).await.unwrap());
        let mut answer = Vec::new();
        within(tcp.read_to_end(&mut answer)).await.unwrap();
        assert_eq!(answer, b"", "handle_upgrade wrote nothing");
        let (streamed, upgraded) = within(task).await;
        assert!(matches!(streamed, Err(AcceptError::Dropped { error: Some(HandshakeError::MethodNotGet) })));
        assert!(matches!(upgraded, Err(AcceptError::Dropped { error: Some(HandshakeError::MethodNotGet) })));

        // The accept functions.
        let options = Arc::new(ServerOptions::default().client_error(dropping));
        let listener = T::listen();
        let addr = T::listener_addr(&listener);
        let task = T::spawn(async move {
            let refuse = |_: &UpgradeRequest| Err(Rejection::from_error(HandshakeError::PathNotFound));
            let mut results = Vec::new();
            let (tcp, _) = T::accept(&listener).await.unwrap();
            results.push(accept_with::<_, T::R>(tcp, config(), options.clone()).await.map(|_| ()));
            let (tcp, _) = T::accept(&listener).await.unwrap();
            results.push(accept_hdr_with::<_, T::R, _>(tcp, config(), options.clone(), refuse).await.map(|_| ()));
            let (tcp, _) = T::accept(&listener).await.unwrap();
            let refuse_later = |req: &UpgradeRequest| std::future::ready(refuse(req));
            results.push(accept_async_with::<_, T::R, _, _>(tcp, config(), options, refuse_later).await.map(|_| ()));
            results
        });
        assert_eq!(exchange::<T>(addr, POST).await, b"");
        assert_eq!(exchange::<T>(addr, VALID).await, b"");
        assert_eq!(exchange::<T>(addr, VALID).await, b"");
        let results = within(task).await;
        assert!(matches!(results[0], Err(AcceptError::Dropped { error: Some(HandshakeError::MethodNotGet) })));
        for result in &results[1..] {
            assert!(matches!(result, Err(AcceptError::Dropped { error: Some(HandshakeError::PathNotFound) })));
        }
        let shown = AcceptError::Dropped { error: Some(HandshakeError::MethodNotGet) }.to_string();
        assert_eq!(shown, "WebSocket handshake dropped without an answer: method is not GET");
    }
}

/// Replaces the request target of a request head.
trait ReplacePath {
    fn replace_path(&self, target: &str) -> Vec<u8>;
}

impl ReplacePath for [u8] {
    fn replace_path(&self, target: &str) -> Vec<u8> {
        let text = String::from_utf8_lossy(self);
        text.replacen("/chat", target, 1).into_bytes()
    }
}

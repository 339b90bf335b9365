//! Browser interop: headless Chromium (Debian's `chromium`) against a ws-tokio server with
//! permessage-deflate.
//!
//! The harness (serving `interop/chromium/page.html`, running Chromium, the assertions) is
//! `interop/chromium/harness.rs`, shared with `ws-blocking/tests/chromium.rs`; see its module
//! documentation and `docs/conformance.md`. Here each upgrade is accepted by
//! `ws_tokio::accept_hdr_with` with `ServerOptions::per_message_deflate(Some(default))`, so
//! the browser's default offer (`permessage-deflate; client_max_window_bits`) is accepted: the
//! test asserts that permessage-deflate was agreed and that the page's `ws.extensions` equals
//! the server's answer, while text and binary messages (up to 1 MiB, compressed both ways)
//! round-trip.
//!
//! Chromium is installed by `scripts/setup-chromium.sh`; when it is missing this test fails
//! (it never skips). `CHROMIUM` overrides the browser path (default `/usr/bin/chromium`).

#[path = "../../interop/chromium/harness.rs"]
mod harness;

use ws_tokio::ws_proto;

use std::net::TcpStream;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use harness::{offered, page_origin, server_config, text_action, Report, TextAction};
use ws_tokio::{accept_hdr_with, CloseFrame, DeflateConfig, Error, Event, Message, ServerOptions};

/// One upgrade request from the page, on a thread of the harness's server: served by a
/// current-thread tokio runtime of its own.
fn websocket(stream: TcpStream, target: String, port: u16, reports: &Sender<Report>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let reports = reports.clone();
    runtime.block_on(async move {
        let stream = match stream.set_nonblocking(true).and_then(|()| tokio::net::TcpStream::from_std(stream)) {
            Ok(s) => s,
            Err(e) => {
                let _ = reports.send(Report::Refused { target, error: format!("tokio stream: {e}") });
                return;
            }
        };
        let options =
            ServerOptions::default().origins([page_origin(port)]).per_message_deflate(Some(DeflateConfig::default()));
        let mut seen = None;
        let accepted = accept_hdr_with(stream, server_config(), Arc::new(options), |req| {
            seen = Some(offered(req));
            req.negotiate()
        })
        .await;
        let mut ws = match accepted {
            Ok(ws) => ws,
            Err(e) => {
                let _ = reports.send(Report::Refused { target, error: e.to_string() });
                return;
            }
        };
        let _ = reports.send(Report::upgrade(target.clone(), seen, ws.connection().negotiated()));
        while let Some(event) = ws.recv().await {
            let sent = match event {
                Ok(Event::Message(Message::Text(text))) => match text_action(&text) {
                    TextAction::Close(code, reason) => ws.close_with(Some(CloseFrame::new(code, reason))).await,
                    TextAction::Result => {
                        let _ = reports.send(Report::Result { via: "websocket", text: text.to_string() });
                        Ok(())
                    }
                    TextAction::Echo => ws.send(Message::Text(text)).await,
                },
                Ok(Event::Message(msg)) => ws.send(msg).await,
                Ok(Event::Closed(info)) => {
                    let _ = reports.send(Report::closed(target.clone(), &info));
                    // Go on (bounded by the close timeout) until the browser closed TCP.
                    Ok(())
                }
                Ok(_) => Ok(()),
                // The next event reports `Closed` (1006) with the error.
                Err(_) => Ok(()),
            };
            // A message racing with a close (`Error::Send`) is dropped; after an IO error the
            // next `recv` reports `Closed` (1006).
            let _: Result<(), Error> = sent;
        }
    });
}

#[test]
fn chromium_default_offer_with_permessage_deflate() {
    harness::run("ws-tokio", Arc::new(websocket), true);
}

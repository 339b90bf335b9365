//! Browser interop: headless Chromium (Debian's `chromium`) against a ws-blocking server.
//!
//! The harness (serving `interop/chromium/page.html`, running Chromium, the assertions) is
//! `interop/chromium/harness.rs`, shared with `ws-tokio/tests/chromium.rs`; see its module
//! documentation and `docs/conformance.md`. ws-blocking does not negotiate
//! permessage-deflate, so the page must see no extension.
//!
//! Chromium is installed by `scripts/setup-chromium.sh`; when it is missing this test fails
//! (it never skips). `CHROMIUM` overrides the browser path (default `/usr/bin/chromium`).

#[path = "../../interop/chromium/harness.rs"]
mod harness;

use ws_blocking::ws_proto;

use std::net::TcpStream;
use std::sync::mpsc::Sender;
use std::sync::Arc;

mod common;
use common::ReadEvent;
use harness::{offered, page_origin, server_config, text_action, Report, TextAction};
use ws_blocking::{accept_hdr, Error, Event, Message, ServerOptions};

/// One upgrade request from the page, on a thread of the harness's server.
fn websocket(stream: TcpStream, target: String, port: u16, reports: &Sender<Report>) {
    let options = ServerOptions::default().origins([page_origin(port)]);
    let options = Arc::new(options);
    let mut seen = None;
    let accepted = accept_hdr(stream, server_config(), options, |req| {
        seen = Some(offered(req));
        req.negotiate()
    });
    let mut ws = match accepted {
        Ok(ws) => ws,
        Err(e) => {
            let _ = reports.send(Report::Refused { target, error: e.to_string() });
            return;
        }
    };
    let _ = reports.send(Report::upgrade(target.clone(), seen, ws.connection().negotiated()));
    loop {
        let sent = match ws.read_event() {
            Ok(Event::Message(Message::Text(text))) => match text_action(&text) {
                TextAction::Close(code, reason) => ws.close(code, reason),
                TextAction::Result => {
                    let _ = reports.send(Report::Result { via: "websocket", text: text.to_string() });
                    Ok(())
                }
                TextAction::Echo => ws.send(Message::Text(text)),
            },
            Ok(Event::Message(msg)) => ws.send(msg),
            Ok(Event::Closed(info)) => {
                let _ = reports.send(Report::closed(target, &info));
                // Wait (bounded by the close timeout) for the browser to close TCP.
                let _ = ws.read_event();
                return;
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) | Err(Error::Send(_)) => {}
            Err(_) => {
                // The next read reports `Closed` (1006) with the error.
            }
        }
    }
}

#[test]
fn chromium_default_offer_echo_and_close() {
    harness::run("ws-blocking", Arc::new(websocket), false);
}

//! Authentication during the upgrade (Node `ws` example "Client authentication"): the token
//! (`Authorization: Bearer …`, or `?token=…` for browsers, which cannot set headers) is checked
//! asynchronously before the 101; unknown tokens get 401 with `WWW-Authenticate`, and nothing
//! of the WebSocket starts. The connection then knows its user.
//!
//! `cargo run -p ws-tokio --example server-auth -- [PORT]` (default 8080), then
//! `wscat -c 'ws://127.0.0.1:8080/?token=s3cret'` (user "alice").

use std::io;
use std::time::Duration;

use ws_tokio::http::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use ws_tokio::http::{Request, StatusCode};
use ws_tokio::server::Server;
use ws_tokio::{Event, Message, Refusal};

/// The token in the request: `Authorization: Bearer T` or the `token` query parameter.
fn token<B>(req: &Request<B>) -> Option<String> {
    let bearer = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()?.strip_prefix("Bearer "));
    let query = req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    bearer.or(query).map(str::to_owned)
}

/// Stands for a session store or an identity provider: slow and asynchronous.
async fn user_for(token: Option<String>) -> Option<&'static str> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    match token.as_deref() {
        Some("s3cret") => Some("alice"),
        Some("hunter2") => Some("bob"),
        _ => None,
    }
}

/// Binds the server on 127.0.0.1.
pub async fn bind(port: u16) -> io::Result<Server> {
    Server::builder()
        // Runs after the RFC checks, before the 101; the future cannot borrow the request, so
        // take the token out first.
        .verify_client_async(|req, _info| {
            let token = token(req.request());
            async move {
                match user_for(token).await {
                    Some(_) => Ok(()),
                    None => Err(Refusal::new(StatusCode::UNAUTHORIZED)
                        .with_header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"chat\""))
                        .with_body("unknown or missing token\n")),
                }
            }
        })
        .bind("127.0.0.1", port)
        .await
}

/// Greets each authenticated user, then echoes.
pub async fn run(server: Server) {
    // Ends when the server closes, or on a listener error (server-broadcast.rs keeps going).
    while let Ok(mut conn) = server.accept().await {
        tokio::spawn(async move {
            // The request is kept with the connection: look the user up again.
            let user = user_for(token(&conn.request)).await.unwrap_or("?");
            let _ = conn.handle.send(format!("hello {user}")).await;
            while let Some(Ok(event)) = conn.events.recv().await {
                if let Event::Message(Message::Text(text)) = event {
                    let _ = conn.handle.send(format!("{user}: {text}")).await;
                }
            }
        });
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let port = std::env::args().nth(1).map_or(Ok(8080), |p| p.parse()).map_err(io::Error::other)?;
    let server = bind(port).await?;
    println!("listening on {}", server.local_addr().expect("bound"));
    run(server).await;
    Ok(())
}

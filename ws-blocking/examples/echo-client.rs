//! Echo client: `cargo run -p ws-blocking --example echo-client -- ws://127.0.0.1:9001/`.
//! Sends each line of stdin as a text message and prints what comes back; closes at EOF.

use std::io::{self, BufRead};
use std::thread;

use ws_blocking::{ClientBuilder, CloseCode, Event, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let (ws, response) = ClientBuilder::new(url).connect()?;
    eprintln!("connected: {}", response.status());
    let (mut reader, mut writer) = ws.split();
    let input = thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if writer.send(line).is_err() {
                return;
            }
        }
        let _ = writer.close(CloseCode::NORMAL, "");
    });
    while let Some(event) = reader.recv() {
        match event? {
            Event::Message(Message::Text(t)) => println!("{t}"),
            Event::Message(Message::Binary(b)) => println!("<{} bytes>", b.len()),
            Event::Closed(info) => {
                eprintln!("closed: {} {:?}", info.code(), info.reason());
                break;
            }
            _ => {}
        }
    }
    drop(input);
    Ok(())
}

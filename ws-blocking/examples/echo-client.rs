//! Echo client: `cargo run -p ws-blocking --example echo-client -- ws://127.0.0.1:9001/`.
//! Sends each line of stdin as a text message and prints what comes back; closes at EOF.

use std::io::{self, BufRead};
use std::thread;

use ws_blocking::{connect, CloseCode, CloseFrame, Event, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001/".into());
    let (ws, response) = connect(&url)?;
    eprintln!("connected: {}", response.status());
    let (mut reader, mut writer) = ws.split()?;
    let input = thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if writer.send(line).is_err() {
                return;
            }
        }
        let _ = writer.close(Some(CloseFrame::new(CloseCode::NORMAL, "")));
    });
    loop {
        match reader.read()? {
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

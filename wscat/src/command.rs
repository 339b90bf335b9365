//! What an input line means: a message to send, or (with `--slash`) a command.

use ws_tokio::{Bytes, Message};

use crate::hex;

/// What to do with one line of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this message.
    Send(Message),
    /// Send a ping with this payload (`/ping [data]`).
    Ping(Bytes),
    /// Send an unsolicited pong with this payload (`/pong [data]`).
    Pong(Bytes),
    /// Close with this code and reason (`/close [code [reason]]`).
    Close(u16, String),
    /// The line cannot be used; the text says why.
    Invalid(String),
}

/// Reads one input line. With `slash`, lines starting with `/` are commands (`//x` sends
/// `/x`); with `hex`, messages are hex digits sent as binary.
pub fn parse(line: &str, slash: bool, hex_mode: bool) -> Command {
    if slash {
        if let Some(rest) = line.strip_prefix('/') {
            if !rest.starts_with('/') {
                return slash_command(rest);
            }
            return message(rest, hex_mode);
        }
    }
    message(line, hex_mode)
}

fn message(text: &str, hex_mode: bool) -> Command {
    if hex_mode {
        match hex::parse(text) {
            Ok(bytes) => Command::Send(Message::binary(bytes)),
            Err(e) => Command::Invalid(e),
        }
    } else {
        Command::Send(Message::text(text.to_owned()))
    }
}

fn slash_command(rest: &str) -> Command {
    let (name, arg) = match rest.split_once(' ') {
        Some((n, a)) => (n, a.trim_start()),
        None => (rest, ""),
    };
    match name {
        "ping" => control_payload(arg).map_or_else(Command::Invalid, Command::Ping),
        "pong" => control_payload(arg).map_or_else(Command::Invalid, Command::Pong),
        "close" => {
            let (code, reason) = match arg.split_once(' ') {
                Some((c, r)) => (c, r.trim()),
                None => (arg, ""),
            };
            if code.is_empty() {
                return Command::Close(1000, String::new());
            }
            match code.parse::<u16>() {
                Ok(c) => Command::Close(c, reason.to_owned()),
                Err(_) => Command::Invalid(format!("invalid close code {code:?} (expected a number such as 1000)")),
            }
        }
        _ => Command::Invalid(format!(
            "unknown command /{name} (commands: /ping [data], /pong [data], /close [code [reason]])"
        )),
    }
}

/// A control frame's payload: at most 125 bytes.
fn control_payload(arg: &str) -> Result<Bytes, String> {
    if arg.len() > 125 {
        return Err(format!("ping and pong data is at most 125 bytes ({} given)", arg.len()));
    }
    Ok(Bytes::copy_from_slice(arg.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse("hi", false, false), Command::Send(Message::text("hi")));
        assert_eq!(parse("/ping", false, false), Command::Send(Message::text("/ping")));
        assert_eq!(parse("6869", false, true), Command::Send(Message::binary(&b"hi"[..])));
        assert!(matches!(parse("xyz", false, true), Command::Invalid(_)));
    }

    #[test]
    fn slash() {
        assert_eq!(parse("/ping", true, false), Command::Ping(Bytes::new()));
        assert_eq!(parse("/ping abc", true, false), Command::Ping(Bytes::from_static(b"abc")));
        assert_eq!(parse("/pong x", true, false), Command::Pong(Bytes::from_static(b"x")));
        assert_eq!(parse("/close", true, false), Command::Close(1000, String::new()));
        assert_eq!(parse("/close 4000 bye now", true, false), Command::Close(4000, "bye now".into()));
        assert!(matches!(parse("/close x", true, false), Command::Invalid(_)));
        assert!(matches!(parse("/nope", true, false), Command::Invalid(_)));
        assert_eq!(parse("//ping", true, false), Command::Send(Message::text("/ping")));
    }
}

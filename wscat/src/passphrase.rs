//! Asking for the passphrase of an encrypted `--key` on the terminal (`--passphrase` given
//! without a value, as Node's wscat), with echo off.
//!
//! The question goes to the controlling terminal (`/dev/tty`), not to stdin and stdout, so a
//! pipe of messages on stdin or a redirected stdout does not get in the way. The terminal is
//! put in a non-canonical mode without echo or signals for the answer and restored after,
//! also when the answer is cancelled: Enter ends it, Backspace erases a character, Ctrl-U
//! the whole line, and Ctrl-C (or Ctrl-D on an empty line) cancels.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};

use nix::sys::termios::{self, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

use crate::errors::Failure;

/// The `kind` of the [`Failure`] for a cancelled question (exit status 130).
pub const CANCELLED: &str = "interrupted";

/// How an answer typed on the terminal ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Enter: the text typed.
    Entered(String),
    /// Ctrl-C, Ctrl-D on an empty line, or the end of the input.
    Cancelled,
}

/// Reads an answer byte by byte from `input` (a terminal in non-canonical mode without
/// echo): Enter (CR or LF) ends it, Backspace/DEL erases the last character, Ctrl-U
/// everything, Ctrl-C or Ctrl-D on an empty line or the end of input cancel; other control
/// characters are ignored.
pub fn read_answer(mut input: impl Read) -> io::Result<Answer> {
    let mut typed: Vec<u8> = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if input.read(&mut byte)? == 0 {
            return Ok(Answer::Cancelled);
        }
        match byte[0] {
            b'\r' | b'\n' => break,
            0x03 => return Ok(Answer::Cancelled),
            0x04 if typed.is_empty() => return Ok(Answer::Cancelled),
            0x7f | 0x08 => {
                // Erase one character: its UTF-8 continuation bytes, then its first byte.
                while typed.last().is_some_and(|b| b & 0xc0 == 0x80) {
                    typed.pop();
                }
                typed.pop();
            }
            0x15 => typed.clear(),
            b if b < 0x20 => {}
            b => typed.push(b),
        }
    }
    Ok(Answer::Entered(String::from_utf8_lossy(&typed).into_owned()))
}

/// Puts the terminal's saved mode back when dropped.
struct Restore<'a> {
    tty: &'a File,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.tty, SetArg::TCSANOW, &self.saved);
    }
}

/// Asks `question` on the controlling terminal and returns the answer, typed without echo.
///
/// Fails (kind `input`) when there is no terminal to ask on, and with kind [`CANCELLED`]
/// when the answer is cancelled.
pub fn ask(question: &str) -> Result<String, Failure> {
    let no_terminal = |e: io::Error| {
        Failure::new(
            "input",
            format!(
                "--passphrase without a value asks for it on the terminal, and there is none \
                 ({e}); give the passphrase as --passphrase=PASSPHRASE"
            ),
        )
    };
    let tty = OpenOptions::new().read(true).write(true).open("/dev/tty").map_err(no_terminal)?;
    let saved = termios::tcgetattr(&tty).map_err(|e| no_terminal(e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG | LocalFlags::IEXTEN);
    quiet.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
    quiet.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    let answer = {
        let restore = Restore { tty: &tty, saved };
        termios::tcsetattr(restore.tty, SetArg::TCSAFLUSH, &quiet).map_err(|e| no_terminal(e.into()))?;
        let mut out = &tty;
        let _ = write!(out, "{question}");
        let _ = out.flush();
        let answer = read_answer(&tty);
        let _ = out.write_all(b"\r\n");
        answer
    };
    match answer {
        Ok(Answer::Entered(text)) => Ok(text),
        Ok(Answer::Cancelled) => Err(Failure::new(CANCELLED, "no passphrase entered (cancelled)")),
        Err(e) => Err(Failure::new("input", format!("cannot read the passphrase from the terminal: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: &[u8]) -> Answer {
        read_answer(bytes).unwrap()
    }

    #[test]
    fn editing_keys() {
        assert_eq!(answer(b"secret\r"), Answer::Entered("secret".into()));
        assert_eq!(answer(b"secret\n"), Answer::Entered("secret".into()));
        assert_eq!(answer(b"secrex\x7ft\r"), Answer::Entered("secret".into()));
        assert_eq!(answer(b"wrong\x15right\r"), Answer::Entered("right".into()));
        assert_eq!(answer("p\u{e4}\x7f\x7fpass\r".as_bytes()), Answer::Entered("pass".into()));
        assert_eq!(answer("\u{e4}\u{20ac}\r".as_bytes()), Answer::Entered("\u{e4}\u{20ac}".into()));
        assert_eq!(answer(b"a\x1bb\r"), Answer::Entered("ab".into()), "control characters are ignored");
        assert_eq!(answer(b"\r"), Answer::Entered(String::new()));
    }

    #[test]
    fn cancelling() {
        assert_eq!(answer(b"abc\x03def\r"), Answer::Cancelled);
        assert_eq!(answer(b"\x04"), Answer::Cancelled);
        assert_eq!(answer(b"ab\x04c\r"), Answer::Entered("abc".into()), "Ctrl-D only cancels an empty line");
        assert_eq!(answer(b"no newline"), Answer::Cancelled);
    }
}

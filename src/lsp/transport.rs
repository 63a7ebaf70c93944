//! Stage `lsp`: the stdio transport — `Content-Length` framed JSON-RPC
//! messages in on stdin, out on stdout — as an `lsp_server::Connection`.
//!
//! `lsp_server`'s own stdio transport stops reading at the first frame that
//! is not a valid message, which would end the server; this one answers
//! such a frame with the JSON-RPC error (`-32700` parse error, `-32600`
//! invalid request, with the request's id when it can be read) and goes on.
//! A body over [`MAX_BODY`] is skipped unread with the same error. It never
//! interprets a message beyond its envelope, and logs only lengths and
//! error kinds (never a body, which may hold a secret).

use std::io::{self, BufRead, Read, Write};
use std::thread;

use crossbeam_channel::{Receiver, Sender, unbounded};
use lsp_server::{Connection, Message};
use serde_json::Value;

/// The largest message body read (a 50 MB buffer fits; more is skipped).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// The longest header line read.
const MAX_HEADER_LINE: usize = 8 * 1024;

/// The reader and writer threads; `join` waits for both.
pub struct IoThreads {
    reader: thread::JoinHandle<()>,
    writer: thread::JoinHandle<()>,
}

impl IoThreads {
    /// Waits for stdin to be done and everything queued to be written.
    pub fn join(self) {
        let _ = self.reader.join();
        let _ = self.writer.join();
    }
}

/// A connection over any reader and writer (stdin/stdout for the real
/// server; pipes in tests).
pub fn connect<R, W>(input: R, output: W) -> io::Result<(Connection, IoThreads)>
where
    R: BufRead + Send + 'static,
    W: Write + Send + 'static,
{
    let (to_server, server_in) = unbounded::<Message>();
    let (server_out, from_server) = unbounded::<Message>();
    let (raw_tx, raw_rx) = unbounded::<String>();
    let writer = thread::Builder::new()
        .name("lsp-writer".into())
        .spawn(move || write_loop(output, &from_server, &raw_rx))?;
    let reader = thread::Builder::new()
        .name("lsp-reader".into())
        .spawn(move || read_loop(input, &to_server, &raw_tx))?;
    Ok((
        Connection {
            sender: server_out,
            receiver: server_in,
        },
        IoThreads { reader, writer },
    ))
}

fn write_loop(mut out: impl Write, messages: &Receiver<Message>, raw: &Receiver<String>) {
    let mut raw_open = true;
    loop {
        let result = if raw_open {
            crossbeam_channel::select! {
                recv(messages) -> m => match m {
                    Ok(m) => m.write(&mut out),
                    Err(_) => {
                        // The server is done: the transport's own answers
                        // still queued go out first.
                        for text in raw.try_iter() {
                            if write_frame(&mut out, &text).is_err() {
                                return;
                            }
                        }
                        return;
                    }
                },
                recv(raw) -> r => match r {
                    Ok(text) => write_frame(&mut out, &text),
                    Err(_) => {
                        raw_open = false;
                        Ok(())
                    }
                },
            }
        } else {
            match messages.recv() {
                Ok(m) => m.write(&mut out),
                Err(_) => return,
            }
        };
        if let Err(e) = result {
            tracing::warn!("lsp: cannot write to the client: {e}");
            return;
        }
    }
}

fn write_frame(out: &mut impl Write, text: &str) -> io::Result<()> {
    write!(out, "Content-Length: {}\r\n\r\n{text}", text.len())?;
    out.flush()
}

/// One frame read from the input.
enum Frame {
    Body(Vec<u8>),
    /// A frame that could not be taken: the error's code and message.
    Refused(i32, String),
    End,
}

fn read_loop(mut input: impl BufRead, to_server: &Sender<Message>, raw: &Sender<String>) {
    loop {
        let body = match read_frame(&mut input) {
            Ok(Frame::Body(body)) => body,
            Ok(Frame::Refused(code, message)) => {
                tracing::warn!("lsp: refused a frame: {message}");
                let _ = raw.send(error_text(Value::Null, code, &message));
                continue;
            }
            Ok(Frame::End) => return,
            Err(e) => {
                tracing::info!("lsp: input closed: {e}");
                return;
            }
        };
        match serde_json::from_slice::<Message>(&body) {
            Ok(message) => {
                let exit = matches!(&message, Message::Notification(n) if n.method == "exit");
                if to_server.send(message).is_err() || exit {
                    return;
                }
            }
            Err(e) => {
                let (id, code, what) = match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => (
                        v.get("id").cloned().unwrap_or(Value::Null),
                        -32600,
                        "not a JSON-RPC request, response or notification",
                    ),
                    Err(_) => (Value::Null, -32700, "not valid JSON"),
                };
                tracing::warn!(
                    "lsp: ignored a message of {} bytes: {what} ({})",
                    body.len(),
                    e.classify_name()
                );
                // A notification gets no answer; a request (it has an id) does.
                if code == -32700 || !id.is_null() {
                    let _ = raw.send(error_text(id, code, what));
                }
            }
        }
    }
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}

fn error_text(id: Value, code: i32, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
    .to_string()
}

/// Reads one frame: header lines up to an empty line, then the body.
fn read_frame(input: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<usize> = None;
    let mut bad_header = None;
    let mut seen_any = false;
    loop {
        let mut line = Vec::new();
        let n = input
            .by_ref()
            .take(MAX_HEADER_LINE as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(Frame::End);
        }
        if !line.ends_with(b"\n") {
            // Longer than any header: skip the rest of the line.
            let mut sink = Vec::new();
            input.read_until(b'\n', &mut sink)?;
            bad_header = Some("a header line is too long".to_string());
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !seen_any {
                continue;
            }
            break;
        }
        seen_any = true;
        match text.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(_) => bad_header = Some("Content-Length is not a number".to_string()),
                }
            }
            Some(_) => {}
            None => bad_header = Some("a header line has no `:`".to_string()),
        }
    }
    let Some(length) = length else {
        return Ok(Frame::Refused(
            -32700,
            bad_header.unwrap_or_else(|| "a frame has no Content-Length header".to_string()),
        ));
    };
    if length > MAX_BODY {
        let skipped = io::copy(&mut input.by_ref().take(length as u64), &mut io::sink())?;
        if (skipped as usize) < length {
            return Ok(Frame::End);
        }
        return Ok(Frame::Refused(
            -32600,
            format!("a message of {length} bytes is over the limit of {MAX_BODY} bytes"),
        ));
    }
    let mut body = vec![0; length];
    input.read_exact(&mut body)?;
    if let Some(message) = bad_header {
        return Ok(Frame::Refused(-32700, message));
    }
    Ok(Frame::Body(body))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    /// Feeds `input` to a connection and returns what the server side
    /// received and what the transport itself answered.
    fn run(input: String) -> (Vec<Message>, String) {
        let out = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0.lock().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let (conn, threads) =
            connect(io::Cursor::new(input.into_bytes()), Shared(out.clone())).unwrap();
        let received: Vec<Message> = conn.receiver.iter().collect();
        drop(conn);
        threads.join();
        let written = String::from_utf8(out.lock().clone()).unwrap();
        (received, written)
    }

    #[test]
    fn malformed_frames_get_errors_and_reading_goes_on() {
        let input = [
            frame("{not json"),
            frame(r#"{"jsonrpc":"2.0","id":7,"method":5}"#),
            frame(r#"{"jsonrpc":"2.0","method":5}"#),
            "X-Nothing: 1\r\n\r\n".to_string(),
            "Content-Length: nine\r\n\r\n".to_string(),
            frame(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#),
        ]
        .concat();
        let (received, written) = run(input);
        assert_eq!(received.len(), 1, "{received:?}");
        assert!(written.contains(r#""id":null"#) && written.contains("-32700"));
        assert!(written.contains(r#""id":7"#) && written.contains("-32600"));
        // The notification with a bad method gets no answer: 4 errors.
        assert_eq!(written.matches(r#""jsonrpc""#).count(), 4, "{written}");
    }

    #[test]
    fn a_body_over_the_limit_is_skipped_unread() {
        let big = format!("Content-Length: {}\r\n\r\n", MAX_BODY + 1);
        let input = format!(
            "{big}{}{}",
            " ".repeat(MAX_BODY + 1),
            frame(r#"{"jsonrpc":"2.0","method":"exit"}"#)
        );
        let (received, written) = run(input);
        assert_eq!(received.len(), 1);
        assert!(written.contains("over the limit"), "{written}");
    }
}

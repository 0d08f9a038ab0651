//! A small SMTP server (RFC 5321: EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, QUIT)
//! keeping every message it accepts.

use base64::Engine as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One accepted message.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub from: String,
    pub recipients: Vec<String>,
    pub data: String,
    /// `user:password` from AUTH, if the client authenticated.
    pub auth: Option<String>,
}

impl Received {
    /// The message with quoted-printable soft line breaks joined.
    pub fn unfolded(&self) -> String {
        self.data.replace("=\r\n", "")
    }
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let store = store.clone();
                std::thread::spawn(move || {
                    let _ = session(conn, &store);
                });
            }
        });
        SmtpServer { port, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn session(conn: TcpStream, store: &Mutex<Vec<Received>>) -> std::io::Result<()> {
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    let mut reply = |text: &str| out.write_all(format!("{text}\r\n").as_bytes());
    reply("220 localhost ESMTP kiln-test")?;
    let mut current = Received::default();
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            reply("250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8")?;
        } else if let Some(arg) = upper.strip_prefix("AUTH PLAIN") {
            let arg = cmd[cmd.len() - arg.len()..].trim().to_owned();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(arg)
                .unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            auth = Some(format!("{}:{}", parts[1], parts[2]));
            reply("235 2.7.0 Authentication successful")?;
        } else if upper.starts_with("MAIL FROM:") {
            current = Received {
                from: address(&cmd),
                auth: auth.clone(),
                ..Received::default()
            };
            reply("250 OK")?;
        } else if upper.starts_with("RCPT TO:") {
            current.recipients.push(address(&cmd));
            reply("250 OK")?;
        } else if upper == "DATA" {
            reply("354 End data with <CR><LF>.<CR><LF>")?;
            let mut data = String::new();
            loop {
                line.clear();
                if input.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            current.data = data;
            store.lock().unwrap().push(std::mem::take(&mut current));
            reply("250 OK: queued")?;
        } else if upper == "QUIT" {
            reply("221 Bye")?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            reply("250 OK")?;
        } else {
            reply("502 Command not implemented")?;
        }
    }
}

fn address(cmd: &str) -> String {
    let start = cmd.find('<').map_or(0, |i| i + 1);
    let end = cmd.find('>').unwrap_or(cmd.len());
    cmd[start..end].to_owned()
}

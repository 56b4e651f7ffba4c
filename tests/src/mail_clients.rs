//! Minimal SMTP and IMAP clients, and an SMTP sink, for the tests that drive the real
//! Postfix and Dovecot: just enough of each protocol to send a message, sign in, read a
//! mailbox, and receive what Postfix relays to the outside world (which, in tests, is a
//! loopback port and never the internet).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One SMTP reply: its code and its text lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpReply {
    /// The three-digit code.
    pub code: u16,
    /// The text after the code.
    pub text: String,
}

/// What happened to a message sent with [`smtp_send`].
#[derive(Debug, Clone)]
pub struct SmtpOutcome {
    /// The reply to each RCPT, in order.
    pub rcpt: Vec<SmtpReply>,
    /// The reply to the end of DATA, when at least one recipient was accepted.
    pub data: Option<SmtpReply>,
}

impl SmtpOutcome {
    /// Whether the message was accepted for every recipient.
    pub fn accepted(&self) -> bool {
        self.rcpt.iter().all(|r| r.code / 100 == 2)
            && self.data.as_ref().is_some_and(|d| d.code / 100 == 2)
    }
}

struct Lines {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Lines {
    async fn connect(addr: SocketAddr) -> std::io::Result<Lines> {
        let (read, write) = TcpStream::connect(addr).await?.into_split();
        Ok(Lines {
            read: BufReader::new(read),
            write,
        })
    }

    async fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.read.read_line(&mut line).await.expect("read a line");
        assert!(n > 0, "the server closed the connection");
        line.trim_end_matches(['\r', '\n']).to_owned()
    }

    async fn send(&mut self, text: &str) {
        self.write
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .expect("write a line");
    }

    async fn reply(&mut self) -> SmtpReply {
        let mut text = Vec::new();
        loop {
            let line = self.line().await;
            let code = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .expect("a reply code");
            text.push(line.get(4..).unwrap_or_default().to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return SmtpReply {
                    code,
                    text: text.join(" "),
                };
            }
        }
    }
}

/// Sends one message over SMTP, signing in first when `auth` gives an address and a
/// password (AUTH PLAIN, as a mail client does on the submission port). The message's size
/// is declared, as mail servers do.
pub async fn smtp_send(
    addr: SocketAddr,
    auth: Option<(&str, &str)>,
    from: &str,
    to: &[&str],
    subject: &str,
    body: &str,
) -> Result<SmtpOutcome, SmtpReply> {
    smtp_send_declaring(addr, auth, from, to, subject, body, true).await
}

/// Like [`smtp_send`], declaring the message's size (`MAIL FROM:<…> SIZE=n`) or not.
pub async fn smtp_send_declaring(
    addr: SocketAddr,
    auth: Option<(&str, &str)>,
    from: &str,
    to: &[&str],
    subject: &str,
    body: &str,
    declare_size: bool,
) -> Result<SmtpOutcome, SmtpReply> {
    let mut c = Lines::connect(addr).await.expect("connect to SMTP");
    let greeting = c.reply().await;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    c.send("EHLO client.test").await;
    let ehlo = c.reply().await;
    assert_eq!(ehlo.code, 250, "{ehlo:?}");
    if let Some((user, password)) = auth {
        use base64::Engine;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        c.send(&format!("AUTH PLAIN {token}")).await;
        let r = c.reply().await;
        if r.code != 235 {
            return Err(r);
        }
    }
    let message = format!(
        "From: <{from}>\r\nTo: <{}>\r\nSubject: {subject}\r\n\r\n{body}\r\n.",
        to.join(">, <")
    );
    // The size is declared, as mail clients and servers do, so that a full mailbox is
    // refused at RCPT.
    if declare_size {
        c.send(&format!("MAIL FROM:<{from}> SIZE={}", message.len()))
            .await;
    } else {
        c.send(&format!("MAIL FROM:<{from}>")).await;
    }
    let r = c.reply().await;
    if r.code != 250 {
        return Err(r);
    }
    let mut rcpt = Vec::new();
    for t in to {
        c.send(&format!("RCPT TO:<{t}>")).await;
        rcpt.push(c.reply().await);
    }
    let mut data = None;
    if rcpt.iter().any(|r| r.code / 100 == 2) {
        c.send("DATA").await;
        let r = c.reply().await;
        assert_eq!(r.code, 354, "{r:?}");
        c.send(&message).await;
        data = Some(c.reply().await);
    }
    c.send("QUIT").await;
    Ok(SmtpOutcome { rcpt, data })
}

/// An IMAP session, signed in.
pub struct Imap {
    c: Lines,
    tag: u32,
}

/// The tagged answer to an IMAP command and the untagged lines before it, literals inlined.
#[derive(Debug)]
pub struct ImapAnswer {
    /// `OK`, `NO` or `BAD`, with the rest of the tagged line.
    pub status: String,
    /// The untagged data.
    pub data: Vec<String>,
}

impl Imap {
    /// Signs in with LOGIN; the tagged line of a refusal when it fails.
    pub async fn login(addr: SocketAddr, user: &str, password: &str) -> Result<Imap, String> {
        let mut c = Lines::connect(addr).await.expect("connect to IMAP");
        let greeting = c.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let mut imap = Imap { c, tag: 0 };
        let answer = imap
            .command(&format!("LOGIN {} {}", quote(user), quote(password)))
            .await;
        if answer.status.starts_with("OK") {
            Ok(imap)
        } else {
            Err(answer.status)
        }
    }

    /// Runs one command.
    pub async fn command(&mut self, command: &str) -> ImapAnswer {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.c.send(&format!("{tag} {command}")).await;
        let mut data = Vec::new();
        loop {
            let mut line = self.c.line().await;
            // A literal `{n}` at the end of a line: its bytes follow, then the line goes on.
            while let Some(n) = literal_length(&line) {
                let mut bytes = vec![0; n];
                self.c.read.read_exact(&mut bytes).await.expect("a literal");
                line.push('\n');
                line.push_str(&String::from_utf8_lossy(&bytes));
                line.push_str(&self.c.line().await);
            }
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return ImapAnswer {
                    status: rest.to_owned(),
                    data,
                };
            }
            data.push(line);
        }
    }

    /// Whether the server ended this session within `wait`: it said `* BYE` or closed the
    /// connection, unasked.
    pub async fn ended_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut line = String::new();
            match tokio::time::timeout_at(deadline, self.c.read.read_line(&mut line)).await {
                Err(_) => return false,
                Ok(Err(_)) | Ok(Ok(0)) => return true,
                Ok(Ok(_)) if line.starts_with("* BYE") => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    /// The subjects of the messages in INBOX, in order.
    pub async fn subjects(&mut self) -> Vec<String> {
        let select = self.command("SELECT INBOX").await;
        assert!(select.status.starts_with("OK"), "{select:?}");
        let exists = select
            .data
            .iter()
            .find_map(|l| {
                l.strip_prefix("* ")?
                    .strip_suffix(" EXISTS")?
                    .parse::<u32>()
                    .ok()
            })
            .unwrap_or(0);
        if exists == 0 {
            return vec![];
        }
        let fetch = self
            .command("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            .await;
        assert!(fetch.status.starts_with("OK"), "{fetch:?}");
        fetch
            .data
            .iter()
            .filter_map(|l| {
                l.lines()
                    .find_map(|h| h.strip_prefix("Subject: ").map(|s| s.trim().to_owned()))
            })
            .collect()
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn literal_length(line: &str) -> Option<usize> {
    let open = line.rfind('{')?;
    line.strip_suffix('}')?[open + 1..].parse().ok()
}

/// A message an [`SmtpSink`] received.
#[derive(Debug, Clone)]
pub struct Sunk {
    /// The envelope recipients.
    pub rcpt: Vec<String>,
    /// The message as sent.
    pub data: String,
}

/// An SMTP server on loopback that accepts every message: where Postfix relays mail for
/// other domains in tests.
pub struct SmtpSink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Sunk>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> SmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the sink");
        let addr = listener.local_addr().expect("sink address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, write) = stream.into_split();
                    let mut c = Lines {
                        read: BufReader::new(read),
                        write,
                    };
                    let _ = sink_session(&mut c, &store).await;
                });
            }
        });
        SmtpSink {
            addr,
            received,
            task,
        }
    }

    /// The messages received so far.
    pub fn received(&self) -> Vec<Sunk> {
        self.received.lock().expect("sink").clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sink_session(c: &mut Lines, store: &Mutex<Vec<Sunk>>) -> Option<()> {
    c.send("220 sink.test ESMTP").await;
    let mut rcpt = Vec::new();
    loop {
        let mut line = String::new();
        if c.read.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
            c.send("250 sink.test").await;
        } else if cmd.starts_with("MAIL") || cmd.starts_with("RSET") || cmd.starts_with("NOOP") {
            c.send("250 ok").await;
        } else if cmd.starts_with("RCPT") {
            let to = line.trim_end();
            let to = to[to.find('<')? + 1..to.rfind('>')?].to_owned();
            rcpt.push(to);
            c.send("250 ok").await;
        } else if cmd == "DATA" {
            c.send("354 go on").await;
            let mut data = String::new();
            loop {
                let mut l = String::new();
                if c.read.read_line(&mut l).await.ok()? == 0 {
                    return None;
                }
                if l.trim_end_matches(['\r', '\n']) == "." {
                    break;
                }
                data.push_str(&l);
            }
            store.lock().ok()?.push(Sunk {
                rcpt: std::mem::take(&mut rcpt),
                data,
            });
            c.send("250 queued").await;
        } else if cmd == "QUIT" {
            c.send("221 bye").await;
            return Some(());
        } else {
            c.send("502 not here").await;
        }
    }
}

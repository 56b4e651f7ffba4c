//! A small IMAP client, just enough for the Dovecot data plane to read and write messages.
//!
//! Dovecot's doveadm HTTP API can neither import a message with its received date nor return a
//! message's exact bytes, so the driver signs in over IMAP as a master user
//! (`LOGIN "<user>*<master>" <password>`), appends messages with an INTERNALDATE, and reads them
//! back with `UID FETCH <uid> (BODY.PEEK[])`. This module speaks only that subset of IMAP4rev1
//! (RFC 3501, with LITERAL+ and UIDPLUS), over plain TCP to a server on loopback or a private
//! network; it parses literals byte-exactly, quotes everything it sends, and never puts the
//! password in an error. Every read and every write waits at most the session's timeout for
//! progress, so a server that stops answering fails the call instead of hanging it.

use std::net::SocketAddr;
use std::time::Duration;

use mailplane_types::{Error, Result};
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// The largest literal (a message, a name) this client accepts from the server.
const MAX_LITERAL: usize = 64 * 1024 * 1024;

/// The longest line (outside literals) this client accepts from the server.
const MAX_LINE: usize = 1024 * 1024;

/// The size of the pieces in which a literal is written, each bounded by the timeout.
const WRITE_CHUNK: usize = 64 * 1024;

/// A signed-in IMAP connection.
///
/// It is generic over the stream so that tests can drive it with an in-memory pipe; the data
/// plane uses the default, a TCP stream. A session runs one command at a time; after any error
/// other than [`Error::Invalid`] it should be dropped, because the connection may be in the
/// middle of a response.
pub(super) struct ImapSession<S = TcpStream> {
    /// The buffered connection.
    stream: BufStream<S>,
    /// The number of the last tag used; tags are `m1`, `m2` and so on.
    tag: u32,
    /// How long any single read or write may wait for progress.
    timeout: Duration,
    /// Whether the server advertised LITERAL+, so that literals need not wait for a `+`.
    literal_plus: bool,
    /// The text of an untagged BYE, kept to explain a connection that then closes.
    bye: Option<String>,
}

impl ImapSession<TcpStream> {
    /// Connects (plain TCP; loopback or a private network) and signs in as `login`
    /// (for example `"mailbox-…@tenant-….invalid*mailplane"`, a user and the master user)
    /// with `password`.
    pub(super) async fn login(
        addr: SocketAddr,
        login: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<ImapSession<TcpStream>> {
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                return Err(Error::Unavailable(format!(
                    "cannot connect to the IMAP server at {addr}: {e}"
                )));
            }
            Err(_) => {
                return Err(Error::Unavailable(format!(
                    "connecting to the IMAP server at {addr} timed out after {timeout:?}"
                )));
            }
        };
        // Commands are small and answered one at a time, so Nagle's delay only adds latency.
        let _ = stream.set_nodelay(true);
        ImapSession::start(stream, login, password, timeout).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ImapSession<S> {
    /// Reads the server's greeting from an open `stream` and signs in as `login` with
    /// `password`.
    pub(super) async fn start(
        stream: S,
        login: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<ImapSession<S>> {
        let login = astring(login, "login")?;
        let password = astring(password, "password")?;
        let mut session = ImapSession {
            stream: BufStream::new(stream),
            tag: 0,
            timeout,
            literal_plus: false,
            bye: None,
        };
        let greeting = session.read_response().await?;
        match &greeting {
            Response::Untagged(line) => match status_of(line.head(), 1) {
                Some(Status {
                    word: StatusWord::Ok,
                    ..
                }) => {}
                Some(Status {
                    word: StatusWord::Preauth,
                    ..
                }) => {
                    return Err(Error::internal(
                        "the IMAP server signed the connection in before LOGIN (PREAUTH)",
                    ));
                }
                Some(Status {
                    word: StatusWord::Bye,
                    text,
                    ..
                }) => {
                    return Err(Error::Unavailable(format!(
                        "the IMAP server refused the connection: {text}"
                    )));
                }
                _ => {
                    return Err(Error::internal(format!(
                        "unexpected IMAP greeting: {}",
                        printable(line.head())
                    )));
                }
            },
            _ => return Err(Error::internal("the IMAP greeting is not an untagged OK")),
        }
        let mut command = vec![Piece::Text(b"LOGIN ".to_vec())];
        command.extend(login);
        command.push(Piece::Text(b" ".to_vec()));
        command.extend(password);
        match session.command(command).await {
            Ok(_) => Ok(session),
            Err(Refusal { status, .. }) if status.word == StatusWord::No => {
                let code = status.code_name();
                Err(Error::Unavailable(match code.as_deref() {
                    Some("AUTHORIZATIONFAILED") => format!(
                        "the IMAP server let the data plane's master user sign in but not as \
                         this user (unknown to Dovecot's userdb, or the master passdb does not \
                         allow it): {}",
                        status.text
                    ),
                    _ => format!(
                        "the IMAP server refused the data plane's master user sign-in; check the \
                         master user and its password in the Dovecot master passdb and \
                         `auth_master_user_separator`: {}",
                        status.text
                    ),
                }))
            }
            Err(refusal) => Err(refusal.into_error("LOGIN")),
        }
    }

    #[cfg(test)]
    /// Every selectable mailbox (folder) name, decoded from the LIST answer (quoted strings or
    /// literals, modified UTF-7) and with the server's hierarchy separator; names flagged
    /// `\Noselect` or `\NonExistent` are skipped.
    pub(super) async fn list(&mut self) -> Result<Vec<String>> {
        let done = self
            .command(vec![Piece::Text(b"LIST \"\" \"*\"".to_vec())])
            .await
            .map_err(|r| r.into_error("LIST"))?;
        let mut names = Vec::new();
        for line in &done.untagged {
            if let Some(name) = parse_list(line)? {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Selects `mailbox` read-only (EXAMINE) and returns its UIDVALIDITY and message count.
    pub(super) async fn examine(&mut self, mailbox: &str) -> Result<(u32, u32)> {
        let name = mailbox_name(mailbox)?;
        let done = self
            .command(vec![Piece::Text(b"EXAMINE ".to_vec()), name])
            .await
            .map_err(|r| r.into_error_for(mailbox, "EXAMINE"))?;
        let mut uid_validity = None;
        let mut exists = None;
        for line in &done.untagged {
            let tokens = tokenize(line)?;
            match tokens.as_slice() {
                [Token::Atom(_), Token::Atom(n), Token::Atom(word)]
                    if word.eq_ignore_ascii_case(b"EXISTS") =>
                {
                    exists = Some(number(n)?);
                }
                _ => {
                    if let Some(status) = status_of(line.head(), 1)
                        && let Some(code) = status.code
                    {
                        let mut words = code.split(|b| *b == b' ');
                        if words
                            .next()
                            .is_some_and(|w| w.eq_ignore_ascii_case(b"UIDVALIDITY"))
                        {
                            uid_validity = Some(number(words.next().unwrap_or_default())?);
                        }
                    }
                }
            }
        }
        match (uid_validity, exists) {
            (Some(v), Some(n)) => Ok((v, n)),
            _ => Err(Error::internal(format!(
                "the IMAP EXAMINE answer lacks UIDVALIDITY or EXISTS (uidvalidity {uid_validity:?}, exists {exists:?})"
            ))),
        }
    }

    /// The exact bytes of the message with this UID in the examined mailbox (the BODY.PEEK[]
    /// literal, byte for byte, 8-bit bytes and CRLF included), or `None` when there is no
    /// such UID.
    pub(super) async fn fetch(&mut self, uid: u32) -> Result<Option<Vec<u8>>> {
        match self.fetch_item(uid, "BODY.PEEK[]", b"BODY[]").await? {
            Some(Token::Str(bytes)) => Ok(Some(bytes)),
            Some(Token::Atom(nil)) if nil.eq_ignore_ascii_case(b"NIL") => Ok(None),
            Some(_) => Err(Error::internal("the IMAP FETCH BODY[] is not a string")),
            None => Ok(None),
        }
    }

    /// Dovecot's GUID of the message with this UID in the examined mailbox (its `X-GUID`
    /// fetch item), or `None` when there is no such UID.
    pub(super) async fn guid(&mut self, uid: u32) -> Result<Option<String>> {
        match self.fetch_item(uid, "X-GUID", b"X-GUID").await? {
            Some(Token::Atom(guid) | Token::Str(guid)) => Ok(Some(printable(&guid))),
            Some(_) => Err(Error::internal("the IMAP FETCH X-GUID is not a string")),
            None => Ok(None),
        }
    }

    /// The value of the fetch item `name` of the message with this UID in the examined
    /// mailbox, asked for as `request`.
    async fn fetch_item(&mut self, uid: u32, request: &str, name: &[u8]) -> Result<Option<Token>> {
        let done = self
            .command(vec![Piece::Text(
                format!("UID FETCH {uid} ({request})").into_bytes(),
            )])
            .await
            .map_err(|r| r.into_error("UID FETCH"))?;
        for line in &done.untagged {
            let tokens = tokenize(line)?;
            let [Token::Atom(_), Token::Atom(_), Token::Atom(word), rest @ ..] = tokens.as_slice()
            else {
                continue;
            };
            if !word.eq_ignore_ascii_case(b"FETCH") {
                continue;
            }
            let items = fetch_items(rest)?;
            let line_uid = items
                .iter()
                .find(|(item, _)| item.eq_ignore_ascii_case(b"UID"))
                .map(|(_, value)| match value {
                    Token::Atom(n) => number(n),
                    _ => Err(Error::internal("the IMAP FETCH UID is not a number")),
                })
                .transpose()?;
            // Dovecot may send unsolicited FETCH answers (flag changes) for other messages.
            if line_uid != Some(uid) {
                continue;
            }
            for (item, value) in items {
                if item.eq_ignore_ascii_case(name) {
                    return Ok(Some(value.clone()));
                }
            }
        }
        Ok(None)
    }

    /// Appends `message` to `mailbox` with the INTERNALDATE `received` (sent in UTC as
    /// `"dd-Mon-yyyy hh:mm:ss +0000"`) and no flags, and returns the new message's UID from the
    /// APPENDUID response code (UIDPLUS), or `None` when the server sent none.
    ///
    /// The message goes as a LITERAL+ literal when the server advertised it, else as a
    /// synchronizing literal that waits for the server's `+`.
    pub(super) async fn append(
        &mut self,
        mailbox: &str,
        message: &[u8],
        received: OffsetDateTime,
    ) -> Result<Option<u32>> {
        let name = mailbox_name(mailbox)?;
        if message.len() > MAX_LITERAL {
            return Err(Error::TooLarge {
                field: "message".into(),
                limit: MAX_LITERAL as u64,
            });
        }
        let date = internal_date(received)?;
        let done = self
            .command(vec![
                Piece::Text(b"APPEND ".to_vec()),
                name,
                Piece::Text(format!(" () \"{date}\" ").into_bytes()),
                Piece::Literal(message.to_vec()),
            ])
            .await
            .map_err(|r| r.into_error_for(mailbox, "APPEND"))?;
        let Some(code) = done.status.code else {
            return Ok(None);
        };
        let words: Vec<&[u8]> = code.split(|b| *b == b' ').collect();
        match words.as_slice() {
            [word, _validity, uid] if word.eq_ignore_ascii_case(b"APPENDUID") => {
                Ok(Some(number(uid)?))
            }
            _ => Ok(None),
        }
    }

    /// Signs out (LOGOUT) and closes the connection, ignoring any error.
    pub(super) async fn logout(mut self) {
        let _ = self.command(vec![Piece::Text(b"LOGOUT".to_vec())]).await;
        let _ = tokio::time::timeout(self.timeout, self.stream.shutdown()).await;
    }

    /// Sends one command made of `pieces` (after a fresh tag) and reads the answers up to its
    /// tagged completion. A tagged NO or BAD comes back as a [`Refusal`], every other failure
    /// as a refusal that wraps an [`Error`].
    async fn command(&mut self, pieces: Vec<Piece>) -> std::result::Result<Done, Refusal> {
        self.tag += 1;
        let tag = format!("m{}", self.tag).into_bytes();
        let mut untagged = Vec::new();
        self.write(&tag).await?;
        self.write(b" ").await?;
        for piece in pieces {
            match piece {
                Piece::Text(text) => self.write(&text).await?,
                Piece::Literal(bytes) => {
                    if self.literal_plus {
                        self.write(format!("{{{}+}}\r\n", bytes.len()).as_bytes())
                            .await?;
                    } else {
                        self.write(format!("{{{}}}\r\n", bytes.len()).as_bytes())
                            .await?;
                        self.flush().await?;
                        // Wait for the go-ahead; the server may refuse with a tagged answer.
                        loop {
                            match self.read_response().await? {
                                Response::Continuation => break,
                                Response::Untagged(line) => untagged.push(line),
                                Response::Tagged(t, status) if t == tag => {
                                    return Err(Refusal::from_status(status));
                                }
                                Response::Tagged(..) => {
                                    return Err(Error::internal(
                                        "the IMAP server answered a tag that was not sent",
                                    )
                                    .into());
                                }
                            }
                        }
                    }
                    for chunk in bytes.chunks(WRITE_CHUNK) {
                        self.write(chunk).await?;
                    }
                }
            }
        }
        self.write(b"\r\n").await?;
        self.flush().await?;
        loop {
            match self.read_response().await? {
                Response::Untagged(line) => untagged.push(line),
                Response::Tagged(t, status) if t == tag => {
                    return match status.word {
                        StatusWord::Ok => Ok(Done { untagged, status }),
                        _ => Err(Refusal::from_status(status)),
                    };
                }
                Response::Tagged(..) => {
                    return Err(Error::internal(
                        "the IMAP server answered a tag that was not sent",
                    )
                    .into());
                }
                Response::Continuation => {
                    return Err(Error::internal("unexpected IMAP continuation request").into());
                }
            }
        }
    }

    /// Reads one complete response (a line with its literals) and notes the capabilities and
    /// BYE text it carries.
    async fn read_response(&mut self) -> Result<Response> {
        let line = self.read_logical_line().await?;
        let head = line.head();
        if head.starts_with(b"+") {
            return Ok(Response::Continuation);
        }
        let Some(space) = head.iter().position(|b| *b == b' ') else {
            return Err(Error::internal(format!(
                "malformed IMAP response: {}",
                printable(head)
            )));
        };
        let tag = &head[..space];
        if tag == b"*" {
            if let Some(status) = status_of(head, 1) {
                if let Some(code) = &status.code {
                    self.note_capabilities(code);
                }
                if status.word == StatusWord::Bye {
                    self.bye = Some(status.text.clone());
                }
            } else if head[space + 1..]
                .get(..11)
                .is_some_and(|w| w.eq_ignore_ascii_case(b"CAPABILITY "))
            {
                let caps = head[space + 1..].to_vec();
                self.note_capabilities(&caps);
            }
            return Ok(Response::Untagged(line));
        }
        let Some(status) = status_of(head, 1) else {
            return Err(Error::internal(format!(
                "malformed IMAP tagged response: {}",
                printable(head)
            )));
        };
        if let Some(code) = &status.code {
            self.note_capabilities(code);
        }
        Ok(Response::Tagged(tag.to_vec(), status))
    }

    /// Records whether a CAPABILITY list (a response code or untagged answer) has LITERAL+.
    fn note_capabilities(&mut self, text: &[u8]) {
        let mut words = text.split(|b| *b == b' ');
        if words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"CAPABILITY"))
        {
            self.literal_plus = words.any(|w| w.eq_ignore_ascii_case(b"LITERAL+"));
        }
    }

    /// Reads a line and, whenever it ends with a literal's announcement `{n}`, the literal and
    /// the rest of the line after it.
    async fn read_logical_line(&mut self) -> Result<Line> {
        let mut segments = Vec::new();
        loop {
            let mut text = self.read_line().await?;
            let Some(size) = literal_size(&text)? else {
                segments.push(Segment::Text(text));
                return Ok(Line { segments });
            };
            if let Some(open) = text.iter().rposition(|b| *b == b'{') {
                text.truncate(open);
            }
            segments.push(Segment::Text(text));
            let literal = self.read_literal(size).await?;
            segments.push(Segment::Literal(literal));
        }
    }

    /// Reads one line up to CRLF and returns it without the line ending.
    async fn read_line(&mut self) -> Result<Vec<u8>> {
        let timeout = self.timeout;
        let mut line = Vec::new();
        loop {
            let buf = match tokio::time::timeout(timeout, self.stream.fill_buf()).await {
                Ok(Ok(buf)) => buf,
                Ok(Err(e)) => return Err(self.io_error("reading", &e)),
                Err(_) => return Err(timed_out(timeout, "reading")),
            };
            if buf.is_empty() {
                return Err(self.closed());
            }
            if let Some(end) = buf.iter().position(|b| *b == b'\n') {
                line.extend_from_slice(&buf[..end]);
                self.stream.consume(end + 1);
                break;
            }
            let n = buf.len();
            line.extend_from_slice(buf);
            self.stream.consume(n);
            if line.len() > MAX_LINE {
                return Err(Error::internal("an IMAP response line is too long"));
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(line)
    }

    /// Reads a literal of exactly `size` bytes.
    async fn read_literal(&mut self, size: usize) -> Result<Vec<u8>> {
        let timeout = self.timeout;
        let mut literal = vec![0; size];
        let mut filled = 0;
        while filled < size {
            match tokio::time::timeout(timeout, self.stream.read(&mut literal[filled..])).await {
                Ok(Ok(0)) => return Err(self.closed()),
                Ok(Ok(n)) => filled += n,
                Ok(Err(e)) => return Err(self.io_error("reading", &e)),
                Err(_) => return Err(timed_out(timeout, "reading a literal")),
            }
        }
        Ok(literal)
    }

    /// Writes `bytes` to the buffer (and to the server when it fills), within the timeout.
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_error("writing", &e)),
            Err(_) => Err(timed_out(self.timeout, "writing")),
        }
    }

    /// Sends what is buffered, within the timeout.
    async fn flush(&mut self) -> Result<()> {
        match tokio::time::timeout(self.timeout, self.stream.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io_error("writing", &e)),
            Err(_) => Err(timed_out(self.timeout, "writing")),
        }
    }

    /// The error for a connection the server closed, with its BYE text when it sent one.
    fn closed(&self) -> Error {
        match &self.bye {
            Some(text) => {
                Error::Unavailable(format!("the IMAP server closed the connection: {text}"))
            }
            None => Error::Unavailable("the IMAP server closed the connection".into()),
        }
    }

    /// The error for a failed read or write.
    fn io_error(&self, doing: &str, e: &std::io::Error) -> Error {
        Error::Unavailable(format!("IMAP connection failed while {doing}: {e}"))
    }
}

mod wire;

use wire::*;

#[cfg(test)]
mod tests;

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
use time::macros::format_description;
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
        let done = self
            .command(vec![Piece::Text(
                format!("UID FETCH {uid} (BODY.PEEK[])").into_bytes(),
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
                .find(|(name, _)| name.eq_ignore_ascii_case(b"UID"))
                .map(|(_, value)| match value {
                    Token::Atom(n) => number(n),
                    _ => Err(Error::internal("the IMAP FETCH UID is not a number")),
                })
                .transpose()?;
            // Dovecot may send unsolicited FETCH answers (flag changes) for other messages.
            if line_uid != Some(uid) {
                continue;
            }
            for (name, value) in items {
                if name.eq_ignore_ascii_case(b"BODY[]") {
                    return match value {
                        Token::Str(bytes) => Ok(Some(bytes.clone())),
                        Token::Atom(nil) if nil.eq_ignore_ascii_case(b"NIL") => Ok(None),
                        _ => Err(Error::internal("the IMAP FETCH BODY[] is not a string")),
                    };
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

/// The error for a read or write that made no progress within the timeout.
fn timed_out(timeout: Duration, doing: &str) -> Error {
    Error::Unavailable(format!(
        "the IMAP server made no progress for {timeout:?} while {doing}"
    ))
}

/// A part of a command as it is sent.
enum Piece {
    /// Bytes sent as they are (the caller has quoted what needs quoting).
    Text(Vec<u8>),
    /// A literal: `{n}` (or `{n+}`), CRLF and the bytes.
    Literal(Vec<u8>),
}

/// A part of a response line as it was read.
#[derive(Debug)]
enum Segment {
    /// Text of the line, without the literal announcement at its end or the line ending.
    Text(Vec<u8>),
    /// The bytes of a literal, exactly as received.
    Literal(Vec<u8>),
}

/// A response line with its literals, in order.
#[derive(Debug)]
struct Line {
    /// Text and literal parts, always starting with text.
    segments: Vec<Segment>,
}

impl Line {
    /// The text before the first literal (the whole line when it has none).
    fn head(&self) -> &[u8] {
        match self.segments.first() {
            Some(Segment::Text(text)) => text,
            _ => &[],
        }
    }
}

/// One response from the server.
#[derive(Debug)]
enum Response {
    /// A `+` continuation request.
    Continuation,
    /// An untagged (`*`) response.
    Untagged(Line),
    /// A tagged status response: its tag and status.
    Tagged(Vec<u8>, Status),
}

/// The status word of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusWord {
    /// The command succeeded.
    Ok,
    /// The command failed.
    No,
    /// The command was not understood.
    Bad,
    /// The connection is signed in already (greeting only).
    Preauth,
    /// The server is closing the connection.
    Bye,
}

/// A parsed status response: word, optional response code and human text.
#[derive(Debug, Clone)]
struct Status {
    /// OK, NO, BAD, PREAUTH or BYE.
    word: StatusWord,
    /// The text inside `[...]`, when there is one.
    code: Option<Vec<u8>>,
    /// The human-readable text, made printable.
    text: String,
}

impl Status {
    /// The name of the response code (its first word, upper case), when there is one.
    fn code_name(&self) -> Option<String> {
        self.code.as_ref().map(|code| {
            let name = code.split(|b| *b == b' ').next().unwrap_or_default();
            String::from_utf8_lossy(name).to_ascii_uppercase()
        })
    }
}

/// What a successful command returned: its untagged answers and the tagged OK.
struct Done {
    /// The untagged responses received while the command ran.
    untagged: Vec<Line>,
    /// The tagged OK.
    status: Status,
}

/// Why a command did not complete with OK: a NO or BAD answer, or another error.
struct Refusal {
    /// The tagged status (a placeholder BAD when `error` is set).
    status: Status,
    /// The failure that is not a tagged answer (a dropped connection, a timeout).
    error: Option<Error>,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Refusal {
        Refusal {
            status: Status {
                word: StatusWord::Bad,
                code: None,
                text: String::new(),
            },
            error: Some(error),
        }
    }
}

impl Refusal {
    /// A refusal for a tagged NO or BAD.
    fn from_status(status: Status) -> Refusal {
        Refusal {
            status,
            error: None,
        }
    }

    /// The error for a refused `command`.
    ///
    /// A BAD means this client sent something the server does not understand, which retrying
    /// cannot fix, so it is an internal error; a NO is treated as possibly temporary.
    fn into_error(self, command: &str) -> Error {
        if let Some(error) = self.error {
            return error;
        }
        let Status { word, text, .. } = &self.status;
        match word {
            StatusWord::Bad => Error::internal(format!("IMAP {command} answered BAD: {text}")),
            _ => match self.status.code_name().as_deref() {
                Some(code) => {
                    Error::Unavailable(format!("IMAP {command} answered NO [{code}]: {text}"))
                }
                None => Error::Unavailable(format!("IMAP {command} answered NO: {text}")),
            },
        }
    }

    /// Like [`Refusal::into_error`], but a NO saying that `mailbox` does not exist
    /// (`NONEXISTENT` or `TRYCREATE`) is [`Error::NotFound`] for a `folder`.
    fn into_error_for(self, mailbox: &str, command: &str) -> Error {
        if self.error.is_none()
            && self.status.word == StatusWord::No
            && matches!(
                self.status.code_name().as_deref(),
                Some("NONEXISTENT" | "TRYCREATE")
            )
        {
            return Error::not_found("folder", mailbox);
        }
        self.into_error(command)
    }
}

/// Parses `line` as a status response whose status word is the `index`-th word (1 after a
/// tag or `*`); `None` when it is not a status response.
fn status_of(line: &[u8], index: usize) -> Option<Status> {
    let mut rest = line;
    for _ in 0..index {
        let space = rest.iter().position(|b| *b == b' ')?;
        rest = &rest[space + 1..];
    }
    let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
    let word = match rest[..end].to_ascii_uppercase().as_slice() {
        b"OK" => StatusWord::Ok,
        b"NO" => StatusWord::No,
        b"BAD" => StatusWord::Bad,
        b"PREAUTH" => StatusWord::Preauth,
        b"BYE" => StatusWord::Bye,
        _ => return None,
    };
    rest = rest.get(end + 1..).unwrap_or_default();
    let mut code = None;
    if rest.first() == Some(&b'[')
        && let Some(close) = rest.iter().position(|b| *b == b']')
    {
        code = Some(rest[1..close].to_vec());
        rest = rest.get(close + 1..).unwrap_or_default();
        if rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
    }
    Some(Status {
        word,
        code,
        text: printable(rest),
    })
}

/// The size announced by a literal marker `{n}` or `{n+}` at the end of `line`, if any.
fn literal_size(line: &[u8]) -> Result<Option<usize>> {
    if line.last() != Some(&b'}') {
        return Ok(None);
    }
    let Some(open) = line.iter().rposition(|b| *b == b'{') else {
        return Ok(None);
    };
    let inner = &line[open + 1..line.len() - 1];
    let digits = inner.strip_suffix(b"+").unwrap_or(inner);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    let size: usize = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    if size > MAX_LITERAL {
        return Err(Error::internal(format!(
            "the IMAP server announced a literal of {size} bytes, above the {MAX_LITERAL}-byte limit"
        )));
    }
    Ok(Some(size))
}

/// A token of a response's data.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An atom or number (NIL included), with any `[...]` section kept inside it.
    Atom(Vec<u8>),
    /// A quoted string (unescaped) or a literal.
    Str(Vec<u8>),
    /// `(`.
    Open,
    /// `)`.
    Close,
}

/// Splits a response's data into tokens; literals become [`Token::Str`] whole, whatever bytes
/// they hold.
fn tokenize(line: &Line) -> Result<Vec<Token>> {
    let mut tokens = Vec::new();
    for segment in &line.segments {
        let text = match segment {
            Segment::Literal(bytes) => {
                tokens.push(Token::Str(bytes.clone()));
                continue;
            }
            Segment::Text(text) => text,
        };
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b' ' => i += 1,
                b'(' => {
                    tokens.push(Token::Open);
                    i += 1;
                }
                b')' => {
                    tokens.push(Token::Close);
                    i += 1;
                }
                b'"' => {
                    let mut value = Vec::new();
                    i += 1;
                    loop {
                        match text.get(i) {
                            None => {
                                return Err(Error::internal("unterminated IMAP quoted string"));
                            }
                            Some(b'"') => break,
                            Some(b'\\') => {
                                let Some(escaped) = text.get(i + 1) else {
                                    return Err(Error::internal("unterminated IMAP quoted string"));
                                };
                                value.push(*escaped);
                                i += 2;
                            }
                            Some(byte) => {
                                value.push(*byte);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    tokens.push(Token::Str(value));
                }
                _ => {
                    let start = i;
                    let mut depth = 0usize;
                    while let Some(&byte) = text.get(i) {
                        match byte {
                            b'[' => depth += 1,
                            b']' => depth = depth.saturating_sub(1),
                            b' ' | b'(' | b')' if depth == 0 => break,
                            _ => {}
                        }
                        i += 1;
                    }
                    tokens.push(Token::Atom(text[start..i].to_vec()));
                }
            }
        }
    }
    Ok(tokens)
}

/// The `name value` pairs of a FETCH answer's parenthesised list (`rest` starts at `(`);
/// values that are lists are skipped.
fn fetch_items(rest: &[Token]) -> Result<Vec<(&[u8], &Token)>> {
    let Some((Token::Open, inner)) = rest.split_first() else {
        return Err(Error::internal("an IMAP FETCH answer lacks its list"));
    };
    let mut items = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        match &inner[i] {
            Token::Close => return Ok(items),
            Token::Atom(name) => {
                i += 1;
                match inner.get(i) {
                    Some(Token::Open) => {
                        // A list value (FLAGS, BODYSTRUCTURE): skip it, nested lists included.
                        let mut depth = 0usize;
                        while let Some(token) = inner.get(i) {
                            match token {
                                Token::Open => depth += 1,
                                Token::Close => depth -= 1,
                                _ => {}
                            }
                            i += 1;
                            if depth == 0 {
                                break;
                            }
                        }
                    }
                    Some(value @ (Token::Atom(_) | Token::Str(_))) => {
                        items.push((name.as_slice(), value));
                        i += 1;
                    }
                    _ => return Err(Error::internal("an IMAP FETCH item lacks its value")),
                }
            }
            _ => return Err(Error::internal("malformed IMAP FETCH answer")),
        }
    }
    Err(Error::internal("an IMAP FETCH answer's list is not closed"))
}

#[cfg(test)]
/// The name of a selectable mailbox from an untagged LIST answer; `None` for other answers
/// and for `\Noselect` or `\NonExistent` names.
fn parse_list(line: &Line) -> Result<Option<String>> {
    let tokens = tokenize(line)?;
    let [Token::Atom(star), Token::Atom(word), Token::Open, rest @ ..] = tokens.as_slice() else {
        return Ok(None);
    };
    if star != b"*" || !word.eq_ignore_ascii_case(b"LIST") {
        return Ok(None);
    }
    let Some(close) = rest.iter().position(|t| *t == Token::Close) else {
        return Err(Error::internal(
            "an IMAP LIST answer's flags are not closed",
        ));
    };
    let selectable = rest[..close].iter().all(|flag| match flag {
        Token::Atom(flag) => {
            !flag.eq_ignore_ascii_case(b"\\Noselect")
                && !flag.eq_ignore_ascii_case(b"\\NonExistent")
        }
        _ => true,
    });
    let (Some(_separator), Some(name)) = (rest.get(close + 1), rest.get(close + 2)) else {
        return Err(Error::internal("an IMAP LIST answer lacks the name"));
    };
    if !selectable {
        return Ok(None);
    }
    match name {
        Token::Atom(name) | Token::Str(name) => decode_mailbox_name(name).map(Some),
        _ => Err(Error::internal("an IMAP LIST name is not a string")),
    }
}

/// Parses a decimal `u32`.
fn number(digits: &[u8]) -> Result<u32> {
    std::str::from_utf8(digits)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::internal(format!("{} is not an IMAP number", printable(digits))))
}

/// `bytes` as text safe to put in an error: invalid UTF-8 and control characters replaced.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Refuses a value that cannot be sent in a command: CR, LF and NUL.
fn check_sendable(value: &str, field: &str) -> Result<()> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::invalid(field, "must not contain CR, LF or NUL"));
    }
    Ok(())
}

/// `value` as an IMAP astring: a quoted string (with `"` and `\` escaped) when it is printable
/// ASCII, else a literal. It refuses CR, LF and NUL; the error names `field`, never the value.
fn astring(value: &str, field: &str) -> Result<Vec<Piece>> {
    check_sendable(value, field)?;
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(vec![Piece::Text(quote(value.as_bytes()))])
    } else {
        Ok(vec![Piece::Literal(value.as_bytes().to_vec())])
    }
}

/// `value` quoted, with `"` and `\` escaped.
fn quote(value: &[u8]) -> Vec<u8> {
    let mut quoted = Vec::with_capacity(value.len() + 2);
    quoted.push(b'"');
    for &byte in value {
        if byte == b'"' || byte == b'\\' {
            quoted.push(b'\\');
        }
        quoted.push(byte);
    }
    quoted.push(b'"');
    quoted
}

/// A mailbox name as sent: encoded in modified UTF-7 (RFC 3501 5.1.3) and quoted.
fn mailbox_name(name: &str) -> Result<Piece> {
    check_sendable(name, "mailbox")?;
    if name.is_empty() {
        return Err(Error::invalid("mailbox", "must not be empty"));
    }
    Ok(Piece::Text(quote(encode_mailbox_name(name).as_bytes())))
}

/// The alphabet of modified BASE64 (`,` instead of `/`).
const MUTF7_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes `name` in modified UTF-7: printable ASCII stays (`&` becomes `&-`), other
/// characters go as `&` + modified BASE64 of their UTF-16 + `-`.
fn encode_mailbox_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            let chars = chunk.len() + 1;
            for k in 0..chars {
                let index = (n >> (18 - 6 * k)) & 0x3f;
                out.push(char::from(MUTF7_ALPHABET[index as usize]));
            }
        }
        out.push('-');
        pending.clear();
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
/// Decodes a mailbox name from modified UTF-7; a name that is already UTF-8 without `&`
/// (a server with UTF-8 names) is taken as it is.
fn decode_mailbox_name(name: &[u8]) -> Result<String> {
    let bad = || Error::internal(format!("{} is not a modified UTF-7 name", printable(name)));
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    if !name.contains(&b'&') {
        return String::from_utf8(name.to_vec()).map_err(|_| bad());
    }
    while i < name.len() {
        let byte = name[i];
        if byte != b'&' {
            if !byte.is_ascii() {
                return Err(bad());
            }
            out.push(char::from(byte));
            i += 1;
            continue;
        }
        let end = name[i..]
            .iter()
            .position(|b| *b == b'-')
            .map(|p| i + p)
            .ok_or_else(bad)?;
        let encoded = &name[i + 1..end];
        i = end + 1;
        if encoded.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits = 0u32;
        let mut count = 0;
        let mut bytes = Vec::new();
        for b in encoded {
            let value = MUTF7_ALPHABET.iter().position(|a| a == b).ok_or_else(bad)?;
            bits = (bits << 6) | value as u32;
            count += 6;
            if count >= 8 {
                count -= 8;
                bytes.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        if bytes.len() % 2 != 0 {
            return Err(bad());
        }
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
            .collect();
        out.push_str(&String::from_utf16(&units).map_err(|_| bad())?);
    }
    Ok(out)
}

/// `received` as an IMAP date-time in UTC, `"dd-Mon-yyyy hh:mm:ss +0000"`.
fn internal_date(received: OffsetDateTime) -> Result<String> {
    let utc = received.to_offset(time::UtcOffset::UTC);
    if !(1..=9999).contains(&utc.year()) {
        return Err(Error::invalid("received", "must be in the years 1 to 9999"));
    }
    utc.format(format_description!(
        "[day]-[month repr:short]-[year repr:full] [hour]:[minute]:[second] +0000"
    ))
    .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

    /// A fake server: sends `greeting`, then for each command it reads (literals included,
    /// answering `+` to synchronizing ones) sends the next canned answer. It returns the
    /// commands it read.
    async fn fake_server(
        stream: DuplexStream,
        greeting: &'static [u8],
        answers: Vec<&'static [u8]>,
    ) -> Vec<Vec<u8>> {
        let mut stream = BufReader::new(stream);
        stream.get_mut().write_all(greeting).await.unwrap();
        let mut commands = Vec::new();
        for answer in answers {
            let mut command = Vec::new();
            loop {
                let mut line = Vec::new();
                if stream.read_until(b'\n', &mut line).await.unwrap() == 0 {
                    return commands;
                }
                command.extend_from_slice(&line);
                let text = &line[..line.len() - 2];
                match literal_size(text).unwrap() {
                    Some(n) => {
                        if !text.ends_with(b"+}") {
                            stream.get_mut().write_all(b"+ go ahead\r\n").await.unwrap();
                        }
                        let mut literal = vec![0; n];
                        stream.read_exact(&mut literal).await.unwrap();
                        command.extend_from_slice(&literal);
                    }
                    None => break,
                }
            }
            commands.push(command);
            stream.get_mut().write_all(answer).await.unwrap();
        }
        commands
    }

    /// Starts a session against a fake server with the given greeting and answers (the first
    /// answer is the LOGIN's).
    async fn session(
        greeting: &'static [u8],
        answers: Vec<&'static [u8]>,
    ) -> (
        Result<ImapSession<DuplexStream>>,
        tokio::task::JoinHandle<Vec<Vec<u8>>>,
    ) {
        let (client, server) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(fake_server(server, greeting, answers));
        let session = ImapSession::start(
            client,
            "u@t.invalid*mailplane",
            "p\"w\\d",
            Duration::from_secs(5),
        )
        .await;
        (session, server)
    }

    const GREETING: &[u8] =
        b"* OK [CAPABILITY IMAP4rev1 LOGIN-REFERRALS ID ENABLE IDLE AUTH=PLAIN] Dovecot ready.\r\n";

    #[tokio::test]
    async fn login_quotes_and_fetch_reads_a_literal_with_crlf_and_paren_inside() {
        let (session, server) = session(
            GREETING,
            vec![
                b"m1 OK [CAPABILITY IMAP4rev1 UIDPLUS] Logged in\r\n",
                b"* 2 FETCH (FLAGS (\\Seen))\r\n* 1 FETCH (UID 7 BODY[] {20}\r\nab\r\n)\r\n* 3 FETCH\xe9\x00\r\n FLAGS (\\Seen))\r\nm2 OK Fetch completed.\r\n",
                b"m3 OK Fetch completed.\r\n",
                b"m4 OK Logout completed.\r\n",
            ],
        )
        .await;
        let mut session = session.unwrap();
        let body = session.fetch(7).await.unwrap();
        assert_eq!(
            body.as_deref(),
            Some(&b"ab\r\n)\r\n* 3 FETCH\xe9\x00\r\n"[..])
        );
        assert_eq!(session.fetch(8).await.unwrap(), None);
        session.logout().await;
        let commands = server.await.unwrap();
        assert_eq!(
            commands[0],
            b"m1 LOGIN \"u@t.invalid*mailplane\" \"p\\\"w\\\\d\"\r\n"
        );
        assert_eq!(commands[1], b"m2 UID FETCH 7 (BODY.PEEK[])\r\n");
        assert_eq!(commands[3], b"m4 LOGOUT\r\n");
    }

    #[tokio::test]
    async fn list_decodes_quoted_literal_and_utf7_names_and_skips_noselect() {
        let (session, _server) = session(
            GREETING,
            vec![
                b"m1 OK Logged in\r\n",
                b"* LIST (\\HasNoChildren) \".\" INBOX\r\n\
                  * LIST (\\HasChildren \\Noselect) \".\" \"Archive\"\r\n\
                  * LIST (\\HasNoChildren) \".\" \"Archive.2024 \\\"q\\\"\"\r\n\
                  * LIST (\\HasNoChildren) \".\" {8}\r\nA )\r\nb\"c\r\n\
                  * LIST (\\NonExistent) \".\" gone\r\n\
                  * LIST (\\HasNoChildren) NIL \"Entw&APw-rfe &- Co\"\r\n\
                  m2 OK List completed.\r\n",
            ],
        )
        .await;
        let names = session.unwrap().list().await.unwrap();
        assert_eq!(
            names,
            [
                "INBOX",
                "Archive.2024 \"q\"",
                "A )\r\nb\"c",
                "Entwürfe & Co"
            ]
        );
    }

    #[tokio::test]
    async fn examine_and_append_with_a_synchronizing_literal() {
        let (session, server) = session(
            GREETING,
            vec![
                b"m1 OK Logged in\r\n",
                b"* FLAGS (\\Answered \\Seen)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1700000001] UIDs valid\r\n* OK [UIDNEXT 4] Predicted next UID\r\nm2 OK [READ-ONLY] Examine completed.\r\n",
                b"m3 OK [APPENDUID 1700000001 4] Append completed.\r\n",
                b"m4 OK Append completed.\r\n",
            ],
        )
        .await;
        let mut session = session.unwrap();
        assert_eq!(
            session.examine("Entwürfe").await.unwrap(),
            (1_700_000_001, 3)
        );
        let date = time::macros::datetime!(2024-01-05 11:00:00 +01:00);
        assert_eq!(
            session.append("INBOX", b"a\r\n)\r\n", date).await.unwrap(),
            Some(4)
        );
        assert_eq!(session.append("INBOX", b"x", date).await.unwrap(), None);
        drop(session);
        let commands = server.await.unwrap();
        assert_eq!(commands[1], b"m2 EXAMINE \"Entw&APw-rfe\"\r\n");
        assert_eq!(
            commands[2],
            b"m3 APPEND \"INBOX\" () \"05-Jan-2024 10:00:00 +0000\" {6}\r\na\r\n)\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn append_uses_literal_plus_when_advertised() {
        let (session, server) = session(
            b"* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n",
            vec![b"m1 OK Logged in\r\n", b"m2 OK [APPENDUID 1 9] done\r\n"],
        )
        .await;
        let date = time::macros::datetime!(2023-02-01 12:34:56 UTC);
        let uid = session.unwrap().append("INBOX", b"hi", date).await.unwrap();
        assert_eq!(uid, Some(9));
        let commands = server.await.unwrap();
        assert_eq!(
            commands[1],
            b"m2 APPEND \"INBOX\" () \"01-Feb-2023 12:34:56 +0000\" {2+}\r\nhi\r\n"
        );
    }

    #[tokio::test]
    async fn no_and_bad_answers_map_to_errors() {
        let (session, _server) = session(
            GREETING,
            vec![
                b"m1 OK Logged in\r\n",
                b"m2 NO [NONEXISTENT] Mailbox doesn't exist: Nope\r\n",
                b"m3 BAD Error in IMAP command UID: Invalid uidset\r\n",
                b"m4 NO [SERVERBUG] Internal error occurred.\r\n",
                b"m5 NO [TRYCREATE] Mailbox doesn't exist: Nope\r\n",
                b"* BYE Server shutting down.\r\n",
            ],
        )
        .await;
        let mut session = session.unwrap();
        assert!(matches!(
            session.examine("Nope").await,
            Err(Error::NotFound { kind: "folder", .. })
        ));
        assert!(matches!(
            session.fetch(1).await,
            Err(Error::Internal { .. })
        ));
        match session.list().await {
            Err(Error::Unavailable(m)) => assert!(m.contains("SERVERBUG"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
        let date = OffsetDateTime::UNIX_EPOCH;
        assert!(matches!(
            session.append("Nope", b"x", date).await,
            Err(Error::NotFound { .. })
        ));
        match session.fetch(1).await {
            Err(Error::Unavailable(m)) => assert!(m.contains("shutting down"), "{m}"),
            other => panic!("{:?}", other.err()),
        }
    }

    #[tokio::test]
    async fn a_refused_login_is_unavailable_without_the_password() {
        let (session, _server) = session(
            GREETING,
            vec![b"m1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"],
        )
        .await;
        match session {
            Err(Error::Unavailable(m)) => {
                assert!(m.contains("master user"), "{m}");
                assert!(!m.contains("p\"w"), "{m}");
            }
            other => panic!("{:?}", other.err()),
        }
        let (session, _server) = session_with_bad_password().await;
        assert!(matches!(session, Err(Error::Invalid(_))));
    }

    /// A session whose password holds a line break, which must be refused before sending.
    async fn session_with_bad_password() -> (Result<ImapSession<DuplexStream>>, DuplexStream) {
        let (client, server) = tokio::io::duplex(1024);
        let session =
            ImapSession::start(client, "u", "pw\r\nm9 DELETE INBOX", Duration::from_secs(1)).await;
        (session, server)
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let (client, _server) = tokio::io::duplex(1024);
        let session = ImapSession::start(client, "u", "p", Duration::from_millis(50)).await;
        assert!(matches!(session, Err(Error::Unavailable(_))));
    }

    #[test]
    fn names_round_trip_through_modified_utf7() {
        for name in ["INBOX", "a&b", "Entwürfe", "日本語", "x😀y", "&&", "é"] {
            let encoded = encode_mailbox_name(name);
            assert!(encoded.is_ascii());
            assert_eq!(decode_mailbox_name(encoded.as_bytes()).unwrap(), name);
        }
        assert_eq!(encode_mailbox_name("Entwürfe"), "Entw&APw-rfe");
        assert_eq!(encode_mailbox_name("日本語"), "&ZeVnLIqe-");
        assert!(mailbox_name("a\nb").is_err());
        assert!(astring("a\0b", "login").is_err());
    }

    #[test]
    fn internal_dates_are_utc_with_two_digit_days() {
        let date = time::macros::datetime!(2024-03-01 00:30:00 +02:00);
        assert_eq!(internal_date(date).unwrap(), "29-Feb-2024 22:30:00 +0000");
    }

    // ---- Integration test against a real, private Dovecot. ----

    /// A private Dovecot started with `dovecot -F`, stopped by its pid when dropped.
    struct Dovecot {
        /// The master process.
        child: std::process::Child,
        /// The IMAP listener.
        imap: SocketAddr,
        /// The doveadm HTTP listener.
        http: SocketAddr,
        /// The instance's directory.
        dir: std::path::PathBuf,
    }

    impl Drop for Dovecot {
        fn drop(&mut self) {
            let pid = self.child.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A free TCP port on 127.0.0.1.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    const USER: &str = "mailbox-1@tenant-1.invalid";

    /// Starts a private Dovecot under /tmp/imap-scratch-dovecot/`name` storing mail at
    /// `mail_location`.
    fn start_dovecot(name: &str, mail_location: &str) -> Dovecot {
        let dir = std::path::PathBuf::from("/tmp/imap-scratch-dovecot").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let run = |args: &[&str]| {
            assert!(
                std::process::Command::new(args[0])
                    .args(&args[1..])
                    .status()
                    .unwrap()
                    .success()
            );
        };
        run(&[
            "chmod",
            "0755",
            "/tmp/imap-scratch-dovecot",
            dir.to_str().unwrap(),
        ]);
        run(&["chown", "mail:mail", dir.join("home").to_str().unwrap()]);
        let d = dir.display().to_string();
        std::fs::write(
            dir.join("users"),
            format!("{USER}:{{PLAIN}}userpw::::::userdb_mail_crypt_private_password=key-pw\n"),
        )
        .unwrap();
        std::fs::write(dir.join("masters"), "mailplane:{PLAIN}master\"pw\n").unwrap();
        let (imap, http) = (free_port(), free_port());
        let conf = format!(
            r#"base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = mail
mail_gid = mail
first_valid_uid = 8
mail_home = {d}/home/%u
mail_location = {mail_location}
mail_attribute_dict = file:%h/dovecot-attributes
mail_plugins = $mail_plugins mail_crypt
plugin {{
  mail_crypt_curve = prime256v1
  mail_crypt_save_version = 2
  mail_crypt_require_encrypted_user_key = yes
}}
auth_master_user_separator = *
passdb {{
  driver = passwd-file
  args = {d}/masters
  master = yes
  result_success = continue
}}
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
doveadm_api_key = secretkey
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service doveadm {{
  inet_listener http {{
    address = 127.0.0.1
    port = {http}
  }}
}}
"#
        );
        std::fs::write(dir.join("dovecot.conf"), conf).unwrap();
        let child = std::process::Command::new("/usr/sbin/dovecot")
            .args(["-F", "-c"])
            .arg(dir.join("dovecot.conf"))
            .spawn()
            .unwrap();
        let dovecot = Dovecot {
            child,
            imap: SocketAddr::from(([127, 0, 0, 1], imap)),
            http: SocketAddr::from(([127, 0, 0, 1], http)),
            dir,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(dovecot.imap).is_ok() {
                return dovecot;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Dovecot did not start; see {}/dovecot.log", d);
    }

    /// Posts a doveadm HTTP API request and returns the response body.
    async fn doveadm(addr: SocketAddr, body: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // base64("secretkey")
        let request = format!(
            "POST /doveadm/v1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: X-Dovecot-API c2VjcmV0a2V5\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or(response)
    }

    /// Parses an IMAP date-time `"dd-Mon-yyyy hh:mm:ss +hhmm"` into a unix time.
    fn parse_internal_date(s: &str) -> i64 {
        let s = s.trim();
        let (date, rest) = s.split_once(' ').unwrap();
        let mut parts = date.split('-');
        let day: u8 = parts.next().unwrap().trim().parse().unwrap();
        let month = parts.next().unwrap();
        let year: i32 = parts.next().unwrap().parse().unwrap();
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let month = months.iter().position(|m| *m == month).unwrap() as u8 + 1;
        let (clock, zone) = rest.split_once(' ').unwrap();
        let hms: Vec<u8> = clock.split(':').map(|x| x.parse().unwrap()).collect();
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let offset = sign
            * (zone[1..3].parse::<i64>().unwrap() * 3600 + zone[3..5].parse::<i64>().unwrap() * 60);
        let date = time::Date::from_calendar_date(year, month.try_into().unwrap(), day).unwrap();
        let dt = date.with_hms(hms[0], hms[1], hms[2]).unwrap().assume_utc();
        dt.unix_timestamp() - offset
    }

    /// The integration scenario against a private Dovecot storing at `mail_location`.
    async fn round_trip(name: &str, mail_location: &str) {
        if !std::path::Path::new("/usr/sbin/dovecot").exists()
            || !std::process::Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout == b"0\n")
        {
            println!("skipped: needs /usr/sbin/dovecot and root");
            return;
        }
        let dovecot = start_dovecot(name, mail_location);
        let timeout = Duration::from_secs(10);
        let login = format!("{USER}*mailplane");

        // A wrong master password is refused as Unavailable, naming the master user.
        match ImapSession::login(dovecot.imap, &login, "wrong", timeout).await {
            Err(Error::Unavailable(m)) => {
                println!("[{name}] wrong master password: {m}");
                assert!(m.contains("master user"));
            }
            other => panic!("{:?}", other.err()),
        }

        let mut session = ImapSession::login(dovecot.imap, &login, "master\"pw", timeout)
            .await
            .unwrap();
        let big: Vec<u8> = {
            let mut m = b"From: a@example.org\r\nSubject: big\r\n\r\n".to_vec();
            while m.len() < 2 * 1024 * 1024 {
                m.extend_from_slice(b"0123456789abcdefghijklmnopqrstuvwxyz \xc3\xa9\xe9 line\r\n");
            }
            m
        };
        let eight_bit = b"From: b@example.org\r\nSubject: caf\xe9 \xff\r\n\r\nline1\r\n.\r\n)\r\n* 1 FETCH (x)\r\n{5}\r\nraw \xe9\xff\x80\r\nend\r\n".to_vec();
        let plain = b"From: c@example.org\r\nSubject: plain\r\n\r\nhello\r\n".to_vec();
        // Not part of the three: bare LF and NUL, to learn what the store changes.
        let odd = b"From: d@example.org\r\nSubject: odd\r\n\r\nbare\nlf\nnul:\x00end\r\n".to_vec();
        let dates = [
            time::macros::datetime!(2024-01-05 10:00:00 UTC),
            time::macros::datetime!(2023-02-01 12:34:56 +02:00),
            time::macros::datetime!(2019-12-31 23:59:59 UTC),
            time::macros::datetime!(2020-06-15 08:00:00 UTC),
        ];
        let messages = [big, eight_bit, plain, odd];
        let mut uids = Vec::new();
        for (message, date) in messages.iter().zip(dates) {
            let uid = session.append("INBOX", message, date).await.unwrap();
            println!(
                "[{name}] APPEND of {} bytes: APPENDUID uid {uid:?}",
                message.len()
            );
            uids.push(uid.unwrap());
        }
        let missing = session
            .append("NoSuchFolder", b"x\r\n", dates[0])
            .await
            .err();
        println!("[{name}] APPEND to a missing folder: {missing:?}");
        assert!(matches!(missing, Some(Error::NotFound { .. })));

        let create = vec![
            Piece::Text(b"CREATE ".to_vec()),
            mailbox_name("Entwürfe & \"Co\"").unwrap(),
        ];
        session
            .command(create)
            .await
            .map_err(|r| r.into_error("CREATE"))
            .unwrap();
        let folders = session.list().await.unwrap();
        println!("[{name}] LIST: {folders:?}");
        assert!(folders.iter().any(|f| f == "INBOX"));
        assert!(folders.iter().any(|f| f == "Entwürfe & \"Co\""));
        assert_eq!(session.examine("Entwürfe & \"Co\"").await.unwrap().1, 0);
        let (validity, count) = session.examine("INBOX").await.unwrap();
        println!("[{name}] EXAMINE INBOX: uidvalidity {validity}, {count} messages");
        assert_eq!(count, 4);
        let mut differences = Vec::new();
        for ((uid, message), date) in uids.iter().zip(&messages).zip(dates) {
            let fetched = session.fetch(*uid).await.unwrap().unwrap();
            if fetched == *message {
                println!("[{name}] uid {uid}: {} bytes, byte-exact", fetched.len());
            } else {
                let at = fetched
                    .iter()
                    .zip(message.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(fetched.len().min(message.len()));
                println!(
                    "[{name}] uid {uid}: DIFFERS: sent {} bytes, got {}; first difference at {at}: sent {:?}, got {:?}",
                    message.len(),
                    fetched.len(),
                    String::from_utf8_lossy(&message[at..(at + 12).min(message.len())]),
                    String::from_utf8_lossy(&fetched[at..(at + 12).min(fetched.len())]),
                );
                differences.push(*uid);
            }
            let done = session
                .command(vec![Piece::Text(
                    format!("UID FETCH {uid} (INTERNALDATE)").into_bytes(),
                )])
                .await
                .map_err(|r| r.into_error("UID FETCH"))
                .unwrap();
            let tokens = tokenize(&done.untagged[0]).unwrap();
            let items = fetch_items(&tokens[3..]).unwrap();
            let (_, Token::Str(internal)) = items
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(b"INTERNALDATE"))
                .unwrap()
            else {
                panic!("no INTERNALDATE")
            };
            let internal = String::from_utf8_lossy(internal).into_owned();
            println!("[{name}] uid {uid}: INTERNALDATE {internal}");
            assert_eq!(parse_internal_date(&internal), date.unix_timestamp());
        }
        assert_eq!(session.fetch(999).await.unwrap(), None);
        session.logout().await;

        let answer = doveadm(
            dovecot.http,
            &format!(
                r#"[["fetch",{{"user":"{USER}","field":["uid","guid","mailbox-guid","date.received.unixtime","size.physical","size.virtual"],"query":["mailbox","INBOX","all"]}},"f1"]]"#
            ),
        )
        .await;
        println!("[{name}] doveadm fetch: {answer}");
        let files = std::process::Command::new("find")
            .arg(dovecot.dir.join("home"))
            .arg("-type")
            .arg("f")
            .output()
            .unwrap();
        println!(
            "[{name}] files:\n{}",
            String::from_utf8_lossy(&files.stdout)
        );
        // Only the three required messages must be exact; the fourth is for information.
        assert!(
            differences.iter().all(|uid| Some(uid) == uids.last()),
            "messages differ: {differences:?}"
        );
    }

    #[tokio::test]
    async fn dovecot_sdbox_round_trip() {
        round_trip("sdbox", "sdbox:~/mail").await;
    }

    #[tokio::test]
    async fn dovecot_maildir_round_trip() {
        round_trip("maildir", "maildir:~/Maildir").await;
    }
}

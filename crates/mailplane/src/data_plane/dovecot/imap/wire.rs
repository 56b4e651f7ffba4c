//! The IMAP wire format the data plane's client speaks: commands as pieces (text and
//! literals), responses split into lines and literals, tokens, status lines and refusals, and
//! the encodings of mailbox names and dates.

use std::time::Duration;

use mailplane_types::{Error, Result};
use time::OffsetDateTime;
use time::macros::format_description;

use super::MAX_LITERAL;

/// The error for a read or write that made no progress within the timeout.
pub(super) fn timed_out(timeout: Duration, doing: &str) -> Error {
    Error::Unavailable(format!(
        "the IMAP server made no progress for {timeout:?} while {doing}"
    ))
}

/// A part of a command as it is sent.
pub(super) enum Piece {
    /// Bytes sent as they are (the caller has quoted what needs quoting).
    Text(Vec<u8>),
    /// A literal: `{n}` (or `{n+}`), CRLF and the bytes.
    Literal(Vec<u8>),
}

/// A part of a response line as it was read.
#[derive(Debug)]
pub(super) enum Segment {
    /// Text of the line, without the literal announcement at its end or the line ending.
    Text(Vec<u8>),
    /// The bytes of a literal, exactly as received.
    Literal(Vec<u8>),
}

/// A response line with its literals, in order.
#[derive(Debug)]
pub(super) struct Line {
    /// Text and literal parts, always starting with text.
    pub(super) segments: Vec<Segment>,
}

impl Line {
    /// The text before the first literal (the whole line when it has none).
    pub(super) fn head(&self) -> &[u8] {
        match self.segments.first() {
            Some(Segment::Text(text)) => text,
            _ => &[],
        }
    }
}

/// One response from the server.
#[derive(Debug)]
pub(super) enum Response {
    /// A `+` continuation request.
    Continuation,
    /// An untagged (`*`) response.
    Untagged(Line),
    /// A tagged status response: its tag and status.
    Tagged(Vec<u8>, Status),
}

/// The status word of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusWord {
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
pub(super) struct Status {
    /// OK, NO, BAD, PREAUTH or BYE.
    pub(super) word: StatusWord,
    /// The text inside `[...]`, when there is one.
    pub(super) code: Option<Vec<u8>>,
    /// The human-readable text, made printable.
    pub(super) text: String,
}

impl Status {
    /// The name of the response code (its first word, upper case), when there is one.
    pub(super) fn code_name(&self) -> Option<String> {
        self.code.as_ref().map(|code| {
            let name = code.split(|b| *b == b' ').next().unwrap_or_default();
            String::from_utf8_lossy(name).to_ascii_uppercase()
        })
    }
}

/// What a successful command returned: its untagged answers and the tagged OK.
pub(super) struct Done {
    /// The untagged responses received while the command ran.
    pub(super) untagged: Vec<Line>,
    /// The tagged OK.
    pub(super) status: Status,
}

/// Why a command did not complete with OK: a NO or BAD answer, or another error.
pub(super) struct Refusal {
    /// The tagged status (a placeholder BAD when `error` is set).
    pub(super) status: Status,
    /// The failure that is not a tagged answer (a dropped connection, a timeout).
    pub(super) error: Option<Error>,
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
    pub(super) fn from_status(status: Status) -> Refusal {
        Refusal {
            status,
            error: None,
        }
    }

    /// The error for a refused `command`.
    ///
    /// A BAD means this client sent something the server does not understand, which retrying
    /// cannot fix, so it is an internal error; a NO is treated as possibly temporary.
    pub(super) fn into_error(self, command: &str) -> Error {
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
    pub(super) fn into_error_for(self, mailbox: &str, command: &str) -> Error {
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
pub(super) fn status_of(line: &[u8], index: usize) -> Option<Status> {
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
pub(super) fn literal_size(line: &[u8]) -> Result<Option<usize>> {
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
pub(super) enum Token {
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
pub(super) fn tokenize(line: &Line) -> Result<Vec<Token>> {
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
pub(super) fn fetch_items(rest: &[Token]) -> Result<Vec<(&[u8], &Token)>> {
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
pub(super) fn parse_list(line: &Line) -> Result<Option<String>> {
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
pub(super) fn number(digits: &[u8]) -> Result<u32> {
    std::str::from_utf8(digits)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::internal(format!("{} is not an IMAP number", printable(digits))))
}

/// `bytes` as text safe to put in an error: invalid UTF-8 and control characters replaced.
pub(super) fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Refuses a value that cannot be sent in a command: CR, LF and NUL.
pub(super) fn check_sendable(value: &str, field: &str) -> Result<()> {
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::invalid(field, "must not contain CR, LF or NUL"));
    }
    Ok(())
}

/// `value` as an IMAP astring: a quoted string (with `"` and `\` escaped) when it is printable
/// ASCII, else a literal. It refuses CR, LF and NUL; the error names `field`, never the value.
pub(super) fn astring(value: &str, field: &str) -> Result<Vec<Piece>> {
    check_sendable(value, field)?;
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(vec![Piece::Text(quote(value.as_bytes()))])
    } else {
        Ok(vec![Piece::Literal(value.as_bytes().to_vec())])
    }
}

/// `value` quoted, with `"` and `\` escaped.
pub(super) fn quote(value: &[u8]) -> Vec<u8> {
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
pub(super) fn mailbox_name(name: &str) -> Result<Piece> {
    check_sendable(name, "mailbox")?;
    if name.is_empty() {
        return Err(Error::invalid("mailbox", "must not be empty"));
    }
    Ok(Piece::Text(quote(encode_mailbox_name(name).as_bytes())))
}

/// The alphabet of modified BASE64 (`,` instead of `/`).
pub(super) const MUTF7_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encodes `name` in modified UTF-7: printable ASCII stays (`&` becomes `&-`), other
/// characters go as `&` + modified BASE64 of their UTF-16 + `-`.
pub(super) fn encode_mailbox_name(name: &str) -> String {
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
pub(super) fn decode_mailbox_name(name: &[u8]) -> Result<String> {
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
pub(super) fn internal_date(received: OffsetDateTime) -> Result<String> {
    let utc = received.to_offset(time::UtcOffset::UTC);
    if !(1..=9999).contains(&utc.year()) {
        return Err(Error::invalid("received", "must be in the years 1 to 9999"));
    }
    utc.format(format_description!(
        "[day]-[month repr:short]-[year repr:full] [hour]:[minute]:[second] +0000"
    ))
    .map_err(Error::internal)
}

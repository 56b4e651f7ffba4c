//! Dovecot's dict protocol (version 3, as Dovecot 2.3's `proxy:` dict client speaks it),
//! served from [`MailLookups`] for Dovecot's `dict` passdb and userdb.
//!
//! The client opens with `H<major>\t<minor>\t<value type>\t<user>\t<dict name>` and then
//! sends lookups `L<key>\t<user>`, one per line, fields escaped with `\x01`. Each lookup is
//! answered in order with `O<value>` (found), `N` (not found) or `F<error>` (failed; Dovecot
//! then refuses the login or the delivery temporarily). Only lookups are served: the auth
//! dict never writes, and any other command closes the connection.
//!
//! The keys (under Dovecot's `shared/` prefix), and the JSON objects they answer:
//! - `passdb/<address>`: `{"password": "{ARGON2ID}<phc>"}`, with `"nologin": "y"` and a
//!   `"reason"` when the right password must still not sign in;
//! - `userdb/<address>`: `{"mailplane_mailbox": "<tenant>/<mailbox>", "quota_rule":
//!   "*:bytes=<quota>", "mail_crypt_private_password": "<hex>"}`; Dovecot's `mail_home` puts
//!   the mailbox's files under the mail root at that path, and `mail_crypt` opens the
//!   mailbox's private key with the password, which the data plane derives from the
//!   tenant's data key;
//! - `proxydb/<address>`: for a Dovecot front proxy in front of several back ends, the
//!   `passdb` answer with `"proxy": "y"`, `"host"` and `"port"`, the IMAP address of the back
//!   end the mailbox's tenant is placed on (without them when its region has no back end of
//!   its own). A proxy's own dict-auth file names this key instead of `passdb/%u`.

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::MailLookups;

/// The protocol version this server speaks (Dovecot 2.3's dict client).
const MAJOR_VERSION: &str = "3";

/// The longest line accepted, Dovecot's own limit.
const MAX_LINE: usize = 64 * 1024;

/// Serves one connection until Dovecot closes it or sends something this server does not
/// serve.
pub(super) async fn serve<S>(lookups: MailLookups, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut lines = tokio::io::BufReader::new(read);
    let mut hello = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut lines)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.pop() != Some(b'\n') {
            tracing::warn!("dict: a line longer than {MAX_LINE} bytes; closing the connection");
            return;
        }
        let Ok(text) = std::str::from_utf8(&line) else {
            tracing::warn!("dict: a line that is not UTF-8; closing the connection");
            return;
        };
        let reply = match text.as_bytes().first() {
            Some(b'H') if !hello => {
                let version = text[1..].split('\t').next().unwrap_or_default();
                if version != MAJOR_VERSION {
                    tracing::warn!(version, "dict: a client of another protocol version");
                    return;
                }
                hello = true;
                continue;
            }
            Some(b'L') if hello => {
                let key = unescape(text[1..].split('\t').next().unwrap_or_default());
                answer(&lookups, &key).await
            }
            _ => {
                tracing::warn!(
                    command = text.chars().next().map(String::from).unwrap_or_default(),
                    "dict: a command this server does not serve; closing the connection"
                );
                return;
            }
        };
        if write.write_all(reply.as_bytes()).await.is_err() || write.flush().await.is_err() {
            return;
        }
    }
}

/// The reply line to a lookup of `key`, with its newline.
pub(super) async fn answer(lookups: &MailLookups, key: &str) -> String {
    let key = key.strip_prefix("shared/").unwrap_or(key);
    let found = if let Some(user) = key.strip_prefix("passdb/") {
        lookups
            .password(user)
            .await
            .map(|p| p.map(|p| password_fields(&p)))
    } else if let Some(user) = key.strip_prefix("proxydb/") {
        lookups.proxy(user).await.map(|p| {
            p.map(|(p, imap)| {
                let mut v = password_fields(&p);
                if let Some(imap) = imap {
                    v["proxy"] = json!("y");
                    v["host"] = json!(imap.ip().to_string());
                    v["port"] = json!(imap.port().to_string());
                }
                v
            })
        })
    } else if let Some(user) = key.strip_prefix("userdb/") {
        lookups.userdb(user).await.map(|m| {
            m.map(|m| {
                let mut v = json!({
                    "mailplane_mailbox": format!("{}/{}", m.tenant_id, m.mailbox_id),
                });
                if let Some(quota) = m.quota_bytes {
                    v["quota_rule"] = json!(format!("*:bytes={quota}"));
                }
                if let Some(password) = m.mail_crypt_password {
                    v["mail_crypt_private_password"] = json!(password);
                }
                v
            })
        })
    } else {
        Ok(None)
    };
    match found {
        Ok(Some(value)) => format!("O{}\n", escape(&value.to_string())),
        Ok(None) => "N\n".into(),
        Err(e) => {
            tracing::warn!(error = ?e, "dict: a lookup failed; Dovecot will refuse for now");
            "Fthe control plane cannot answer now\n".into()
        }
    }
}

/// The passdb fields of a password record: the hash, and why it must not sign in, if so.
fn password_fields(p: &super::PasswordRecord) -> serde_json::Value {
    let mut v = json!({ "password": format!("{{ARGON2ID}}{}", p.hash) });
    if let Some(reason) = &p.sign_in.reason {
        v["nologin"] = json!("y");
        v["reason"] = json!(reason);
    }
    v
}

/// Dovecot's tab escaping: `\x01` followed by a letter for the bytes that delimit.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\u{1}0"),
            '\u{1}' => out.push_str("\u{1}1"),
            '\t' => out.push_str("\u{1}t"),
            '\r' => out.push_str("\u{1}r"),
            '\n' => out.push_str("\u{1}n"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape`]; an unknown escape keeps the letter.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some('1') => out.push('\u{1}'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{escape, unescape};

    #[test]
    fn escaping_round_trips_every_delimiter() {
        let raw = "a\tb\nc\rd\u{1}e\0f";
        let escaped = escape(raw);
        assert!(!escaped.contains(['\t', '\n', '\r', '\0']));
        assert_eq!(unescape(&escaped), raw);
        assert_eq!(unescape("shared/passdb/x\u{1}ty"), "shared/passdb/x\ty");
    }
}

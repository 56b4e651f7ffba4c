//! Postfix's `socketmap` lookup protocol (`socketmap_table(5)`), served from [`MailLookups`].
//!
//! A request is a netstring `<length>:<map> <key>,`; the reply is a netstring `OK <value>`,
//! `NOTFOUND `, `TEMP <reason>` or `PERM <reason>`. Postfix keeps a connection open for many
//! lookups. A lookup Mailplane cannot answer (its database unreachable, a row gone midway)
//! is `TEMP`, which Postfix turns into "451 4.3.0 try again later" for the sender.
//!
//! The maps, as `main.cf` names them (`socketmap:inet:127.0.0.1:PORT:<map>`):
//! - `domains` (`virtual_mailbox_domains`): a hosted domain answers `OK`;
//! - `mailboxes` (`virtual_mailbox_maps`): a mailbox's own address answers `OK`;
//! - `aliases` (the virtual alias table): an alias, a group or a forwarding mailbox answers the
//!   addresses mail goes to instead, separated by commas;
//! - `transports` (`transport_maps`): an address (Postfix asks a socketmap with the whole
//!   address only) of a hosted domain whose tenant's region has a Dovecot back end of its own
//!   answers `lmtp:inet:<its LMTP>`; every other key is `NOTFOUND`, and Postfix delivers with
//!   `virtual_transport`.

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};

use super::{MailLookups, Route};

/// The longest request accepted, as Postfix's own limit for a reply.
const MAX_REQUEST: usize = 100_000;

/// The longest reply Postfix accepts.
const MAX_REPLY: usize = 100_000;

/// Serves one connection until Postfix closes it or sends something that is not a request.
pub(super) async fn serve<S>(lookups: MailLookups, stream: S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut read = tokio::io::BufReader::new(read);
    loop {
        let request = match read_netstring(&mut read).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(why) => {
                tracing::warn!(%why, "socketmap: a malformed request; closing the connection");
                return;
            }
        };
        let reply = answer(&lookups, &request).await;
        let framed = format!("{}:{},", reply.len(), reply);
        if write.write_all(framed.as_bytes()).await.is_err() || write.flush().await.is_err() {
            return;
        }
    }
}

/// The reply to one request, unframed.
pub(super) async fn answer(lookups: &MailLookups, request: &str) -> String {
    let Some((map, key)) = request.split_once(' ') else {
        return "PERM a request is `<map> <key>`".into();
    };
    let found = match map {
        "domains" => lookups
            .domain(key)
            .await
            .map(|d| d.then(|| "hosted".to_owned())),
        "mailboxes" => lookups
            .mailbox(key)
            .await
            .map(|m| m.map(|m| format!("{}/{}/", m.tenant_id, m.mailbox_id))),
        "aliases" => lookups.route(key).await.map(|r| match r {
            Route::Unchanged => None,
            Route::To(to) => Some(to.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(",")),
        }),
        "transports" => lookups
            .transport(key)
            .await
            .map(|lmtp| lmtp.map(|addr| format!("lmtp:inet:{addr}"))),
        other => {
            return format!(
                "PERM no map named {other}: the maps are domains, mailboxes, aliases and transports"
            );
        }
    };
    match found {
        Ok(Some(value)) if value.len() + 3 <= MAX_REPLY => format!("OK {value}"),
        Ok(Some(_)) => "PERM the answer is longer than Postfix accepts".into(),
        Ok(None) => "NOTFOUND ".into(),
        Err(e) => {
            tracing::warn!(map, error = ?e, "socketmap: a lookup failed; Postfix will try again later");
            "TEMP the control plane cannot answer now".into()
        }
    }
}

/// Reads one netstring, or `None` at a clean end of the stream.
async fn read_netstring<R: AsyncBufRead + Unpin>(read: &mut R) -> Result<Option<String>, String> {
    let mut digits = Vec::new();
    let n = read
        .read_until(b':', &mut digits)
        .await
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if digits.pop() != Some(b':') || digits.is_empty() || digits.len() > 6 {
        return Err("a netstring's length must be 1 to 6 digits followed by `:`".into());
    }
    let len: usize = std::str::from_utf8(&digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or("a netstring's length must be decimal digits")?;
    if len > MAX_REQUEST {
        return Err(format!("a request must be at most {MAX_REQUEST} bytes"));
    }
    let mut body = vec![0; len + 1];
    read.read_exact(&mut body)
        .await
        .map_err(|e| e.to_string())?;
    if body.pop() != Some(b',') {
        return Err("a netstring must end with `,`".into());
    }
    String::from_utf8(body)
        .map(Some)
        .map_err(|_| "a request must be UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::read_netstring;

    #[tokio::test]
    async fn netstrings_are_read_whole_and_malformed_ones_refused() {
        let mut ok: &[u8] = b"14:domains a.test,5:x y z,";
        assert_eq!(
            read_netstring(&mut ok).await,
            Ok(Some("domains a.test".into()))
        );
        assert_eq!(read_netstring(&mut ok).await, Ok(Some("x y z".into())));
        assert_eq!(read_netstring(&mut ok).await, Ok(None));
        for bad in [
            &b"3:abc;"[..],
            b"x:abc,",
            b":abc,",
            b"1234567:a,",
            b"200000:a,",
            b"5:ab,",
        ] {
            let mut r = bad;
            assert!(read_netstring(&mut r).await.is_err(), "{bad:?}");
        }
    }
}

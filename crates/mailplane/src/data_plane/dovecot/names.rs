//! The names the Dovecot data plane gives Dovecot, and the form it stores messages in: a
//! mailbox's name made of its ids, which the userdb answers whatever the mailbox's state,
//! and the CRLF line ends IMAP gives messages back with.

use mailplane_types::{MailboxId, TenantId};

/// The domain of the names Dovecot knows mailboxes by for this driver. `.invalid` is
/// reserved (RFC 2606), so no hosted address can take one of these names.
const USER_DOMAIN_SUFFIX: &str = ".invalid";

/// The name Dovecot knows a mailbox by for Mailplane's data plane:
/// `mailbox-<mailbox id>@tenant-<tenant id>.invalid`.
pub fn dovecot_user(tenant: TenantId, mailbox: MailboxId) -> String {
    format!("mailbox-{mailbox}@tenant-{tenant}{USER_DOMAIN_SUFFIX}")
}

/// The ids in a name made by [`dovecot_user`], or `None` for any other name.
pub(crate) fn parse_dovecot_user(user: &str) -> Option<(TenantId, MailboxId)> {
    let (local, domain) = user.split_once('@')?;
    let mailbox = local.strip_prefix("mailbox-")?.parse::<uuid::Uuid>().ok()?;
    let tenant = domain
        .strip_prefix("tenant-")?
        .strip_suffix(USER_DOMAIN_SUFFIX)?
        .parse::<uuid::Uuid>()
        .ok()?;
    Some((tenant.into(), mailbox.into()))
}

/// The message with every line ended by CRLF, as IMAP gives it back.
pub(crate) fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 32);
    let mut previous = 0u8;
    for &b in message {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{crlf, dovecot_user, parse_dovecot_user};

    #[test]
    fn lines_end_with_crlf_and_nothing_else_changes() {
        assert_eq!(crlf(b"a\nb\r\nc\r\r\n\n"), b"a\r\nb\r\nc\r\r\n\r\n");
        assert_eq!(crlf(b"no newline \xe9"), b"no newline \xe9");
    }

    #[test]
    fn a_mailbox_name_carries_its_ids_and_nothing_else_parses() {
        let tenant = uuid::Uuid::now_v7().into();
        let mailbox = uuid::Uuid::now_v7().into();
        let user = dovecot_user(tenant, mailbox);
        assert!(user.ends_with(".invalid"), "{user}");
        assert_eq!(parse_dovecot_user(&user), Some((tenant, mailbox)));
        for other in [
            "alice@example.org",
            "mailbox-x@tenant-y.invalid",
            &user.replace(".invalid", ".example"),
            &user.replace("mailbox-", ""),
        ] {
            assert_eq!(parse_dovecot_user(other), None, "{other}");
        }
    }
}

//! The reads behind the mail stack's lookups: which domains are hosted, where mail to an
//! address goes, a mailbox's delivery record and its sign-in record, each found by the name a
//! mail server knows (a domain name or an address), never by a tenant.
//!
//! These reads are tenant-blind on purpose: an address and a verified domain name are unique
//! on the platform, so the key alone finds the one row. Each is one statement (two for a
//! group's members and for a password) over primary keys and unique indexes, on the reader
//! pool, so a committed change is seen by the next lookup. Postfix and Dovecot ask these for
//! every message and every sign-in, so they select only the columns an answer needs.

use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{MailboxKind, MailboxStatus, TenantStatus};
use mailplane_types::{EmailAddress, Error, MailboxId, Result, TenantId};

use crate::{DataStore, db_error};

/// A hosted domain's tenant, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainRecord {
    /// The status of the tenant that holds the domain.
    pub tenant_status: TenantStatus,
    /// The tenant.
    pub tenant_id: TenantId,
    /// The region the tenant's mailboxes live in.
    pub region: Option<String>,
    /// The mail back end of its region the tenant is placed on, if it was placed.
    pub mail_backend: Option<String>,
}

/// Where mail to a hosted address goes, with its tenant's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRecord {
    /// The status of the tenant that holds the address.
    pub tenant_status: TenantStatus,
    /// What the address is.
    pub owner: RouteOwner,
}

/// What an address is, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOwner {
    /// A mailbox's own address, and where its mail is forwarded, if anywhere.
    Mailbox(Option<EmailAddress>),
    /// An alias: the address of the mailbox it belongs to.
    Alias(EmailAddress),
    /// A distribution group: the addresses of its members, mailboxes first.
    Group(Vec<EmailAddress>),
}

/// What delivering to a mailbox needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The mailbox's tenant.
    pub tenant_id: TenantId,
    /// The tenant's status.
    pub tenant_status: TenantStatus,
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// Its quota in bytes.
    pub quota_bytes: i64,
}

/// What signing in to a mailbox depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRecord {
    /// The tenant's status.
    pub tenant_status: TenantStatus,
    /// A person's mailbox or a shared one.
    pub kind: MailboxKind,
    /// Enabled or disabled.
    pub status: MailboxStatus,
    /// The tenant's stored password policy (JSON), if one was set.
    pub password_policy: Option<String>,
    /// The current password hash and when it was set, if a password was ever set.
    pub password: Option<(String, OffsetDateTime)>,
    /// Whether a suspension of the mailbox itself is active.
    pub mailbox_suspended: bool,
}

/// The hosted domain's tenant, its status, region and back end.
const DOMAIN: &str = "SELECT t.id AS tenant_id, t.status AS tenant_status, t.region, \
     t.mail_backend FROM domains d \
     JOIN tenants t ON t.id = d.tenant_id \
     WHERE d.name = ? AND d.verified_at IS NOT NULL";

/// An address's owner: the mailbox's forwarding, or the alias's mailbox address. The
/// address of a deleted or inactive mailbox, and an alias of one, are not found: mail to
/// them is refused as to an unknown address.
const ADDRESS: &str = "SELECT a.owner_kind, t.status AS tenant_status, \
     m.forward_to AS forward_to, am.address AS alias_target \
     FROM addresses a \
     JOIN tenants t ON t.id = a.tenant_id \
     LEFT JOIN mailboxes m ON a.owner_kind = 'mailbox' AND m.id = a.owner_id \
     LEFT JOIN aliases al ON a.owner_kind = 'alias' AND al.id = a.owner_id \
     LEFT JOIN mailboxes am ON am.id = al.mailbox_id \
     WHERE a.address = ? \
     AND (m.status IS NULL OR m.status NOT IN ('deleted', 'inactive')) \
     AND (am.status IS NULL OR am.status NOT IN ('deleted', 'inactive'))";

/// A group's members, mailboxes first, each in the order added; a deleted or inactive
/// mailbox stays a member, inert, and receives nothing.
const MEMBERS: &str = "SELECT COALESCE(mb.address, gm.external_address) AS member \
     FROM addresses a \
     JOIN group_members gm ON gm.group_id = a.owner_id \
     LEFT JOIN mailboxes mb ON mb.id = gm.mailbox_id \
     WHERE a.address = ? AND a.owner_kind = 'group' \
     AND (gm.mailbox_id IS NULL OR mb.status NOT IN ('deleted', 'inactive')) \
     ORDER BY CASE WHEN gm.mailbox_id IS NULL THEN 1 ELSE 0 END, gm.id";

/// A mailbox by its own address, with its tenant, whatever its status: sign-in reads the
/// status to say why it refuses.
const MAILBOX: &str = "SELECT m.id AS mailbox_id, m.tenant_id, m.quota_bytes, m.kind, \
     m.status AS mailbox_status, t.status AS tenant_status, t.password_policy, \
     (SELECT COUNT(*) FROM suspensions s WHERE s.mailbox_id = m.id AND s.lifted_at IS NULL) \
     AS mailbox_suspensions \
     FROM addresses a \
     JOIN mailboxes m ON m.id = a.owner_id \
     JOIN tenants t ON t.id = m.tenant_id \
     WHERE a.address = ? AND a.owner_kind = 'mailbox'";

/// A mailbox that receives mail, by its own address: a deleted or inactive one is not
/// found, so Dovecot's userdb and delivery treat it as unknown.
const DELIVERABLE: &str = "SELECT m.id AS mailbox_id, m.tenant_id, m.quota_bytes, \
     t.status AS tenant_status \
     FROM addresses a \
     JOIN mailboxes m ON m.id = a.owner_id \
     JOIN tenants t ON t.id = m.tenant_id \
     WHERE a.address = ? AND a.owner_kind = 'mailbox' \
     AND m.status NOT IN ('deleted', 'inactive')";

/// A mailbox's newest password.
const PASSWORD: &str = "SELECT p.hash, p.set_at FROM addresses a \
     JOIN mailbox_passwords p ON p.mailbox_id = a.owner_id \
     WHERE a.address = ? AND a.owner_kind = 'mailbox' \
     ORDER BY p.id DESC LIMIT 1";

impl DataStore {
    /// The tenant that hosts a verified domain of this name (default domains count as
    /// verified), if any: its status, region and back end.
    pub async fn mailstack_domain(&self, name: &str) -> Result<Option<DomainRecord>> {
        match self.mailstack_one(DOMAIN, name).await? {
            Some(row) => Ok(Some(DomainRecord {
                tenant_id: uuid(&row, "tenant_id")?.into(),
                tenant_status: tenant_status(&row)?,
                region: optional_text(&row, "region")?,
                mail_backend: optional_text(&row, "mail_backend")?,
            })),
            None => Ok(None),
        }
    }

    /// Where mail to a hosted address goes, if the address is hosted.
    pub async fn mailstack_route(&self, address: &str) -> Result<Option<RouteRecord>> {
        let Some(row) = self.mailstack_one(ADDRESS, address).await? else {
            return Ok(None);
        };
        let owner = match text(&row, "owner_kind")?.as_str() {
            "mailbox" => RouteOwner::Mailbox(
                optional_text(&row, "forward_to")?
                    .map(|a| parsed(&a))
                    .transpose()?,
            ),
            "alias" => RouteOwner::Alias(parsed(&text(&row, "alias_target")?)?),
            "group" => RouteOwner::Group(
                self.mailstack_all(MEMBERS, address)
                    .await?
                    .iter()
                    .map(|r| parsed(&text(r, "member")?))
                    .collect::<Result<_>>()?,
            ),
            other => {
                return Err(Error::internal(format!(
                    "address {address} has an owner of unknown kind {other}"
                )));
            }
        };
        Ok(Some(RouteRecord {
            tenant_status: tenant_status(&row)?,
            owner,
        }))
    }

    /// The delivery record of the mailbox whose own address this is, if there is one.
    pub async fn mailstack_mailbox(&self, address: &str) -> Result<Option<DeliveryRecord>> {
        let Some(row) = self.mailstack_one(DELIVERABLE, address).await? else {
            return Ok(None);
        };
        Ok(Some(DeliveryRecord {
            tenant_id: uuid(&row, "tenant_id")?.into(),
            tenant_status: tenant_status(&row)?,
            mailbox_id: uuid(&row, "mailbox_id")?.into(),
            quota_bytes: row.try_get("", "quota_bytes").map_err(db_error)?,
        }))
    }

    /// The sign-in record of the mailbox whose own address this is, if there is one.
    pub async fn mailstack_sign_in(&self, address: &str) -> Result<Option<SignInRecord>> {
        let Some(row) = self.mailstack_one(MAILBOX, address).await? else {
            return Ok(None);
        };
        let password = match self.mailstack_one(PASSWORD, address).await? {
            Some(p) => Some((
                text(&p, "hash")?,
                p.try_get::<OffsetDateTime>("", "set_at")
                    .map_err(db_error)?,
            )),
            None => None,
        };
        let kind = text(&row, "kind")?;
        let status = text(&row, "mailbox_status")?;
        Ok(Some(SignInRecord {
            tenant_status: tenant_status(&row)?,
            kind: MailboxKind::parse(&kind)
                .ok_or_else(|| Error::internal(format!("a mailbox of kind {kind}")))?,
            status: MailboxStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("a mailbox of status {status}")))?,
            password_policy: optional_text(&row, "password_policy")?,
            password,
            mailbox_suspended: row
                .try_get::<i64>("", "mailbox_suspensions")
                .map_err(db_error)?
                > 0,
        }))
    }

    async fn mailstack_one(&self, sql: &str, key: &str) -> Result<Option<QueryResult>> {
        let db = self.reader();
        db.query_one_raw(statement(db.get_database_backend(), sql, key))
            .await
            .map_err(db_error)
    }

    async fn mailstack_all(&self, sql: &str, key: &str) -> Result<Vec<QueryResult>> {
        let db = self.reader();
        db.query_all_raw(statement(db.get_database_backend(), sql, key))
            .await
            .map_err(db_error)
    }
}

/// A statement with its one key; PostgreSQL numbers its placeholder.
fn statement(backend: DbBackend, sql: &str, key: &str) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.replacen('?', "$1", 1),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, [Value::from(key.to_owned())])
}

fn text(row: &QueryResult, column: &str) -> Result<String> {
    row.try_get("", column).map_err(db_error)
}

fn optional_text(row: &QueryResult, column: &str) -> Result<Option<String>> {
    row.try_get("", column).map_err(db_error)
}

fn uuid(row: &QueryResult, column: &str) -> Result<Uuid> {
    row.try_get("", column).map_err(db_error)
}

fn tenant_status(row: &QueryResult) -> Result<TenantStatus> {
    let s = text(row, "tenant_status")?;
    TenantStatus::parse(&s).ok_or_else(|| Error::internal(format!("a tenant of status {s}")))
}

fn parsed(address: &str) -> Result<EmailAddress> {
    EmailAddress::parse(address)
        .map_err(|e| Error::internal(format!("a stored address {address}: {e}")))
}

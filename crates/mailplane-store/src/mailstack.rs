//! The reads behind the mail stack's lookups: which domains are hosted, what an address is
//! (a mailbox, an alias or a group) and a mailbox's sign-in record, each found by the name a
//! mail server knows (a domain name or an address), never by a tenant.
//!
//! These reads are tenant-blind on purpose: an address and a verified domain name are unique
//! on the platform, so the key alone finds the one row. Each read is a few primary-key or
//! unique-index lookups on the reader pool, so a committed change is seen by the next lookup.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{Mailbox, Tenant};
use mailplane_types::{EmailAddress, Error, Result};

use crate::entity::{address, alias, domain, group_member, mailbox, mailbox_password, tenant};
use crate::{DataStore, db_error, rows};

/// The owner of a hosted address, with its tenant.
#[derive(Debug, Clone)]
pub struct AddressRecord {
    /// The tenant that holds the address.
    pub tenant: Tenant,
    /// What the address is.
    pub owner: AddressOwner,
}

/// What an address is.
#[derive(Debug, Clone)]
pub enum AddressOwner {
    /// A mailbox's own address.
    Mailbox(Mailbox),
    /// An alias of a mailbox: the mailbox it belongs to.
    Alias(Mailbox),
    /// A distribution group: the addresses of its members, mailboxes first.
    Group(Vec<EmailAddress>),
}

/// A mailbox with what signing in to it depends on.
#[derive(Debug, Clone)]
pub struct SignInRecord {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// Its tenant.
    pub tenant: Tenant,
    /// The tenant's stored password policy (JSON), if one was set.
    pub password_policy: Option<String>,
    /// The current password hash and when it was set, if a password was ever set.
    pub password: Option<(String, OffsetDateTime)>,
}

/// The kinds `addresses.owner_kind` records (set by the triggers of migration m0009).
const OWNER_MAILBOX: &str = "mailbox";
const OWNER_ALIAS: &str = "alias";
const OWNER_GROUP: &str = "group";

impl DataStore {
    /// The tenant that hosts a verified domain of this name (default domains count as
    /// verified), if any.
    pub async fn mailstack_domain(&self, name: &str) -> Result<Option<Tenant>> {
        let Some(d) = domain::Entity::find()
            .filter(domain::Column::Name.eq(name))
            .filter(domain::Column::VerifiedAt.is_not_null())
            .one(self.reader())
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        self.mailstack_tenant(d.tenant_id).await.map(Some)
    }

    /// What an address is, with its tenant, if it is hosted.
    pub async fn mailstack_address(&self, address: &str) -> Result<Option<AddressRecord>> {
        let Some(a) = address::Entity::find_by_id(address.to_string())
            .one(self.reader())
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let owner = match a.owner_kind.as_str() {
            OWNER_MAILBOX => AddressOwner::Mailbox(self.mailstack_mailbox_row(a.owner_id).await?),
            OWNER_ALIAS => {
                let alias = alias::Entity::find_by_id(a.owner_id)
                    .one(self.reader())
                    .await
                    .map_err(db_error)?
                    .ok_or_else(|| vanished("alias", a.owner_id))?;
                AddressOwner::Alias(self.mailstack_mailbox_row(alias.mailbox_id).await?)
            }
            OWNER_GROUP => AddressOwner::Group(self.mailstack_members(a.owner_id).await?),
            other => {
                return Err(Error::internal(format!(
                    "address {address} has an owner of unknown kind {other}"
                )));
            }
        };
        Ok(Some(AddressRecord {
            tenant: self.mailstack_tenant(a.tenant_id).await?,
            owner,
        }))
    }

    /// The sign-in record of the mailbox whose own address this is, if there is one.
    pub async fn mailstack_sign_in(&self, address: &str) -> Result<Option<SignInRecord>> {
        let Some(m) = mailbox::Entity::find()
            .filter(mailbox::Column::Address.eq(address))
            .one(self.reader())
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let password = mailbox_password::Entity::find()
            .filter(mailbox_password::Column::MailboxId.eq(m.id))
            .order_by_desc(mailbox_password::Column::Id)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .map(|p| (p.hash, p.set_at));
        let t = tenant::Entity::find_by_id(m.tenant_id)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .ok_or_else(|| vanished("tenant", m.tenant_id))?;
        let password_policy = t.password_policy.clone();
        Ok(Some(SignInRecord {
            mailbox: rows::mailbox(m)?,
            tenant: rows::tenant(t)?,
            password_policy,
            password,
        }))
    }

    async fn mailstack_tenant(&self, id: Uuid) -> Result<Tenant> {
        let t = tenant::Entity::find_by_id(id)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .ok_or_else(|| vanished("tenant", id))?;
        rows::tenant(t)
    }

    async fn mailstack_mailbox_row(&self, id: Uuid) -> Result<Mailbox> {
        let m = mailbox::Entity::find_by_id(id)
            .one(self.reader())
            .await
            .map_err(db_error)?
            .ok_or_else(|| vanished("mailbox", id))?;
        rows::mailbox(m)
    }

    async fn mailstack_members(&self, group: Uuid) -> Result<Vec<EmailAddress>> {
        let members = group_member::Entity::find()
            .filter(group_member::Column::GroupId.eq(group))
            .order_by_asc(group_member::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let mut mailboxes = Vec::new();
        let mut external = Vec::new();
        for m in members {
            match (m.mailbox_id, m.external_address) {
                (Some(id), _) => mailboxes.push(self.mailstack_mailbox_row(id).await?.address),
                (None, Some(a)) => external.push(
                    EmailAddress::parse(&a)
                        .map_err(|e| Error::internal(format!("group {group} member {a}: {e}")))?,
                ),
                (None, None) => {
                    return Err(Error::internal(format!(
                        "group {group} has an empty member"
                    )));
                }
            }
        }
        mailboxes.extend(external);
        Ok(mailboxes)
    }
}

/// A row another row points to is gone: the lookup cannot be answered, and a mail server is
/// told to try again later rather than that the address does not exist.
fn vanished(what: &str, id: Uuid) -> Error {
    Error::internal(format!("{what} {id} vanished during a lookup"))
}

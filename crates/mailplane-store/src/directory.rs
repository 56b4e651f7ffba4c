//! Persistence of the directory beyond mailboxes: aliases, distribution groups and their
//! members, and forwarding targets. (Mailbox passwords and password policies are in
//! `passwords.rs`.)
//!
//! Address uniqueness is the database's: triggers copy every mailbox, alias and group
//! address into `addresses`, whose key refuses a second owner, so an insert here that
//! collides fails as a conflict naming the address.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use mailplane_types::resources::{Alias, Domain, Group, GroupMember, Mailbox};
use mailplane_types::{
    AliasId, DomainId, EmailAddress, Error, GroupId, LocalPart, MailboxId, Result, TenantId,
};

use crate::entity::{alias, group, group_member, mailbox};
use crate::{DataStore, WriteTx, db_error, now, rows};

/// A unique violation on an address becomes a conflict naming `field` and the address.
fn address_taken(e: DbErr, field: &str, address: &EmailAddress) -> Error {
    crate::write::on_conflict(
        e,
        field,
        format!("the address {address} is already in use by a mailbox, an alias or a group"),
    )
}

fn alias_row(r: alias::Model) -> Result<Alias> {
    Ok(Alias {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        mailbox_id: r.mailbox_id.into(),
        domain_id: r.domain_id.into(),
        address: EmailAddress::parse(&r.address)
            .map_err(|e| Error::internal(format!("alias {}: {e}", r.id)))?,
        created_at: r.created_at,
    })
}

async fn group_row(db: &impl sea_orm::ConnectionTrait, r: group::Model) -> Result<Group> {
    let members = group_member::Entity::find()
        .filter(group_member::Column::GroupId.eq(r.id))
        .order_by_asc(group_member::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    let ids: Vec<Uuid> = members.iter().filter_map(|m| m.mailbox_id).collect();
    let boxes = if ids.is_empty() {
        vec![]
    } else {
        mailbox::Entity::find()
            .filter(mailbox::Column::Id.is_in(ids))
            .all(db)
            .await
            .map_err(db_error)?
    };
    let mut list = Vec::with_capacity(members.len());
    for m in members {
        let address = match (m.mailbox_id, &m.external_address) {
            (Some(id), _) => boxes
                .iter()
                .find(|b| b.id == id)
                .map(|b| b.address.clone())
                .ok_or_else(|| Error::internal(format!("group {} member {id} is gone", r.id)))?,
            (None, Some(a)) => a.clone(),
            (None, None) => {
                return Err(Error::internal(format!(
                    "group {} has an empty member",
                    r.id
                )));
            }
        };
        list.push(GroupMember {
            mailbox_id: m.mailbox_id.map(Into::into),
            address: EmailAddress::parse(&address)
                .map_err(|e| Error::internal(format!("group {} member: {e}", r.id)))?,
        });
    }
    // Mailboxes first, then external addresses, each in the order they were added.
    list.sort_by_key(|m| m.mailbox_id.is_none());
    Ok(Group {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        domain_id: r.domain_id.into(),
        address: EmailAddress::parse(&r.address)
            .map_err(|e| Error::internal(format!("group {}: {e}", r.id)))?,
        display_name: r.display_name,
        members: list,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

impl WriteTx {
    /// Adds an alias to a mailbox (the domain checked to be the tenant's and verified).
    pub async fn alias_insert(
        &self,
        tenant: TenantId,
        mailbox: MailboxId,
        domain: &Domain,
        local_part: &LocalPart,
    ) -> Result<Alias> {
        let address = EmailAddress::new(local_part, &domain.name);
        let row = alias::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            mailbox_id: Set(mailbox.uuid()),
            domain_id: Set(domain.id.uuid()),
            address: Set(address.to_string()),
            created_at: Set(now()),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| address_taken(e, "local_part", &address))?;
        alias_row(row)
    }

    /// Removes an alias of the tenant.
    pub async fn alias_delete(&self, tenant: TenantId, id: AliasId) -> Result<()> {
        let res = alias::Entity::delete_many()
            .filter(alias::Column::Id.eq(id.uuid()))
            .filter(alias::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        if res.rows_affected == 0 {
            return Err(Error::not_found("alias", id));
        }
        Ok(())
    }

    /// Whether an address is one of a mailbox's aliases.
    pub async fn alias_of(&self, mailbox: MailboxId, address: &EmailAddress) -> Result<bool> {
        Ok(alias::Entity::find()
            .filter(alias::Column::MailboxId.eq(mailbox.uuid()))
            .filter(alias::Column::Address.eq(address.to_string()))
            .count(&self.tx)
            .await
            .map_err(db_error)?
            > 0)
    }

    pub(crate) async fn aliases_of_mailbox_delete(&self, mailbox: MailboxId) -> Result<()> {
        alias::Entity::delete_many()
            .filter(alias::Column::MailboxId.eq(mailbox.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// How many groups a tenant has.
    pub(crate) async fn tenant_groups(&self, tenant: TenantId) -> Result<u64> {
        group::Entity::find()
            .filter(group::Column::TenantId.eq(tenant.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)
    }

    /// How many aliases and groups use a domain.
    pub(crate) async fn domain_users(&self, domain: DomainId) -> Result<(u64, u64)> {
        let aliases = alias::Entity::find()
            .filter(alias::Column::DomainId.eq(domain.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        let groups = group::Entity::find()
            .filter(group::Column::DomainId.eq(domain.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        Ok((aliases, groups))
    }

    /// Creates a distribution group without members.
    pub async fn group_insert(
        &self,
        tenant: TenantId,
        domain: &Domain,
        local_part: &LocalPart,
        display_name: &str,
    ) -> Result<Group> {
        let address = EmailAddress::new(local_part, &domain.name);
        let at = now();
        let row = group::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            domain_id: Set(domain.id.uuid()),
            address: Set(address.to_string()),
            display_name: Set(display_name.to_string()),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| address_taken(e, "local_part", &address))?;
        group_row(&self.tx, row).await
    }

    /// A group of the tenant, with its members.
    pub async fn group_get(&self, tenant: TenantId, id: GroupId) -> Result<Group> {
        let row = group::Entity::find_by_id(id.uuid())
            .filter(group::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("group", id))?;
        group_row(&self.tx, row).await
    }

    /// Deletes a group and its memberships.
    pub async fn group_delete(&self, tenant: TenantId, id: GroupId) -> Result<()> {
        self.group_get(tenant, id).await?;
        group_member::Entity::delete_many()
            .filter(group_member::Column::GroupId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        group::Entity::delete_by_id(id.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    /// Adds a member: a mailbox of the tenant or an external address. A member already in
    /// the group is a conflict.
    pub async fn group_member_add(
        &self,
        tenant: TenantId,
        id: GroupId,
        member: Result<MailboxId, &EmailAddress>,
    ) -> Result<Group> {
        self.group_get(tenant, id).await?;
        let (mailbox_id, external) = match member {
            Ok(m) => (Some(m.uuid()), None),
            Err(a) => (None, Some(a.to_string())),
        };
        group_member::ActiveModel {
            id: Set(Uuid::now_v7()),
            group_id: Set(id.uuid()),
            mailbox_id: Set(mailbox_id),
            external_address: Set(external),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| match db_error(e) {
            Error::Conflict { .. } => Error::conflict(None, "the member is in the group already"),
            other => other,
        })?;
        self.group_touch(tenant, id).await
    }

    /// Removes a member; a member not in the group is not found.
    pub async fn group_member_remove(
        &self,
        tenant: TenantId,
        id: GroupId,
        member: Result<MailboxId, &EmailAddress>,
    ) -> Result<Group> {
        self.group_get(tenant, id).await?;
        let mut q =
            group_member::Entity::delete_many().filter(group_member::Column::GroupId.eq(id.uuid()));
        q = match member {
            Ok(m) => q.filter(group_member::Column::MailboxId.eq(m.uuid())),
            Err(a) => q.filter(group_member::Column::ExternalAddress.eq(a.to_string())),
        };
        let res = q.exec(&self.tx).await.map_err(db_error)?;
        if res.rows_affected == 0 {
            return Err(Error::not_found("group member", id));
        }
        self.group_touch(tenant, id).await
    }

    async fn group_touch(&self, tenant: TenantId, id: GroupId) -> Result<Group> {
        group::Entity::update_many()
            .col_expr(group::Column::UpdatedAt, Expr::value(now()))
            .filter(group::Column::Id.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        self.group_get(tenant, id).await
    }

    /// Sets a mailbox's forwarding target; `None` clears it (both `mailbox_forwarding_set` and
    /// `mailbox_forwarding_clear` land here).
    pub async fn mailbox_forwarding_set(
        &self,
        id: MailboxId,
        to: Option<&EmailAddress>,
    ) -> Result<Mailbox> {
        let row = mailbox::ActiveModel {
            id: Set(id.uuid()),
            forward_to: Set(to.map(ToString::to_string)),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.tx)
        .await
        .map_err(|e| match e {
            DbErr::RecordNotUpdated => Error::not_found("mailbox", id),
            other => db_error(other),
        })?;
        rows::mailbox(row)
    }
}

impl DataStore {
    /// The tenant's aliases, in the order they were added.
    pub async fn alias_list(&self, tenant: TenantId) -> Result<Vec<Alias>> {
        alias::Entity::find()
            .filter(alias::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(alias::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(alias_row)
            .collect()
    }

    /// The tenant's groups with their members, in the order they were created.
    pub async fn group_list(&self, tenant: TenantId) -> Result<Vec<Group>> {
        let rows = group::Entity::find()
            .filter(group::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(group::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(group_row(self.reader(), r).await?);
        }
        Ok(out)
    }
}

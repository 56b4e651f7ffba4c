//! Mailboxes of a tenant: their reads and their writes, one at a time or in batches.
//!
//! The API's hottest read, a mailbox with its tenant, is one statement whose SQL is built
//! once per shape ([`StatementTemplate`]) and, on SQLite, may be answered from the read
//! cache. A batch of mailboxes is written in multi-row inserts, so that it lands whole or
//! not at all; the address triggers and seat checks still fire for every row.

use std::sync::OnceLock;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use mailplane_types::resources::{Domain, Mailbox, MailboxStatus, Tenant};
use mailplane_types::{EmailAddress, Error, LocalPart, MailboxId, Result, TenantId};

use crate::entity::{address, domain, mailbox, tenant};
use crate::sqlite::read_cache::Lookup;
use crate::tenants::{in_partner_scope, tenant_scope};
use crate::write::{deleted_one, gone, on_conflict};
use crate::{DataStore, Page, PageRequest, Scope, WriteTx, db_error, now, paginate, rows};

/// The fields of a new mailbox.
#[derive(Debug, Clone)]
pub struct NewMailbox {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The domain of the address (already checked to belong to the tenant).
    pub domain: Domain,
    /// The local part.
    pub local_part: LocalPart,
    /// The display name.
    pub display_name: String,
    /// The quota in bytes.
    pub quota_bytes: i64,
    /// Enabled or disabled.
    pub status: MailboxStatus,
    /// A person's mailbox or a shared one.
    pub kind: mailplane_types::resources::MailboxKind,
}

/// Changes to a mailbox; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct MailboxChanges {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new quota.
    pub quota_bytes: Option<i64>,
    /// A new status.
    pub status: Option<MailboxStatus>,
}

/// Rows per multi-row insert: well under SQLite's limit of 32766 bound values.
pub(crate) const CHUNK: usize = 1000;

impl DataStore {
    /// A tenant in the scope and one of its mailboxes, read in one statement (the tenant
    /// joined with the mailbox): what an authorized read of a mailbox needs. The mailbox is
    /// `None` when the tenant has no such mailbox; the whole is `None` when the tenant is out
    /// of scope or missing.
    pub async fn tenant_and_mailbox(
        &self,
        scope: Scope,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Option<(Tenant, Option<Mailbox>)>> {
        use sea_orm::{FromQueryResult, IdenStatic, SelectA, SelectB};
        let Some(partner) = tenant_scope(scope, tenant) else {
            return Ok(None);
        };
        let seen = match self.remembered(|c| c.tenant_and_mailbox(tenant, id)) {
            Lookup::Hit((t, m)) => return Ok(in_partner_scope(&t, partner).then_some((t, Some(m)))),
            Lookup::Miss(seen) => seen,
        };
        let backend = self.reader().get_database_backend();
        // The hottest read of the API: its SQL is built once per shape and backend.
        static SHAPES: [OnceLock<StatementTemplate>; 4] = [const { OnceLock::new() }; 4];
        let shape =
            usize::from(backend == DbBackend::Postgres) * 2 + usize::from(partner.is_some());
        let template = SHAPES[shape].get_or_init(|| {
            StatementTemplate::new(
                backend,
                tenant_and_mailbox_query(
                    TEMPLATE_TENANT,
                    TEMPLATE_MAILBOX,
                    partner.map(|_| TEMPLATE_PARTNER),
                ),
            )
        });
        let statement = template.bind(&[
            (TEMPLATE_TENANT, tenant.uuid()),
            (TEMPLATE_MAILBOX, id.uuid()),
            (TEMPLATE_PARTNER, partner.map_or(Uuid::nil(), |p| p.uuid())),
        ]);
        let Some(row) = self
            .reader()
            .query_one_raw(statement)
            .await
            .map_err(db_error)?
        else {
            return Ok(None);
        };
        let t = tenant::Model::from_query_result(&row, SelectA.as_str()).map_err(db_error)?;
        let m =
            mailbox::Model::from_query_result_optional(&row, SelectB.as_str()).map_err(db_error)?;
        let (t, m) = (rows::tenant(t)?, m.map(rows::mailbox).transpose()?);
        self.remember(seen, &t, m.as_ref());
        Ok(Some((t, m)))
    }

    /// A mailbox of a tenant.
    pub async fn mailbox_view(&self, tenant: TenantId, id: MailboxId) -> Result<Option<Mailbox>> {
        mailbox_get_on(self.reader(), tenant, id).await
    }

    /// Mailboxes of a tenant, in id order: those of `status` when given, else those not
    /// deleted (neither `deleted` nor `inactive`).
    pub async fn mailbox_list(
        &self,
        tenant: TenantId,
        page: PageRequest,
        status: Option<MailboxStatus>,
    ) -> Result<Page<Mailbox>> {
        let q = mailbox::Entity::find().filter(mailbox::Column::TenantId.eq(tenant.uuid()));
        let q = match status {
            Some(s) => q.filter(mailbox::Column::Status.eq(s.as_str())),
            None => q.filter(mailbox::Column::Status.is_not_in([
                MailboxStatus::Deleted.as_str(),
                MailboxStatus::Inactive.as_str(),
            ])),
        };
        let rows = self.keyset(q, mailbox::Column::Id, page).await?;
        paginate(rows, page.limit, |r| r.id, rows::mailbox)
    }

    /// A tenant's mailboxes with their primary addresses, for exports and destruction.
    pub async fn mailbox_addresses(&self, tenant: TenantId) -> Result<Vec<(MailboxId, String)>> {
        let rows = mailbox::Entity::find()
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(mailbox::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let domains: std::collections::HashMap<Uuid, String> = domain::Entity::find()
            .filter(domain::Column::TenantId.eq(tenant.uuid()))
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let domain = domains.get(&r.domain_id).map(String::as_str).unwrap_or("");
            out.push((r.id.into(), format!("{}@{}", r.local_part, domain)));
        }
        Ok(out)
    }

    /// The ids of a tenant's mailboxes.
    pub async fn mailbox_ids(&self, tenant: TenantId) -> Result<Vec<MailboxId>> {
        use crate::entity::mailbox;
        use sea_orm::QuerySelect;
        let ids: Vec<Uuid> = mailbox::Entity::find()
            .select_only()
            .column(mailbox::Column::Id)
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .into_tuple()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        Ok(ids.into_iter().map(Into::into).collect())
    }

    /// Which of the given addresses are in use (by a mailbox, an alias or a group).
    pub async fn addresses_taken(&self, addresses: &[String]) -> Result<Vec<String>> {
        let mut taken = Vec::new();
        for chunk in addresses.chunks(CHUNK) {
            let found = address::Entity::find()
                .filter(address::Column::Address.is_in(chunk.iter().cloned()))
                .all(self.reader())
                .await
                .map_err(db_error)?;
            taken.extend(found.into_iter().map(|a| a.address));
        }
        Ok(taken)
    }
}

impl WriteTx {
    /// A mailbox of a tenant inside the transaction.
    pub async fn mailbox_view(&self, tenant: TenantId, id: MailboxId) -> Result<Option<Mailbox>> {
        mailbox_get_on(&self.tx, tenant, id).await
    }

    /// Inserts a mailbox; an address already in use is a conflict on `local_part`.
    pub async fn mailbox_insert(&self, m: NewMailbox) -> Result<Mailbox> {
        let t = now();
        let address = EmailAddress::new(&m.local_part, &m.domain.name);
        let row = mailbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(m.tenant_id.uuid()),
            domain_id: Set(m.domain.id.uuid()),
            local_part: Set(m.local_part.to_string()),
            address: Set(address.to_string()),
            display_name: Set(m.display_name),
            quota_bytes: Set(m.quota_bytes),
            status: Set(m.status.as_str().to_string()),
            created_at: Set(t),
            updated_at: Set(t),
            kind: Set(m.kind.as_str().to_string()),
            forward_to: Set(None),
            password_set_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| {
            on_conflict(
                e,
                "local_part",
                format!("the address {address} is already in use"),
            )
        })?;
        rows::mailbox(row)
    }

    /// Inserts many mailboxes (each already checked) in multi-row statements; returns them
    /// in the order given.
    pub async fn mailboxes_insert_many(&self, new: Vec<NewMailbox>) -> Result<Vec<Mailbox>> {
        let t = now();
        let mut models = Vec::with_capacity(new.len());
        for m in new {
            let address = EmailAddress::new(&m.local_part, &m.domain.name);
            models.push(mailbox::Model {
                id: Uuid::now_v7(),
                tenant_id: m.tenant_id.uuid(),
                domain_id: m.domain.id.uuid(),
                local_part: m.local_part.to_string(),
                address: address.to_string(),
                display_name: m.display_name,
                quota_bytes: m.quota_bytes,
                status: m.status.as_str().to_string(),
                created_at: t,
                updated_at: t,
                kind: m.kind.as_str().to_string(),
                forward_to: None,
                password_set_at: None,
            });
        }
        for chunk in models.chunks(CHUNK) {
            let rows: Vec<mailbox::ActiveModel> = chunk.iter().cloned().map(Into::into).collect();
            mailbox::Entity::insert_many(rows)
                .exec(&self.tx)
                .await
                .map_err(|e| match db_error(e) {
                    Error::Conflict { .. } => Error::conflict(
                        Some("mailboxes"),
                        "an address was taken while the batch was written; nothing was created",
                    ),
                    other => other,
                })?;
        }
        models.into_iter().map(rows::mailbox).collect()
    }

    /// Applies changes to a mailbox.
    pub async fn mailbox_update(&self, id: MailboxId, c: MailboxChanges) -> Result<Mailbox> {
        let mut am = mailbox::ActiveModel {
            id: Set(id.uuid()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(v) = c.display_name {
            am.display_name = Set(v);
        }
        if let Some(v) = c.quota_bytes {
            am.quota_bytes = Set(v);
        }
        if let Some(v) = c.status {
            am.status = Set(v.as_str().to_string());
        }
        let row = am.update(&self.tx).await.map_err(gone("mailbox", id))?;
        rows::mailbox(row)
    }

    /// Deletes a mailbox.
    pub async fn mailbox_delete(&self, tenant: TenantId, id: MailboxId) -> Result<()> {
        // What hangs off the mailbox goes first, and only once the mailbox is the tenant's.
        if self.mailbox_view(tenant, id).await?.is_none() {
            return Err(Error::not_found("mailbox", id));
        }
        self.licences_release(id).await?;
        self.aliases_of_mailbox_delete(id).await?;
        let res = mailbox::Entity::delete_many()
            .filter(mailbox::Column::Id.eq(id.uuid()))
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("mailbox", id, res.rows_affected)
    }
}

/// The status a stored mailbox has, for callers that count seats.
pub fn needs_seat(m: &Mailbox) -> bool {
    m.status == MailboxStatus::Enabled && m.kind == mailplane_types::resources::MailboxKind::User
}

pub(crate) async fn mailbox_get_on<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: MailboxId,
) -> Result<Option<Mailbox>> {
    mailbox::Entity::find_by_id(id.uuid())
        .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(rows::mailbox)
        .transpose()
}

/// The values a [`StatementTemplate`] is built with, replaced by the real ones per call.
const TEMPLATE_TENANT: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0001);

const TEMPLATE_MAILBOX: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0002);

const TEMPLATE_PARTNER: Uuid = Uuid::from_u128(0x7e4a_4e7e_0000_7000_8000_0000_0000_0003);

/// The tenant in scope (of a partner, when given) joined with one of its mailboxes.
fn tenant_and_mailbox_query(
    tenant: Uuid,
    mailbox_id: Uuid,
    partner: Option<Uuid>,
) -> sea_orm::SelectTwo<tenant::Entity, mailbox::Entity> {
    use sea_orm::JoinType;
    use sea_orm::sea_query::IntoCondition;
    let mut q = tenant::Entity::find_by_id(tenant);
    if let Some(p) = partner {
        q = q.filter(tenant::Column::PartnerId.eq(p));
    }
    let of_tenant: sea_orm::RelationDef = mailbox::Entity::belongs_to(tenant::Entity)
        .from(mailbox::Column::TenantId)
        .to(tenant::Column::Id)
        .into();
    q.join_rev(
        JoinType::LeftJoin,
        of_tenant.on_condition(move |_, _| mailbox::Column::Id.eq(mailbox_id).into_condition()),
    )
    .select_also(mailbox::Entity)
}

/// A statement built once by sea-orm's query builder, with marker values where the
/// per-call values go: building a wide select costs more than running it on SQLite.
struct StatementTemplate {
    backend: DbBackend,
    sql: String,
    values: Vec<sea_orm::Value>,
}

impl StatementTemplate {
    fn new(backend: DbBackend, query: impl sea_orm::QueryTrait) -> StatementTemplate {
        let built = query.build(backend);
        StatementTemplate {
            backend,
            sql: built.sql,
            values: built.values.map(|v| v.0).unwrap_or_default(),
        }
    }

    /// The statement with each marker value replaced by its real value.
    fn bind(&self, values: &[(Uuid, Uuid)]) -> sea_orm::Statement {
        let bound = self.values.iter().map(|v| match v {
            sea_orm::Value::Uuid(Some(marker)) => values
                .iter()
                .find(|(m, _)| m == marker)
                .map_or_else(|| v.clone(), |(_, real)| sea_orm::Value::Uuid(Some(*real))),
            other => other.clone(),
        });
        sea_orm::Statement::from_sql_and_values(self.backend, self.sql.clone(), bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::QueryTrait;

    /// A template re-bound with real values is the statement sea-orm would build for them,
    /// on both backends and with and without a partner's scope.
    #[test]
    fn a_bound_template_is_the_statement_built_afresh() {
        let (tenant, mailbox, partner) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for scoped in [false, true] {
                let template = StatementTemplate::new(
                    backend,
                    tenant_and_mailbox_query(
                        TEMPLATE_TENANT,
                        TEMPLATE_MAILBOX,
                        scoped.then_some(TEMPLATE_PARTNER),
                    ),
                );
                let bound = template.bind(&[
                    (TEMPLATE_TENANT, tenant),
                    (TEMPLATE_MAILBOX, mailbox),
                    (TEMPLATE_PARTNER, partner),
                ]);
                let fresh = tenant_and_mailbox_query(tenant, mailbox, scoped.then_some(partner))
                    .build(backend);
                assert_eq!(bound.sql, fresh.sql);
                assert_eq!(bound.values, fresh.values, "{backend:?}, partner {scoped}");
            }
        }
    }
}

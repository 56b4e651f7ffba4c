//! The reads behind a tenant's inventory: mailbox totals, licence assignments with their
//! addresses and SKUs, every domain, and the number of aliases and groups.
//!
//! They are separate from the directory's reads because they summarise rather than list:
//! the totals come from one aggregate query and the assignments from one join, so an
//! inventory costs a handful of queries whatever the tenant's size. The queries are built
//! with sea-query, so the same code runs on SQLite and PostgreSQL.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::inventory::{LicenceAssignment, MailboxTotals};
use mailplane_types::resources::{Domain, MailboxKind, MailboxStatus};
use mailplane_types::{EmailAddress, Error, Result, TenantId};

use crate::entity::{alias, domain, group, licence_assignment, mailbox, subscription};
use crate::{DataStore, db_error, rows};

impl DataStore {
    /// The tenant's mailbox counts and quota sums, from one query grouped by status and kind.
    pub async fn inventory_mailboxes(&self, tenant: TenantId) -> Result<MailboxTotals> {
        // On PostgreSQL `SUM(bigint)` is `numeric`; the cast keeps it a 64-bit integer on
        // both backends.
        // Columns by name, never by position: a row of the SQLite transport keeps its
        // columns in name order (`sqlite/transport.rs`).
        #[derive(sea_orm::FromQueryResult)]
        struct Group {
            status: String,
            kind: String,
            mailboxes: i64,
            quota_bytes: i64,
        }
        let groups: Vec<Group> = mailbox::Entity::find()
            .select_only()
            .column(mailbox::Column::Status)
            .column(mailbox::Column::Kind)
            .column_as(Expr::cust("COUNT(*)"), "mailboxes")
            .column_as(
                Expr::cust("CAST(COALESCE(SUM(quota_bytes), 0) AS BIGINT)"),
                "quota_bytes",
            )
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .group_by(mailbox::Column::Status)
            .group_by(mailbox::Column::Kind)
            .into_model::<Group>()
            .all(self.reader())
            .await
            .map_err(db_error)?;
        let mut totals = MailboxTotals::default();
        for Group {
            status,
            kind,
            mailboxes: count,
            quota_bytes: bytes,
        } in groups
        {
            let status = MailboxStatus::parse(&status)
                .ok_or_else(|| Error::internal(format!("mailbox status `{status}` is unknown")))?;
            let kind = MailboxKind::parse(&kind)
                .ok_or_else(|| Error::internal(format!("mailbox kind `{kind}` is unknown")))?;
            // A deleted or inactive mailbox is no longer part of the tenant's directory: it
            // takes no seat and receives nothing, so the totals leave it out.
            if status.is_deleted() {
                continue;
            }
            let count = u64::try_from(count)
                .map_err(|_| Error::internal(format!("a negative mailbox count: {count}")))?;
            totals.total += count;
            totals.quota_bytes_total = totals.quota_bytes_total.saturating_add(bytes);
            match status {
                MailboxStatus::Enabled => {
                    totals.enabled += count;
                    totals.quota_bytes_enabled = totals.quota_bytes_enabled.saturating_add(bytes);
                    if kind == MailboxKind::User {
                        totals.enabled_users += count;
                    }
                }
                MailboxStatus::Disabled | MailboxStatus::Deleted | MailboxStatus::Inactive => {
                    totals.disabled += count;
                    totals.quota_bytes_disabled = totals.quota_bytes_disabled.saturating_add(bytes);
                }
            }
            if kind == MailboxKind::Shared {
                totals.shared += count;
                totals.quota_bytes_shared = totals.quota_bytes_shared.saturating_add(bytes);
            }
        }
        Ok(totals)
    }

    /// Every licence assigned to a mailbox of the tenant, with the mailbox's address and the
    /// subscription's SKU, ordered by address and then SKU.
    pub async fn inventory_assignments(&self, tenant: TenantId) -> Result<Vec<LicenceAssignment>> {
        let la = licence_assignment::Entity;
        let query = Query::select()
            .expr_as(
                Expr::col((la, licence_assignment::Column::MailboxId)),
                Alias::new("mailbox_id"),
            )
            .expr_as(
                Expr::col((mailbox::Entity, mailbox::Column::Address)),
                Alias::new("address"),
            )
            .expr_as(
                Expr::col((subscription::Entity, subscription::Column::Sku)),
                Alias::new("sku"),
            )
            .expr_as(
                Expr::col((la, licence_assignment::Column::AssignedAt)),
                Alias::new("assigned_at"),
            )
            .from(la)
            .inner_join(
                mailbox::Entity,
                Expr::col((mailbox::Entity, mailbox::Column::Id))
                    .equals((la, licence_assignment::Column::MailboxId)),
            )
            .inner_join(
                subscription::Entity,
                Expr::col((subscription::Entity, subscription::Column::Id))
                    .equals((la, licence_assignment::Column::SubscriptionId)),
            )
            .and_where(Expr::col((la, licence_assignment::Column::TenantId)).eq(tenant.uuid()))
            .order_by((mailbox::Entity, mailbox::Column::Address), Order::Asc)
            .order_by(
                (subscription::Entity, subscription::Column::Sku),
                Order::Asc,
            )
            .to_owned();
        let found = self.reader().query_all(&query).await.map_err(db_error)?;
        found
            .iter()
            .map(|r| {
                let mailbox_id: Uuid = r.try_get("", "mailbox_id").map_err(db_error)?;
                let address: String = r.try_get("", "address").map_err(db_error)?;
                let sku: String = r.try_get("", "sku").map_err(db_error)?;
                let assigned_at: OffsetDateTime = r.try_get("", "assigned_at").map_err(db_error)?;
                Ok(LicenceAssignment {
                    mailbox_id: mailbox_id.into(),
                    address: EmailAddress::parse(&address)
                        .map_err(|e| Error::internal(format!("mailbox {mailbox_id}: {e}")))?,
                    sku,
                    assigned_at,
                })
            })
            .collect()
    }

    /// Every domain of the tenant, in the order they were added (not a page).
    pub async fn inventory_domains(&self, tenant: TenantId) -> Result<Vec<Domain>> {
        domain::Entity::find()
            .filter(domain::Column::TenantId.eq(tenant.uuid()))
            .order_by_asc(domain::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(rows::domain)
            .collect()
    }

    /// How many aliases and how many groups the tenant has.
    pub async fn inventory_directory_counts(&self, tenant: TenantId) -> Result<(u64, u64)> {
        let aliases = alias::Entity::find()
            .filter(alias::Column::TenantId.eq(tenant.uuid()))
            .count(self.reader())
            .await
            .map_err(db_error)?;
        let groups = group::Entity::find()
            .filter(group::Column::TenantId.eq(tenant.uuid()))
            .count(self.reader())
            .await
            .map_err(db_error)?;
        Ok((aliases, groups))
    }
}

//! Persistence of the end of a tenant's life: exports, terminations, and the destruction of
//! a tenant's configuration at end of service.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::lifecycle::{
    Export, ExportFormat, ExportManifest, ExportState, Termination, TerminationBlock,
    TerminationState,
};
use mailplane_types::suspensions::SuspensionReason;
use mailplane_types::{Error, ExportId, MailboxId, Party, Result, TenantId, TerminationId};

use crate::entity::{
    alias, api_credential, domain, export, group, group_member, licence_assignment, mailbox,
    mailbox_password, termination,
};
use crate::{DataStore, WriteTx, db_error};

fn export_row(r: export::Model) -> Result<Export> {
    let bad = |what: &str| Error::internal(format!("export {}: bad {what}", r.id));
    Ok(Export {
        id: r.id.into(),
        tenant_id: r.tenant_id.into(),
        mailbox_id: r.mailbox_id.map(Into::into),
        format: ExportFormat::parse(&r.format).ok_or_else(|| bad("format"))?,
        state: ExportState::parse(&r.state).ok_or_else(|| bad("state"))?,
        requested_by: r.requested_by.clone(),
        requested_by_party: r.requested_by_party.parse().map_err(|_| bad("party"))?,
        created_at: r.created_at,
        ready_at: r.ready_at,
        expires_at: r.expires_at,
        download_url: None,
        manifest: match &r.manifest {
            Some(m) => Some(serde_json::from_str(m).map_err(|_| bad("manifest"))?),
            None => None,
        },
        acknowledged_at: r.acknowledged_at,
        acknowledged_by: r.acknowledged_by.clone(),
    })
}

/// An export of a tenant, on a connection or in a transaction.
async fn export_get_on(
    db: &impl sea_orm::ConnectionTrait,
    tenant: TenantId,
    id: ExportId,
) -> Result<Option<Export>> {
    export::Entity::find_by_id(id.uuid())
        .filter(export::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(export_row)
        .transpose()
}

/// The tenant's termination under way or ended (not cancelled), on a connection or in a
/// transaction.
async fn termination_current_on(
    db: &impl sea_orm::ConnectionTrait,
    tenant: TenantId,
) -> Result<Option<TerminationRecord>> {
    termination::Entity::find()
        .filter(termination::Column::TenantId.eq(tenant.uuid()))
        .filter(termination::Column::State.ne(TerminationState::Cancelled.as_str()))
        .one(db)
        .await
        .map_err(db_error)?
        .map(termination_row)
        .transpose()
}

/// A termination with what its steps recorded for the later ones.
#[derive(Debug, Clone)]
pub struct TerminationRecord {
    /// The termination as callers see it.
    pub termination: Termination,
    /// What the configuration step saw before removing it (tenant, mailboxes).
    pub snapshot: Option<serde_json::Value>,
    /// What the erase step destroyed (key ids, objects, bytes).
    pub erasure: Option<serde_json::Value>,
}

fn termination_row(r: termination::Model) -> Result<TerminationRecord> {
    let bad = |what: &str| Error::internal(format!("termination {}: bad {what}", r.id));
    let json = |s: &Option<String>| -> Result<Option<serde_json::Value>> {
        match s {
            Some(s) => Ok(Some(serde_json::from_str(s).map_err(|_| bad("json"))?)),
            None => Ok(None),
        }
    };
    Ok(TerminationRecord {
        snapshot: json(&r.snapshot)?,
        erasure: json(&r.erasure)?,
        termination: Termination {
            id: r.id.into(),
            tenant_id: r.tenant_id.into(),
            state: TerminationState::parse(&r.state).ok_or_else(|| bad("state"))?,
            requested_by: r.requested_by.clone(),
            cause: r
                .cause
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|_| bad("cause"))?,
            cause_note: r.cause_note.clone(),
            requested_by_party: r.requested_by_party.parse().map_err(|_| bad("party"))?,
            terminated_at: r.terminated_at,
            export_window_days: u32::try_from(r.export_window_days).unwrap_or(0),
            window_ends_at: r.window_ends_at,
            blocked_by: serde_json::from_str(&r.blocked_by).map_err(|_| bad("blocked_by"))?,
            cancelled_at: r.cancelled_at,
            configuration_destroyed_at: r.configuration_destroyed_at,
            data_destroyed_at: r.data_destroyed_at,
            files_removed_at: r.files_removed_at,
            closed_at: r.closed_at,
            certificate: json(&r.certificate)?,
        },
    })
}

/// A change to a termination: the fields set are written, the others kept.
#[derive(Debug, Clone, Default)]
pub struct TerminationChange {
    /// The new state.
    pub state: Option<TerminationState>,
    /// What blocks it now (empty: nothing).
    pub blocked_by: Option<Vec<TerminationBlock>>,
    /// Cancelled at, by.
    pub cancelled: Option<(OffsetDateTime, String)>,
    /// When the configuration was destroyed.
    pub configuration_destroyed_at: Option<OffsetDateTime>,
    /// When the data was destroyed.
    pub data_destroyed_at: Option<OffsetDateTime>,
    /// When the last file was removed.
    pub files_removed_at: Option<OffsetDateTime>,
    /// When the tombstone was written.
    pub closed_at: Option<OffsetDateTime>,
    /// What the configuration step saw.
    pub snapshot: Option<serde_json::Value>,
    /// What the erase step destroyed.
    pub erasure: Option<serde_json::Value>,
    /// The signed certificate.
    pub certificate: Option<serde_json::Value>,
}

/// What destroying a tenant's configuration removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigurationRemoved {
    /// Domains, the default one included.
    pub domains: u64,
    /// Mailboxes.
    pub mailboxes: u64,
    /// Groups.
    pub groups: u64,
    /// Aliases.
    pub aliases: u64,
    /// API credentials.
    pub credentials: u64,
    /// Webhooks.
    pub webhooks: u64,
}

impl WriteTx {
    /// Records a new export, preparing.
    pub async fn export_insert(
        &self,
        tenant: TenantId,
        mailbox: Option<MailboxId>,
        format: ExportFormat,
        by: (&str, Party),
        at: OffsetDateTime,
    ) -> Result<Export> {
        let row = export::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            mailbox_id: Set(mailbox.map(|m| m.uuid())),
            format: Set(format.as_str().into()),
            state: Set(ExportState::Preparing.as_str().into()),
            requested_by: Set(by.0.into()),
            requested_by_party: Set(by.1.as_str().into()),
            created_at: Set(at),
            ready_at: Set(None),
            expires_at: Set(None),
            manifest: Set(None),
            acknowledged_at: Set(None),
            acknowledged_by: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        export_row(row)
    }

    /// An export of a tenant, inside the transaction.
    pub async fn export_view(&self, tenant: TenantId, id: ExportId) -> Result<Option<Export>> {
        export_get_on(&self.tx, tenant, id).await
    }

    /// Moves an export from `from` to `to`, setting the given fields; a conflict naming
    /// the state when it is not in `from`.
    pub async fn export_transition(
        &self,
        id: ExportId,
        from: &[ExportState],
        to: ExportState,
        manifest: Option<&ExportManifest>,
        times: (Option<OffsetDateTime>, Option<OffsetDateTime>),
        acknowledged: Option<(OffsetDateTime, &str)>,
    ) -> Result<Export> {
        let mut q = export::Entity::update_many()
            .col_expr(export::Column::State, Expr::value(to.as_str()))
            .filter(export::Column::Id.eq(id.uuid()))
            .filter(export::Column::State.is_in(from.iter().map(|s| s.as_str())));
        if let Some(m) = manifest {
            let json = serde_json::to_string(m)
                .map_err(|e| Error::internal(format!("serialising a manifest: {e}")))?;
            q = q.col_expr(export::Column::Manifest, Expr::value(json));
        }
        if let Some(t) = times.0 {
            q = q.col_expr(export::Column::ReadyAt, Expr::value(t));
        }
        if let Some(t) = times.1 {
            q = q.col_expr(export::Column::ExpiresAt, Expr::value(t));
        }
        if let Some((at, by)) = acknowledged {
            q = q
                .col_expr(export::Column::AcknowledgedAt, Expr::value(at))
                .col_expr(export::Column::AcknowledgedBy, Expr::value(by));
        }
        let r = q.exec(&self.tx).await.map_err(db_error)?;
        let row = export::Entity::find_by_id(id.uuid())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::not_found("export", id))?;
        let e = export_row(row)?;
        if r.rows_affected != 1 && e.state != to {
            return Err(Error::conflict(
                None,
                format!(
                    "the export is {}, not {}",
                    e.state.as_str(),
                    from.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        Ok(e)
    }

    /// Whether the customer acknowledged an export of the whole tenant made at or after
    /// `since`.
    pub async fn tenant_export_acknowledged_since(
        &self,
        tenant: TenantId,
        since: OffsetDateTime,
    ) -> Result<bool> {
        Ok(export::Entity::find()
            .filter(export::Column::TenantId.eq(tenant.uuid()))
            .filter(export::Column::MailboxId.is_null())
            .filter(export::Column::CreatedAt.gte(since))
            .filter(export::Column::AcknowledgedAt.is_not_null())
            .count(&self.tx)
            .await
            .map_err(db_error)?
            > 0)
    }

    /// Records a termination.
    pub async fn termination_insert(
        &self,
        tenant: TenantId,
        by: (&str, Party),
        at: OffsetDateTime,
        window_days: u32,
        cause: Option<(SuspensionReason, Option<&str>)>,
    ) -> Result<Termination> {
        let row = termination::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.uuid()),
            state: Set(TerminationState::Terminating.as_str().into()),
            requested_by: Set(by.0.into()),
            requested_by_party: Set(by.1.as_str().into()),
            terminated_at: Set(at),
            export_window_days: Set(window_days as i32),
            window_ends_at: Set(at + time::Duration::days(i64::from(window_days))),
            blocked_by: Set("[]".into()),
            cancelled_at: Set(None),
            cancelled_by: Set(None),
            configuration_destroyed_at: Set(None),
            data_destroyed_at: Set(None),
            files_removed_at: Set(None),
            closed_at: Set(None),
            snapshot: Set(None),
            erasure: Set(None),
            certificate: Set(None),
            cause: Set(cause.map(|c| c.0.as_str().to_string())),
            cause_note: Set(cause.and_then(|c| c.1).map(str::to_string)),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(termination_row(row)?.termination)
    }

    /// The tenant's termination under way or ended (not cancelled), if any.
    pub async fn termination_current(&self, tenant: TenantId) -> Result<Option<TerminationRecord>> {
        termination_current_on(&self.tx, tenant).await
    }

    /// A termination by id.
    pub async fn termination_view(&self, id: TerminationId) -> Result<TerminationRecord> {
        termination::Entity::find_by_id(id.uuid())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(termination_row)
            .transpose()?
            .ok_or_else(|| Error::not_found("termination", id))
    }

    /// Changes a termination that is in one of the `from` states; a conflict naming its
    /// state otherwise.
    pub async fn termination_change(
        &self,
        id: TerminationId,
        from: &[TerminationState],
        change: TerminationChange,
    ) -> Result<TerminationRecord> {
        let mut q = termination::Entity::update_many()
            .filter(termination::Column::Id.eq(id.uuid()))
            .filter(termination::Column::State.is_in(from.iter().map(|s| s.as_str())));
        let json = |v: &serde_json::Value| v.to_string();
        if let Some(s) = change.state {
            q = q.col_expr(termination::Column::State, Expr::value(s.as_str()));
        }
        if let Some(b) = &change.blocked_by {
            let s = serde_json::to_string(b)
                .map_err(|e| Error::internal(format!("serialising blocks: {e}")))?;
            q = q.col_expr(termination::Column::BlockedBy, Expr::value(s));
        }
        if let Some((at, by)) = change.cancelled {
            q = q
                .col_expr(termination::Column::CancelledAt, Expr::value(at))
                .col_expr(termination::Column::CancelledBy, Expr::value(by));
        }
        for (col, v) in [
            (
                termination::Column::ConfigurationDestroyedAt,
                change.configuration_destroyed_at,
            ),
            (
                termination::Column::DataDestroyedAt,
                change.data_destroyed_at,
            ),
            (termination::Column::FilesRemovedAt, change.files_removed_at),
            (termination::Column::ClosedAt, change.closed_at),
        ] {
            if let Some(t) = v {
                q = q.col_expr(col, Expr::value(t));
            }
        }
        for (col, v) in [
            (termination::Column::Snapshot, &change.snapshot),
            (termination::Column::Erasure, &change.erasure),
            (termination::Column::Certificate, &change.certificate),
        ] {
            if let Some(v) = v {
                q = q.col_expr(col, Expr::value(json(v)));
            }
        }
        let r = q.exec(&self.tx).await.map_err(db_error)?;
        let now = self.termination_view(id).await?;
        if r.rows_affected != 1 {
            return Err(Error::conflict(
                None,
                format!(
                    "the termination is {}, not {}",
                    now.termination.state.as_str(),
                    from.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            ));
        }
        Ok(now)
    }

    /// Makes a termination without a cause, still in its export window's state, one for
    /// `cause` with its note, keeping its requester and dates: the dunning ladder takes over
    /// the customer's own termination, which the customer then no longer cancels. A conflict
    /// when it has a cause already or left `terminating` (it was cancelled meanwhile).
    pub async fn termination_for_cause(
        &self,
        id: TerminationId,
        cause: SuspensionReason,
        note: Option<&str>,
    ) -> Result<TerminationRecord> {
        let r = termination::Entity::update_many()
            .col_expr(termination::Column::Cause, Expr::value(cause.as_str()))
            .col_expr(
                termination::Column::CauseNote,
                Expr::value(note.map(str::to_string)),
            )
            .filter(termination::Column::Id.eq(id.uuid()))
            .filter(termination::Column::Cause.is_null())
            .filter(termination::Column::State.eq(TerminationState::Terminating.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let now = self.termination_view(id).await?;
        if r.rows_affected != 1 {
            return Err(Error::conflict(
                None,
                format!(
                    "termination {id} is {} with cause {}: it is not the customer's own in its export window",
                    now.termination.state.as_str(),
                    now.termination
                        .cause
                        .map_or("none".to_string(), |c| c.to_string())
                ),
            ));
        }
        Ok(now)
    }

    /// Removes a tenant's configuration at end of service: groups and their members,
    /// aliases, licence assignments and subscriptions, passwords, mailboxes, every domain
    /// (the default one included), API credentials, webhooks, retention policies and
    /// released legal holds. The tenant row stays, as the tombstone, with the status
    /// `terminated`.
    pub async fn tenant_configuration_destroy(
        &self,
        tenant: TenantId,
    ) -> Result<ConfigurationRemoved> {
        let t = tenant.uuid();
        let mut removed = ConfigurationRemoved::default();
        let groups: Vec<Uuid> = group::Entity::find()
            .select_only()
            .column(group::Column::Id)
            .filter(group::Column::TenantId.eq(t))
            .into_tuple()
            .all(&self.tx)
            .await
            .map_err(db_error)?;
        group_member::Entity::delete_many()
            .filter(group_member::Column::GroupId.is_in(groups.clone()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        removed.groups = group::Entity::delete_many()
            .filter(group::Column::TenantId.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        removed.aliases = alias::Entity::delete_many()
            .filter(alias::Column::TenantId.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        licence_assignment::Entity::delete_many()
            .filter(licence_assignment::Column::TenantId.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let mailboxes: Vec<Uuid> = mailbox::Entity::find()
            .select_only()
            .column(mailbox::Column::Id)
            .filter(mailbox::Column::TenantId.eq(t))
            .into_tuple()
            .all(&self.tx)
            .await
            .map_err(db_error)?;
        // Members of other tenants' groups never point here, but a group of this tenant
        // may list a mailbox by id; both are gone above. Passwords go with their mailboxes.
        for chunk in mailboxes.chunks(500) {
            mailbox_password::Entity::delete_many()
                .filter(mailbox_password::Column::MailboxId.is_in(chunk.to_vec()))
                .exec(&self.tx)
                .await
                .map_err(db_error)?;
        }
        removed.mailboxes = mailbox::Entity::delete_many()
            .filter(mailbox::Column::TenantId.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        removed.domains = domain::Entity::delete_many()
            .filter(domain::Column::TenantId.eq(t))
            .filter(domain::Column::Kind.ne(crate::rows::DEFAULT_DOMAIN))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        removed.domains += 1;
        self.tenant_catalogue_delete(tenant).await?;
        self.tenant_retention_delete(tenant).await?;
        self.tenant_suspensions_delete(tenant).await?;
        removed.credentials = api_credential::Entity::delete_many()
            .filter(api_credential::Column::TenantId.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        removed.webhooks = crate::entity::webhook::Entity::delete_many()
            .filter(crate::entity::webhook::Column::Org.eq(format!("tenant:{tenant}")))
            .exec(&self.tx)
            .await
            .map_err(db_error)?
            .rows_affected;
        crate::entity::tenant::Entity::update_many()
            .col_expr(
                crate::entity::tenant::Column::Status,
                sea_orm::sea_query::Expr::value(
                    mailplane_types::resources::TenantStatus::Terminated.as_str(),
                ),
            )
            .filter(crate::entity::tenant::Column::Id.eq(t))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(removed)
    }
}

impl DataStore {
    /// An export of a tenant.
    pub async fn export_view(&self, tenant: TenantId, id: ExportId) -> Result<Option<Export>> {
        export_get_on(self.reader(), tenant, id).await
    }

    /// A tenant's exports, newest first.
    pub async fn export_list(&self, tenant: TenantId) -> Result<Vec<Export>> {
        export::Entity::find()
            .filter(export::Column::TenantId.eq(tenant.uuid()))
            .order_by_desc(export::Column::Id)
            .limit(1000)
            .all(self.reader())
            .await
            .map_err(db_error)?
            .into_iter()
            .map(export_row)
            .collect()
    }

    /// The tenant's termination under way or ended (not cancelled), if any.
    pub async fn termination_current(&self, tenant: TenantId) -> Result<Option<TerminationRecord>> {
        termination_current_on(self.reader(), tenant).await
    }
}

//! Mailboxes: one at a time (created, updated and deleted as operations, read under
//! `directory.administer`), and in bulk: up to 10,000 mailboxes in one call, all or nothing,
//! with an `Idempotency-Key` so that a retried call never creates twice.
//!
//! In bulk, every row is checked before anything is written, and every problem names its
//! row and field (`mailboxes[41].local_part`): the local part, the display name, the quota
//! against the offer, the domain (the tenant's, and verified), duplicates inside the batch
//! and addresses already in use. The seats the enabled mailboxes need are counted against
//! the free seats. Then one transaction writes the mailboxes, their licences, one audit row
//! and one event for the batch, and the stored answer under the key.
//!
//! A batch is not filed as a request or a proposal: thousands of rows do not belong in a
//! request's payload. The party that holds R and A on `directory.administer` runs it.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use mailplane_store::{MailboxChanges, NewMailbox, Page, StoredAnswer, WriteTx, needs_seat};
use mailplane_types::resources::{Domain, Mailbox, MailboxKind, MailboxStatus, Tenant};
use mailplane_types::{
    AuditOutcome, AuditTarget, BatchId, DomainId, EmailAddress, Error, LocalPart, MailboxId,
    Result, TenantId,
};

use super::idempotency::{key_rule, key_scope};
use super::workflow::{Applied, Made};
use super::{ControlPlane, Operation, Outcome, activity, catalogue, directory, page_request};
use crate::Actor;
use crate::input::{MailboxCreate, MailboxCreateChecked, MailboxUpdate, Problems};

/// The most mailboxes one call creates.
pub const MAX_BATCH: usize = 10_000;

/// Creates many mailboxes at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MailboxBatchCreate {
    /// 1 to 10,000 mailboxes, each as for a single creation.
    pub mailboxes: Vec<MailboxCreate>,
}

/// One mailbox a batch created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItem {
    /// The mailbox's id.
    pub id: MailboxId,
    /// Its address.
    pub address: EmailAddress,
}

/// What a batch created.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxBatch {
    /// The batch's id: the audit row's target.
    pub id: BatchId,
    /// How many mailboxes were created.
    pub created: usize,
    /// The mailboxes, in the order of the request.
    pub mailboxes: Vec<BatchItem>,
}

/// The answer to a bulk call.
#[derive(Debug, Clone)]
pub struct BatchAnswer {
    /// The batch.
    pub batch: MailboxBatch,
    /// Whether it is the stored answer of an earlier call with the same key.
    pub replayed: bool,
}

impl ControlPlane {
    /// Creates a mailbox on a domain of the same tenant (`directory.administer`).
    pub async fn mailbox_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: MailboxCreate,
    ) -> Result<Outcome<Mailbox>> {
        self.run(actor, tenant, Operation::MailboxCreate(input), None)
            .await
    }

    /// A mailbox of a tenant.
    pub async fn mailbox_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Mailbox> {
        // The tenant and the mailbox come from one statement: a read costs one round trip.
        let (found, mailbox) = match self
            .store
            .tenant_and_mailbox(actor.scope(), tenant, id)
            .await?
        {
            Some((t, m)) => (Some(t), m),
            None => (None, None),
        };
        self.authorize_read(actor, found, tenant, activity::DIRECTORY)?;
        mailbox.ok_or_else(|| Error::not_found("mailbox", id))
    }

    /// Mailboxes of a tenant: those not deleted, or those of `status` when given (`deleted`
    /// and `inactive` mailboxes are listed only when asked for).
    pub async fn mailbox_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        cursor: Option<&str>,
        limit: Option<u64>,
        status: Option<MailboxStatus>,
    ) -> Result<Page<Mailbox>> {
        let page = page_request(cursor, limit)?;
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store.mailbox_list(tenant, page, status).await
    }

    /// Changes a mailbox's display name, quota or status.
    pub async fn mailbox_update(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
        input: MailboxUpdate,
    ) -> Result<Outcome<Mailbox>> {
        let op = Operation::MailboxUpdate {
            mailbox_id: id,
            changes: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Deletes a mailbox: it is kept, `deleted`, for the profile's undelete window (or
    /// `inactive` while a legal hold covers it), then a durable job destroys its data.
    pub async fn mailbox_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: MailboxId,
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::MailboxDelete { mailbox_id: id },
            None,
        )
        .await
    }

    /// Creates up to 10,000 mailboxes in one transaction, or none. With a key, a second call
    /// with the same key and body gets the first call's answer (for 24 hours); the same key
    /// with another body is refused.
    pub async fn mailbox_batch_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: MailboxBatchCreate,
        idempotency_key: Option<&str>,
    ) -> Result<BatchAnswer> {
        let (tenant_row, decision) = self
            .tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        super::operations::unfiled(
            &decision,
            actor.party(),
            "thousands of rows do not belong in a request; the party that holds R and A runs a batch, or creates the mailboxes one by one",
        )?;
        let body = serde_json::to_vec(&input)
            .map_err(|e| Error::internal(format!("a batch does not serialise: {e}")))?;
        let request_hash = hex::encode(Sha256::digest(&body));
        let scope = key_scope(actor, &format!("mailbox.batch|{tenant}"));
        let now = self.clock.now();
        if let Some(key) = idempotency_key {
            key_rule(key)?;
            if let Some(stored) = self.store.idempotency_get(&scope, key).await?
                && stored.created_at > now - time::Duration::days(1)
            {
                return replay(stored, &request_hash);
            }
        }

        let written: Result<BatchAnswer> = async {
            // Every row is checked before anything is written.
            let rows = &input.mailboxes;
            if rows.is_empty() || rows.len() > MAX_BATCH {
                return Err(Error::invalid(
                    "mailboxes",
                    format!("must hold 1 to {MAX_BATCH} mailboxes"),
                ));
            }
            // The tenant's domains, read once, whatever the rows name.
            let domains: HashMap<DomainId, Domain> = self
                .store
                .inventory_domains(tenant)
                .await?
                .into_iter()
                .map(|d| (d.id, d))
                .collect();
            let (default_quota, _) = catalogue::quota_bounds(self.catalogue_view(), &tenant_row);
            let offer = catalogue::offer_of(self.catalogue_view(), &tenant_row);
            let mut p = Problems::default();
            let mut new = Vec::with_capacity(rows.len());
            let mut seen: HashSet<String> = HashSet::with_capacity(rows.len());
            for (i, r) in rows.iter().enumerate() {
                let field = |f: &str| format!("mailboxes[{i}].{f}");
                let local_part = LocalPart::parse(&r.local_part)
                    .map_err(|rule| p.add(&field("local_part"), rule))
                    .ok();
                let display_name = p.name(&field("display_name"), &r.display_name);
                status_rule(&mut p, &field("status"), r.status);
                let quota_bytes = p.quota(
                    &field("quota_bytes"),
                    r.quota_bytes.unwrap_or(default_quota),
                );
                catalogue::offer_quota(
                    &mut p,
                    &field("quota_bytes"),
                    self.catalogue_view(),
                    &tenant_row,
                    quota_bytes,
                );
                let domain = super::directory::domain_rule(
                    &mut p,
                    &field("domain_id"),
                    domains.get(&r.domain_id).cloned(),
                );
                if let (Some(lp), Some(d)) = (local_part, domain) {
                    let address = EmailAddress::new(&lp, &d.name).to_string();
                    if !seen.insert(address.clone()) {
                        p.add(
                            &field("local_part"),
                            format!("{address} appears twice in the batch"),
                        );
                    }
                    new.push((
                        i,
                        address,
                        NewMailbox {
                            tenant_id: tenant,
                            domain: d,
                            local_part: lp,
                            display_name,
                            quota_bytes,
                            status: r.status.unwrap_or(MailboxStatus::Enabled),
                            kind: r.kind.unwrap_or(MailboxKind::User),
                        },
                    ));
                }
            }
            let candidates: Vec<String> = new.iter().map(|(_, a, _)| a.clone()).collect();
            let taken: HashSet<String> = self
                .store
                .addresses_taken(&candidates)
                .await?
                .into_iter()
                .collect();
            for (i, address, _) in &new {
                if taken.contains(address) {
                    p.add(
                        &format!("mailboxes[{i}].local_part"),
                        format!(
                            "the address {address} is already in use by a mailbox, an alias or a group"
                        ),
                    );
                }
            }
            p.finish()?;

            // The seats the enabled people's mailboxes need.
            let licence_sku = offer
                .filter(|o| o.licence_required)
                .and_then(|o| o.sku.clone());
            let tx = self.store.begin().await?;
            super::lifecycle::frozen(
                tx.termination_current(tenant).await?.as_ref(),
                self.clock.now(),
                false,
            )?;
            self.customer_not_suspended_in(&tx, actor, tenant).await?;
            // The key is claimed before anything is written, so a concurrent retry meets it.
            if let Some(key) = idempotency_key {
                tx.idempotency_store(
                    &scope,
                    key,
                    &StoredAnswer {
                        request_hash: request_hash.clone(),
                        status: 201,
                        response: String::new(),
                        created_at: now,
                    },
                )
                .await?;
            }
            let subscription = match &licence_sku {
                Some(sku) => {
                    let needed = new
                        .iter()
                        .filter(|(_, _, m)| {
                            m.status == MailboxStatus::Enabled && m.kind == MailboxKind::User
                        })
                        .count();
                    let s = tx.subscription_for_sku(tenant, sku).await?;
                    match s {
                        Some(s) if needed > 0 => {
                            let s = tx.subscription_get(tenant, s.id).await?;
                            if (s.free as usize) < needed {
                                return Err(Error::conflict(
                                    Some("mailboxes"),
                                    format!(
                                        "{needed} enabled mailbox(es) need as many free seats of `{sku}`, and {} are free: add {} seat(s) or create some mailboxes disabled",
                                        s.free,
                                        needed - s.free as usize
                                    ),
                                ));
                            }
                            Some(s)
                        }
                        None if needed > 0 => {
                            return Err(Error::conflict(
                                Some("mailboxes"),
                                format!(
                                    "the tenant holds no `{sku}` subscription for its enabled mailboxes"
                                ),
                            ));
                        }
                        _ => None,
                    }
                }
                None => None,
            };
            let created = tx
                .mailboxes_insert_many(new.into_iter().map(|(_, _, m)| m).collect())
                .await?;
            if let Some(s) = &subscription {
                let licensed: Vec<_> = created.iter().filter(|m| needs_seat(m)).collect();
                tx.licences_assign_many(s, &licensed).await?;
            }
            let batch = MailboxBatch {
                id: BatchId::new(),
                created: created.len(),
                mailboxes: created
                    .into_iter()
                    .map(|m| BatchItem {
                        id: m.id,
                        address: m.address,
                    })
                    .collect(),
            };
            if let Some(key) = idempotency_key {
                let response = serde_json::to_string(&batch)
                    .map_err(|e| Error::internal(format!("a batch answer: {e}")))?;
                tx.idempotency_answer(&scope, key, response).await?;
            }
            let change = Self::change(
                actor,
                &decision,
                Some(tenant),
                AuditTarget::MailboxBatch,
                batch.id,
                AuditOutcome::Created,
            );
            Self::record_and_commit(tx, change).await?;
            Ok(BatchAnswer {
                batch,
                replayed: false,
            })
        }
        .await;
        match (written, idempotency_key) {
            // A retry that ran beside the first call may meet its mailboxes before its key:
            // once the first call's answer is stored, that answer is the retry's too.
            (Err(e), Some(key)) => match self.store.idempotency_get(&scope, key).await? {
                Some(stored)
                    if !stored.response.is_empty()
                        && stored.created_at > now - time::Duration::days(1) =>
                {
                    replay(stored, &request_hash)
                }
                _ => Err(e),
            },
            (written, _) => written,
        }
    }
}

/// The stored answer of an earlier call with the same key, if the body is the same.
fn replay(stored: StoredAnswer, request_hash: &str) -> Result<BatchAnswer> {
    if stored.request_hash != request_hash {
        return Err(Error::Unprocessable {
            field: "Idempotency-Key".into(),
            message: "the key was used with another body in the last 24 hours: use a new key for a new batch".into(),
        });
    }
    let batch: MailboxBatch = serde_json::from_str(&stored.response)
        .map_err(|e| Error::internal(format!("a stored batch answer does not parse: {e}")))?;
    Ok(BatchAnswer {
        batch,
        replayed: true,
    })
}

/// A mailbox operation whose input passed its check, with the values the check parsed (or borrowed
/// as they are).
// The variants repeat the names of the operations they check, as every resource's do.
#[allow(clippy::enum_variant_names)]
pub(super) enum Checked<'a> {
    MailboxCreate(MailboxCreateChecked),
    MailboxUpdate(MailboxId, &'a MailboxUpdate),
    MailboxDelete(MailboxId),
    MailboxRestore(MailboxId),
}

/// Parses a mailbox operation's input into `p`'s problems and a checked value: `None` when `p`
/// holds a problem, or for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::MailboxCreate(i) => mailbox_create_check(p, i),
        Operation::MailboxUpdate {
            mailbox_id,
            changes,
        } => mailbox_update_check(p, *mailbox_id, changes),
        Operation::MailboxDelete { mailbox_id } => Some(Checked::MailboxDelete(*mailbox_id)),
        Operation::MailboxRestore { mailbox_id } => Some(Checked::MailboxRestore(*mailbox_id)),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a mailbox operation whose input passed its check.
    pub(super) async fn mailboxes_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
        p: Problems,
    ) -> Result<Made> {
        match checked {
            Checked::MailboxCreate(i) => self.mailbox_create_apply(tx, t, i, p).await,
            Checked::MailboxUpdate(id, i) => self.mailbox_update_apply(tx, t, id, i).await,
            Checked::MailboxDelete(id) => self.mailbox_delete_apply(tx, actor, t, id).await,
            Checked::MailboxRestore(id) => self.mailbox_restore_apply(tx, t, id).await,
        }
    }
}

/// Checks `mailbox.create`'s fields: the local part parses, once, the display name and a
/// given quota keep their rules. Always a value: its change reports these problems with
/// those that depend on the tenant, so the local part is `None` when `p` names it.
fn mailbox_create_check<'a>(p: &mut Problems, input: &'a MailboxCreate) -> Option<Checked<'a>> {
    let local_part = LocalPart::parse(&input.local_part)
        .map_err(|rule| p.add("local_part", rule))
        .ok();
    let display_name = p.name("display_name", &input.display_name);
    if let Some(q) = input.quota_bytes {
        p.quota("quota_bytes", q);
    }
    status_rule(p, "status", input.status);
    Some(Checked::MailboxCreate(MailboxCreateChecked {
        local_part,
        domain_id: input.domain_id,
        display_name,
        quota_bytes: input.quota_bytes,
        status: input.status,
        kind: input.kind,
    }))
}

/// A status given as input is `enabled` or `disabled`: deleting and restoring are
/// operations of their own.
fn status_rule(p: &mut Problems, field: &str, status: Option<MailboxStatus>) {
    if status.is_some_and(MailboxStatus::is_deleted) {
        p.add(
            field,
            "must be `enabled` or `disabled`: a mailbox is deleted by `mailbox.delete` and restored by `mailbox.restore`",
        );
    }
}

/// Checks `mailbox.update`: at least one change, each keeping its rule.
fn mailbox_update_check<'a>(
    p: &mut Problems,
    mailbox_id: MailboxId,
    changes: &'a MailboxUpdate,
) -> Option<Checked<'a>> {
    if let Some(n) = &changes.display_name {
        p.name("display_name", n);
    }
    if let Some(q) = changes.quota_bytes {
        p.quota("quota_bytes", q);
    }
    status_rule(p, "status", changes.status);
    if changes.display_name.is_none() && changes.quota_bytes.is_none() && changes.status.is_none() {
        p.add(
            "display_name",
            "at least one of `display_name`, `quota_bytes` and `status` must be given",
        );
    }
    Some(Checked::MailboxUpdate(mailbox_id, changes))
}

impl ControlPlane {
    /// Applies `mailbox.create`, finishing `p`, the list of its field problems, with those
    /// that depend on the tenant.
    async fn mailbox_create_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: MailboxCreateChecked,
        mut p: Problems,
    ) -> Result<Made> {
        let tid = tenant.id;
        // Every field problem at once, the domain's existence included.
        let (default_quota, _) = catalogue::quota_bounds(self.catalogue_view(), tenant);
        let quota_bytes = match input.quota_bytes {
            Some(q) => q,
            None => p.quota("quota_bytes", default_quota),
        };
        catalogue::offer_quota(
            &mut p,
            "quota_bytes",
            self.catalogue_view(),
            tenant,
            quota_bytes,
        );
        let domain = directory::address_domain(tx, &mut p, tid, input.domain_id).await?;
        p.finish()?;
        let (Some(local_part), Some(domain)) = (input.local_part, domain) else {
            unreachable!("problems were reported above")
        };
        self.address_not_reserved(
            tx,
            "local_part",
            &EmailAddress::new(&local_part, &domain.name).to_string(),
        )
        .await?;
        let m = tx
            .mailbox_insert(NewMailbox {
                tenant_id: tid,
                domain,
                local_part,
                display_name: input.display_name,
                quota_bytes,
                status: input.status.unwrap_or(MailboxStatus::Enabled),
                kind: input.kind.unwrap_or(MailboxKind::User),
            })
            .await?;
        if m.status == MailboxStatus::Enabled && m.kind == MailboxKind::User {
            self.license_for_enabling(tx, tenant, m.id).await?;
        }
        let id = m.id;
        Ok(Made::new(
            Applied::Mailbox(m),
            AuditTarget::Mailbox,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `mailbox.update`.
    async fn mailbox_update_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox_id: MailboxId,
        changes: &MailboxUpdate,
    ) -> Result<Made> {
        let tid = tenant.id;
        let m = tx
            .mailbox_view(tid, mailbox_id)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox_id))?;
        if m.status.is_deleted() {
            return Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is {}: restore it first (POST /v1/tenants/{tid}/mailboxes/{mailbox_id}/restore)",
                    m.id,
                    m.address,
                    m.status.as_str()
                ),
            ));
        }
        if let Some(q) = changes.quota_bytes {
            let mut p = Problems::default();
            catalogue::offer_quota(&mut p, "quota_bytes", self.catalogue_view(), tenant, q);
            p.finish()?;
        }
        if changes.status == Some(MailboxStatus::Enabled) {
            self.license_for_enabling(tx, tenant, mailbox_id).await?;
        }
        let m = tx
            .mailbox_update(
                mailbox_id,
                MailboxChanges {
                    display_name: changes
                        .display_name
                        .as_deref()
                        .map(|n| n.trim().to_string()),
                    quota_bytes: changes.quota_bytes,
                    status: changes.status,
                },
            )
            .await?;
        Ok(Made::new(
            Applied::Mailbox(m),
            AuditTarget::Mailbox,
            mailbox_id,
            AuditOutcome::Updated,
        ))
    }
}

//! The end of a tenant's life through the control plane: exports (reversibility), their
//! download links and acknowledgement, and the termination that carries a tenant to
//! destroyed data and a signed certificate.
//!
//! Asking for an export (`export.pst.deliver`: customer A, provider R) and terminating the
//! contract (`contract.terminate`) are operations, routed by the matrix like any other.
//! What happens after, copying mailboxes into an archive and walking the termination's
//! steps, runs as durable jobs (`jobs.rs`) under provider automation.

use std::path::PathBuf;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use mailplane_store::{TerminationRecord, WriteTx};
use mailplane_types::lifecycle::{Export, ExportState, Termination, TerminationState};
use mailplane_types::resources::Tenant;
use mailplane_types::suspensions::SuspensionReason;
use mailplane_types::{AuditOutcome, AuditTarget, Duty, Error, ExportId, Result, TenantId};
use sha2::Sha256;

use super::jobs::{EXPORT_JOB, TERMINATION_JOB};
use super::{ControlPlane, Operation, OperationKind, Outcome, activity};
use crate::Actor;
use crate::certificate::{CertificateSigner, PublishedKeys};
use crate::input::{ExportCreate, TerminationCreate};

/// How long an export's download link works by default: 7 days.
pub const DEFAULT_LINK_TTL: time::Duration = time::Duration::days(7);

/// What exports and destruction certificates need: where archives are written, the key
/// certificates are signed with, and how long a download link works.
#[derive(Clone)]
pub struct LifecycleSettings {
    /// The folder export archives are written under (`<dir>/<tenant>/<export>/`).
    pub exports_dir: PathBuf,
    /// The provider's certificate signing key.
    pub signer: Arc<CertificateSigner>,
    /// Who issues certificates (the provider's name or domain).
    pub issuer: String,
    /// How long a download link works after the archive is ready.
    pub link_ttl: time::Duration,
}

impl std::fmt::Debug for LifecycleSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LifecycleSettings")
            .field("exports_dir", &self.exports_dir)
            .field("issuer", &self.issuer)
            .field("link_ttl", &self.link_ttl)
            .finish_non_exhaustive()
    }
}

/// Refuses an operation the end of service no longer allows (see [`frozen`]): legal
/// holds, exports and asking to cancel (which answers for itself) go on after the window.
pub(super) async fn not_destroyed(
    tx: &WriteTx,
    tenant: TenantId,
    op: &Operation,
    now: time::OffsetDateTime,
) -> Result<()> {
    let exempt = runs_after_window(op.kind());
    frozen(tx.termination_current(tenant).await?.as_ref(), now, exempt)
}

/// The operations that go on after the export window closes: legal holds, exports and
/// asking to cancel (which answers for itself). The registry's golden file lists it.
pub(super) fn runs_after_window(kind: OperationKind) -> bool {
    matches!(
        kind,
        OperationKind::HoldPlace
            | OperationKind::HoldRelease
            | OperationKind::ExportCreate
            | OperationKind::TerminationCancel
    )
}

/// Refuses a change the end of service no longer allows, given the tenant's current
/// termination. During the export window every change is allowed. Once it closes, the
/// configuration and the mail are about to be destroyed as they are, so only what can lift
/// or meet a block goes on (`exempt`). Once the configuration is destroyed, nothing. Every
/// path that changes a tenant without going through `apply` (batches, passwords, domain
/// checks, message imports) calls it with `exempt` false.
pub(super) fn frozen(
    current: Option<&TerminationRecord>,
    now: time::OffsetDateTime,
    exempt: bool,
) -> Result<()> {
    let Some(t) = current.map(|c| &c.termination) else {
        return Ok(());
    };
    match t.state {
        TerminationState::Terminating if now < t.window_ends_at => Ok(()),
        TerminationState::Terminating | TerminationState::Blocked if exempt => Ok(()),
        TerminationState::Terminating | TerminationState::Blocked => Err(Error::conflict(
            None,
            format!(
                "the export window of the tenant's termination closed at {}: only legal holds and exports change now, before the configuration is destroyed",
                t.window_ends_at
            ),
        )),
        _ => Err(Error::conflict(
            None,
            format!(
                "the tenant is at end of service ({}): nothing of it can change",
                t.state.as_str()
            ),
        )),
    }
}

impl ControlPlane {
    /// The same control plane able to deliver exports and certify destruction.
    pub fn with_lifecycle(mut self, settings: LifecycleSettings) -> ControlPlane {
        self.lifecycle = Some(Arc::new(settings));
        self
    }

    pub(super) fn lifecycle(&self) -> Result<&LifecycleSettings> {
        self.lifecycle
            .as_deref()
            .ok_or_else(|| Error::Unavailable("exports and destruction are not configured".into()))
    }

    /// The public keys destruction certificates are signed with, as a JWK set: what the
    /// provider publishes at its well-known address.
    pub fn destruction_key_list(&self) -> Result<PublishedKeys> {
        Ok(PublishedKeys {
            keys: vec![self.lifecycle()?.signer.published_key()],
        })
    }

    pub(super) async fn apply_export_create(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        input: &ExportCreate,
    ) -> Result<Export> {
        self.lifecycle()?;
        if let Some(m) = input.mailbox_id
            && tx.mailbox_view(tenant.id, m).await?.is_none()
        {
            return Err(Error::invalid(
                "mailbox_id",
                "must be a mailbox of this tenant",
            ));
        }
        let now = self.clock.now();
        let export = tx
            .export_insert(
                tenant.id,
                input.mailbox_id,
                input.format,
                (actor.subject(), actor.party()),
                now,
            )
            .await?;
        tx.job_insert(
            EXPORT_JOB,
            export.id.uuid(),
            Some(tenant.id),
            "start",
            now,
            &serde_json::json!({}),
            now,
        )
        .await?;
        Ok(export)
    }

    /// Opens an end of service: the termination (with its cause, if any), an export window
    /// of `days` (else the profile's) and its job; a contract ended already is a conflict.
    pub(super) async fn termination_open(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        days: Option<u32>,
        cause: Option<(SuspensionReason, Option<&str>)>,
    ) -> Result<Termination> {
        if let Some(t) = tx.termination_current(tenant.id).await? {
            return Err(Error::conflict(
                None,
                format!(
                    "the contract was already terminated on {} (termination {}, {})",
                    t.termination.terminated_at.date(),
                    t.termination.id,
                    t.termination.state.as_str()
                ),
            ));
        }
        let days = match days {
            Some(d) => d,
            None => {
                let w = self.profile_of(tenant)?.export_window;
                u32::try_from(w.as_secs().div_ceil(86_400)).unwrap_or(u32::MAX)
            }
        };
        let now = self.clock.now();
        let t = tx
            .termination_insert(
                tenant.id,
                (actor.subject(), actor.party()),
                now,
                days,
                cause,
            )
            .await?;
        tx.job_insert(
            TERMINATION_JOB,
            t.id.uuid(),
            Some(tenant.id),
            "window",
            t.window_ends_at,
            &serde_json::json!({}),
            now,
        )
        .await?;
        Ok(t)
    }

    pub(super) async fn apply_termination_cancel(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
    ) -> Result<Termination> {
        // Under the tenant's suspensions lock, taken before reading: the dunning ladder takes
        // it before it makes this termination one for cause, so the cancellation reads the
        // cause it committed, or commits first and the ladder finds no termination.
        tx.suspensions_lock(tenant.id).await?;
        let current = tx
            .termination_current(tenant.id)
            .await?
            .ok_or_else(|| Error::not_found("termination", tenant.id))?;
        super::dunning::cancellable(&current.termination)?;
        let now = self.clock.now();
        if current.termination.state == TerminationState::Terminating
            && now >= current.termination.window_ends_at
        {
            return Err(Error::conflict(
                None,
                format!(
                    "the export window closed at {}: the termination can no longer be cancelled",
                    current.termination.window_ends_at
                ),
            ));
        }
        let changed = tx
            .termination_change(
                current.termination.id,
                &[TerminationState::Terminating],
                mailplane_store::TerminationChange {
                    state: Some(TerminationState::Cancelled),
                    cancelled: Some((now, actor.subject().to_string())),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| match e {
                Error::Conflict { message, .. } => Error::conflict(
                    None,
                    format!("{message}: a termination is cancelled only during the export window"),
                ),
                other => other,
            })?;
        // The job wakes, sees the cancellation and ends.
        tx.job_wake(TERMINATION_JOB, current.termination.id.uuid(), now)
            .await?;
        Ok(changed.termination)
    }

    /// Asks for an export of a mailbox or the whole tenant (`export.pst.deliver`).
    pub async fn export_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: ExportCreate,
    ) -> Result<Outcome<Export>> {
        self.run(actor, tenant, Operation::ExportCreate(input), None)
            .await
    }

    /// Terminates the tenant's contract (`contract.terminate`), opening the export window.
    pub async fn termination_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: TerminationCreate,
    ) -> Result<Outcome<Termination>> {
        self.run(actor, tenant, Operation::TenantTerminate(input), None)
            .await
    }

    /// Cancels the termination during the export window (`contract.terminate`).
    pub async fn termination_cancel(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Outcome<Termination>> {
        self.run(actor, tenant, Operation::TerminationCancel {}, None)
            .await
    }

    /// The party accountable for destroying the configuration (the provider) resumes a
    /// termination its consultation stopped: the consulted parties are asked again, and
    /// an objection this time goes back to the accountable party to approve.
    pub async fn termination_resume(&self, actor: &Actor, tenant: TenantId) -> Result<Termination> {
        let tx = self.store.begin().await?;
        let (tenant_row, decision) = self
            .accountable_in(&tx, actor, tenant, activity::TENANT_DESTROY)
            .await?;
        let current = tx
            .termination_current(tenant)
            .await?
            .ok_or_else(|| Error::not_found("termination", tenant))?;
        let t = current.termination;
        if t.state != TerminationState::Blocked
            || !t.blocked_by.iter().any(|b| b.kind == "consultation")
        {
            return Err(Error::conflict(
                None,
                format!(
                    "the termination is {}, not blocked by a consultation: only such a termination is resumed",
                    t.state.as_str()
                ),
            ));
        }
        let now = self.clock.now();
        let changed = tx
            .termination_change(
                t.id,
                &[TerminationState::Blocked],
                mailplane_store::TerminationChange {
                    state: Some(TerminationState::Terminating),
                    blocked_by: Some(vec![]),
                    ..Default::default()
                },
            )
            .await?;
        // The blocks are checked again, under a step name of its own.
        let step = format!("check#{}", uuid::Uuid::now_v7().simple());
        tx.job_restart(
            TERMINATION_JOB,
            t.id.uuid(),
            &step,
            &serde_json::json!({}),
            now,
        )
        .await?;
        let change = Self::change(
            actor,
            &decision,
            Some(tenant_row.id),
            AuditTarget::Termination,
            t.id,
            AuditOutcome::Resumed,
        );
        Self::record_and_commit(tx, change).await?;
        Ok(changed.termination)
    }

    /// The tenant's termination, under way or ended (`contract.terminate`, any letter).
    pub async fn termination_view(&self, actor: &Actor, tenant: TenantId) -> Result<Termination> {
        self.tenant_for_read(actor, tenant, activity::TERMINATE)
            .await?;
        self.store
            .termination_current(tenant)
            .await?
            .map(|t| t.termination)
            .ok_or_else(|| Error::not_found("termination", tenant))
    }

    /// The tenant's exports, newest first (`export.pst.deliver`, any letter). The download
    /// link is shown to the parties holding R or A.
    pub async fn export_list(&self, actor: &Actor, tenant: TenantId) -> Result<Vec<Export>> {
        let (_, decision) = self
            .tenant_for_read(actor, tenant, activity::EXPORT)
            .await?;
        let links = sees_links(&decision);
        let mut out = self.store.export_list(tenant).await?;
        for e in &mut out {
            self.with_link(e, links);
        }
        Ok(out)
    }

    /// One export (`export.pst.deliver`, any letter).
    pub async fn export_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: ExportId,
    ) -> Result<Export> {
        let (_, decision) = self
            .tenant_for_read(actor, tenant, activity::EXPORT)
            .await?;
        let links = sees_links(&decision);
        let mut e = self
            .store
            .export_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("export", id))?;
        self.with_link(&mut e, links);
        Ok(e)
    }

    /// The accountable party acknowledges that it received an export. Acknowledging twice
    /// answers with the export as acknowledged the first time.
    pub async fn export_acknowledge(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: ExportId,
    ) -> Result<Export> {
        let tx = self.store.begin().await?;
        let (tenant_row, decision) = self
            .accountable_in(&tx, actor, tenant, activity::EXPORT)
            .await?;
        let export = tx
            .export_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("export", id))?;
        if export.state == ExportState::Acknowledged {
            let mut e = export;
            self.with_link(&mut e, true);
            return Ok(e);
        }
        let now = self.clock.now();
        let mut e = tx
            .export_transition(
                id,
                &[ExportState::Ready],
                ExportState::Acknowledged,
                None,
                (None, None),
                Some((now, actor.subject())),
            )
            .await?;
        let change = Self::change(
            actor,
            &decision,
            Some(tenant_row.id),
            AuditTarget::Export,
            id,
            AuditOutcome::Acknowledged,
        );
        // A termination blocked by locked retention may be satisfied by this export.
        if let Some(t) = tx.termination_current(tenant).await? {
            tx.job_wake(TERMINATION_JOB, t.termination.id.uuid(), now)
                .await?;
        }
        Self::record_and_commit(tx, change).await?;
        self.with_link(&mut e, true);
        Ok(e)
    }

    /// The archive of an export, for its download link: no bearer token, the link's token
    /// is the credential. Returns the export and its archive, opened with the tenant's
    /// export key (sealed at rest, read decrypted chunk by chunk).
    ///
    /// Every failure to authorize the download is the same `NotFound` as a random id: a
    /// wrong or malformed token, the token of another export, an export of another tenant,
    /// an export still being prepared, an expired link. Only a caller holding a working
    /// link learns more (the archive was removed: `Gone`).
    pub async fn export_download(
        &self,
        tenant: TenantId,
        id: ExportId,
        token: &str,
    ) -> Result<(Export, crate::archive::SealedArchive)> {
        let settings = self.lifecycle()?;
        let refused = || Error::not_found("export", id);
        let export = self
            .store
            .export_view(tenant, id)
            .await?
            .ok_or_else(refused)?;
        let Some(expires_at) = export.expires_at else {
            return Err(refused());
        };
        let works = self.link_token_matches(&export, expires_at, token)
            && export.state != ExportState::Expired
            && self.clock.now() < expires_at;
        if !works {
            return Err(refused());
        }
        let path = archive_path(settings, &export);
        if !path.exists() {
            return Err(Error::Gone(
                "the archive was removed; ask for a new export".into(),
            ));
        }
        let key = self.data_plane()?.export_key(tenant).await?;
        let archive = tokio::task::spawn_blocking(move || crate::archive::open(&key, &path))
            .await
            .map_err(|e| Error::internal(format!("the archive task failed: {e}")))??;
        Ok((export, archive))
    }

    /// Finds the tenant in the actor's scope, inside `tx`, and requires the actor's party to
    /// be accountable for `activity`: acknowledging an export, resuming a destruction.
    async fn accountable_in(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: TenantId,
        activity: &str,
    ) -> Result<(Tenant, mailplane_policy::Decision)> {
        let found = tx.tenant_view(actor.scope(), tenant).await?;
        let (tenant_row, profile) = self.visible(actor, found, tenant)?;
        let decision = profile.decide(actor.party(), actor.roles(), activity);
        if !decision.exercisable.has(Duty::A) {
            return Err(Error::Forbidden(Box::new(decision.refusal())));
        }
        Ok((tenant_row, decision))
    }

    /// Fills an export's download link while it works, for a caller entitled to it.
    fn with_link(&self, e: &mut Export, entitled: bool) {
        e.download_url = None;
        let (Some(expires_at), true) = (e.expires_at, entitled) else {
            return;
        };
        if !matches!(e.state, ExportState::Ready | ExportState::Acknowledged)
            || self.clock.now() >= expires_at
        {
            return;
        }
        if let Some(token) = self.link_token(e, expires_at) {
            e.download_url = Some(format!(
                "/v1/tenants/{}/exports/{}/download?token={token}",
                e.tenant_id, e.id
            ));
        }
    }

    fn link_mac(&self, e: &Export, expires_at: time::OffsetDateTime) -> Option<Hmac<Sha256>> {
        self.lifecycle.as_deref()?;
        // A key of its own, never the certificate signing key (see `DataPlane::export_link_key`).
        let key = self.data_plane.as_deref()?.export_link_key().ok()?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
        mac.update(format!("{}:{}:{}", e.tenant_id, e.id, expires_at.unix_timestamp()).as_bytes());
        Some(mac)
    }

    fn link_token(&self, e: &Export, expires_at: time::OffsetDateTime) -> Option<String> {
        Some(hex::encode(
            self.link_mac(e, expires_at)?.finalize().into_bytes(),
        ))
    }

    fn link_token_matches(
        &self,
        e: &Export,
        expires_at: time::OffsetDateTime,
        token: &str,
    ) -> bool {
        let (Some(mac), Ok(given)) = (self.link_mac(e, expires_at), hex::decode(token)) else {
            return false;
        };
        mac.verify_slice(&given).is_ok()
    }
}

/// Whether a caller sees download links: the parties holding R (who deliver) or A (who
/// receive); the informed see that an export exists, not its content.
fn sees_links(decision: &mailplane_policy::Decision) -> bool {
    decision.exercisable.has(Duty::R) || decision.exercisable.has(Duty::A)
}

/// Where an export's folder is.
pub(super) fn export_dir(settings: &LifecycleSettings, e: &Export) -> PathBuf {
    settings
        .exports_dir
        .join(e.tenant_id.to_string())
        .join(e.id.to_string())
}

/// Where an export's archive is.
pub(super) fn archive_path(settings: &LifecycleSettings, e: &Export) -> PathBuf {
    export_dir(settings, e).join(format!("{}.{}", e.id, e.format.extension()))
}

// The end of service's operations (`export.create`, `tenant.terminate`, `termination.cancel`):
// their input rules and the changes they make, reached by the dispatchers through `parse`
// and `lifecycle_apply`.

use super::workflow::{Applied, Made};
use crate::input::Problems;

/// An end-of-service operation whose input passed its check, with the values the check parsed (or
/// borrowed as they are).
pub(super) enum Checked<'a> {
    ExportCreate(&'a ExportCreate),
    TenantTerminate(&'a TerminationCreate),
    TerminationCancel,
}

/// Parses an end-of-service operation's input into `p`'s problems and a checked value: `None` when
/// `p` holds a problem, or for another resource's operation, which the dispatcher never routes
/// here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::ExportCreate(i) => Some(Checked::ExportCreate(i)),
        Operation::TenantTerminate(i) => tenant_terminate_check(p, i),
        Operation::TerminationCancel {} => Some(Checked::TerminationCancel),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of an end-of-service operation whose input passed its check.
    pub(super) async fn lifecycle_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::ExportCreate(i) => self.export_create_apply(tx, actor, t, i).await,
            Checked::TenantTerminate(i) => self.tenant_terminate_apply(tx, actor, t, i).await,
            Checked::TerminationCancel => self.termination_cancel_apply(tx, actor, t).await,
        }
    }
}

/// Checks `tenant.terminate`: an export window within bounds.
fn tenant_terminate_check<'a>(
    p: &mut Problems,
    input: &'a TerminationCreate,
) -> Option<Checked<'a>> {
    if let Some(d) = input.export_window_days
        && d > crate::input::MAX_EXPORT_WINDOW_DAYS
    {
        p.add(
            "export_window_days",
            format!("must be from 0 to {}", crate::input::MAX_EXPORT_WINDOW_DAYS),
        );
    }
    Some(Checked::TenantTerminate(input))
}

impl ControlPlane {
    /// Applies `export.create`.
    async fn export_create_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        input: &ExportCreate,
    ) -> Result<Made> {
        let e = self.apply_export_create(tx, actor, tenant, input).await?;
        let id = e.id;
        Ok(Made::new(
            Applied::Export(e),
            AuditTarget::Export,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `tenant.terminate`.
    async fn tenant_terminate_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
        input: &TerminationCreate,
    ) -> Result<Made> {
        let days = input.export_window_days;
        let t = self.termination_open(tx, actor, tenant, days, None).await?;
        let id = t.id;
        Ok(Made::new(
            Applied::Termination(t),
            AuditTarget::Termination,
            id,
            AuditOutcome::Terminated,
        ))
    }

    /// Applies `termination.cancel`.
    async fn termination_cancel_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        tenant: &Tenant,
    ) -> Result<Made> {
        let t = self.apply_termination_cancel(tx, actor, tenant).await?;
        let id = t.id;
        Ok(Made::new(
            Applied::Termination(t),
            AuditTarget::Termination,
            id,
            AuditOutcome::Cancelled,
        ))
    }
}

//! The termination job: it waits for the export window to close, stops at `blocked` while
//! a hold or a locked retention policy stands, consults the parties the profile names,
//! destroys the configuration, erases the data keys, verifies that nothing opens, signs the
//! destruction certificate and removes the files. What each step leaves for the next is
//! typed ([`TerminationProgress`], [`ErasureRecord`], [`TerminationSnapshot`]): the
//! certificate is built from them and refuses a record that lacks a field.

use std::fmt;

use mailplane_store::{JobClaim, JobNext, TerminationChange, WriteTx};
use mailplane_types::lifecycle::{Termination, TerminationBlock, TerminationState};
use mailplane_types::resources::{RequestKind, RequestState, Tenant};
use mailplane_types::{AuditOutcome, AuditTarget, Duty, Error, Party, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{JobMailbox, Step, automation, expire_export, json_of, record_of, step_of};
use crate::certificate::{
    CertificateBody, CertifiedMailbox, CertifiedParty, CertifiedTenant, METHOD, STANDARD, VERSION,
};
use crate::control_plane::activity::{DATA_DESTROY, TENANT_DESTROY};
use crate::control_plane::{AUTOMATION_ROLE, AUTOMATION_SUBJECT, ControlPlane};

/// The steps of a termination, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TerminationStep {
    /// Waits for the export window to close, or ends the job when cancelled (`window`).
    Window,
    /// Stops at `blocked` while a hold or a locked retention policy stands (`check`). A
    /// check run again after a resume carries the resume's id (`check#<id>`), because the
    /// ledger keeps one finished row per step name.
    Check {
        /// The resume's id, if this check follows one.
        resume: Option<String>,
    },
    /// Consults the parties the profile names on the destruction (`consult`).
    Consult,
    /// Destroys the configuration (`configuration`).
    Configuration,
    /// Erases the data keys and the export archives (`erase`).
    Erase,
    /// Checks that nothing of the tenant opens (`verify`).
    Verify,
    /// Signs the destruction certificate (`certify`).
    Certify,
    /// Removes the files and closes the tombstone (`purge`).
    Purge,
}

impl fmt::Display for TerminationStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TerminationStep::Window => "window",
            TerminationStep::Check { resume: None } => "check",
            TerminationStep::Check {
                resume: Some(resume),
            } => return write!(f, "check#{resume}"),
            TerminationStep::Consult => "consult",
            TerminationStep::Configuration => "configuration",
            TerminationStep::Erase => "erase",
            TerminationStep::Verify => "verify",
            TerminationStep::Certify => "certify",
            TerminationStep::Purge => "purge",
        })
    }
}

impl Step for TerminationStep {
    fn parse(stored: &str) -> Option<Self> {
        Some(match stored {
            "window" => TerminationStep::Window,
            "check" => TerminationStep::Check { resume: None },
            "consult" => TerminationStep::Consult,
            "configuration" => TerminationStep::Configuration,
            "erase" => TerminationStep::Erase,
            "verify" => TerminationStep::Verify,
            "certify" => TerminationStep::Certify,
            "purge" => TerminationStep::Purge,
            other => {
                let resume = other.strip_prefix("check#").filter(|r| !r.is_empty())?;
                TerminationStep::Check {
                    resume: Some(resume.to_string()),
                }
            }
        })
    }
}

/// What a termination's steps leave for the later ones. Each field is absent until the
/// step that sets it has run; the certificate refuses to be signed without `verified_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TerminationProgress {
    /// The consultation filed on the destruction of the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) consultation: Option<uuid::Uuid>,
    /// When the erase was verified.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub(crate) verified_at: Option<time::OffsetDateTime>,
}

/// What the erase destroyed, as the termination keeps it for the certificate. Every field
/// is required: a record without `objects` is an error, never "0 objects destroyed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ErasureRecord {
    /// The data keys destroyed.
    pub(crate) key_ids: Vec<uuid::Uuid>,
    /// The messages whose files the erase made unreadable.
    pub(crate) objects: u64,
    /// Their size in bytes.
    pub(crate) bytes: u64,
    /// The mailboxes whose storage was erased.
    pub(crate) mailboxes: u64,
    /// When the keys were destroyed.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) erased_at: time::OffsetDateTime,
    /// The store that held the data, and its method (none in records of earlier versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) store: Option<crate::certificate::CertifiedStore>,
}

/// The tenant and its mailboxes as they were when the configuration was destroyed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TerminationSnapshot {
    /// The tenant.
    pub(crate) tenant: SnapshotTenant,
    /// Its mailboxes.
    pub(crate) mailboxes: Vec<JobMailbox>,
}

/// The tenant in a [`TerminationSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotTenant {
    /// Its id.
    pub(crate) id: uuid::Uuid,
    /// Its name.
    pub(crate) name: String,
    /// Its slug, if it had one.
    pub(crate) slug: Option<String>,
}

impl ControlPlane {
    /// The steps of a termination: `window` waits for the export window to close (or ends
    /// the job when cancelled), `check` stops at `blocked` while a hold or a locked
    /// retention policy stands, `consult` asks the parties consulted on the destruction of
    /// the configuration and waits for their answer, `configuration` removes it, `erase` destroys
    /// the data keys and export archives, `verify` checks nothing is readable, `certify`
    /// signs the certificate, `purge` removes the files and closes the tombstone.
    pub(super) async fn termination_step(&self, claim: &JobClaim) -> Result<()> {
        let now = self.clock.now();
        let tx = self.store.begin().await?;
        let record = tx.termination_view(claim.job.subject.into()).await?;
        let t = record.termination.clone();
        let progress = claim.job.progress.clone();
        let wait = |until| JobNext::Wait {
            until,
            progress: progress.clone(),
        };
        let step_to = |step: TerminationStep| JobNext::Step {
            step: step.to_string(),
            run_after: now,
            progress: progress.clone(),
        };
        let step: TerminationStep = step_of(claim)?;
        match step {
            TerminationStep::Window => {
                let next = if t.state == TerminationState::Cancelled {
                    JobNext::Done {
                        progress: progress.clone(),
                    }
                } else if now < t.window_ends_at {
                    wait(t.window_ends_at)
                } else {
                    step_to(TerminationStep::Check { resume: None })
                };
                self.advance(tx, claim, next).await
            }
            TerminationStep::Check { .. } => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let blocks = self.termination_blocks(&tx, &t).await?;
                if blocks.is_empty() {
                    return self
                        .advance(tx, claim, step_to(TerminationStep::Consult))
                        .await;
                }
                if t.state != TerminationState::Blocked || t.blocked_by != blocks {
                    tx.termination_change(
                        t.id,
                        &[TerminationState::Terminating, TerminationState::Blocked],
                        TerminationChange {
                            state: Some(TerminationState::Blocked),
                            blocked_by: Some(blocks),
                            ..Default::default()
                        },
                    )
                    .await?;
                    // The party accountable for the destruction learns that it waits.
                    self.automation_audit(
                        &tx,
                        &tenant,
                        DATA_DESTROY,
                        (AuditTarget::Termination, t.id.to_string()),
                        AuditOutcome::Blocked,
                        true,
                    )
                    .await?;
                }
                self.advance(tx, claim, wait(now + self.jobs.recheck)).await
            }
            TerminationStep::Consult => self.termination_consult(tx, claim, &t, now).await,
            TerminationStep::Configuration => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let mailboxes = self.store.mailbox_addresses(tenant.id).await?;
                let snapshot = json_of(&TerminationSnapshot {
                    tenant: SnapshotTenant {
                        id: tenant.id.uuid(),
                        name: tenant.name.clone(),
                        slug: tenant.slug.clone(),
                    },
                    mailboxes: mailboxes
                        .iter()
                        .map(|(id, address)| JobMailbox {
                            id: id.uuid(),
                            address: address.clone(),
                        })
                        .collect(),
                })?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::Terminating, TerminationState::Blocked],
                    TerminationChange {
                        state: Some(TerminationState::ConfigurationDestroyed),
                        blocked_by: Some(vec![]),
                        configuration_destroyed_at: Some(now),
                        snapshot: Some(snapshot),
                        ..Default::default()
                    },
                )
                .await?;
                let removed = tx.tenant_configuration_destroy(tenant.id).await?;
                tracing::info!(
                    tenant = %tenant.id,
                    mailboxes = removed.mailboxes,
                    domains = removed.domains,
                    "destroyed a tenant's configuration at end of service"
                );
                self.automation_audit(
                    &tx,
                    &tenant,
                    TENANT_DESTROY,
                    (AuditTarget::Tenant, tenant.id.to_string()),
                    AuditOutcome::ConfigurationDestroyed,
                    false,
                )
                .await?;
                self.advance(tx, claim, step_to(TerminationStep::Erase))
                    .await
            }
            TerminationStep::Erase => {
                drop(tx);
                let settings = self.lifecycle()?.clone();
                // Export archives are sealed under the tenant's data key, which the erase
                // destroys; they are removed too, so that no ciphertext outlives the tenant.
                crate::files::remove_dir_if_exists(
                    &settings.exports_dir.join(t.tenant_id.to_string()),
                )?;
                let store = self.data_plane()?.describe(t.tenant_id).await?;
                let erasure = self.data_plane()?.crypto_erase_tenant(t.tenant_id).await?;
                let tx = self.store.begin().await?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::ConfigurationDestroyed],
                    TerminationChange {
                        erasure: Some(json_of(&ErasureRecord {
                            key_ids: erasure.key_ids,
                            objects: erasure.messages,
                            bytes: erasure.bytes,
                            mailboxes: erasure.mailboxes,
                            erased_at: now,
                            store,
                        })?),
                        ..Default::default()
                    },
                )
                .await?;
                for e in self.store.export_list(t.tenant_id).await? {
                    expire_export(&tx, &e).await?;
                }
                self.advance(tx, claim, step_to(TerminationStep::Verify))
                    .await
            }
            TerminationStep::Verify => {
                drop(tx);
                if self.data_plane()?.tenant_readable(t.tenant_id).await? {
                    return Err(Error::internal(format!(
                        "tenant {} is still readable after its erase",
                        t.tenant_id
                    )));
                }
                let tx = self.store.begin().await?;
                let mut typed: TerminationProgress =
                    record_of(&progress, "progress", format!("job {}", claim.job.id))?;
                typed.verified_at = Some(now);
                self.advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: TerminationStep::Certify.to_string(),
                        run_after: now,
                        progress: json_of(&typed)?,
                    },
                )
                .await
            }
            TerminationStep::Certify => {
                let tenant = self.job_tenant(&tx, claim).await?;
                let typed: TerminationProgress =
                    record_of(&progress, "progress", format!("job {}", claim.job.id))?;
                let certificate = self.certificate(&tenant, &record, &typed, now)?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::ConfigurationDestroyed],
                    TerminationChange {
                        state: Some(TerminationState::DataDestroyed),
                        data_destroyed_at: Some(now),
                        certificate: Some(certificate),
                        ..Default::default()
                    },
                )
                .await?;
                self.automation_audit(
                    &tx,
                    &tenant,
                    DATA_DESTROY,
                    (AuditTarget::Termination, t.id.to_string()),
                    AuditOutcome::DataDestroyed,
                    false,
                )
                .await?;
                self.advance(tx, claim, step_to(TerminationStep::Purge))
                    .await
            }
            TerminationStep::Purge => {
                drop(tx);
                let removed = self.data_plane()?.purge_tenant(t.tenant_id).await?;
                tracing::info!(
                    tenant = %t.tenant_id,
                    messages = removed.messages,
                    "removed an erased tenant's files"
                );
                let tx = self.store.begin().await?;
                tx.termination_change(
                    t.id,
                    &[TerminationState::DataDestroyed],
                    TerminationChange {
                        state: Some(TerminationState::Closed),
                        files_removed_at: Some(self.clock.now()),
                        closed_at: Some(self.clock.now()),
                        ..Default::default()
                    },
                )
                .await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Done {
                        progress: progress.clone(),
                    },
                )
                .await
            }
        }
    }

    /// Asks the parties the profile consults on `configuration.destroy` (the partner, in
    /// `master-hoster`) before the configuration goes, and waits for the consultation to
    /// close: a consent, the deadline, or the provider's approval after an objection lets
    /// the destruction go on; a rejection or a withdrawal stops it at `blocked`.
    async fn termination_consult(
        &self,
        tx: WriteTx,
        claim: &JobClaim,
        t: &Termination,
        now: time::OffsetDateTime,
    ) -> Result<()> {
        let tenant = self.job_tenant(&tx, claim).await?;
        let profile = self.profile_of(&tenant)?;
        let actor = automation();
        let decision = profile.decide(actor.party(), actor.roles(), TENANT_DESTROY);
        let mut typed: TerminationProgress = record_of(
            &claim.job.progress,
            "progress",
            format!("job {}", claim.job.id),
        )?;
        let progress = claim.job.progress.clone();
        let next = |step: TerminationStep, progress: &serde_json::Value| JobNext::Step {
            step: step.to_string(),
            run_after: now,
            progress: progress.clone(),
        };
        if crate::control_plane::operations::consulted(&decision, Party::Provider).is_empty() {
            return self
                .advance(tx, claim, next(TerminationStep::Configuration, &progress))
                .await;
        }
        let recheck = now + self.jobs.recheck;
        let Some(id) = typed.consultation else {
            let note = format!(
                "The customer terminated its contract on {}; the export window closed on {}. The provider destroys the tenant's configuration once the consulted parties have answered, or at the deadline.",
                t.terminated_at.date(),
                t.window_ends_at.date()
            );
            let request = self
                .file(
                    &tx,
                    &actor,
                    &tenant,
                    profile,
                    &decision,
                    RequestKind::Consultation,
                    None,
                    json!({ "termination_id": t.id }),
                    note,
                )
                .await?;
            typed.consultation = Some(request.id.uuid());
            let until = request.expires_at.map_or(recheck, |e| e.min(recheck));
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Wait {
                        until,
                        progress: json_of(&typed)?,
                    },
                )
                .await;
        };
        let request = tx
            .request_view(mailplane_store::Scope::All, &[], id.into())
            .await?
            .ok_or_else(|| Error::not_found("request", id))?;
        match request.state {
            RequestState::Fulfilled | RequestState::Approved | RequestState::Expired => {
                self.advance(tx, claim, next(TerminationStep::Configuration, &progress))
                    .await
            }
            RequestState::Pending => {
                // Past its deadline, the consultation waits for the request sweep to close
                // it: look again a minute later, not at once.
                let until = request
                    .expires_at
                    .map_or(recheck, |e| e.min(recheck))
                    .max(now + time::Duration::minutes(1));
                self.advance(tx, claim, JobNext::Wait { until, progress })
                    .await
            }
            RequestState::Rejected | RequestState::Declined | RequestState::Cancelled => {
                let block = TerminationBlock {
                    kind: "consultation".into(),
                    hold_id: None,
                    reason: format!(
                        "the consultation {id} on destroying the configuration ended {}: the destruction waits for the provider",
                        request.state.as_str()
                    ),
                };
                if t.state != TerminationState::Blocked || t.blocked_by != [block.clone()] {
                    tx.termination_change(
                        t.id,
                        &[TerminationState::Terminating, TerminationState::Blocked],
                        TerminationChange {
                            state: Some(TerminationState::Blocked),
                            blocked_by: Some(vec![block]),
                            ..Default::default()
                        },
                    )
                    .await?;
                }
                self.advance(
                    tx,
                    claim,
                    JobNext::Wait {
                        until: recheck,
                        progress,
                    },
                )
                .await
            }
        }
    }

    /// What stops a termination now: active legal holds, and a locked retention policy
    /// that no acknowledged export of the whole tenant, made since the termination, meets.
    async fn termination_blocks(
        &self,
        tx: &WriteTx,
        t: &Termination,
    ) -> Result<Vec<TerminationBlock>> {
        // Behind the tenant's hold fence, which a hold's placement takes first: a placement
        // in flight has committed before the holds are read, and one that starts later is
        // ordered after the step this check lets go ahead.
        tx.hold_fence(t.tenant_id).await?;
        let mut blocks = Vec::new();
        for h in self.store.hold_list(t.tenant_id).await? {
            if h.active {
                blocks.push(TerminationBlock {
                    kind: "legal_hold".into(),
                    hold_id: Some(h.id),
                    reason: format!(
                        "legal hold {} ({}, placed by {}) stops the destruction: release it to go on",
                        h.id, h.reason, h.placed_by
                    ),
                });
            }
        }
        if let Some(p) = tx.retention_view(t.tenant_id).await?
            && p.locked
            && !tx
                .tenant_export_acknowledged_since(t.tenant_id, t.terminated_at)
                .await?
        {
            blocks.push(TerminationBlock {
                kind: "locked_retention".into(),
                hold_id: None,
                reason: "a locked retention policy binds the tenant's mail: the customer must acknowledge an export of the whole tenant made since the termination".into(),
            });
        }
        Ok(blocks)
    }

    /// Builds and signs the destruction certificate from what the steps recorded.
    fn certificate(
        &self,
        tenant: &Tenant,
        record: &mailplane_store::TerminationRecord,
        progress: &TerminationProgress,
        now: time::OffsetDateTime,
    ) -> Result<serde_json::Value> {
        let settings = self.lifecycle()?;
        let t = &record.termination;
        let bad = |what: &str| Error::internal(format!("termination {}: no {what}", t.id));
        let of = format!("termination {}", t.id);
        let snapshot: TerminationSnapshot = record_of(
            record.snapshot.as_ref().ok_or_else(|| bad("snapshot"))?,
            "snapshot",
            &of,
        )?;
        let erasure: ErasureRecord = record_of(
            record.erasure.as_ref().ok_or_else(|| bad("erasure"))?,
            "erasure record",
            &of,
        )?;
        let decision = self.profile_of(tenant)?.decide(
            Party::Provider,
            &[AUTOMATION_ROLE.to_string()],
            DATA_DESTROY,
        );
        let informed = Party::ALL
            .into_iter()
            .filter(|p| decision.letters[p.index()].has(Duty::I) && *p != Party::Provider)
            .map(|p| CertifiedParty {
                party: p.as_str().into(),
                subject: match p {
                    Party::Customer => format!("tenant:{}", tenant.id),
                    Party::Partner => tenant
                        .partner_id
                        .map(|id| format!("partner:{id}"))
                        .unwrap_or_else(|| "partner".into()),
                    Party::Provider => "provider".into(),
                },
            })
            .collect();
        let body = CertificateBody {
            version: VERSION,
            certificate_id: uuid::Uuid::now_v7(),
            issuer: settings.issuer.clone(),
            tenant: CertifiedTenant {
                id: tenant.id.uuid(),
                name: snapshot.tenant.name,
                slug: snapshot.tenant.slug,
            },
            mailboxes: snapshot
                .mailboxes
                .into_iter()
                .map(|m| CertifiedMailbox {
                    id: m.id,
                    address: m.address,
                })
                .collect(),
            objects: erasure.objects,
            bytes: erasure.bytes,
            key_ids: erasure.key_ids,
            method: METHOD.into(),
            standard: STANDARD.into(),
            store: erasure.store,
            terminated_at: t.terminated_at,
            configuration_destroyed_at: t
                .configuration_destroyed_at
                .ok_or_else(|| bad("configuration destruction time"))?,
            erased_at: erasure.erased_at,
            verified_at: progress.verified_at.ok_or_else(|| bad("verification time"))?,
            issued_at: now,
            responsible: CertifiedParty {
                party: Party::Provider.as_str().into(),
                subject: AUTOMATION_SUBJECT.into(),
            },
            accountable_informed: informed,
            verification: "after the erase, no data key of the tenant exists under the master key and no file of the tenant opens: every message was sealed with the erased key".into(),
        };
        let signed = settings.signer.sign(body)?;
        serde_json::to_value(&signed)
            .map_err(|e| Error::internal(format!("serialising a certificate: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_back_their_one_spelling_and_the_stored_ones() {
        for step in [
            TerminationStep::Window,
            TerminationStep::Check { resume: None },
            TerminationStep::Check {
                resume: Some("0193a1b2c3".into()),
            },
            TerminationStep::Consult,
            TerminationStep::Configuration,
            TerminationStep::Erase,
            TerminationStep::Verify,
            TerminationStep::Certify,
            TerminationStep::Purge,
        ] {
            assert_eq!(TerminationStep::parse(&step.to_string()), Some(step));
        }
        // A resumed check as earlier versions stored it.
        assert_eq!(
            TerminationStep::parse("check#01a2b3c4d5e6f708"),
            Some(TerminationStep::Check {
                resume: Some("01a2b3c4d5e6f708".into())
            })
        );
        for bad in ["check#", "window#1", "Certify", "collect:1", ""] {
            assert_eq!(TerminationStep::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_erasure_record_without_its_object_count_is_an_error_not_a_zero() {
        let stored = json!({
            "key_ids": [uuid::Uuid::nil()],
            "objects": 3,
            "bytes": 120,
            "mailboxes": 2,
            "erased_at": "2026-12-01T10:00:00Z",
        });
        let read: ErasureRecord = record_of(&stored, "erasure record", "termination 1").unwrap();
        assert_eq!(read.objects, 3);
        // Written back, it is the same JSON the store kept.
        assert_eq!(json_of(&read).unwrap(), stored);
        let mut renamed = stored.clone();
        let objects = renamed.as_object_mut().unwrap().remove("objects").unwrap();
        renamed["object_count"] = objects;
        let e =
            record_of::<ErasureRecord>(&renamed, "erasure record", "termination 1").unwrap_err();
        assert!(format!("{e:?}").contains("objects"), "{e:?}");
    }

    #[test]
    fn progress_reads_what_earlier_versions_stored() {
        let empty: TerminationProgress = record_of(&json!({}), "progress", "job").unwrap();
        assert_eq!(empty, TerminationProgress::default());
        assert_eq!(json_of(&empty).unwrap(), json!({}));
        let id = uuid::Uuid::now_v7();
        let stored = json!({ "consultation": id, "verified_at": "2026-12-01T10:00:00Z" });
        let read: TerminationProgress = record_of(&stored, "progress", "job").unwrap();
        assert_eq!(read.consultation, Some(id));
        assert_eq!(json_of(&read).unwrap(), stored);
    }
}

//! The export job: it copies a tenant's (or one mailbox's) messages into a staging folder,
//! one mailbox per step, packages them as a sealed archive and publishes the download link,
//! then removes the archive when the link ends.

use std::fmt;

use mailplane_store::{JobClaim, JobNext};
use mailplane_types::lifecycle::ExportState;
use mailplane_types::{AuditOutcome, AuditTarget, Error, MailboxId, Result, TenantId};
use serde::{Deserialize, Serialize};

use super::{JobMailbox, Step, expire_export, json_of, record_of, step_of};
use crate::archive::{self, ArchiveMailbox};
use crate::control_plane::ControlPlane;
use crate::control_plane::activity::EXPORT;
use crate::control_plane::lifecycle::{archive_path, export_dir};

/// The steps of an export, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportStep {
    /// Lists the mailboxes to copy (`start`).
    Start,
    /// Copies the mailbox at this index of the list (`collect:<n>`).
    Collect {
        /// The index in [`ExportProgress::mailboxes`].
        mailbox: usize,
    },
    /// Writes the archive and publishes the link (`package`).
    Package,
    /// Removes the archive when the link ends (`expire`).
    Expire,
}

impl fmt::Display for ExportStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportStep::Start => f.write_str("start"),
            ExportStep::Collect { mailbox } => write!(f, "collect:{mailbox}"),
            ExportStep::Package => f.write_str("package"),
            ExportStep::Expire => f.write_str("expire"),
        }
    }
}

impl Step for ExportStep {
    fn parse(stored: &str) -> Option<Self> {
        Some(match stored {
            "start" => ExportStep::Start,
            "package" => ExportStep::Package,
            "expire" => ExportStep::Expire,
            other => {
                let n = other.strip_prefix("collect:")?;
                // One spelling: digits only, no sign, no leading zero.
                if n.is_empty()
                    || !n.bytes().all(|b| b.is_ascii_digit())
                    || (n.len() > 1 && n.starts_with('0'))
                {
                    return None;
                }
                ExportStep::Collect {
                    mailbox: n.parse().ok()?,
                }
            }
        })
    }
}

/// What the `start` step leaves for the others: the mailboxes to copy, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExportProgress {
    /// The mailboxes, as listed when the export started.
    pub(crate) mailboxes: Vec<JobMailbox>,
}

impl ControlPlane {
    /// The steps of an export: `start` lists the mailboxes, `collect:<n>` copies the n-th
    /// into the staging folder (a mailbox marked complete is not copied again), `package`
    /// writes the archive and publishes the link, `expire` removes the archive when the
    /// link ends.
    pub(super) async fn export_step(&self, claim: &JobClaim) -> Result<()> {
        let settings = self.lifecycle()?.clone();
        let tenant_id: TenantId = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal("an export job names no tenant"))?;
        let export = self
            .store
            .export_view(tenant_id, claim.job.subject.into())
            .await?
            .ok_or_else(|| Error::not_found("export", claim.job.subject))?;
        let dir = export_dir(&settings, &export);
        let staging = dir.join("staging");
        let now = self.clock.now();
        let step: ExportStep = step_of(claim)?;
        if step == ExportStep::Start {
            let mut mailboxes = self.store.mailbox_addresses(tenant_id).await?;
            if let Some(m) = export.mailbox_id {
                mailboxes.retain(|(id, _)| *id == m);
            }
            let list: Vec<JobMailbox> = mailboxes
                .iter()
                .map(|(id, address)| JobMailbox {
                    id: id.uuid(),
                    address: address.clone(),
                })
                .collect();
            let next = if list.is_empty() {
                ExportStep::Package
            } else {
                ExportStep::Collect { mailbox: 0 }
            };
            let tx = self.store.begin().await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: next.to_string(),
                        run_after: now,
                        progress: json_of(&ExportProgress { mailboxes: list })?,
                    },
                )
                .await;
        }
        if step == ExportStep::Expire {
            crate::files::remove_dir_if_exists(&dir)?;
            let tx = self.store.begin().await?;
            expire_export(&tx, &export).await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Done {
                        progress: claim.job.progress.clone(),
                    },
                )
                .await;
        }
        let progress: ExportProgress = record_of(
            &claim.job.progress,
            "progress",
            format!("job {}", claim.job.id),
        )?;
        let mailboxes: Vec<ArchiveMailbox> = progress
            .mailboxes
            .iter()
            .map(|m| ArchiveMailbox {
                id: m.id,
                address: m.address.clone(),
                dir: archive::mailbox_staging(&staging, m.id),
            })
            .collect();
        if let ExportStep::Collect { mailbox: n } = step {
            let m = mailboxes
                .get(n)
                .ok_or_else(|| Error::internal(format!("export step `{step}` has no mailbox")))?;
            if !archive::is_staged(&m.dir) {
                let dp = self.data_plane()?;
                // Staged messages are sealed like the archive: no plaintext lands on disk.
                let key = dp.export_key(tenant_id).await?;
                archive::reset_mailbox_staging(&m.dir)?;
                let mailbox: MailboxId = m.id.into();
                let mut n = 0;
                dp.export(tenant_id, mailbox, &mut |msg, bytes| {
                    n += 1;
                    let name = archive::message_file_name(n, msg.received_at, msg.id);
                    archive::stage_message(&key, &m.dir, &name, bytes)
                })
                .await?;
                archive::mark_staged(&m.dir)?;
            }
            let next = if n + 1 < mailboxes.len() {
                ExportStep::Collect { mailbox: n + 1 }
            } else {
                ExportStep::Package
            };
            let tx = self.store.begin().await?;
            return self
                .advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: next.to_string(),
                        run_after: now,
                        progress: claim.job.progress.clone(),
                    },
                )
                .await;
        }
        match step {
            ExportStep::Package => {
                let out = archive_path(&settings, &export);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
                let format = export.format;
                let list = mailboxes.clone();
                let key = self.data_plane()?.export_key(tenant_id).await?;
                let manifest =
                    tokio::task::spawn_blocking(move || archive::build(&key, format, &list, &out))
                        .await
                        .map_err(|e| Error::internal(format!("the archive task failed: {e}")))??;
                archive::remove_staging(&staging)?;
                let expires = now + settings.link_ttl;
                let tx = self.store.begin().await?;
                let tenant = self.job_tenant(&tx, claim).await?;
                tx.export_transition(
                    export.id,
                    &[ExportState::Preparing],
                    ExportState::Ready,
                    Some(&manifest),
                    (Some(now), Some(expires)),
                    None,
                )
                .await?;
                // The accountable customer is told its export is ready, whatever its letters.
                self.automation_audit(
                    &tx,
                    &tenant,
                    EXPORT,
                    (AuditTarget::Export, export.id.to_string()),
                    AuditOutcome::Delivered,
                    false,
                )
                .await?;
                self.advance(
                    tx,
                    claim,
                    JobNext::Step {
                        step: ExportStep::Expire.to_string(),
                        run_after: expires,
                        progress: claim.job.progress.clone(),
                    },
                )
                .await
            }
            ExportStep::Start | ExportStep::Collect { .. } | ExportStep::Expire => Err(
                Error::internal(format!("export step `{step}` ran out of order")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_back_their_one_spelling_and_the_stored_ones() {
        for step in [
            ExportStep::Start,
            ExportStep::Collect { mailbox: 0 },
            ExportStep::Collect { mailbox: 12 },
            ExportStep::Package,
            ExportStep::Expire,
        ] {
            assert_eq!(ExportStep::parse(&step.to_string()), Some(step));
        }
        // What jobs already stored carry.
        assert_eq!(
            ExportStep::parse("collect:3"),
            Some(ExportStep::Collect { mailbox: 3 })
        );
        assert_eq!(ExportStep::parse("start"), Some(ExportStep::Start));
        for bad in [
            "collect:",
            "collect:-1",
            "collect:03",
            "collect:x",
            "Package",
            "",
        ] {
            assert_eq!(ExportStep::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn progress_without_its_mailboxes_is_an_error() {
        let e =
            record_of::<ExportProgress>(&serde_json::json!({}), "progress", "job 1").unwrap_err();
        assert!(
            e.to_string().contains("mailboxes") || format!("{e:?}").contains("mailboxes"),
            "{e:?}"
        );
        let ok: ExportProgress = record_of(
            &serde_json::json!({ "mailboxes": [{ "id": uuid::Uuid::nil(), "address": "a@b.example" }] }),
            "progress",
            "job 1",
        )
        .unwrap();
        assert_eq!(ok.mailboxes[0].address, "a@b.example");
    }
}

//! The job that ends the open mail sessions a change has taken away: a suspension of a
//! tenant or of one mailbox, or a mailbox's deletion. The lookups refuse every new sign-in
//! from the change's commit on; this job closes the IMAP and POP3 sessions opened before,
//! through the data plane (Dovecot's `doveadm kick`). It is committed with the change, due at
//! once, so every path that makes the change (direct, approved, fulfilled) ends the sessions,
//! and a data plane that is down is asked again.
//!
//! One step, `end`, which reads who is still refused when it runs: the subject is the
//! tenant (every mailbox of it, while the tenant is suspended) or one mailbox (while it is
//! suspended, deleted or inactive). A change undone before the step ran ends nothing.

use std::fmt;

use mailplane_store::{JobClaim, JobNext};
use mailplane_types::passwords::SignInRefusal;
use mailplane_types::resources::TenantStatus;
use mailplane_types::{Error, MailboxId, Result};

use super::{Step, step_of};
use crate::control_plane::ControlPlane;

/// The one step of ending sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEndStep {
    /// Ends the sessions of the users the change refuses (`end`).
    End,
}

impl fmt::Display for SessionEndStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEndStep::End => f.write_str("end"),
        }
    }
}

impl Step for SessionEndStep {
    fn parse(stored: &str) -> Option<Self> {
        (stored == "end").then_some(SessionEndStep::End)
    }
}

impl ControlPlane {
    /// Ends the sessions of the tenant's mailboxes (subject: the tenant) or of one mailbox
    /// (subject: the mailbox) that may no longer sign in. Safe to run twice: ending a
    /// session that is gone is no failure.
    pub(super) async fn session_end_step(&self, claim: &JobClaim) -> Result<()> {
        let SessionEndStep::End = step_of(claim)?;
        let tenant = claim
            .job
            .tenant_id
            .ok_or_else(|| Error::internal("a session job names no tenant"))?;
        let mut users = Vec::new();
        if let Some(dp) = &self.data_plane {
            if claim.job.subject == tenant.uuid() {
                let suspended = self
                    .store
                    .tenant_view(mailplane_store::Scope::All, tenant)
                    .await?
                    .is_some_and(|t| t.status == TenantStatus::Suspended);
                if suspended {
                    users = self
                        .store
                        .mailbox_addresses(tenant)
                        .await?
                        .into_iter()
                        .map(|(_, address)| address)
                        .collect();
                }
            } else {
                let id: MailboxId = claim.job.subject.into();
                if let Some(m) = self.store.mailbox_view(tenant, id).await?
                    && let Some(sign_in) =
                        self.mail_lookups().sign_in_now(m.address.as_str()).await?
                    && sign_in.refused.is_some_and(ends_sessions)
                {
                    users.push(m.address.to_string());
                }
            }
            if !users.is_empty() {
                dp.end_sessions(tenant, &users).await?;
            }
        }
        let tx = self.store.begin().await?;
        let progress = serde_json::json!({ "ended": users.len() });
        self.advance(tx, claim, JobNext::Done { progress }).await
    }
}

/// The refusals that take away a mailbox's sessions, not only its next sign-in: a password
/// that expires or was never set leaves an open session as it is.
fn ends_sessions(why: SignInRefusal) -> bool {
    matches!(
        why,
        SignInRefusal::TenantTerminated
            | SignInRefusal::TenantSuspended
            | SignInRefusal::MailboxSuspended
            | SignInRefusal::MailboxDeleted
            | SignInRefusal::MailboxInactive
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_step_reads_back_its_one_spelling() {
        assert_eq!(SessionEndStep::parse("end"), Some(SessionEndStep::End));
        assert_eq!(SessionEndStep::parse("End"), None);
    }
}

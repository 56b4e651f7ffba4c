//! Mailbox passwords and the tenant's password policy.
//!
//! The policy (minimum length, character classes, maximum age, history depth) is the
//! customer's to set (`service.customize`, customer RA in the reference matrix). Setting a
//! mailbox password is access to the data plane (`access.data-plane`, customer RA, provider
//! I): it is checked against the policy and the history, stored only as an Argon2id hash,
//! and answered with when rotation is due. The password itself never reaches a log, an
//! audit row, an event, a response or a stored request: a party that would have to file a
//! request or a proposal to set one is refused instead, since a filed request keeps its
//! input.

use mailplane_types::passwords::{PasswordPolicy, PasswordStatus};
use mailplane_types::resources::MailboxKind;
use mailplane_types::{AuditOutcome, AuditTarget, Error, FieldError, MailboxId, Result, TenantId};

use super::{ControlPlane, Operation, Outcome, activity};
use crate::Actor;
use crate::input::PasswordSet;
use crate::passwords;
use crate::passwords::parse_policy;

impl ControlPlane {
    /// The tenant's password policy (the default one until the customer sets its own).
    pub async fn password_policy_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<PasswordPolicy> {
        self.tenant_for_read(actor, tenant, activity::CUSTOMIZE)
            .await?;
        parse_policy(self.store.password_policy_view(tenant).await?)
    }

    /// Sets the tenant's password policy (`service.customize`).
    pub async fn password_policy_set(
        &self,
        actor: &Actor,
        tenant: TenantId,
        policy: PasswordPolicy,
    ) -> Result<Outcome<PasswordPolicy>> {
        self.run(actor, tenant, Operation::PasswordPolicySet(policy), None)
            .await
    }

    /// Sets a mailbox's password (`access.data-plane`). Returns when rotation is due.
    pub async fn mailbox_password_set(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        input: PasswordSet,
    ) -> Result<PasswordStatus> {
        let (_, decision) = self
            .tenant_for_read(actor, tenant, activity::DATA_PLANE_ACCESS)
            .await?;
        super::operations::unfiled(
            &decision,
            actor.party(),
            &format!(
                "A password is never stored in a request, a proposal or a consultation: the party that holds R and A on `{}` sets it itself.",
                activity::DATA_PLANE_ACCESS
            ),
        )?;
        let policy = parse_policy(self.store.password_policy_view(tenant).await?)?;
        let rules = passwords::check(&policy, &input.password);
        if !rules.is_empty() {
            return Err(Error::Invalid(
                rules
                    .into_iter()
                    .map(|rule| FieldError {
                        field: "password".into(),
                        rule,
                    })
                    .collect(),
            ));
        }
        // Hashing and the history check are slow on purpose: they run off the async workers
        // and before the transaction, so the writer is never held for them.
        // The mailbox must be the tenant's, and a person's, before its history is read and
        // the slow hashing runs.
        let m = self
            .store
            .mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        if m.kind == MailboxKind::Shared {
            return Err(Error::conflict(
                None,
                format!(
                    "{} is a shared mailbox: it has no password of its own; its users sign in with theirs",
                    m.address
                ),
            ));
        }
        let depth = u64::from(policy.history_depth);
        let history = self.store.password_history(mailbox, depth).await?;
        let password = input.password;
        let (hash, reused) = tokio::task::spawn_blocking(move || {
            (
                passwords::hash(&password),
                passwords::reused(&history, &password),
            )
        })
        .await
        .map_err(|e| Error::internal(format!("the hashing task failed: {e}")))?;
        let hash = hash?;
        if reused {
            return Err(Error::invalid(
                "password",
                format!(
                    "must not repeat one of the mailbox's last {} password(s)",
                    policy.history_depth
                ),
            ));
        }
        let tx = self.store.begin().await?;
        self.customer_not_suspended_in(&tx, actor, tenant).await?;
        super::lifecycle::frozen(
            tx.termination_current(tenant).await?.as_ref(),
            self.clock.now(),
            false,
        )?;
        tx.mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let now = self.clock.now();
        tx.password_set(mailbox, hash, now, depth).await?;
        let change = Self::change(
            actor,
            &decision,
            Some(tenant),
            AuditTarget::Mailbox,
            mailbox,
            AuditOutcome::PasswordSet,
        );
        Self::record_and_commit(tx, change).await?;
        Ok(passwords::status(&policy, now, now))
    }

    /// When a mailbox's password was set and when rotation is due (`access.data-plane`).
    pub async fn mailbox_password_status(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<PasswordStatus> {
        self.tenant_for_read(actor, tenant, activity::DATA_PLANE_ACCESS)
            .await?;
        let m = self
            .store
            .mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let set_at = m.password_set_at.ok_or_else(|| {
            Error::not_found("password", format!("of mailbox {mailbox} (none was set)"))
        })?;
        let policy = parse_policy(self.store.password_policy_view(tenant).await?)?;
        Ok(passwords::status(&policy, set_at, self.clock.now()))
    }
}

impl ControlPlane {
    /// Whether a mailbox signs in to the mail servers now, and why not: the rule Dovecot's
    /// password lookup answers with (`access.data-plane`).
    pub async fn mailbox_sign_in_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<mailplane_types::passwords::SignIn> {
        self.tenant_for_read(actor, tenant, activity::DATA_PLANE_ACCESS)
            .await?;
        let m = self
            .store
            .mailbox_view(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let record = self
            .store
            .mailstack_sign_in(m.address.as_str())
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        crate::mailstack::sign_in(&record, self.clock.now())
    }
}

// The password policy's operation (`tenant.password_policy`): its input rules and the change it
// makes, reached by the dispatchers through `parse` and `passwords_apply`.

use super::workflow::{Applied, Made};
use crate::input::Problems;
use mailplane_store::WriteTx;
use mailplane_types::resources::Tenant;

/// A password policy operation whose input passed its check, with the values the check parsed (or
/// borrowed as they are).
pub(super) enum Checked<'a> {
    PasswordPolicySet(&'a PasswordPolicy),
}

/// Parses a password policy operation's input into `p`'s problems and a checked value: `None` when
/// `p` holds a problem, or for another resource's operation, which the dispatcher never routes
/// here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::PasswordPolicySet(i) => password_policy_set_check(p, i),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a password policy operation whose input passed its check.
    pub(super) async fn passwords_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::PasswordPolicySet(i) => self.password_policy_set_apply(tx, t, i).await,
        }
    }
}

/// Checks `tenant.password_policy`: every bound of the policy keeps its rule.
fn password_policy_set_check<'a>(
    p: &mut Problems,
    policy: &'a PasswordPolicy,
) -> Option<Checked<'a>> {
    for (field, rule) in policy.problems() {
        p.add(field, rule);
    }
    Some(Checked::PasswordPolicySet(policy))
}

impl ControlPlane {
    /// Applies `tenant.password_policy`.
    async fn password_policy_set_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        tenant: &mailplane_types::resources::Tenant,
        policy: &PasswordPolicy,
    ) -> Result<Made> {
        let json = serde_json::to_string(policy)
            .map_err(|e| Error::internal(format!("a password policy: {e}")))?;
        tx.password_policy_set(tenant.id, &json).await?;
        Ok(Made::new(
            Applied::PasswordPolicy(policy.clone()),
            AuditTarget::Tenant,
            tenant.id,
            AuditOutcome::PasswordPolicySet,
        ))
    }
}

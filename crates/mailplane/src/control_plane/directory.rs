//! The directory beyond mailboxes: aliases, distribution groups with their members,
//! forwarding targets and shared mailboxes, all `directory.administer`.
//!
//! Each change is an [`Operation`](super::Operation) routed by the matrix. The rules that
//! depend on the tenant's data are checked here when the operation is applied: an address
//! uses a verified domain of the tenant (or its default domain), a member mailbox belongs to
//! the tenant. That every address is unique across mailboxes, aliases and groups is the
//! database's rule.

use mailplane_store::WriteTx;
use mailplane_types::resources::{Alias, Domain, Group, Mailbox};
use mailplane_types::{DomainId, EmailAddress, Error, LocalPart, MailboxId, Result, TenantId};

use super::{ControlPlane, Operation, Outcome, activity};
use crate::Actor;
use crate::input::{AliasCreate, Forwarding, GroupCreate, GroupMemberRef, Problems};

/// A domain of the tenant that may carry addresses: verified, or the default domain.
pub(super) async fn address_domain(
    tx: &WriteTx,
    p: &mut Problems,
    tenant: TenantId,
    id: DomainId,
) -> Result<Option<Domain>> {
    Ok(domain_rule(
        p,
        "domain_id",
        tx.domain_get(tenant, id).await?,
    ))
}

/// The rule for the domain of an address: the tenant's (found), and verified or its default
/// domain. Reports under `field` and returns the domain when it may carry addresses.
pub(super) fn domain_rule(p: &mut Problems, field: &str, domain: Option<Domain>) -> Option<Domain> {
    match &domain {
        None => p.add(field, "must be a domain of this tenant"),
        Some(d) if !d.verified => p.add(
            field,
            format!(
                "{} is not verified: publish its verification record and verify it first, or use the default domain",
                d.name
            ),
        ),
        Some(_) => {}
    }
    domain.filter(|d| d.verified)
}

/// A member reference: exactly one of a mailbox and an address.
pub(super) fn member_rule(p: &mut Problems, m: &GroupMemberRef) {
    match (&m.mailbox_id, &m.address) {
        (Some(_), None) => {}
        (None, Some(a)) => {
            if let Err(rule) = EmailAddress::parse(a) {
                p.add("address", rule);
            }
        }
        _ => p.add(
            "mailbox_id",
            "give exactly one of `mailbox_id` and `address`",
        ),
    }
}

impl ControlPlane {
    /// Adds an alias to a mailbox (`directory.administer`).
    pub async fn alias_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        input: AliasCreate,
    ) -> Result<Outcome<Alias>> {
        let op = Operation::AliasCreate {
            mailbox_id: mailbox,
            alias: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Removes an alias (`directory.administer`).
    pub async fn alias_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        alias: uuid::Uuid,
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::AliasDelete { alias_id: alias },
            None,
        )
        .await
    }

    /// The tenant's aliases.
    pub async fn alias_list(&self, actor: &Actor, tenant: TenantId) -> Result<Vec<Alias>> {
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store.alias_list(tenant).await
    }

    /// Creates a distribution group (`directory.administer`).
    pub async fn group_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: GroupCreate,
    ) -> Result<Outcome<Group>> {
        self.run(actor, tenant, Operation::GroupCreate(input), None)
            .await
    }

    /// Deletes a group (`directory.administer`).
    pub async fn group_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        group: uuid::Uuid,
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::GroupDelete { group_id: group },
            None,
        )
        .await
    }

    /// The tenant's groups with their members.
    pub async fn group_list(&self, actor: &Actor, tenant: TenantId) -> Result<Vec<Group>> {
        self.tenant_for_read(actor, tenant, activity::DIRECTORY)
            .await?;
        self.store.group_list(tenant).await
    }

    /// Adds a member to a group (`directory.administer`).
    pub async fn group_member_add(
        &self,
        actor: &Actor,
        tenant: TenantId,
        group: uuid::Uuid,
        member: GroupMemberRef,
    ) -> Result<Outcome<Group>> {
        let op = Operation::GroupMemberAdd {
            group_id: group,
            member,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Removes a member from a group (`directory.administer`).
    pub async fn group_member_remove(
        &self,
        actor: &Actor,
        tenant: TenantId,
        group: uuid::Uuid,
        member: GroupMemberRef,
    ) -> Result<Outcome<Group>> {
        let op = Operation::GroupMemberRemove {
            group_id: group,
            member,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Sets (or, with `None`, clears) a mailbox's forwarding target (`directory.administer`).
    pub async fn mailbox_forward(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        to: Option<Forwarding>,
    ) -> Result<Outcome<Mailbox>> {
        let op = Operation::MailboxForward {
            mailbox_id: mailbox,
            forward_to: to.map(|f| f.address),
        };
        self.run(actor, tenant, op, None).await
    }

    /// Applies `alias.create`.
    pub(super) async fn apply_alias_create(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        mailbox: MailboxId,
        input: &AliasCreate,
    ) -> Result<Alias> {
        let mut p = Problems::default();
        let local_part = LocalPart::parse(&input.local_part)
            .map_err(|rule| p.add("local_part", rule))
            .ok();
        let domain = address_domain(tx, &mut p, tenant, input.domain_id).await?;
        if tx.mailbox_get(tenant, mailbox).await?.is_none() {
            return Err(Error::not_found("mailbox", mailbox));
        }
        p.finish()?;
        let (Some(local_part), Some(domain)) = (local_part, domain) else {
            return Err(Error::internal("alias problems were not reported"));
        };
        tx.alias_insert(tenant, mailbox, &domain, &local_part).await
    }

    /// Applies `group.create`.
    pub(super) async fn apply_group_create(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        input: &GroupCreate,
    ) -> Result<Group> {
        let mut p = Problems::default();
        let local_part = LocalPart::parse(&input.local_part)
            .map_err(|rule| p.add("local_part", rule))
            .ok();
        let display_name = p.name("display_name", &input.display_name);
        let domain = address_domain(tx, &mut p, tenant, input.domain_id).await?;
        p.finish()?;
        let (Some(local_part), Some(domain)) = (local_part, domain) else {
            return Err(Error::internal("group problems were not reported"));
        };
        tx.group_insert(tenant, &domain, &local_part, &display_name)
            .await
    }

    /// Applies `group.member.add` and `group.member.remove`.
    pub(super) async fn apply_group_member(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        group: uuid::Uuid,
        member: &GroupMemberRef,
        add: bool,
    ) -> Result<Group> {
        let mut p = Problems::default();
        member_rule(&mut p, member);
        p.finish()?;
        let external;
        let target = match (&member.mailbox_id, &member.address) {
            (Some(m), _) => {
                if tx.mailbox_get(tenant, *m).await?.is_none() {
                    return Err(Error::invalid(
                        "mailbox_id",
                        "must be a mailbox of this tenant",
                    ));
                }
                Ok(*m)
            }
            (None, Some(a)) => {
                external =
                    EmailAddress::parse(a).map_err(|rule| Error::invalid("address", rule))?;
                Err(&external)
            }
            (None, None) => return Err(Error::invalid("mailbox_id", "give a member")),
        };
        if add {
            tx.group_member_add(tenant, group, target).await
        } else {
            tx.group_member_remove(tenant, group, target).await
        }
    }

    /// Applies `mailbox.forward`.
    pub(super) async fn apply_forward(
        &self,
        tx: &WriteTx,
        tenant: TenantId,
        mailbox: MailboxId,
        to: Option<&str>,
    ) -> Result<Mailbox> {
        let m = tx
            .mailbox_get(tenant, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        let to = to
            .map(|a| EmailAddress::parse(a).map_err(|rule| Error::invalid("address", rule)))
            .transpose()?;
        if let Some(to) = &to
            && (to == &m.address || tx.alias_of(mailbox, to).await?)
        {
            return Err(Error::invalid(
                "address",
                "must not be one of the mailbox's own addresses: mail would loop",
            ));
        }
        tx.mailbox_forward(mailbox, to.as_ref()).await
    }
}

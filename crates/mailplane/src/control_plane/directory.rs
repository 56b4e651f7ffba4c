//! The directory beyond mailboxes: aliases, distribution groups with their members,
//! forwarding targets and shared mailboxes, all `directory.administer`.
//!
//! Each change is an [`Operation`](crate::Operation) routed by the matrix, whose stored input
//! is defined here ([`AliasCreate`], [`AliasDelete`], [`GroupDelete`], [`GroupMemberChange`],
//! [`MailboxForward`]). The rules that depend on the tenant's data are checked here when the
//! operation is applied: an address uses a verified domain of the tenant (or its default
//! domain), a member mailbox belongs to the tenant. That every address is unique across
//! mailboxes, aliases and groups is the database's rule.

use mailplane_store::WriteTx;
use mailplane_types::resources::{Alias, Domain, Group, Mailbox, Tenant};
use mailplane_types::{
    AliasId, AuditOutcome, AuditTarget, DomainId, EmailAddress, Error, GroupId, LocalPart,
    MailboxId, Result, TenantId,
};

use serde::{Deserialize, Serialize};

use super::workflow::{Applied, Made};
use super::{ControlPlane, Operation, Outcome, activity};
use crate::Actor;
use crate::input::{
    self, AliasCreateChecked, Forwarding, GroupCreate, GroupCreateChecked, GroupMemberRef, Member,
    Problems,
};

// The stored inputs of the directory's operations: what a request or proposal keeps of an
// `alias.*`, `group.delete`, `group.member.*` or `mailbox.forward` (inside
// `{"operation": ..., "input": ...}`), and replays.

/// The stored input of `alias.create`: the mailbox and the alias to add to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasCreate {
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// The alias.
    pub alias: input::AliasCreate,
}

/// The stored input of `alias.delete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasDelete {
    /// The alias.
    pub alias_id: AliasId,
}

/// The stored input of `group.delete`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupDelete {
    /// The group.
    pub group_id: GroupId,
}

/// The stored input of `group.member.add` and `group.member.remove`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMemberChange {
    /// The group.
    pub group_id: GroupId,
    /// The member.
    pub member: GroupMemberRef,
}

/// The stored input of `mailbox.forward`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxForward {
    /// The mailbox.
    pub mailbox_id: MailboxId,
    /// The target, or none to stop forwarding.
    pub forward_to: Option<String>,
}

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
        tx.domain_view(tenant, id).await?,
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

/// A member reference: exactly one of a mailbox and an address, parsed once.
pub(super) fn member_rule(p: &mut Problems, m: &GroupMemberRef) -> Option<Member> {
    match (&m.mailbox_id, &m.address) {
        (Some(id), None) => Some(Member::Mailbox(*id)),
        (None, Some(a)) => match EmailAddress::parse(a) {
            Ok(a) => Some(Member::Address(a)),
            Err(rule) => {
                p.add("address", rule);
                None
            }
        },
        _ => {
            p.add(
                "mailbox_id",
                "give exactly one of `mailbox_id` and `address`",
            );
            None
        }
    }
}

impl ControlPlane {
    /// Adds an alias to a mailbox (`directory.administer`).
    pub async fn alias_create(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        input: input::AliasCreate,
    ) -> Result<Outcome<Alias>> {
        let op = Operation::AliasCreate(AliasCreate {
            mailbox_id: mailbox,
            alias: input,
        });
        self.run(actor, tenant, op, None).await
    }

    /// Removes an alias (`directory.administer`).
    pub async fn alias_delete(
        &self,
        actor: &Actor,
        tenant: TenantId,
        alias: AliasId,
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::AliasDelete(AliasDelete { alias_id: alias }),
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
        group: GroupId,
    ) -> Result<Outcome<()>> {
        self.run(
            actor,
            tenant,
            Operation::GroupDelete(GroupDelete { group_id: group }),
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
        group: GroupId,
        member: GroupMemberRef,
    ) -> Result<Outcome<Group>> {
        let op = Operation::GroupMemberAdd(GroupMemberChange {
            group_id: group,
            member,
        });
        self.run(actor, tenant, op, None).await
    }

    /// Removes a member from a group (`directory.administer`).
    pub async fn group_member_remove(
        &self,
        actor: &Actor,
        tenant: TenantId,
        group: GroupId,
        member: GroupMemberRef,
    ) -> Result<Outcome<Group>> {
        let op = Operation::GroupMemberRemove(GroupMemberChange {
            group_id: group,
            member,
        });
        self.run(actor, tenant, op, None).await
    }

    /// Sets a mailbox's forwarding target (`directory.administer`).
    pub async fn mailbox_forwarding_set(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
        to: Forwarding,
    ) -> Result<Outcome<Mailbox>> {
        let op = Operation::MailboxForward(MailboxForward {
            mailbox_id: mailbox,
            forward_to: Some(to.address),
        });
        self.run(actor, tenant, op, None).await
    }

    /// Stops forwarding a mailbox's mail (`directory.administer`); it is the same operation,
    /// `mailbox.forward`, without a target.
    pub async fn mailbox_forwarding_clear(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mailbox: MailboxId,
    ) -> Result<Outcome<Mailbox>> {
        let op = Operation::MailboxForward(MailboxForward {
            mailbox_id: mailbox,
            forward_to: None,
        });
        self.run(actor, tenant, op, None).await
    }
}

// The directory's operations (`alias.*`, `group.*`, `mailbox.forward`): their input rules
// and the changes they make, reached by the dispatchers through `parse` and
// `directory_apply`.

/// A directory operation whose input passed its check, with the values the check parsed.
pub(super) enum Checked {
    AliasCreate(AliasCreateChecked),
    AliasDelete(AliasId),
    GroupCreate(GroupCreateChecked),
    GroupDelete(GroupId),
    GroupMemberAdd(GroupId, Member),
    GroupMemberRemove(GroupId, Member),
    MailboxForward(MailboxId, Option<EmailAddress>),
}

/// Parses a directory operation's input into `p`'s problems and a checked value: `None`
/// when `p` holds a problem, or for another resource's operation, which the dispatcher
/// never routes here.
pub(super) fn parse(op: &Operation, p: &mut Problems) -> Option<Checked> {
    match op {
        Operation::AliasCreate(i) => alias_create_check(p, i.mailbox_id, &i.alias),
        Operation::AliasDelete(i) => Some(Checked::AliasDelete(i.alias_id)),
        Operation::GroupCreate(i) => group_create_check(p, i),
        Operation::GroupDelete(i) => Some(Checked::GroupDelete(i.group_id)),
        Operation::GroupMemberAdd(i) => {
            member_rule(p, &i.member).map(|m| Checked::GroupMemberAdd(i.group_id, m))
        }
        Operation::GroupMemberRemove(i) => {
            member_rule(p, &i.member).map(|m| Checked::GroupMemberRemove(i.group_id, m))
        }
        Operation::MailboxForward(i) => {
            mailbox_forward_check(p, i.mailbox_id, i.forward_to.as_deref())
        }
        _ => None,
    }
}

/// Checks `alias.create`: the local part parses, once, into the one the change uses.
fn alias_create_check(
    p: &mut Problems,
    mailbox_id: MailboxId,
    input: &input::AliasCreate,
) -> Option<Checked> {
    let local_part = LocalPart::parse(&input.local_part)
        .map_err(|rule| p.add("local_part", rule))
        .ok()?;
    Some(Checked::AliasCreate(AliasCreateChecked {
        mailbox_id,
        local_part,
        domain_id: input.domain_id,
    }))
}

/// Checks `group.create`: the local part parses, once, and the display name keeps its rule.
fn group_create_check(p: &mut Problems, input: &GroupCreate) -> Option<Checked> {
    let local_part = LocalPart::parse(&input.local_part)
        .map_err(|rule| p.add("local_part", rule))
        .ok();
    let display_name = p.name("display_name", &input.display_name);
    Some(Checked::GroupCreate(GroupCreateChecked {
        local_part: local_part?,
        domain_id: input.domain_id,
        display_name,
    }))
}

/// Checks `mailbox.forward`: a target, when given, parses, once, into an address.
fn mailbox_forward_check(
    p: &mut Problems,
    mailbox_id: MailboxId,
    forward_to: Option<&str>,
) -> Option<Checked> {
    let to = match forward_to.map(EmailAddress::parse).transpose() {
        Ok(to) => to,
        Err(rule) => {
            p.add("address", rule);
            return None;
        }
    };
    Some(Checked::MailboxForward(mailbox_id, to))
}

impl ControlPlane {
    /// Makes the change of a directory operation whose input passed its check.
    pub(super) async fn directory_apply(
        &self,
        tx: &WriteTx,
        _actor: &Actor,
        t: &Tenant,
        checked: Checked,
    ) -> Result<Made> {
        match checked {
            Checked::AliasCreate(i) => self.alias_create_apply(tx, t, i).await,
            Checked::AliasDelete(id) => self.alias_delete_apply(tx, t, id).await,
            Checked::GroupCreate(i) => self.group_create_apply(tx, t, i).await,
            Checked::GroupDelete(id) => self.group_delete_apply(tx, t, id).await,
            Checked::GroupMemberAdd(id, m) => self.group_member_apply(tx, t, id, m, true).await,
            Checked::GroupMemberRemove(id, m) => self.group_member_apply(tx, t, id, m, false).await,
            Checked::MailboxForward(id, to) => self.mailbox_forward_apply(tx, t, id, to).await,
        }
    }

    /// Applies `alias.create`.
    async fn alias_create_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: AliasCreateChecked,
    ) -> Result<Made> {
        let tid = tenant.id;
        let mut p = Problems::default();
        let domain = address_domain(tx, &mut p, tid, input.domain_id).await?;
        let Some(m) = tx.mailbox_view(tid, input.mailbox_id).await? else {
            return Err(Error::not_found("mailbox", input.mailbox_id));
        };
        if m.status.is_deleted() {
            return Err(Error::conflict(
                None,
                format!(
                    "mailbox {} ({}) is {}: restore it before giving it an alias",
                    m.id,
                    m.address,
                    m.status.as_str()
                ),
            ));
        }
        p.finish()?;
        let Some(domain) = domain else {
            return Err(Error::internal("alias problems were not reported"));
        };
        self.address_not_reserved(
            tx,
            "local_part",
            &EmailAddress::new(&input.local_part, &domain.name).to_string(),
        )
        .await?;
        let a = tx
            .alias_insert(tid, input.mailbox_id, &domain, &input.local_part)
            .await?;
        let id = a.id;
        Ok(Made::new(
            Applied::Alias(a),
            AuditTarget::Alias,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `alias.delete`.
    async fn alias_delete_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        alias_id: AliasId,
    ) -> Result<Made> {
        tx.alias_delete(tenant.id, alias_id).await?;
        Ok(Made::new(
            Applied::Deleted,
            AuditTarget::Alias,
            alias_id,
            AuditOutcome::Deleted,
        ))
    }

    /// Applies `group.create`.
    async fn group_create_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        input: GroupCreateChecked,
    ) -> Result<Made> {
        let tid = tenant.id;
        let mut p = Problems::default();
        let domain = address_domain(tx, &mut p, tid, input.domain_id).await?;
        p.finish()?;
        let Some(domain) = domain else {
            return Err(Error::internal("group problems were not reported"));
        };
        self.address_not_reserved(
            tx,
            "local_part",
            &EmailAddress::new(&input.local_part, &domain.name).to_string(),
        )
        .await?;
        let g = tx
            .group_insert(tid, &domain, &input.local_part, &input.display_name)
            .await?;
        let id = g.id;
        Ok(Made::new(
            Applied::Group(g),
            AuditTarget::Group,
            id,
            AuditOutcome::Created,
        ))
    }

    /// Applies `group.delete`.
    async fn group_delete_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        group_id: GroupId,
    ) -> Result<Made> {
        tx.group_delete(tenant.id, group_id).await?;
        Ok(Made::new(
            Applied::Deleted,
            AuditTarget::Group,
            group_id,
            AuditOutcome::Deleted,
        ))
    }

    /// Applies `group.member.add` and `group.member.remove`.
    async fn group_member_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        group: GroupId,
        member: Member,
        add: bool,
    ) -> Result<Made> {
        let tid = tenant.id;
        let target = match &member {
            Member::Mailbox(m) => {
                let Some(found) = tx.mailbox_view(tid, *m).await? else {
                    return Err(Error::invalid(
                        "mailbox_id",
                        "must be a mailbox of this tenant",
                    ));
                };
                // A deleted mailbox keeps its memberships, but gains none.
                if add && found.status.is_deleted() {
                    return Err(Error::conflict(
                        Some("mailbox_id"),
                        format!(
                            "mailbox {} ({}) is {}: restore it before adding it to a group",
                            found.id,
                            found.address,
                            found.status.as_str()
                        ),
                    ));
                }
                Ok(*m)
            }
            Member::Address(a) => Err(a),
        };
        let (g, outcome) = if add {
            (
                tx.group_member_add(tid, group, target).await?,
                AuditOutcome::MemberAdded,
            )
        } else {
            (
                tx.group_member_remove(tid, group, target).await?,
                AuditOutcome::MemberRemoved,
            )
        };
        Ok(Made::new(
            Applied::Group(g),
            AuditTarget::Group,
            group,
            outcome,
        ))
    }

    /// Applies `mailbox.forward`.
    async fn mailbox_forward_apply(
        &self,
        tx: &WriteTx,
        tenant: &Tenant,
        mailbox: MailboxId,
        to: Option<EmailAddress>,
    ) -> Result<Made> {
        let tid = tenant.id;
        let m = tx
            .mailbox_view(tid, mailbox)
            .await?
            .ok_or_else(|| Error::not_found("mailbox", mailbox))?;
        if let Some(to) = &to
            && (to == &m.address || tx.alias_of(mailbox, to).await?)
        {
            return Err(Error::invalid(
                "address",
                "must not be one of the mailbox's own addresses: mail would loop",
            ));
        }
        let m = tx.mailbox_forwarding_set(mailbox, to.as_ref()).await?;
        let outcome = if to.is_some() {
            AuditOutcome::ForwardingSet
        } else {
            AuditOutcome::ForwardingCleared
        };
        Ok(Made::new(
            Applied::Mailbox(m),
            AuditTarget::Mailbox,
            mailbox,
            outcome,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    /// The directory's operations as requests and proposals stored them before their inputs
    /// moved beside the directory: each still reads, and writes back byte for byte.
    #[test]
    fn stored_directory_operations_read_and_write_as_before() {
        let stored = [
            r#"{"operation":"alias.create","input":{"mailbox_id":"0190a4c2-7d3e-7b1a-9f00-000000000001","alias":{"local_part":"sales","domain_id":"0190a4c2-7d3e-7b1a-9f00-000000000002"}}}"#,
            r#"{"operation":"alias.delete","input":{"alias_id":"0190a4c2-7d3e-7b1a-9f00-000000000003"}}"#,
            r#"{"operation":"group.delete","input":{"group_id":"0190a4c2-7d3e-7b1a-9f00-000000000004"}}"#,
            r#"{"operation":"group.member.add","input":{"group_id":"0190a4c2-7d3e-7b1a-9f00-000000000004","member":{"mailbox_id":"0190a4c2-7d3e-7b1a-9f00-000000000001","address":null}}}"#,
            r#"{"operation":"group.member.remove","input":{"group_id":"0190a4c2-7d3e-7b1a-9f00-000000000004","member":{"mailbox_id":null,"address":"ann@example.org"}}}"#,
            r#"{"operation":"mailbox.forward","input":{"mailbox_id":"0190a4c2-7d3e-7b1a-9f00-000000000001","forward_to":"ann@example.org"}}"#,
            r#"{"operation":"mailbox.forward","input":{"mailbox_id":"0190a4c2-7d3e-7b1a-9f00-000000000001","forward_to":null}}"#,
        ];
        for json in stored {
            let op: Operation = serde_json::from_str(json).expect(json);
            assert_eq!(serde_json::to_string(&op).expect("JSON"), json);
        }
        // A stored forwarding without its target clears, as before.
        let op: Operation = serde_json::from_str(
            r#"{"operation":"mailbox.forward","input":{"mailbox_id":"0190a4c2-7d3e-7b1a-9f00-000000000001"}}"#,
        )
        .expect("a forwarding without a target");
        assert!(
            serde_json::to_string(&op)
                .expect("JSON")
                .contains(r#""forward_to":null"#)
        );
        // An unknown field is refused, as before.
        let unknown = r#"{"operation":"alias.delete","input":{"alias_id":"0190a4c2-7d3e-7b1a-9f00-000000000003","extra":1}}"#;
        assert!(serde_json::from_str::<Operation>(unknown).is_err());
    }
}

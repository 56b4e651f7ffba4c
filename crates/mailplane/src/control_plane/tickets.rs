//! Tickets: incidents the customer reports (`incident.report`) and the provider handles
//! (`incident.handle`). Each step is an operation routed by the matrix like any change, so
//! the customer, informed of `incident.handle`, receives an event at every step the provider
//! takes, and a partner doing first-line support proposes a report to its customer. Changes
//! the profile reserves to the provider are not tickets but requests.

use mailplane_store::Page;
use mailplane_types::resources::{Ticket, TicketState};
use mailplane_types::{AuditOutcome, AuditTarget, Error, Result, TenantId, TicketId};

use super::{ControlPlane, Operation, Outcome, activity, page_request};
use crate::Actor;
use crate::input::{TicketComment, TicketCreate, TicketHandle};

impl ControlPlane {
    /// Reports an incident on a tenant.
    pub async fn ticket_open(
        &self,
        actor: &Actor,
        tenant: TenantId,
        input: TicketCreate,
    ) -> Result<Outcome<Ticket>> {
        self.run(actor, tenant, Operation::TicketOpen(input), None)
            .await
    }

    /// Adds information to a ticket, as its reporting side.
    pub async fn ticket_comment(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: TicketId,
        input: TicketComment,
    ) -> Result<Outcome<Ticket>> {
        let op = Operation::TicketComment {
            ticket_id: id,
            comment: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// Qualifies, updates, resolves or closes a ticket.
    pub async fn ticket_handle(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: TicketId,
        input: TicketHandle,
    ) -> Result<Outcome<Ticket>> {
        let op = Operation::TicketHandle {
            ticket_id: id,
            step: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// A ticket of a tenant, with its history.
    pub async fn ticket_view(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: TicketId,
    ) -> Result<Ticket> {
        self.tenant_for_read(actor, tenant, activity::INCIDENT_REPORT)
            .await?;
        self.store
            .ticket_view(tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("ticket", id))
    }

    /// Tickets of a tenant, optionally in one state.
    pub async fn ticket_list(
        &self,
        actor: &Actor,
        tenant: TenantId,
        state: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Page<Ticket>> {
        let state = state
            .map(|s| {
                TicketState::parse(s).ok_or_else(|| {
                    Error::invalid(
                        "state",
                        "must be one of open, qualified, in_progress, resolved, closed",
                    )
                })
            })
            .transpose()?;
        let page = page_request(cursor, limit)?;
        self.tenant_for_read(actor, tenant, activity::INCIDENT_REPORT)
            .await?;
        self.store.ticket_list(tenant, state, page).await
    }
}

// The ticket's operations (`ticket.open`, `ticket.comment`, `ticket.handle`): their input rules
// and the changes they make, reached by the dispatchers through `parse` and `tickets_apply`.

use super::workflow::{Applied, Made};
use crate::input::Problems;
use mailplane_store::WriteTx;
use mailplane_types::resources::Tenant;

/// A ticket operation whose input passed its check, with the values the check parsed (or borrowed
/// as they are).
// The variants repeat the names of the operations they check, as every resource's do.
#[allow(clippy::enum_variant_names)]
pub(super) enum Checked<'a> {
    TicketOpen(&'a TicketCreate),
    TicketComment(TicketId, &'a TicketComment),
    TicketHandle(TicketId, &'a TicketHandle),
}

/// Parses a ticket operation's input into `p`'s problems and a checked value: `None` when `p` holds
/// a problem, or for another resource's operation, which the dispatcher never routes here.
pub(super) fn parse<'a>(op: &'a Operation, p: &mut Problems) -> Option<Checked<'a>> {
    match op {
        Operation::TicketOpen(i) => ticket_open_check(p, i),
        Operation::TicketComment { ticket_id, comment } => {
            ticket_comment_check(p, *ticket_id, comment)
        }
        Operation::TicketHandle { ticket_id, step } => ticket_handle_check(p, *ticket_id, step),
        _ => None,
    }
}

impl ControlPlane {
    /// Makes the change of a ticket operation whose input passed its check.
    pub(super) async fn tickets_apply(
        &self,
        tx: &WriteTx,
        actor: &Actor,
        t: &Tenant,
        checked: Checked<'_>,
    ) -> Result<Made> {
        match checked {
            Checked::TicketOpen(i) => self.ticket_open_apply(tx, actor, t, i).await,
            Checked::TicketComment(id, i) => self.ticket_comment_apply(tx, actor, t, id, i).await,
            Checked::TicketHandle(id, i) => self.ticket_handle_apply(tx, actor, t, id, i).await,
        }
    }
}

/// Checks `ticket.open`: a title and a description.
fn ticket_open_check<'a>(p: &mut Problems, input: &'a TicketCreate) -> Option<Checked<'a>> {
    p.name("title", &input.title);
    text(p, "description", &input.description);
    Some(Checked::TicketOpen(input))
}

/// Checks `ticket.comment`: a comment.
fn ticket_comment_check<'a>(
    p: &mut Problems,
    ticket_id: TicketId,
    comment: &'a TicketComment,
) -> Option<Checked<'a>> {
    text(p, "comment", &comment.comment);
    Some(Checked::TicketComment(ticket_id, comment))
}

/// Checks `ticket.handle`: a comment, and never a step back to `open`.
fn ticket_handle_check<'a>(
    p: &mut Problems,
    ticket_id: TicketId,
    step: &'a TicketHandle,
) -> Option<Checked<'a>> {
    text(p, "comment", &step.comment);
    if step.state == Some(TicketState::Open) {
        p.add(
            "state",
            "must be qualified, in_progress, resolved or closed: a ticket is never reopened",
        );
    }
    Some(Checked::TicketHandle(ticket_id, step))
}

/// A ticket's free text: 1 to 10000 characters of safe prose.
fn text(p: &mut Problems, field: &str, value: &str) {
    p.prose(
        field,
        value,
        true,
        mailplane_types::limits::TICKET_TEXT_CHARS,
    );
}

impl ControlPlane {
    /// Applies `ticket.open`.
    async fn ticket_open_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        actor: &Actor,
        tenant: &mailplane_types::resources::Tenant,
        input: &TicketCreate,
    ) -> Result<Made> {
        let t = tx
            .ticket_insert(mailplane_store::NewTicket {
                tenant_id: tenant.id,
                title: input.title.trim().to_string(),
                description: input.description.trim().to_string(),
                severity: input
                    .severity
                    .unwrap_or(mailplane_types::resources::Severity::Normal),
                opened_by: (actor.subject().to_string(), actor.party()),
            })
            .await?;
        let id = t.id;
        Ok(Made::new(
            Applied::Ticket(t),
            AuditTarget::Ticket,
            id,
            AuditOutcome::Opened,
        ))
    }

    /// Applies `ticket.comment`.
    async fn ticket_comment_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        actor: &Actor,
        tenant: &mailplane_types::resources::Tenant,
        ticket_id: TicketId,
        comment: &TicketComment,
    ) -> Result<Made> {
        let step = mailplane_store::TicketStep {
            author: (actor.subject().to_string(), actor.party()),
            state: None,
            severity: None,
            comment: comment.comment.trim().to_string(),
        };
        let t = tx.ticket_step(tenant.id, ticket_id, step).await?;
        Ok(Made::new(
            Applied::Ticket(t),
            AuditTarget::Ticket,
            ticket_id,
            AuditOutcome::Commented,
        ))
    }

    /// Applies `ticket.handle`.
    async fn ticket_handle_apply(
        &self,
        tx: &mailplane_store::WriteTx,
        actor: &Actor,
        tenant: &mailplane_types::resources::Tenant,
        ticket_id: TicketId,
        step: &TicketHandle,
    ) -> Result<Made> {
        let outcome = match step.state {
            Some(TicketState::Qualified) => AuditOutcome::Qualified,
            Some(TicketState::InProgress) => AuditOutcome::InProgress,
            Some(TicketState::Resolved) => AuditOutcome::Resolved,
            Some(TicketState::Closed) => AuditOutcome::Closed,
            Some(TicketState::Open) | None => AuditOutcome::Updated,
        };
        let s = mailplane_store::TicketStep {
            author: (actor.subject().to_string(), actor.party()),
            state: step.state,
            severity: step.severity,
            comment: step.comment.trim().to_string(),
        };
        let t = tx.ticket_step(tenant.id, ticket_id, s).await?;
        Ok(Made::new(
            Applied::Ticket(t),
            AuditTarget::Ticket,
            ticket_id,
            outcome,
        ))
    }
}

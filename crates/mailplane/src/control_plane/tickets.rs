//! Tickets: incidents the customer reports (`incident.report`) and the provider handles
//! (`incident.handle`). Each step is an operation routed by the matrix like any change, so
//! the customer, informed of `incident.handle`, receives an event at every step the provider
//! takes, and a partner doing first-line support proposes a report to its customer. Changes
//! the profile reserves to the provider are not tickets but requests.

use mailplane_store::Page;
use mailplane_types::resources::{Ticket, TicketState};
use mailplane_types::{Error, Result, TenantId};
use uuid::Uuid;

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
        id: Uuid,
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
        id: Uuid,
        input: TicketHandle,
    ) -> Result<Outcome<Ticket>> {
        let op = Operation::TicketHandle {
            ticket_id: id,
            step: input,
        };
        self.run(actor, tenant, op, None).await
    }

    /// A ticket of a tenant, with its history.
    pub async fn ticket_get(&self, actor: &Actor, tenant: TenantId, id: Uuid) -> Result<Ticket> {
        self.tenant_for_read(actor, tenant, activity::INCIDENT_REPORT)
            .await?;
        self.store
            .ticket_get(tenant, id)
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

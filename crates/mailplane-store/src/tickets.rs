//! Ticket persistence: incidents of a tenant and their history.
//!
//! A ticket and each of its updates are written through the facade's [`WriteTx`], with the
//! audit row and the event of the step, so a step and the news of it land together.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use mailplane_types::resources::{Severity, Ticket, TicketState, TicketUpdate};
use mailplane_types::{Error, Party, Result, TenantId, TicketId};

use crate::entity::{ticket, ticket_update};
use crate::{DataStore, Page, PageRequest, WriteTx, db_error, now};

/// A new ticket (values already checked).
#[derive(Debug, Clone)]
pub struct NewTicket {
    /// The tenant.
    pub tenant_id: TenantId,
    /// A one-line summary.
    pub title: String,
    /// What happens.
    pub description: String,
    /// How urgent.
    pub severity: Severity,
    /// The reporter's subject and party.
    pub opened_by: (String, Party),
}

/// A step on a ticket (values already checked).
#[derive(Debug, Clone)]
pub struct TicketStep {
    /// The author's subject and party.
    pub author: (String, Party),
    /// A new state, if any.
    pub state: Option<TicketState>,
    /// A new severity, if any.
    pub severity: Option<Severity>,
    /// The comment.
    pub comment: String,
}

fn bad(id: Uuid, what: &str) -> Error {
    Error::internal(format!("ticket {id}: bad {what}"))
}

fn update_of(u: &ticket_update::Model) -> Result<TicketUpdate> {
    Ok(TicketUpdate {
        at: u.at,
        author: u.author.clone(),
        party: u.party.parse().map_err(|_| bad(u.ticket_id, "party"))?,
        state: u
            .state
            .as_deref()
            .map(|s| TicketState::parse(s).ok_or_else(|| bad(u.ticket_id, "state")))
            .transpose()?,
        severity: u
            .severity
            .as_deref()
            .map(|s| Severity::parse(s).ok_or_else(|| bad(u.ticket_id, "severity")))
            .transpose()?,
        comment: u.comment.clone(),
    })
}

fn ticket_of(t: ticket::Model, updates: &[ticket_update::Model]) -> Result<Ticket> {
    Ok(Ticket {
        id: t.id.into(),
        tenant_id: t.tenant_id.into(),
        severity: Severity::parse(&t.severity).ok_or_else(|| bad(t.id, "severity"))?,
        state: TicketState::parse(&t.state).ok_or_else(|| bad(t.id, "state"))?,
        opened_by_party: t.opened_by_party.parse().map_err(|_| bad(t.id, "party"))?,
        updates: updates
            .iter()
            .filter(|u| u.ticket_id == t.id)
            .map(update_of)
            .collect::<Result<_>>()?,
        title: t.title,
        description: t.description,
        opened_by: t.opened_by,
        created_at: t.created_at,
        updated_at: t.updated_at,
    })
}

async fn ticket_get_on<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    id: TicketId,
) -> Result<Option<Ticket>> {
    let Some(t) = ticket::Entity::find_by_id(id.uuid())
        .filter(ticket::Column::TenantId.eq(tenant.uuid()))
        .one(db)
        .await
        .map_err(db_error)?
    else {
        return Ok(None);
    };
    let updates = ticket_update::Entity::find()
        .filter(ticket_update::Column::TicketId.eq(id.uuid()))
        .order_by_asc(ticket_update::Column::Id)
        .all(db)
        .await
        .map_err(db_error)?;
    ticket_of(t, &updates).map(Some)
}

impl WriteTx {
    /// Opens a ticket.
    pub async fn ticket_insert(&self, t: NewTicket) -> Result<Ticket> {
        let at = now();
        let row = ticket::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(t.tenant_id.uuid()),
            title: Set(t.title),
            description: Set(t.description),
            severity: Set(t.severity.as_str().to_string()),
            state: Set(TicketState::Open.as_str().to_string()),
            opened_by: Set(t.opened_by.0),
            opened_by_party: Set(t.opened_by.1.to_string()),
            created_at: Set(at),
            updated_at: Set(at),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        ticket_of(row, &[])
    }

    /// A ticket of a tenant, inside the transaction.
    pub async fn ticket_view(&self, tenant: TenantId, id: TicketId) -> Result<Option<Ticket>> {
        ticket_get_on(&self.tx, tenant, id).await
    }

    /// Adds a step to a ticket that is not closed. A closed ticket takes no step: the
    /// update is conditional, so a step racing the closing one is refused, not lost.
    pub async fn ticket_step(
        &self,
        tenant: TenantId,
        id: TicketId,
        step: TicketStep,
    ) -> Result<Ticket> {
        let at = now();
        let mut update =
            ticket::Entity::update_many().col_expr(ticket::Column::UpdatedAt, Expr::value(at));
        if let Some(s) = step.state {
            update = update.col_expr(ticket::Column::State, Expr::value(s.as_str()));
        }
        if let Some(s) = step.severity {
            update = update.col_expr(ticket::Column::Severity, Expr::value(s.as_str()));
        }
        let res = update
            .filter(ticket::Column::Id.eq(id.uuid()))
            .filter(ticket::Column::TenantId.eq(tenant.uuid()))
            .filter(ticket::Column::State.ne(TicketState::Closed.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        if res.rows_affected != 1 {
            return Err(match ticket_get_on(&self.tx, tenant, id).await? {
                Some(_) => Error::conflict(Some("state"), "the ticket is closed; open a new one"),
                None => Error::not_found("ticket", id),
            });
        }
        ticket_update::ActiveModel {
            id: Set(Uuid::now_v7()),
            ticket_id: Set(id.uuid()),
            at: Set(at),
            author: Set(step.author.0),
            party: Set(step.author.1.to_string()),
            state: Set(step.state.map(|s| s.as_str().to_string())),
            severity: Set(step.severity.map(|s| s.as_str().to_string())),
            comment: Set(step.comment),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        ticket_get_on(&self.tx, tenant, id)
            .await?
            .ok_or_else(|| Error::not_found("ticket", id))
    }
}

impl DataStore {
    /// A ticket of a tenant with its history.
    pub async fn ticket_view(&self, tenant: TenantId, id: TicketId) -> Result<Option<Ticket>> {
        ticket_get_on(self.reader(), tenant, id).await
    }

    /// Tickets of a tenant, optionally in one state, in id order, each with its history.
    pub async fn ticket_list(
        &self,
        tenant: TenantId,
        state: Option<TicketState>,
        page: PageRequest,
    ) -> Result<Page<Ticket>> {
        let mut q = ticket::Entity::find().filter(ticket::Column::TenantId.eq(tenant.uuid()));
        if let Some(s) = state {
            q = q.filter(ticket::Column::State.eq(s.as_str()));
        }
        let rows = self.keyset(q, ticket::Column::Id, page).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let updates = ticket_update::Entity::find()
            .filter(ticket_update::Column::TicketId.is_in(ids))
            .order_by_asc(ticket_update::Column::Id)
            .all(self.reader())
            .await
            .map_err(db_error)?;
        crate::paginate(rows, page.limit, |r| r.id, |r| ticket_of(r, &updates))
    }
}

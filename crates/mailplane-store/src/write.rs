//! Write transactions.
//!
//! A [`WriteTx`] wraps one database transaction. The facade authorizes, then changes state
//! and appends the audit row through the same `WriteTx`, then commits: the change and its
//! evidence land together or not at all. Dropping a `WriteTx` without commit rolls back.

use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, DbErr, EntityTrait, NotSet, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};
use time::OffsetDateTime;
use uuid::Uuid;

use mailplane_types::resources::{
    AuditEntry, Credential, Domain, Mailbox, MailboxStatus, Partner, Request, RequestKind,
    RequestState, Tenant, TenantStatus,
};
use mailplane_types::{
    AuditId, DomainId, EmailAddress, Error, Letters, LocalPart, MailboxId, PartnerId, Party,
    Result, TenantId,
};

use crate::entity::{
    api_credential, audit_head, audit_log, domain, event, mailbox, partner, request, tenant,
};
use crate::sqlite::transport::DirectTransaction;
use crate::{Scope, audit, db_error, rows};

/// The current time, truncated to microseconds so that it survives every backend unchanged.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// What an audit row records, before the chain fields are added.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    /// The acting principal's subject.
    pub actor: String,
    /// Its party.
    pub party: String,
    /// Its organisation.
    pub org: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The activity carried out.
    pub activity: String,
    /// The letters used.
    pub letters: Letters,
    /// The tenant concerned, if any.
    pub tenant_id: Option<TenantId>,
    /// The kind of object changed.
    pub target_kind: &'static str,
    /// The object's id.
    pub target_id: String,
    /// What happened.
    pub outcome: &'static str,
    /// The request or proposal the change carried out, if any.
    pub request_id: Option<Uuid>,
}

/// The fields of a new mailbox.
#[derive(Debug, Clone)]
pub struct NewMailbox {
    /// The owning tenant.
    pub tenant_id: TenantId,
    /// The domain of the address (already checked to belong to the tenant).
    pub domain: Domain,
    /// The local part.
    pub local_part: LocalPart,
    /// The display name.
    pub display_name: String,
    /// The quota in bytes.
    pub quota_bytes: i64,
    /// Enabled or disabled.
    pub status: MailboxStatus,
    /// A person's mailbox or a shared one.
    pub kind: mailplane_types::resources::MailboxKind,
}

/// The fields of a new request.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The tenant it concerns.
    pub tenant_id: TenantId,
    /// The activity asked for.
    pub activity: String,
    /// The profile and version it is filed under.
    pub profile: String,
    /// The profile version.
    pub profile_version: u32,
    /// What is asked.
    pub payload: serde_json::Value,
    /// The requester's note.
    pub note: String,
    /// The requester's subject, party and organisation.
    pub requester: (String, Party, String),
    /// The requester's roles (an approved proposal runs with them).
    pub requester_roles: Vec<String>,
    /// The parties holding R.
    pub responsible: Vec<Party>,
    /// A request or a proposal.
    pub kind: RequestKind,
    /// The parties whose answer it waits for.
    pub addressed_to: Vec<Party>,
    /// The operation it carries, if any.
    pub operation: Option<String>,
    /// When it expires while pending.
    pub expires_at: Option<OffsetDateTime>,
}

/// The fields of a new API credential (already checked).
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The tenant it acts for.
    pub tenant_id: TenantId,
    /// Its name.
    pub name: String,
    /// The roles tokens signed with it may exercise.
    pub roles: Vec<String>,
    /// The public key, SPKI PEM.
    pub public_key: String,
    /// SHA-256 of the key's DER form, hex.
    pub fingerprint: String,
    /// When it stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// How a pending request leaves `pending`.
#[derive(Debug, Clone)]
pub struct RequestDecision<'a> {
    /// The state it moves to.
    pub to: RequestState,
    /// Who decided (a subject).
    pub by: &'a str,
    /// The decider's reason or note.
    pub reason: Option<String>,
    /// What the operation produced, if one ran.
    pub result: Option<serde_json::Value>,
}

/// Changes to a mailbox; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct MailboxChanges {
    /// A new display name.
    pub display_name: Option<String>,
    /// A new quota.
    pub quota_bytes: Option<i64>,
    /// A new status.
    pub status: Option<MailboxStatus>,
}

/// One write transaction.
pub struct WriteTx {
    pub(crate) tx: SqlTransaction,
    pub(crate) backend: DbBackend,
    /// The task's precondition (`If-Match`), checked when this transaction commits; see
    /// [`crate::guard`].
    pub(crate) precondition: Option<crate::guard::Precondition>,
}

impl WriteTx {
    pub(crate) fn new(tx: SqlTransaction, backend: DbBackend) -> WriteTx {
        WriteTx {
            tx,
            backend,
            precondition: None,
        }
    }

    /// Commits everything done through this transaction, once the task's precondition, if
    /// it has one, holds; otherwise nothing is committed.
    pub async fn commit(mut self) -> Result<()> {
        if let Some(precondition) = self.precondition.take() {
            crate::guard::check(precondition).await?;
        }
        self.tx.commit().await.map_err(db_error)
    }

    /// A tenant by id inside the transaction, if in scope.
    pub async fn tenant_get(&self, scope: Scope, id: TenantId) -> Result<Option<Tenant>> {
        crate::tenant_get_on(&self.tx, scope, id).await
    }

    /// A domain of a tenant inside the transaction.
    pub async fn domain_get(&self, tenant: TenantId, id: DomainId) -> Result<Option<Domain>> {
        crate::domain_get_on(&self.tx, tenant, id).await
    }

    /// A mailbox of a tenant inside the transaction.
    pub async fn mailbox_get(&self, tenant: TenantId, id: MailboxId) -> Result<Option<Mailbox>> {
        crate::mailbox_get_on(&self.tx, tenant, id).await
    }

    /// A partner by id inside the transaction.
    pub async fn partner_get(&self, id: PartnerId) -> Result<Option<Partner>> {
        Ok(partner::Entity::find_by_id(id.uuid())
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(rows::partner))
    }

    /// Inserts a partner; a duplicate name is a conflict on `name`.
    pub async fn partner_insert(&self, name: &str) -> Result<Partner> {
        let t = now();
        let row = partner::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name.to_string()),
            created_at: Set(t),
            updated_at: Set(t),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| on_conflict(e, "name", "a partner with this name already exists"))?;
        Ok(rows::partner(row))
    }

    /// Renames a partner.
    pub async fn partner_update(&self, id: PartnerId, name: &str) -> Result<Partner> {
        let row = partner::ActiveModel {
            id: Set(id.uuid()),
            name: Set(name.to_string()),
            created_at: NotSet,
            updated_at: Set(now()),
        }
        .update(&self.tx)
        .await
        .map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => Error::not_found("partner", id),
            e => on_conflict(e, "name", "a partner with this name already exists"),
        })?;
        Ok(rows::partner(row))
    }

    /// Deletes a partner that has no tenants left.
    pub async fn partner_delete(&self, id: PartnerId) -> Result<()> {
        let tenants = tenant::Entity::find()
            .filter(tenant::Column::PartnerId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if tenants > 0 {
            return Err(Error::conflict(
                None,
                format!("the partner still has {tenants} tenant(s); move or delete them first"),
            ));
        }
        let res = partner::Entity::delete_by_id(id.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("partner", id, res.rows_affected)
    }

    /// Changes a tenant's name and/or status.
    pub async fn tenant_update(
        &self,
        id: TenantId,
        name: Option<&str>,
        status: Option<TenantStatus>,
    ) -> Result<Tenant> {
        let mut am = tenant::ActiveModel {
            id: Set(id.uuid()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(n) = name {
            am.name = Set(n.to_string());
        }
        if let Some(s) = status {
            am.status = Set(s.as_str().to_string());
        }
        let row = am.update(&self.tx).await.map_err(gone("tenant", id))?;
        rows::tenant(row)
    }

    /// Binds a tenant to another profile version. Requests already filed keep the version
    /// they were filed under.
    pub async fn tenant_rebind(&self, id: TenantId, profile: &str, version: u32) -> Result<Tenant> {
        let row = tenant::ActiveModel {
            id: Set(id.uuid()),
            profile: Set(profile.to_string()),
            profile_version: Set(version as i32),
            updated_at: Set(now()),
            ..Default::default()
        }
        .update(&self.tx)
        .await
        .map_err(gone("tenant", id))?;
        rows::tenant(row)
    }

    /// Deletes a tenant that holds no domain and no mailbox.
    pub async fn tenant_delete(&self, id: TenantId) -> Result<()> {
        // A pending request to delete the tenant is the deletion itself, not a reason to wait.
        let pending = request::Entity::find()
            .filter(request::Column::TenantId.eq(id.uuid()))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .filter(
                sea_orm::Condition::any()
                    .add(request::Column::Operation.is_null())
                    .add(request::Column::Operation.ne("tenant.delete")),
            )
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if pending > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the tenant still has {pending} pending request(s) or proposal(s); answer or cancel them first"
                ),
            ));
        }
        let domains = domain::Entity::find()
            .filter(domain::Column::TenantId.eq(id.uuid()))
            .filter(domain::Column::Kind.ne(crate::rows::DEFAULT_DOMAIN))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if domains > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the tenant still has {domains} custom domain(s); delete its mailboxes and domains first"
                ),
            ));
        }
        let mailboxes = mailbox::Entity::find()
            .filter(mailbox::Column::TenantId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if mailboxes > 0 {
            return Err(Error::conflict(
                None,
                format!("the tenant still has {mailboxes} mailbox(es); delete them first"),
            ));
        }
        let groups = self.tenant_groups(id).await?;
        if groups > 0 {
            return Err(Error::conflict(
                None,
                format!("the tenant still has {groups} group(s); delete them first"),
            ));
        }
        self.tenant_catalogue_delete(id).await?;
        self.tenant_retention_delete(id).await?;
        // What belongs to the tenant alone goes with it: its answered requests, its tickets,
        // its API credentials and its organisation's webhooks. The audit trail keeps their history.
        request::Entity::delete_many()
            .filter(request::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        crate::entity::ticket::Entity::delete_many()
            .filter(crate::entity::ticket::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        api_credential::Entity::delete_many()
            .filter(api_credential::Column::TenantId.eq(id.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        crate::entity::webhook::Entity::delete_many()
            .filter(crate::entity::webhook::Column::Org.eq(format!("tenant:{id}")))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        let res = tenant::Entity::delete_by_id(id.uuid())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("tenant", id, res.rows_affected)
    }

    /// Deletes a domain that no mailbox uses.
    pub async fn domain_delete(&self, tenant: TenantId, id: DomainId) -> Result<()> {
        let users = mailbox::Entity::find()
            .filter(mailbox::Column::DomainId.eq(id.uuid()))
            .count(&self.tx)
            .await
            .map_err(db_error)?;
        if users > 0 {
            return Err(Error::conflict(
                None,
                format!("the domain is in use by {users} mailbox(es); delete them first"),
            ));
        }
        let (aliases, groups) = self.domain_users(id).await?;
        if aliases + groups > 0 {
            return Err(Error::conflict(
                None,
                format!(
                    "the domain is in use by {aliases} alias(es) and {groups} group(s); delete them first"
                ),
            ));
        }
        let res = domain::Entity::delete_many()
            .filter(domain::Column::Id.eq(id.uuid()))
            .filter(domain::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("domain", id, res.rows_affected)
    }

    /// Inserts a mailbox; an address already in use is a conflict on `local_part`.
    pub async fn mailbox_insert(&self, m: NewMailbox) -> Result<Mailbox> {
        let t = now();
        let address = EmailAddress::new(&m.local_part, &m.domain.name);
        let row = mailbox::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(m.tenant_id.uuid()),
            domain_id: Set(m.domain.id.uuid()),
            local_part: Set(m.local_part.to_string()),
            address: Set(address.to_string()),
            display_name: Set(m.display_name),
            quota_bytes: Set(m.quota_bytes),
            status: Set(m.status.as_str().to_string()),
            created_at: Set(t),
            updated_at: Set(t),
            kind: Set(m.kind.as_str().to_string()),
            forward_to: Set(None),
            password_set_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(|e| {
            on_conflict(
                e,
                "local_part",
                format!("the address {address} is already in use"),
            )
        })?;
        rows::mailbox(row)
    }

    /// Applies changes to a mailbox.
    pub async fn mailbox_update(&self, id: MailboxId, c: MailboxChanges) -> Result<Mailbox> {
        let mut am = mailbox::ActiveModel {
            id: Set(id.uuid()),
            updated_at: Set(now()),
            ..Default::default()
        };
        if let Some(v) = c.display_name {
            am.display_name = Set(v);
        }
        if let Some(v) = c.quota_bytes {
            am.quota_bytes = Set(v);
        }
        if let Some(v) = c.status {
            am.status = Set(v.as_str().to_string());
        }
        let row = am.update(&self.tx).await.map_err(gone("mailbox", id))?;
        rows::mailbox(row)
    }

    /// Deletes a mailbox.
    pub async fn mailbox_delete(&self, tenant: TenantId, id: MailboxId) -> Result<()> {
        // What hangs off the mailbox goes first, and only once the mailbox is the tenant's.
        if self.mailbox_get(tenant, id).await?.is_none() {
            return Err(Error::not_found("mailbox", id));
        }
        self.licences_release(id).await?;
        self.aliases_of_mailbox_delete(id).await?;
        let res = mailbox::Entity::delete_many()
            .filter(mailbox::Column::Id.eq(id.uuid()))
            .filter(mailbox::Column::TenantId.eq(tenant.uuid()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        deleted_one("mailbox", id, res.rows_affected)
    }

    /// Appends a row to the audit chain. The head row is locked first (on PostgreSQL), so
    /// concurrent transactions extend the chain one after another.
    pub async fn audit_append(&self, rec: AuditRecord) -> Result<AuditEntry> {
        let mut head_q = audit_head::Entity::find_by_id(1);
        if self.backend == DbBackend::Postgres {
            head_q = head_q.lock(LockType::Update);
        }
        let head = head_q
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::internal("audit_head row is missing"))?;
        let mut row = audit_log::Model {
            seq: head.seq + 1,
            id: AuditId::new().uuid(),
            at: now(),
            actor: rec.actor,
            party: rec.party,
            org: rec.org,
            roles: rec.roles.join(","),
            activity: rec.activity,
            letters: rec.letters.to_string(),
            tenant_id: rec.tenant_id.map(TenantId::uuid),
            target_kind: rec.target_kind.to_string(),
            target_id: rec.target_id,
            outcome: rec.outcome.to_string(),
            prev_hash: head.hash,
            hash: String::new(),
            request_id: rec.request_id,
        };
        row.hash = audit::row_hash(&row);
        audit_log::Entity::insert(audit_log::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.tx)
            .await
            .map_err(db_error)?;
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(row.seq))
            .col_expr(audit_head::Column::Hash, Expr::value(row.hash.clone()))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        rows::audit(row)
    }
}

impl WriteTx {
    /// Files a request.
    pub async fn request_insert(&self, r: NewRequest) -> Result<Request> {
        let t = now();
        let row = request::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(r.tenant_id.uuid()),
            activity: Set(r.activity),
            profile: Set(r.profile),
            profile_version: Set(r.profile_version as i32),
            payload: Set(r.payload.to_string()),
            note: Set(r.note),
            state: Set(RequestState::Pending.as_str().to_string()),
            requester: Set(r.requester.0),
            requester_party: Set(r.requester.1.to_string()),
            requester_org: Set(r.requester.2),
            responsible: Set(parties(&r.responsible)),
            decided_by: Set(None),
            reason: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
            kind: Set(r.kind.as_str().to_string()),
            operation: Set(r.operation),
            addressed_to: Set(parties(&r.addressed_to)),
            requester_roles: Set(r.requester_roles.join(",")),
            expires_at: Set(r.expires_at),
            result: Set(None),
            answers: Set("[]".to_string()),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        rows::request(row)
    }

    /// A request within scope, inside the transaction.
    pub async fn request_get(
        &self,
        scope: Scope,
        partner_profiles: &[String],
        id: Uuid,
    ) -> Result<Option<Request>> {
        // Every answer locks the request before anything else (on PostgreSQL; SQLite has
        // one writer), so answers, cancellations and expiry take their locks in one order:
        // the request, then the tenant's data, then the audit head. Two different answers
        // racing wait for each other instead of deadlocking.
        if self.backend == DbBackend::Postgres {
            request::Entity::find_by_id(id)
                .lock(LockType::Update)
                .one(&self.tx)
                .await
                .map_err(db_error)?;
        }
        crate::request_get_on(&self.tx, scope, partner_profiles, id).await
    }

    /// Moves a pending request to `to`. Only one transition out of `pending` can ever win:
    /// the update is conditional on the state, so of two operators clicking at once one
    /// succeeds and the other learns the request is no longer pending.
    pub async fn request_decide(&self, id: Uuid, d: RequestDecision<'_>) -> Result<bool> {
        let res = request::Entity::update_many()
            .col_expr(request::Column::State, Expr::value(d.to.as_str()))
            .col_expr(request::Column::DecidedBy, Expr::value(d.by.to_string()))
            .col_expr(request::Column::Reason, Expr::value(d.reason))
            .col_expr(
                request::Column::Result,
                Expr::value(d.result.map(|r| r.to_string())),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now()))
            .filter(request::Column::Id.eq(id))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected == 1)
    }

    /// Registers an API credential.
    pub async fn credential_insert(&self, c: NewCredential) -> Result<Credential> {
        let row = api_credential::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(c.tenant_id.uuid()),
            name: Set(c.name),
            roles: Set(c.roles.join(",")),
            public_key: Set(c.public_key),
            fingerprint: Set(c.fingerprint),
            created_at: Set(now()),
            expires_at: Set(c.expires_at),
            revoked_at: Set(None),
        }
        .insert(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(rows::credential(row))
    }

    /// Revokes a credential of a tenant that is not revoked yet. `None` when there is no
    /// such credential; otherwise the credential and whether this call revoked it (false:
    /// it was revoked before, and is unchanged).
    pub async fn credential_revoke(
        &self,
        tenant: TenantId,
        id: Uuid,
        at: OffsetDateTime,
    ) -> Result<Option<(Credential, bool)>> {
        let res = api_credential::Entity::update_many()
            .col_expr(api_credential::Column::RevokedAt, Expr::value(at))
            .filter(api_credential::Column::Id.eq(id))
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .filter(api_credential::Column::RevokedAt.is_null())
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(api_credential::Entity::find_by_id(id)
            .filter(api_credential::Column::TenantId.eq(tenant.uuid()))
            .one(&self.tx)
            .await
            .map_err(db_error)?
            .map(|r| (rows::credential(r), res.rows_affected == 1)))
    }

    /// Records a consulted party's answer on a pending consultation, and, when `escalate`
    /// names the accountable party, hands the decision to it with a new deadline. The
    /// caller holds the request's lock (see `request_get`), so answers never overwrite each
    /// other.
    pub async fn consultation_answer(
        &self,
        id: Uuid,
        answers: &[mailplane_types::resources::ConsultationAnswer],
        escalate: Option<(Party, OffsetDateTime)>,
    ) -> Result<bool> {
        let mut update = request::Entity::update_many()
            .col_expr(
                request::Column::Answers,
                Expr::value(serde_json::to_string(answers).map_err(Error::internal)?),
            )
            .col_expr(request::Column::UpdatedAt, Expr::value(now()));
        if let Some((party, until)) = escalate {
            update = update
                .col_expr(request::Column::AddressedTo, Expr::value(party.as_str()))
                .col_expr(request::Column::ExpiresAt, Expr::value(until));
        }
        let res = update
            .filter(request::Column::Id.eq(id))
            .filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .exec(&self.tx)
            .await
            .map_err(db_error)?;
        Ok(res.rows_affected == 1)
    }

    /// Pending requests whose deadline has passed at `now`, oldest first, at most `limit`.
    pub async fn requests_due(&self, now: OffsetDateTime, limit: u64) -> Result<Vec<Request>> {
        let mut q = request::Entity::find();
        if self.backend == DbBackend::Postgres {
            q = q.lock(LockType::Update);
        }
        q.filter(request::Column::State.eq(RequestState::Pending.as_str()))
            .filter(request::Column::ExpiresAt.lte(now))
            .order_by_asc(request::Column::ExpiresAt)
            .order_by_asc(request::Column::Id)
            .limit(limit)
            .all(&self.tx)
            .await
            .map_err(db_error)?
            .into_iter()
            .map(rows::request)
            .collect()
    }

    /// Appends the event of a change to the feed of each party in `audience`, in the same
    /// transaction as the change and its audit row: no event for a change that rolled back,
    /// none lost for one that committed.
    pub async fn event_append(&self, audit: &AuditEntry, audience: &[Party]) -> Result<()> {
        if audience.is_empty() {
            return Ok(());
        }
        event::Entity::insert(event::ActiveModel {
            seq: Set(audit.seq),
            id: Set(Uuid::now_v7()),
            at: Set(audit.at),
            tenant_id: Set(audit.tenant_id.map(TenantId::uuid)),
            activity: Set(audit.activity.clone()),
            actor: Set(audit.actor.clone()),
            actor_party: Set(audit.party.clone()),
            target_kind: Set(audit.target_kind.clone()),
            target_id: Set(audit.target_id.clone()),
            outcome: Set(audit.outcome.clone()),
            for_customer: Set(audience.contains(&Party::Customer)),
            for_partner: Set(audience.contains(&Party::Partner)),
            for_provider: Set(audience.contains(&Party::Provider)),
            request_id: Set(audit.request_id),
        })
        .exec_without_returning(&self.tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// Parties as stored: comma-separated.
fn parties(list: &[Party]) -> String {
    list.iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// An update that found no row (another transaction deleted it first) is not found.
fn gone(kind: &'static str, id: impl ToString) -> impl FnOnce(sea_orm::DbErr) -> Error {
    let id = id.to_string();
    move |e| match e {
        sea_orm::DbErr::RecordNotUpdated => Error::not_found(kind, id),
        other => db_error(other),
    }
}

/// A delete must remove exactly the row the caller saw; none means it is already gone.
fn deleted_one(kind: &'static str, id: impl ToString, rows: u64) -> Result<()> {
    if rows == 0 {
        Err(Error::not_found(kind, id))
    } else {
        Ok(())
    }
}

/// A unique violation becomes a conflict naming `field`; other errors map as usual.
pub(crate) fn on_conflict(e: sea_orm::DbErr, field: &str, message: impl Into<String>) -> Error {
    match db_error(e) {
        Error::Conflict { .. } => Error::conflict(Some(field), message),
        other => other,
    }
}

/// A transaction on either transport: sqlx's (PostgreSQL) or a [`DirectTransaction`]
/// (SQLite). It runs sea-orm statements like any connection; dropping it without
/// [`SqlTransaction::commit`] rolls it back.
pub struct SqlTransaction(Transport);

enum Transport {
    /// A sqlx transaction (PostgreSQL).
    Pooled(sea_orm::DatabaseTransaction),
    /// A transaction on a leased SQLite connection.
    Direct(DirectTransaction),
}

impl SqlTransaction {
    pub(crate) fn pooled(tx: sea_orm::DatabaseTransaction) -> SqlTransaction {
        SqlTransaction(Transport::Pooled(tx))
    }

    pub(crate) fn direct(tx: DirectTransaction) -> SqlTransaction {
        SqlTransaction(Transport::Direct(tx))
    }

    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), DbErr> {
        match self.0 {
            Transport::Pooled(tx) => tx.commit().await,
            Transport::Direct(tx) => tx.commit(),
        }
    }
}

#[async_trait::async_trait]
impl sea_orm::ConnectionTrait for SqlTransaction {
    fn get_database_backend(&self) -> DbBackend {
        match &self.0 {
            Transport::Pooled(tx) => tx.get_database_backend(),
            Transport::Direct(_) => DbBackend::Sqlite,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.execute_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.execute_unprepared(sql).await,
            Transport::Direct(tx) => tx.connection().execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.query_one_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        match &self.0 {
            Transport::Pooled(tx) => tx.query_all_raw(stmt).await,
            Transport::Direct(tx) => tx.connection().query_all_raw(stmt).await,
        }
    }
}

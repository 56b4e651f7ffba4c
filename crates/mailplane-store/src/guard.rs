//! Conditions a caller attaches to every write transaction of one task.
//!
//! The HTTP layer offers `If-Match` and `Idempotency-Key` on every operation, but the
//! operations' transactions are opened deep inside the control plane. Rather than thread
//! both through each operation, the HTTP layer runs the handler inside
//! [`WriteGuard::scope`], and [`crate::DataStore::begin`] applies the guard to the
//! transaction it opens, before the operation writes anything:
//!
//! - **lock**: on PostgreSQL, a transaction-scoped advisory lock on the resource, so that
//!   every guarded change of the same resource runs one after the other. (On SQLite every
//!   write transaction already runs alone on the one writer connection.)
//! - **precondition**: a check of the committed state (the `If-Match` comparison), made
//!   under the lock just before the transaction commits, so that no other guarded change
//!   can commit between the check and this transaction's commit. A failing check aborts the
//!   transaction. It runs last on purpose: by then the operation has found everything it
//!   changes within the caller's scope and has been allowed to change it, so a resource the
//!   caller may not see is not found (404) and a refused change is forbidden (403) whatever
//!   the precondition says. Checked first, a precondition on another tenant's object
//!   answered 412, which told the caller the object exists.
//! - **idempotency claim**: the caller's key is inserted in the same transaction as the
//!   change, so the key is claimed exactly when the change commits, and a concurrent call
//!   with the same key meets the key instead of changing anything a second time.
//!
//! A guard applies to the first transaction of the task only: an operation that commits in
//! several steps is checked and claimed once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mailplane_types::{Error, Result};

use time::OffsetDateTime;

use crate::WriteTx;
use crate::idempotency::StoredAnswer;

tokio::task_local! {
    static GUARD: WriteGuard;
    static PRECHECK: ();
}

/// Whether the running task is an `If-Match` check: its reads then use a pool of their own
/// on PostgreSQL, since its transaction already holds a connection of the shared one and
/// writers queued behind the resource's lock may hold all the others.
pub(crate) fn in_precheck() -> bool {
    PRECHECK.try_with(|_| ()).is_ok()
}

/// A check of committed state run inside the guarded transaction.
pub type Precondition =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync>;

/// An idempotency key to claim with the change.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// Who the key belongs to: the principal that sent it (its organisation, and a digest
    /// of its party, subject and roles).
    pub scope: String,
    /// The caller's key.
    pub key: String,
    /// A digest of the request, to tell a retry from another call under the same key.
    pub request_hash: String,
    /// When the call was made.
    pub created_at: OffsetDateTime,
    /// Marks this call's pending row, so that its answer is recorded on its own claim only.
    pub nonce: String,
}

/// What the transactions of one task must respect; see the module documentation.
#[derive(Clone, Default)]
pub struct WriteGuard {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    lock: Option<String>,
    precondition: Option<Precondition>,
    claim: Option<IdempotencyClaim>,
    applied: AtomicBool,
}

impl WriteGuard {
    /// A guard with none of the three conditions yet.
    pub fn new() -> WriteGuard {
        WriteGuard::default()
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> WriteGuard {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_default();
        f(&mut inner);
        WriteGuard {
            inner: Arc::new(inner),
        }
    }

    /// Serialises guarded changes of the resource named `resource` (PostgreSQL).
    pub fn lock(self, resource: impl Into<String>) -> WriteGuard {
        let resource = resource.into();
        self.with(|i| i.lock = Some(resource))
    }

    /// Checks `precondition` under the lock when the first transaction commits.
    pub fn precondition(self, precondition: Precondition) -> WriteGuard {
        self.with(|i| i.precondition = Some(precondition))
    }

    /// Claims an idempotency key with the first change.
    pub fn claim(self, claim: IdempotencyClaim) -> WriteGuard {
        self.with(|i| i.claim = Some(claim))
    }

    /// Runs `work` with this guard applied to every transaction it begins.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        GUARD.scope(self, work).await
    }

    /// Whether a transaction of the task met the guard (the key was claimed inside it,
    /// whether or not it then committed).
    pub fn applied(&self) -> bool {
        self.inner.applied.load(Ordering::SeqCst)
    }

    /// The guard of the running task, if any.
    pub(crate) fn current() -> Option<WriteGuard> {
        GUARD.try_with(WriteGuard::clone).ok()
    }

    /// Applies the guard to a transaction that was just begun: takes the lock and claims the
    /// key. Returns the precondition, which the transaction checks when it commits.
    pub(crate) async fn enter(&self, tx: &WriteTx) -> Result<Option<Precondition>> {
        if self.inner.applied.swap(true, Ordering::SeqCst) {
            return Ok(None);
        }
        if let Some(resource) = &self.inner.lock {
            tx.advisory_lock(resource).await?;
        }
        if let Some(claim) = &self.inner.claim {
            tx.idempotency_store(
                &claim.scope,
                &claim.key,
                &StoredAnswer {
                    request_hash: claim.request_hash.clone(),
                    status: 0,
                    response: claim.nonce.clone(),
                    created_at: claim.created_at,
                },
            )
            .await?;
        }
        Ok(self.inner.precondition.clone())
    }
}

/// Runs a precondition the guard handed to a transaction, just before it commits. The check
/// reads committed state on the reader connections, in a task of its own, so that it never
/// meets the guard again; the transaction's own changes are not committed yet, so it sees
/// the resource as it was before them.
pub(crate) async fn check(precondition: Precondition) -> Result<()> {
    tokio::spawn(PRECHECK.scope((), async move { precondition().await }))
        .await
        .map_err(|e| Error::internal(format!("the precondition check failed: {e}")))?
}

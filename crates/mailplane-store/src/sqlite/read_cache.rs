//! The tenants and mailboxes that reads return, remembered in front of an SQLite file, and
//! never served once the file may hold something else.
//!
//! Every tenant-scoped request looks its tenant up, and the API's hottest read is one
//! mailbox with its tenant. On SQLite that statement costs more in the server than all the
//! rest of the request (the book's "Scale and speed" gives the numbers): two `fcntl` calls
//! for the WAL read lock, the statement, and a 26-column row on its way into a model and a
//! resource. Served from memory, the same read costs a check and a copy.
//!
//! **It is exact, not eventually right.** Each lookup first asks SQLite whether the file
//! changed, through a [`ChangeWatch`] connection (`PRAGMA data_version`). Any commit by any
//! other connection, the store's own writer or another process's, changes that version, and
//! a changed version drops every entry. An entry is remembered under the version seen
//! *before* its row was read (unless a lookup has seen a newer one since), and served only
//! while the version stays the same: a commit during the read drops it at the next lookup,
//! so no commit came between the read of the row and the answer, and the row is what the
//! file holds. When SQLite cannot tell (the file is locked at that instant), the lookup misses
//! and nothing read then is remembered.
//!
//! It holds rows, not authorizations: the store applies the caller's scope to a remembered
//! tenant exactly as its SQL filter would, and the control plane decides on it as on a row
//! just read. Only rows found are remembered; a missing tenant or mailbox is always asked
//! of the file. Each kind holds at most the configured number of entries ([`RecentMap`]).
//!
//! PostgreSQL has no such cache: replicas write the same database with no memory shared
//! between them, and PostgreSQL has no cheap equivalent of `data_version`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use mailplane_types::recent::RecentMap;
use mailplane_types::resources::{Mailbox, Tenant};
use mailplane_types::{MailboxId, TenantId};

use super::transport::ChangeWatch;

/// How many tenants, and how many mailboxes, a store remembers unless told otherwise: about
/// 5 to 10 MB, reckoned from the size of the values (216 and 184 bytes) with their strings
/// and the maps.
pub const DEFAULT_READ_CACHE: usize = 10_000;

/// The remembered rows of one SQLite file.
pub(crate) struct ReadCache {
    state: Mutex<State>,
    hits: AtomicU64,
    misses: AtomicU64,
}

struct State {
    watch: ChangeWatch,
    /// The file's version every entry was read at; `None` when it is not known.
    version: Option<i64>,
    tenants: RecentMap<TenantId, Tenant>,
    mailboxes: RecentMap<MailboxId, Mailbox>,
}

/// The file's version a lookup saw; rows read after a miss are remembered under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen(i64);

/// What a lookup found.
pub(crate) enum Lookup<T> {
    /// The rows, as the file holds them now.
    Hit(T),
    /// Not remembered: read the file, then remember the rows under this version, if known.
    Miss(Option<Seen>),
}

/// How the read cache has done since the store opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCacheStats {
    /// Lookups answered from memory.
    pub hits: u64,
    /// Lookups that read the file.
    pub misses: u64,
    /// Tenants and mailboxes remembered now.
    pub entries: u64,
}

impl ReadCache {
    /// A cache of at most `capacity` tenants and `capacity` mailboxes, checking `watch`.
    pub(crate) fn new(watch: ChangeWatch, capacity: usize) -> ReadCache {
        ReadCache {
            state: Mutex::new(State {
                watch,
                version: None,
                tenants: RecentMap::new(capacity),
                mailboxes: RecentMap::new(capacity),
            }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The tenant `id`, whatever the scope (the caller applies it).
    pub(crate) fn tenant(&self, id: TenantId) -> Lookup<Tenant> {
        let mut state = self.current();
        let found = state.tenants.get(&id).cloned();
        self.answer(&state, found)
    }

    /// The tenant `tenant` and its mailbox `id`, when both are remembered.
    pub(crate) fn tenant_and_mailbox(
        &self,
        tenant: TenantId,
        id: MailboxId,
    ) -> Lookup<(Tenant, Mailbox)> {
        let mut state = self.current();
        let mailbox = state
            .mailboxes
            .get(&id)
            .filter(|m| m.tenant_id == tenant)
            .cloned();
        let found = match mailbox {
            Some(m) => state.tenants.get(&tenant).cloned().map(|t| (t, m)),
            None => None,
        };
        self.answer(&state, found)
    }

    /// Remembers rows read after a lookup that saw `seen`, unless the file has been seen to
    /// change since.
    pub(crate) fn remember(&self, seen: Seen, tenant: &Tenant, mailbox: Option<&Mailbox>) {
        let mut state = self.lock();
        if state.version != Some(seen.0) {
            return;
        }
        state.tenants.insert(tenant.id, tenant.clone());
        if let Some(m) = mailbox {
            state.mailboxes.insert(m.id, m.clone());
        }
    }

    /// Hits, misses and entries so far.
    pub(crate) fn stats(&self) -> ReadCacheStats {
        let state = self.lock();
        ReadCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: (state.tenants.len() + state.mailboxes.len()) as u64,
        }
    }

    /// The state, emptied first when the file has changed since the last look (or cannot
    /// tell).
    fn current(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        let version = state.watch.version();
        if version.is_none() || version != state.version {
            state.tenants.clear();
            state.mailboxes.clear();
            state.version = version;
        }
        state
    }

    fn answer<T>(&self, state: &State, found: Option<T>) -> Lookup<T> {
        match found {
            Some(rows) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(rows)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(state.version.map(Seen))
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use mailplane_types::resources::TenantStatus;
    use rusqlite::Connection;

    use super::*;

    fn tenant() -> Tenant {
        let now = time::OffsetDateTime::now_utc();
        Tenant {
            id: TenantId::new(),
            name: "Acme".into(),
            status: TenantStatus::Active,
            profile: "hosted-exchange".into(),
            profile_version: 1,
            partner_id: None,
            slug: None,
            region: None,
            region_preference: None,
            offer: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// A cache on a fresh file, and another connection to that file to commit with.
    fn cache(capacity: usize) -> (std::path::PathBuf, ReadCache, Connection) {
        let dir =
            std::env::temp_dir().join(format!("mailplane-cache-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.db");
        let other = Connection::open(&file).unwrap();
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let cache = ReadCache::new(ChangeWatch::open(&file).unwrap(), capacity);
        (dir, cache, other)
    }

    fn seen(lookup: Lookup<Tenant>) -> Seen {
        match lookup {
            Lookup::Miss(Some(seen)) => seen,
            Lookup::Miss(None) => panic!("the file's version is unknown"),
            Lookup::Hit(_) => panic!("a hit where a miss was expected"),
        }
    }

    #[test]
    fn a_row_is_served_until_another_connection_commits() {
        let (dir, cache, other) = cache(16);
        let t = tenant();
        let version = seen(cache.tenant(t.id));
        cache.remember(version, &t, None);
        assert!(matches!(cache.tenant(t.id), Lookup::Hit(found) if found == t));
        assert!(matches!(cache.tenant(t.id), Lookup::Hit(_)));

        other.execute("INSERT INTO t VALUES (1)", []).unwrap();
        assert!(
            matches!(cache.tenant(t.id), Lookup::Miss(Some(_))),
            "a commit elsewhere drops what was remembered"
        );
        assert_eq!(cache.stats().entries, 0);
        assert_eq!((cache.stats().hits, cache.stats().misses), (2, 2));
        std::fs::remove_dir_all(dir).ok();
    }

    /// A remembered mailbox is found only under its own tenant.
    #[test]
    fn a_mailbox_is_found_under_its_own_tenant_only() {
        let (dir, cache, _other) = cache(16);
        let (owner, stranger) = (tenant(), tenant());
        let mailbox = Mailbox {
            id: MailboxId::new(),
            tenant_id: owner.id,
            domain_id: mailplane_types::DomainId::new(),
            address: mailplane_types::names::EmailAddress::parse("alice@acme.example").unwrap(),
            display_name: "Alice".into(),
            quota_bytes: 1 << 30,
            status: mailplane_types::resources::MailboxStatus::Enabled,
            kind: mailplane_types::resources::MailboxKind::User,
            forward_to: None,
            password_set_at: None,
            created_at: owner.created_at,
            updated_at: owner.created_at,
        };
        let Lookup::Miss(Some(version)) = cache.tenant_and_mailbox(owner.id, mailbox.id) else {
            panic!("nothing is remembered yet");
        };
        cache.remember(version, &owner, Some(&mailbox));
        cache.remember(version, &stranger, None);

        assert!(matches!(
            cache.tenant_and_mailbox(owner.id, mailbox.id),
            Lookup::Hit((t, m)) if t == owner && m == mailbox
        ));
        assert!(
            matches!(
                cache.tenant_and_mailbox(stranger.id, mailbox.id),
                Lookup::Miss(Some(_))
            ),
            "another tenant's mailbox is asked of the file, which answers not found"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    /// A row read while another connection commits may be older or newer than the commit:
    /// it is never served under the version that follows the commit.
    #[test]
    fn a_row_read_across_a_commit_is_not_served() {
        let (dir, cache, other) = cache(16);
        let t = tenant();

        // Remembered before anyone saw the commit: kept, then dropped at the next look.
        let version = seen(cache.tenant(t.id));
        other.execute("INSERT INTO t VALUES (1)", []).unwrap();
        cache.remember(version, &t, None);
        assert!(matches!(cache.tenant(t.id), Lookup::Miss(Some(_))));

        // Remembered after another lookup saw the commit: not even kept.
        let version = seen(cache.tenant(t.id));
        other.execute("INSERT INTO t VALUES (2)", []).unwrap();
        let _ = cache.tenant(TenantId::new());
        cache.remember(version, &t, None);
        assert_eq!(cache.stats().entries, 0);
        std::fs::remove_dir_all(dir).ok();
    }
}

//! Part 8's data: the seeded directory with aliases, groups and some passwords added, read
//! back whole so that the lookups can ask for random keys and the floor's maps can hold the
//! same data.
//!
//! The main seed writes tenants, domains and mailboxes only. This adds, through the same
//! multi-row inserts and under the same triggers (each alias and group gets its row in
//! `addresses`): an alias `contact@<domain>` of the first mailbox of every other tenant, a
//! group `team@<domain>` of the first three mailboxes of every tenth tenant, and an
//! Argon2id password for a sample of mailboxes. Hashing a million passwords would take
//! hours, so only the sample has one; the password of a mailbox is derived from its address,
//! so that a reused database still knows it. A database that already holds aliases or
//! passwords (a reused `--data-dir`) is not added to again.

use std::time::{Duration, Instant};

use mailplane::DatabaseLocation;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};
use uuid::Uuid;

use crate::seed::{self, Inserter};
use crate::stats::Rng;

/// Everything the lookups answer, as the floor's maps hold it.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The hosted domains.
    pub domains: Vec<String>,
    /// Every mailbox's address with the socketmap's answer for it (`<tenant>/<mailbox>/`).
    pub mailboxes: Vec<(String, String)>,
    /// Every rewritten address (alias, group, forwarding) with where mail goes instead,
    /// comma-separated, as the socketmap answers it.
    pub aliases: Vec<(String, String)>,
    /// The mailboxes with a password, and the password.
    pub passwords: Vec<(String, String)>,
}

/// What [`prepare`] added to the database, and how long it took.
#[derive(Debug, Default)]
pub struct Added {
    /// Aliases written.
    pub aliases: usize,
    /// Groups written.
    pub groups: usize,
    /// Group members written.
    pub members: usize,
    /// Passwords hashed and written.
    pub passwords: usize,
    /// Hashing the passwords.
    pub hashing: Duration,
    /// Everything, hashing included.
    pub elapsed: Duration,
}

/// Members of each seeded group.
const GROUP_MEMBERS: usize = 3;

/// The password of a mailbox of the benchmark, derived from its address.
pub fn password_for(address: &str) -> String {
    format!("Bench-{address}-7q!")
}

/// Adds aliases, groups and `passwords` passwords to the seeded database unless it holds
/// some already, and reads the directory back.
pub async fn prepare(
    location: &DatabaseLocation,
    passwords: usize,
) -> Result<(Directory, Added), String> {
    let db = seed::connect(location).await?;
    let backend = db.sql_reader().get_database_backend();
    let started = Instant::now();
    let mut added = Added::default();
    let mailboxes = all(
        &db,
        "SELECT id, tenant_id, domain_id, address FROM mailboxes ORDER BY tenant_id, id",
    )
    .await?;
    if scalar(&db, "SELECT COUNT(*) FROM aliases").await? == 0 {
        add_aliases_and_groups(&db, backend, &mailboxes, &mut added).await?;
    }
    if scalar(&db, "SELECT COUNT(*) FROM mailbox_passwords").await? == 0 && !mailboxes.is_empty() {
        add_passwords(&db, backend, &mailboxes, passwords, &mut added).await?;
    }
    added.elapsed = started.elapsed();

    let mut dir = Directory::default();
    for r in all(
        &db,
        "SELECT name FROM domains WHERE verified_at IS NOT NULL ORDER BY name",
    )
    .await?
    {
        dir.domains.push(string(&r, "name")?);
    }
    for r in &mailboxes {
        dir.mailboxes.push((
            string(r, "address")?,
            format!("{}/{}/", uuid(r, "tenant_id")?, uuid(r, "id")?),
        ));
    }
    for r in all(
        &db,
        "SELECT a.address AS address, m.address AS target FROM aliases a \
         JOIN mailboxes m ON m.id = a.mailbox_id ORDER BY a.address",
    )
    .await?
    {
        dir.aliases
            .push((string(&r, "address")?, string(&r, "target")?));
    }
    let mut groups: Vec<(String, String)> = Vec::new();
    for r in all(
        &db,
        "SELECT g.address AS address, m.address AS target FROM groups g \
         JOIN group_members gm ON gm.group_id = g.id \
         JOIN mailboxes m ON m.id = gm.mailbox_id ORDER BY g.address, gm.id",
    )
    .await?
    {
        let (address, member) = (string(&r, "address")?, string(&r, "target")?);
        match groups.last_mut() {
            Some((last, members)) if *last == address => {
                members.push(',');
                members.push_str(&member);
            }
            _ => groups.push((address, member)),
        }
    }
    dir.aliases.extend(groups);
    for r in all(
        &db,
        "SELECT address, forward_to FROM mailboxes WHERE forward_to IS NOT NULL",
    )
    .await?
    {
        dir.aliases
            .push((string(&r, "address")?, string(&r, "forward_to")?));
    }
    for r in all(
        &db,
        "SELECT DISTINCT m.address AS address FROM mailbox_passwords p \
         JOIN mailboxes m ON m.id = p.mailbox_id ORDER BY m.address",
    )
    .await?
    {
        let address = string(&r, "address")?;
        let password = password_for(&address);
        dir.passwords.push((address, password));
    }
    Ok((dir, added))
}

/// An alias of the first mailbox of every other tenant, a group of the first mailboxes of
/// every tenth tenant; `mailboxes` are in tenant order.
async fn add_aliases_and_groups(
    db: &mailplane_store::DataStore,
    backend: DbBackend,
    mailboxes: &[QueryResult],
    added: &mut Added,
) -> Result<(), String> {
    let mut aliases = Inserter::new(
        "aliases",
        &[
            "id",
            "tenant_id",
            "mailbox_id",
            "domain_id",
            "address",
            "created_at",
        ],
        backend,
    );
    let mut groups = Inserter::new(
        "groups",
        &[
            "id",
            "tenant_id",
            "domain_id",
            "address",
            "display_name",
            "created_at",
            "updated_at",
        ],
        backend,
    );
    let mut members = Inserter::new(
        "group_members",
        &["id", "group_id", "mailbox_id", "external_address"],
        backend,
    );
    let tx = db.sql_transaction().await.map_err(|e| e.to_string())?;
    let mut tenant_index = 0usize;
    let mut start = 0;
    while start < mailboxes.len() {
        let tenant = uuid(&mailboxes[start], "tenant_id")?;
        let mut end = start + 1;
        while end < mailboxes.len() && uuid(&mailboxes[end], "tenant_id")? == tenant {
            end += 1;
        }
        let first = &mailboxes[start];
        let domain_id = uuid(first, "domain_id")?;
        let address = string(first, "address")?;
        let domain = address.split_once('@').map(|(_, d)| d).unwrap_or_default();
        let at = seed::now();
        if tenant_index.is_multiple_of(2) {
            aliases
                .push(
                    &tx,
                    [
                        Value::from(Uuid::now_v7()),
                        Value::from(tenant),
                        Value::from(uuid(first, "id")?),
                        Value::from(domain_id),
                        seed::text(format!("contact@{domain}")),
                        Value::from(at),
                    ],
                )
                .await?;
            added.aliases += 1;
        }
        if tenant_index.is_multiple_of(10) {
            let group = Uuid::now_v7();
            groups
                .push(
                    &tx,
                    [
                        Value::from(group),
                        Value::from(tenant),
                        Value::from(domain_id),
                        seed::text(format!("team@{domain}")),
                        seed::text("Team"),
                        Value::from(at),
                        Value::from(at),
                    ],
                )
                .await?;
            added.groups += 1;
            // A member's group is written before it.
            groups.flush(&tx).await?;
            for m in &mailboxes[start..end.min(start + GROUP_MEMBERS)] {
                members
                    .push(
                        &tx,
                        [
                            Value::from(Uuid::now_v7()),
                            Value::from(group),
                            Value::from(Some(uuid(m, "id")?)),
                            Value::from(None::<String>),
                        ],
                    )
                    .await?;
                added.members += 1;
            }
        }
        tenant_index += 1;
        start = end;
    }
    aliases.flush(&tx).await?;
    groups.flush(&tx).await?;
    members.flush(&tx).await?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// Hashes the passwords of `count` mailboxes picked at random (with a fixed seed) on every
/// core, and stores them as the library does: a row of `mailbox_passwords` and the
/// mailbox's `password_set_at`.
async fn add_passwords(
    db: &mailplane_store::DataStore,
    backend: DbBackend,
    mailboxes: &[QueryResult],
    count: usize,
    added: &mut Added,
) -> Result<(), String> {
    let mut rng = Rng::new(0xa11ce);
    let mut picked = Vec::with_capacity(count);
    for i in rng.permutation(mailboxes.len()).into_iter().take(count) {
        picked.push((
            uuid(&mailboxes[i], "id")?,
            string(&mailboxes[i], "address")?,
        ));
    }
    let started = Instant::now();
    let hashes = tokio::task::spawn_blocking(move || hash_all(picked))
        .await
        .map_err(|e| e.to_string())??;
    added.hashing = started.elapsed();
    let mut rows = Inserter::new(
        "mailbox_passwords",
        &["id", "mailbox_id", "hash", "set_at"],
        backend,
    );
    let update = match backend {
        DbBackend::Postgres => "UPDATE mailboxes SET password_set_at = $1 WHERE id = $2",
        _ => "UPDATE mailboxes SET password_set_at = ? WHERE id = ?",
    };
    let tx = db.sql_transaction().await.map_err(|e| e.to_string())?;
    for (mailbox, hash) in hashes {
        let at = seed::now();
        rows.push(
            &tx,
            [
                Value::from(Uuid::now_v7()),
                Value::from(mailbox),
                seed::text(hash),
                Value::from(at),
            ],
        )
        .await?;
        tx.execute_raw(Statement::from_sql_and_values(
            backend,
            update,
            [Value::from(Some(at)), Value::from(mailbox)],
        ))
        .await
        .map_err(|e| e.to_string())?;
        added.passwords += 1;
    }
    rows.flush(&tx).await?;
    tx.commit().await.map_err(|e| e.to_string())
}

/// The Argon2id hashes of the mailboxes' passwords, computed on every core.
fn hash_all(picked: Vec<(Uuid, String)>) -> Result<Vec<(Uuid, String)>, String> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let chunk = picked.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = picked
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(id, address)| {
                            mailplane::passwords::hash(&password_for(address))
                                .map(|h| (*id, h))
                                .map_err(|e| e.to_string())
                        })
                        .collect::<Result<Vec<_>, String>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(picked.len());
        for h in handles {
            out.extend(h.join().map_err(|_| "a hashing thread panicked")??);
        }
        Ok(out)
    })
}

async fn all(db: &mailplane_store::DataStore, sql: &str) -> Result<Vec<QueryResult>, String> {
    db.sql_reader()
        .query_all_raw(Statement::from_string(
            db.sql_reader().get_database_backend(),
            sql,
        ))
        .await
        .map_err(|e| format!("{sql}: {e}"))
}

async fn scalar(db: &mailplane_store::DataStore, sql: &str) -> Result<i64, String> {
    let row = db
        .sql_reader()
        .query_one_raw(Statement::from_string(
            db.sql_reader().get_database_backend(),
            sql,
        ))
        .await
        .map_err(|e| format!("{sql}: {e}"))?
        .ok_or("no row")?;
    row.try_get_by_index::<i64>(0).map_err(|e| e.to_string())
}

// By name: a row of the SQLite transport keeps its columns in name order.
fn string(r: &QueryResult, name: &str) -> Result<String, String> {
    r.try_get::<String>("", name)
        .map_err(|e| format!("{name}: {e}"))
}

fn uuid(r: &QueryResult, name: &str) -> Result<Uuid, String> {
    r.try_get::<Uuid>("", name)
        .map_err(|e| format!("{name}: {e}"))
}

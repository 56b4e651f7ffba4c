//! Seeding: fills a database with partners, tenants, default domains, licence
//! subscriptions, mailboxes and their licence assignments, fast.
//!
//! A million mailboxes through the public API would take hours of audited single calls, so
//! this writes rows directly, in multi-row inserts inside large transactions. The rows are
//! the ones the library writes: the schema comes from `mailplane-store`'s migrations
//! (`DataStore::open`), tenants are bound to the shipped profiles and placed as the
//! catalogue says, every tenant has its verified default domain and a subscription to its
//! offer's SKU with at least the SKU's minimum of seats, and every enabled mailbox holds a
//! seat. Nothing goes around the schema's own invariants: the address triggers copy every
//! mailbox into `addresses` (whose key refuses a second owner), the licence triggers count
//! the assignments into `subscriptions.assigned`, and the checks refuse a subscription
//! with more assignments than seats, all of them firing for every row written here.
//!
//! What is not written is history: no audit rows and no events, since nobody acted. The
//! benchmark's own reads of a seeded database (the ids its measurements ask for) are in
//! `lookup.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use mailplane::DatabaseLocation;
use mailplane::types::catalogue::Catalogue;
use mailplane_store::DataStore;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use time::OffsetDateTime;
use uuid::Uuid;

mod lookup;

pub use lookup::{SeededTenant, mailbox_at, sample, tenant_at, tenant_count};

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedSpec {
    /// How many tenants.
    pub tenants: usize,
    /// How many mailboxes each tenant holds.
    pub mailboxes_per_tenant: usize,
    /// How many partners; partner-resold tenants are spread over them.
    pub partners: usize,
}

impl SeedSpec {
    /// `tenants` tenants of `mailboxes` mailboxes each, with one partner per thousand
    /// tenants (at least one).
    pub fn new(tenants: usize, mailboxes: usize) -> SeedSpec {
        SeedSpec {
            tenants,
            mailboxes_per_tenant: mailboxes,
            partners: (tenants / 1000).max(1),
        }
    }
}

/// What a seeding wrote, and how long it took.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// From the first insert to the last commit (the schema's migrations not included).
    pub elapsed: Duration,
    /// Rows the seeder inserted itself.
    pub rows: u64,
    /// Rows the schema's triggers wrote or updated for them: one address per mailbox and
    /// one seat count per licence assignment.
    pub trigger_rows: u64,
    /// The database file's size afterwards, for SQLite.
    pub bytes_on_disk: Option<u64>,
}

impl SeedReport {
    /// Inserted rows per second.
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Tenants written per transaction: large enough that commits cost little, small enough
/// that a transaction does not hold gigabytes.
const TENANTS_PER_TRANSACTION: usize = 5_000;

/// Mailboxes written per transaction when tenants are large.
const MAILBOXES_PER_TRANSACTION: usize = 50_000;

/// Bound values per statement: well under SQLite's limit of 32,766 and PostgreSQL's
/// 65,535.
const VALUES_PER_STATEMENT: usize = 30_000;

/// The largest number of rows one statement inserts.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Given names and family names for mailboxes: `anna.becker`, `ben.schmidt`, ...
const GIVEN: [&str; 20] = [
    "anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ines", "jonas", "karla",
    "leon", "mila", "noah", "olga", "paul", "quinn", "rosa", "sam", "tara",
];
const FAMILY: [&str; 20] = [
    "becker",
    "schmidt",
    "martin",
    "dubois",
    "rossi",
    "garcia",
    "novak",
    "jensen",
    "silva",
    "kowalski",
    "meyer",
    "lambert",
    "moreau",
    "fischer",
    "weber",
    "costa",
    "nagy",
    "horvat",
    "lindqvist",
    "murphy",
];

/// Company names for tenants: `Becker Logistics 000123`, ...
const TRADE: [&str; 8] = [
    "Logistics",
    "Legal",
    "Clinic",
    "Studio",
    "Bakery",
    "Consulting",
    "Foods",
    "Works",
];

/// A mailbox's local part and display name, unique within its tenant for every `index`.
pub fn person(index: usize) -> (String, String) {
    let given = GIVEN[index % GIVEN.len()];
    let family = FAMILY[(index / GIVEN.len()) % FAMILY.len()];
    let round = index / (GIVEN.len() * FAMILY.len());
    let capital = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
            .unwrap_or_default()
    };
    let display = format!("{} {}", capital(given), capital(family));
    if round == 0 {
        (format!("{given}.{family}"), display)
    } else {
        (
            format!("{given}.{family}{round}"),
            format!("{display} {round}"),
        )
    }
}

/// The profile, partner, region and offer of the `i`-th tenant: half on hosted-exchange,
/// three in ten on master-hoster, resold by a partner, two in ten on ticketed-suite; one in
/// five placed in Canada, one in ten on the larger offer.
fn tenant_shape(i: usize, partners: &[Uuid]) -> (&'static str, Option<Uuid>, &'static str, usize) {
    let profile = match i % 10 {
        0..=4 => "hosted-exchange",
        5..=7 => "master-hoster",
        _ => "ticketed-suite",
    };
    let partner = (profile == "master-hoster").then(|| partners[i % partners.len()]);
    let region = if i % 5 == 4 { "ca" } else { "eu" };
    let offer = if i % 10 == 9 { 1 } else { 0 };
    (profile, partner, region, offer)
}

/// Rows for one table, flushed as multi-row inserts (part 8 adds aliases, groups and
/// passwords with it too).
pub(crate) struct Inserter {
    table: &'static str,
    columns: &'static [&'static str],
    backend: DbBackend,
    values: Vec<Value>,
    rows: usize,
    written: u64,
}

impl Inserter {
    pub(crate) fn new(
        table: &'static str,
        columns: &'static [&'static str],
        backend: DbBackend,
    ) -> Self {
        Inserter {
            table,
            columns,
            backend,
            values: Vec::new(),
            rows: 0,
            written: 0,
        }
    }

    fn rows_per_statement(&self) -> usize {
        (VALUES_PER_STATEMENT / self.columns.len()).min(ROWS_PER_STATEMENT)
    }

    /// Adds a row; writes a statement once enough rows are gathered.
    pub(crate) async fn push<C: ConnectionTrait>(
        &mut self,
        db: &C,
        row: impl IntoIterator<Item = Value>,
    ) -> Result<(), String> {
        self.values.extend(row);
        self.rows += 1;
        if self.rows >= self.rows_per_statement() {
            self.flush(db).await?;
        }
        Ok(())
    }

    /// Writes the rows gathered so far.
    pub(crate) async fn flush<C: ConnectionTrait>(&mut self, db: &C) -> Result<(), String> {
        if self.rows == 0 {
            return Ok(());
        }
        let width = self.columns.len();
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            self.table,
            self.columns.join(", ")
        );
        let mut n = 0;
        for r in 0..self.rows {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push(',');
                }
                n += 1;
                match self.backend {
                    DbBackend::Postgres => sql.push_str(&format!("${n}")),
                    _ => sql.push('?'),
                }
            }
            sql.push(')');
        }
        let values = std::mem::take(&mut self.values);
        db.execute_raw(Statement::from_sql_and_values(self.backend, sql, values))
            .await
            .map_err(|e| format!("inserting into {}: {e}", self.table))?;
        self.written += self.rows as u64;
        self.rows = 0;
        Ok(())
    }
}

const TENANT_COLUMNS: &[&str] = &[
    "id",
    "name",
    "status",
    "profile",
    "profile_version",
    "partner_id",
    "slug",
    "region",
    "region_preference",
    "offer",
    "password_policy",
    "created_at",
    "updated_at",
];
const DOMAIN_COLUMNS: &[&str] = &[
    "id",
    "tenant_id",
    "name",
    "created_at",
    "kind",
    "verification_token",
    "verified_at",
    "checked_at",
];
const SUBSCRIPTION_COLUMNS: &[&str] = &[
    "id",
    "tenant_id",
    "sku",
    "seats",
    "minimum_seats",
    "assigned",
    "created_at",
    "updated_at",
];
const MAILBOX_COLUMNS: &[&str] = &[
    "id",
    "tenant_id",
    "domain_id",
    "local_part",
    "address",
    "display_name",
    "quota_bytes",
    "status",
    "created_at",
    "updated_at",
    "kind",
    "forward_to",
    "password_set_at",
];
const ASSIGNMENT_COLUMNS: &[&str] = &["subscription_id", "mailbox_id", "tenant_id", "assigned_at"];
const PARTNER_COLUMNS: &[&str] = &["id", "name", "created_at", "updated_at"];

/// The current time to the microsecond, as the store writes it.
pub(crate) fn now() -> OffsetDateTime {
    mailplane_store::now()
}

pub(crate) fn text(s: impl Into<String>) -> Value {
    Value::from(s.into())
}

fn no_text() -> Value {
    Value::from(None::<String>)
}

fn no_time() -> Value {
    Value::from(None::<OffsetDateTime>)
}

/// Opens the database for seeding. On SQLite the writer skips file syncs and keeps a large
/// page cache: a crash during seeding loses only the seed, and the server opens the file
/// with its own settings afterwards.
pub async fn connect(location: &DatabaseLocation) -> Result<DataStore, String> {
    DataStore::open_for_bulk_load(location)
        .await
        .map_err(|e| format!("opening the database: {e}"))
}

/// Creates the schema (through `mailplane-store`'s migrations) and seeds it.
pub async fn seed(location: &DatabaseLocation, spec: &SeedSpec) -> Result<SeedReport, String> {
    let db = connect(location).await?;
    let backend = db.sql_reader().get_database_backend();
    let catalogue = mailplane::catalogue::builtin();
    let policies = mailplane::PolicySet::builtin();
    let version = |id: &str| {
        policies
            .get(id)
            .map(|p| p.version as i32)
            .ok_or_else(|| format!("the shipped profile `{id}` is missing"))
    };
    let versions = [
        ("hosted-exchange", version("hosted-exchange")?),
        ("master-hoster", version("master-hoster")?),
        ("ticketed-suite", version("ticketed-suite")?),
    ];
    let offers = offers(&catalogue)?;
    // A tag of the run in names and slugs, so that a database that already holds a seed
    // (a PostgreSQL database given twice) takes another without a clash.
    let tag = &Uuid::now_v7().simple().to_string()[26..32];

    let started = Instant::now();
    let mut partners = Inserter::new("partners", PARTNER_COLUMNS, backend);
    let mut tenants = Inserter::new("tenants", TENANT_COLUMNS, backend);
    let mut domains = Inserter::new("domains", DOMAIN_COLUMNS, backend);
    let mut subscriptions = Inserter::new("subscriptions", SUBSCRIPTION_COLUMNS, backend);
    let mut mailboxes = Inserter::new("mailboxes", MAILBOX_COLUMNS, backend);
    let mut assignments = Inserter::new("licence_assignments", ASSIGNMENT_COLUMNS, backend);

    let partner_ids: Vec<Uuid> = (0..spec.partners.max(1)).map(|_| Uuid::now_v7()).collect();
    let tx = db.sql_transaction().await.map_err(|e| e.to_string())?;
    for (i, id) in partner_ids.iter().enumerate() {
        let at = now();
        partners
            .push(
                &tx,
                [
                    Value::from(*id),
                    text(format!("Partner {:04} {tag}", i + 1)),
                    Value::from(at),
                    Value::from(at),
                ],
            )
            .await?;
    }
    partners.flush(&tx).await?;
    tx.commit().await.map_err(|e| e.to_string())?;

    let per_tx = (MAILBOXES_PER_TRANSACTION / spec.mailboxes_per_tenant.max(1))
        .clamp(1, TENANTS_PER_TRANSACTION);
    let mut start = 0;
    while start < spec.tenants {
        let end = (start + per_tx).min(spec.tenants);
        let tx = db.sql_transaction().await.map_err(|e| e.to_string())?;
        // Parents before children: every foreign key finds its row.
        let mut children = Vec::with_capacity(end - start);
        for i in start..end {
            let at = now();
            let (profile, partner, region, offer) = tenant_shape(i, &partner_ids);
            let offer = &offers[offer];
            let version = versions
                .iter()
                .find(|(id, _)| *id == profile)
                .map(|(_, v)| *v)
                .unwrap_or(1);
            let trade = TRADE[i % TRADE.len()];
            let family = FAMILY[i % FAMILY.len()];
            let slug = format!("{family}-{}-{i:06}-{tag}", trade.to_ascii_lowercase());
            let tenant = Uuid::now_v7();
            tenants
                .push(
                    &tx,
                    [
                        Value::from(tenant),
                        text(format!("{} {trade} {i:06}", capitalised(family))),
                        text("active"),
                        text(profile),
                        Value::from(version),
                        Value::from(partner),
                        text(slug.clone()),
                        text(region),
                        no_text(),
                        text(offer.id.clone()),
                        no_text(),
                        Value::from(at),
                        Value::from(at),
                    ],
                )
                .await?;
            children.push((tenant, slug, offer, at));
        }
        tenants.flush(&tx).await?;
        let mut directories = Vec::with_capacity(children.len());
        for (tenant, slug, offer, at) in &children {
            let domain = Uuid::now_v7();
            let domain_name = format!("{slug}.{}", catalogue.mail_domain);
            domains
                .push(
                    &tx,
                    [
                        Value::from(domain),
                        Value::from(*tenant),
                        text(domain_name.clone()),
                        Value::from(*at),
                        text("default"),
                        no_text(),
                        Value::from(Some(*at)),
                        no_time(),
                    ],
                )
                .await?;
            let subscription = match &offer.sku {
                Some((sku, minimum)) => {
                    let id = Uuid::now_v7();
                    let seats = spec.mailboxes_per_tenant.max(*minimum as usize) as i32;
                    subscriptions
                        .push(
                            &tx,
                            [
                                Value::from(id),
                                Value::from(*tenant),
                                text(sku.clone()),
                                Value::from(seats),
                                Value::from(*minimum as i32),
                                Value::from(0i32),
                                Value::from(*at),
                                Value::from(*at),
                            ],
                        )
                        .await?;
                    Some(id)
                }
                None => None,
            };
            directories.push((*tenant, domain, domain_name, subscription, offer.quota, *at));
        }
        domains.flush(&tx).await?;
        subscriptions.flush(&tx).await?;
        for (tenant, domain, domain_name, subscription, quota, at) in directories {
            for j in 0..spec.mailboxes_per_tenant {
                let (local, display) = person(j);
                let mailbox = Uuid::now_v7();
                mailboxes
                    .push(
                        &tx,
                        [
                            Value::from(mailbox),
                            Value::from(tenant),
                            Value::from(domain),
                            text(local.clone()),
                            text(format!("{local}@{domain_name}")),
                            text(display),
                            Value::from(quota),
                            text("enabled"),
                            Value::from(at),
                            Value::from(at),
                            text("user"),
                            no_text(),
                            no_time(),
                        ],
                    )
                    .await?;
                if let Some(subscription) = subscription {
                    // An assignment's mailbox is written before it.
                    if assignments.rows + 1 >= assignments.rows_per_statement() {
                        mailboxes.flush(&tx).await?;
                    }
                    assignments
                        .push(
                            &tx,
                            [
                                Value::from(subscription),
                                Value::from(mailbox),
                                Value::from(tenant),
                                Value::from(at),
                            ],
                        )
                        .await?;
                }
            }
        }
        mailboxes.flush(&tx).await?;
        assignments.flush(&tx).await?;
        tx.commit().await.map_err(|e| e.to_string())?;
        start = end;
    }
    let elapsed = started.elapsed();
    let bytes_on_disk = match location {
        DatabaseLocation::Sqlite(path) => {
            db.sql_writer()
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .map_err(|e| e.to_string())?;
            std::fs::metadata(path).ok().map(|m| m.len())
        }
        DatabaseLocation::Postgres(_) => {
            // Autovacuum would analyse the new tables soon; a benchmark cannot wait for it.
            db.sql_writer()
                .execute_unprepared("ANALYZE")
                .await
                .map_err(|e| e.to_string())?;
            None
        }
    };
    let rows = partners.written
        + tenants.written
        + domains.written
        + subscriptions.written
        + mailboxes.written
        + assignments.written;
    Ok(SeedReport {
        elapsed,
        rows,
        trigger_rows: mailboxes.written + assignments.written,
        bytes_on_disk,
    })
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// What the seeder needs of an offer: its id, its mailbox size and, when it needs
/// licences, its SKU and the SKU's minimum of seats.
struct OfferShape {
    id: String,
    quota: i64,
    sku: Option<(String, u32)>,
}

/// The catalogue's default offer and the first other open offer (a larger one).
fn offers(catalogue: &Catalogue) -> Result<Vec<OfferShape>, String> {
    let shape = |o: &mailplane::types::catalogue::Offer| -> Result<OfferShape, String> {
        let sku = match (&o.sku, o.licence_required) {
            (Some(sku), true) => {
                let minimum = catalogue
                    .sku(sku)
                    .map(|s| s.minimum_seats)
                    .ok_or_else(|| format!("the catalogue has no SKU `{sku}`"))?;
                Some((sku.clone(), minimum))
            }
            _ => None,
        };
        Ok(OfferShape {
            id: o.id.clone(),
            quota: o.mailbox_quota_bytes,
            sku,
        })
    };
    let entry = catalogue
        .offer(&catalogue.default_offer)
        .ok_or("the catalogue has no default offer")?;
    let larger = catalogue
        .offers
        .iter()
        .find(|o| o.open && o.id != entry.id)
        .unwrap_or(entry);
    Ok(vec![shape(entry)?, shape(larger)?])
}

/// The SQLite database file of a data directory, as `mailplane serve --data-dir` finds it.
pub fn sqlite_in(dir: &Path) -> DatabaseLocation {
    DatabaseLocation::Sqlite(dir.join("mailplane.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_are_unique_within_a_tenant() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..5000 {
            let (local, _) = person(i);
            assert!(
                mailplane::types::LocalPart::parse(&local).is_ok(),
                "{local}"
            );
            assert!(seen.insert(local), "person {i} repeats");
        }
        assert_eq!(person(0), ("anna.becker".into(), "Anna Becker".into()));
    }
}

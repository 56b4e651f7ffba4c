//! Part 2: what an authorization decision costs a request, at 1, 1,000 and 100,000 tenants.
//!
//! `ControlPlane::tenant_for_read` and `ControlPlane::run` decide in three steps once the
//! tenant's row is read: find the profile version the tenant is bound to
//! (`PolicySet::get_version`, a map of the loaded profiles: its size does not depend on the
//! number of tenants), check that the caller's party is a party of that profile, and decide
//! the activity (`Profile::decide`). Those private steps are repeated here with the same
//! public calls, over the tenants read from a seeded database through
//! `ControlPlane::tenant_list`, picked at random.
//!
//! A request decides on the tenant value it has just read from the database, so that value
//! is fresh in the CPU's caches. The measured figure does the same: each batch of 100
//! decisions runs on 100 tenants picked at random and copied just before (as reading the
//! row would), and only the decisions are timed. A second figure decides on the 100,000
//! tenant values held in memory and visited at random, so that most decisions wait for main
//! memory: the server never holds tenants like that, so this is a reference for what an
//! in-memory tenant table would add, not a cost a request pays.
//!
//! Two reference figures stand beside it: casbin-rs `enforce` on the same profile's model
//! and policy (one letter; a decision asks for up to four), and the whole scoped read the
//! library does before any tenant data (`ControlPlane::tenant_view`: the tenant's row, then
//! the decision), once with every row read from SQLite and once from the store's read
//! cache, which checks the file's version on every call.

use std::hint::black_box;
use std::time::Instant;

use casbin::CoreApi;
use mailplane::types::Party;
use mailplane::types::resources::Tenant;
use mailplane::{Actor, ControlPlane, DatabaseLocation, PolicySet};

use crate::report::{Report, Row, count, counted, duration};
use crate::stats::{Percentiles, Rng, time_batches, time_batches_async};

const PART: &str = "2 authz";

/// The activity every decision here asks about: the one a mailbox read or write is.
const ACTIVITY: &str = "directory.administer";

/// The largest p50 of a decision the issue allows, in seconds.
const TARGET_P50: f64 = 2e-6;

/// The largest ratio of the p50 at the most tenants to the p50 at one tenant.
const TARGET_RATIO: f64 = 1.5;

/// How many calls of the library's scoped read are timed per size.
const LIBRARY_CALLS: usize = 2_000;

/// Reads every tenant of a database as the provider sees them, a page at a time.
async fn tenants(cp: &ControlPlane) -> Result<Vec<Tenant>, String> {
    let provider = Actor::provider("bench", &["provider-admin"]);
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = cp
            .tenant_list(&provider, cursor.as_deref(), Some(mailplane::MAX_PAGE))
            .await
            .map_err(|e| e.to_string())?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}

/// The decision a request pays for once it holds the tenant's row: the profile version the
/// tenant is bound to, the party check, the decision.
fn decide(policies: &PolicySet, tenant: &Tenant, party: Party, roles: &[String]) -> bool {
    let Some(profile) = policies.get_version(&tenant.profile, tenant.profile_version) else {
        return false;
    };
    profile.parties.contains(&party) && profile.decide(party, roles, ACTIVITY).can_view()
}

/// Rounds over the sizes: each size is timed in every round, and the round with its
/// median p50 is reported, so that a slow moment of the machine or a cold start does not
/// fall on one size only.
const ROUNDS: usize = 3;

/// Measures the decision at every size and the references, and adds the rows.
pub async fn run(
    report: &mut Report,
    sizes: &[(usize, DatabaseLocation)],
    iterations: usize,
) -> Result<(), String> {
    let policies = PolicySet::builtin();
    let roles = vec!["tenant-admin".to_string()];
    let per_batch = 100;
    let batches = (iterations / per_batch / ROUNDS).max(10);
    let mut loaded = Vec::with_capacity(sizes.len());
    for (size, location) in sizes {
        let cp = crate::server::control_plane(location).await?;
        let tenants = tenants(&cp).await?;
        if tenants.len() < *size {
            return Err(format!(
                "the database for {size} tenants shows {} to the provider",
                tenants.len()
            ));
        }
        let order = Rng::new(42).permutation(tenants.len());
        loaded.push((cp, tenants, order));
    }
    let mut rounds: Vec<Vec<(Percentiles, Percentiles)>> = vec![Vec::new(); loaded.len()];
    for _ in 0..ROUNDS {
        for (i, (_, tenants, order)) in loaded.iter().enumerate() {
            // Warm the code path before timing it.
            for &k in order.iter().take(10_000) {
                black_box(decide(&policies, &tenants[k], Party::Customer, &roles));
            }
            let fresh = time_fresh(tenants, order, batches, per_batch, |t| {
                decide(&policies, t, Party::Customer, &roles)
            })?;
            let mut allowed = 0usize;
            let cold = time_batches(batches, per_batch, |n| {
                let t = &tenants[order[n % order.len()]];
                if black_box(decide(&policies, black_box(t), Party::Customer, &roles)) {
                    allowed += 1;
                }
            });
            if allowed == 0 {
                return Err("no decision allowed the tenant's administrator".into());
            }
            rounds[i].push((fresh, cold));
        }
    }
    let mut p50s = Vec::new();
    let mut cold_p50s = Vec::new();
    for ((cp, tenants, _), timed) in loaded.iter().zip(rounds) {
        let median = |mut v: Vec<Percentiles>| {
            v.sort_by(|a, b| a.p50.total_cmp(&b.p50));
            v[v.len() / 2]
        };
        let p = median(timed.iter().map(|t| t.0).collect());
        let cold = median(timed.iter().map(|t| t.1).collect());
        let calls = count((batches * per_batch) as u64);
        let n = counted(tenants.len() as u64, "tenant", "tenants");
        report.push(
            Row::info(
                PART,
                format!(
                    "decision on the tenant row just read (profile version + party + `Profile::decide`), {n}"
                ),
                format!(
                    "p50 {}, p99 {} (median of {ROUNDS} rounds of {calls} calls)",
                    duration(p.p50),
                    duration(p.p99),
                ),
            )
            .value(p.p50 * 1e6, "µs")
            .target("<= 2 µs", p.p50 <= TARGET_P50),
        );
        report.push(
            Row::info(
                PART,
                format!("decision on tenant values held in memory ({n}), visited at random"),
                format!(
                    "p50 {}, p99 {} (median of {ROUNDS} rounds of {calls} calls)",
                    duration(cold.p50),
                    duration(cold.p99),
                ),
            )
            .value(cold.p50 * 1e6, "µs")
            .reference(),
        );
        p50s.push((tenants.len(), p.p50));
        cold_p50s.push((tenants.len(), cold.p50));

        // The same calls twice: every tenant row read from SQLite, then remembered.
        let from_file = crate::server::without_read_cache(cp)?;
        for (cp, source) in [
            (&from_file, "read cache off, every row from SQLite"),
            (cp, "rows from the read cache"),
        ] {
            let library = library_read(cp, tenants).await?;
            report.push(
                Row::info(
                    PART,
                    format!(
                        "scoped tenant read + decision through the library (`tenant_view`, SQLite, {source}), {n}"
                    ),
                    format!(
                        "p50 {}, p99 {}",
                        duration(library.p50),
                        duration(library.p99)
                    ),
                )
                .value(library.p50 * 1e6, "µs")
                .reference(),
            );
        }
    }
    if let (Some((few, first)), Some((many, last))) = (p50s.first(), p50s.last())
        && few != many
    {
        let ratio = last / first;
        report.push(
            Row::info(
                PART,
                format!(
                    "decision p50 at {} / at {}",
                    counted(*many as u64, "tenant", "tenants"),
                    counted(*few as u64, "tenant", "tenants")
                ),
                format!("{ratio:.2}"),
            )
            .value(ratio, "ratio")
            .target("<= 1.5", ratio <= TARGET_RATIO),
        );
    }
    if let (Some((few, first)), Some((many, last))) = (cold_p50s.first(), cold_p50s.last())
        && few != many
    {
        let ratio = last / first;
        report.push(
            Row::info(
                PART,
                format!(
                    "decision on tenant values held in memory: p50 at {} / at {}",
                    count(*many as u64),
                    count(*few as u64)
                ),
                format!("{ratio:.2}"),
            )
            .value(ratio, "ratio")
            .reference(),
        );
    }
    casbin_reference(report, batches, per_batch).await
}

/// Times `decide` over tenants picked in `order`, each batch on fresh copies made just
/// before it: the tenant a request decides on is the one it has just read.
fn time_fresh(
    tenants: &[Tenant],
    order: &[usize],
    batches: usize,
    per_batch: usize,
    decide: impl Fn(&Tenant) -> bool,
) -> Result<Percentiles, String> {
    let mut samples = Vec::with_capacity(batches);
    let mut next = 0;
    let mut allowed = 0usize;
    for _ in 0..batches {
        let fresh: Vec<Tenant> = (0..per_batch)
            .map(|_| {
                next += 1;
                tenants[order[next % order.len()]].clone()
            })
            .collect();
        let start = Instant::now();
        for t in &fresh {
            if black_box(decide(black_box(t))) {
                allowed += 1;
            }
        }
        samples.push(start.elapsed().as_secs_f64() / per_batch as f64);
    }
    if allowed == 0 {
        return Err("no decision allowed the tenant's administrator".into());
    }
    Ok(Percentiles::of(samples))
}

/// `ControlPlane::tenant_view` as the tenants' administrators, over up to 1,000 tenants.
async fn library_read(cp: &ControlPlane, tenants: &[Tenant]) -> Result<Percentiles, String> {
    let actors: Vec<Actor> = tenants
        .iter()
        .take(1000)
        .map(|t| Actor::customer("bench", t.id, &["tenant-admin"]))
        .collect();
    let ids: Vec<_> = tenants.iter().take(1000).map(|t| t.id).collect();
    let order = Rng::new(7).permutation(ids.len());
    for i in 0..200.min(LIBRARY_CALLS) {
        let k = order[i % order.len()];
        cp.tenant_view(&actors[k], ids[k])
            .await
            .map_err(|e| e.to_string())?;
    }
    let per_batch = 10;
    let failed = std::cell::RefCell::new(None);
    let p = time_batches_async(LIBRARY_CALLS / per_batch, per_batch, |n| {
        let k = order[n % order.len()];
        let (actor, id, failed) = (&actors[k], ids[k], &failed);
        async move {
            if let Err(e) = cp.tenant_view(actor, id).await {
                failed.borrow_mut().get_or_insert(e.to_string());
            }
        }
    })
    .await;
    match failed.into_inner() {
        Some(e) => Err(e),
        None => Ok(p),
    }
}

/// casbin-rs `enforce` over the hosted-exchange model and policy: one letter, and the four
/// letters a decision covers.
async fn casbin_reference(
    report: &mut Report,
    batches: usize,
    per_batch: usize,
) -> Result<(), String> {
    let source = PolicySet::builtin_sources()
        .into_iter()
        .find(|s| s.id == "hosted-exchange")
        .ok_or("the hosted-exchange profile is not shipped")?;
    let enforcer = mailplane_policy::casbin_reference(&source).await?;
    let ask = |letter: &str| {
        enforcer
            .enforce(("tenant-admin", ACTIVITY, letter))
            .unwrap_or(false)
    };
    if !ask("R") {
        return Err("casbin refuses the tenant administrator R on directory.administer".into());
    }
    // casbin is slower; fewer batches keep the run short without changing the median.
    let batches = (batches / 10).max(10);
    let one = time_batches(batches, per_batch, |_| {
        black_box(ask(black_box("R")));
    });
    report.push(
        Row::info(
            PART,
            "casbin-rs `enforce`, hosted-exchange, one letter",
            format!("p50 {}, p99 {}", duration(one.p50), duration(one.p99)),
        )
        .value(one.p50 * 1e6, "µs")
        .reference(),
    );
    let four = time_batches(batches, per_batch / 4, |_| {
        for letter in ["R", "A", "C", "I"] {
            black_box(ask(black_box(letter)));
        }
    });
    report.push(
        Row::info(
            PART,
            "casbin-rs `enforce` ×4 (R, A, C, I: what one decision answers)",
            format!("p50 {}, p99 {}", duration(four.p50), duration(four.p99)),
        )
        .value(four.p50 * 1e6, "µs")
        .reference(),
    );
    Ok(())
}

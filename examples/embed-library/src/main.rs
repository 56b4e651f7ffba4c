//! Embedding Mailplane as a library, with no HTTP at all.
//!
//! This example opens an SQLite store in a fresh temporary directory, builds a
//! [`ControlPlane`] over the built-in RACI profiles, and calls it directly with [`Actor`]
//! values, the way a Rust service that embeds Mailplane would:
//!
//! 1. the provider creates a tenant bound to the `hosted-exchange` profile;
//! 2. the tenant's own administrator adds a domain and a mailbox to it;
//! 3. the provider adds a domain to the same tenant: in `hosted-exchange` the customer is
//!    accountable for `directory.administer` and the provider holds only R and I, so the
//!    call files a proposal, which the administrator approves; a read-only principal is
//!    refused, and the refusal names the activity and every party's letters;
//! 4. the administrator of another tenant asks for the first tenant and is told it does
//!    not exist, because it lies outside that caller's scope;
//! 5. the hash chain of the audit log is verified;
//! 6. the library's background work is started with `mailplane::workers::spawn`: the
//!    customer asks for an export of its mail and the workers package it, with no call to
//!    the job worker from this program; then they are stopped. Without them an export (and
//!    a termination) would never advance.
//!
//! Every step checks what it expects and the program exits with status 1 when an
//! expectation fails, so running it in CI tests the library's behaviour.
//!
//! Run it with `cargo run -p embed-library`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailplane::certificate::CertificateSigner;
use mailplane::data_plane::{DEFAULT_MAX_MESSAGE_BYTES, FileDataPlane};
use mailplane::input::{
    DomainCreate, ExportCreate, MailboxCreate, RequestResolution, TenantCreate,
};
use mailplane::types::lifecycle::{ExportFormat, ExportState};
use mailplane::types::resources::{RequestKind, RequestState};
use mailplane::types::{Duty, Error, Party};
use mailplane::workers::{self, WorkerSettings};
use mailplane::{
    Actor, ControlPlane, ControlPlaneConfig, DEFAULT_LINK_TTL, DatabaseLocation, LifecycleSettings,
    Outcome, PolicySet,
};

/// The result of the example: a sentence saying which expectation failed, if one did.
type Checked = Result<(), String>;

#[tokio::main]
async fn main() {
    // Each run gets its own directory, so that runs never see each other's data.
    let dir =
        std::env::temp_dir().join(format!("mailplane-embed-library-{}", uuid::Uuid::now_v7()));
    let outcome = run(&dir).await;

    // The directory is removed whether or not the example succeeded. The control plane
    // and its connections were dropped when `run` returned.
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("warning: could not remove {}: {e}", dir.display());
    } else {
        println!("Removed the temporary directory {}.", dir.display());
    }

    match outcome {
        Ok(()) => println!("Every expectation held."),
        Err(why) => {
            eprintln!("embed-library failed: {why}");
            std::process::exit(1);
        }
    }
}

/// Runs every step against a store in `dir`.
async fn run(dir: &Path) -> Checked {
    // The store creates the directory and the database file, then runs the migrations.
    let location = DatabaseLocation::Sqlite(dir.join("mailplane.db"));
    // Messages live as encrypted files under the directory; exports are written there too,
    // and destruction certificates are signed with a key made for this run.
    let data_plane = FileDataPlane::open(&dir.join("mail"), &dir.join("master.key"))
        .map_err(|e| format!("opening the data plane failed: {e}"))?;
    let control_plane = ControlPlane::open(
        &location,
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .map_err(|e| format!("opening the control plane failed: {e}"))?
    .with_data_plane(Arc::new(data_plane), DEFAULT_MAX_MESSAGE_BYTES)
    .with_lifecycle(LifecycleSettings {
        exports_dir: dir.join("exports"),
        signer: Arc::new(CertificateSigner::generate()),
        issuer: "example.com".into(),
        link_ttl: DEFAULT_LINK_TTL,
    });
    println!("Opened an SQLite store at {}.", location_path(&location));

    // Step 1: the provider delivers the service, which creates the tenant.
    let provider = Actor::provider("example-provider", &["provider-admin"]);
    let tenant = control_plane
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Example Corp".into(),
                profile: Some("hosted-exchange".into()),
                partner_id: None,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("the provider could not create a tenant: {e}"))?;
    println!(
        "The provider created the tenant \"{}\" ({}) bound to the profile {}@{}.",
        tenant.name, tenant.id, tenant.profile, tenant.profile_version
    );

    // Step 2: the customer administers its own directory. Its party holds R and A for
    // `directory.administer`, so each call is carried out at once (`Outcome::Done`).
    let alice = Actor::customer("alice", tenant.id, &["tenant-admin"]);
    let domain = control_plane
        .domain_create(
            &alice,
            tenant.id,
            DomainCreate {
                name: "example.com".into(),
            },
        )
        .await
        .map_err(|e| format!("the tenant administrator could not create a domain: {e}"))?
        .done()
        .ok_or("the tenant administrator's domain was filed instead of created")?;
    println!(
        "The tenant administrator alice added the domain {} ({}).",
        domain.name, domain.id
    );

    // A custom domain takes mailboxes once it is verified through DNS; until then the
    // tenant's default domain, `<slug>.<provider mail domain>`, verified from the start,
    // carries the addresses.
    let default_domain = control_plane
        .domain_list(&alice, tenant.id, None, None)
        .await
        .map_err(|e| format!("listing the domains failed: {e}"))?
        .items
        .into_iter()
        .find(|d| d.default)
        .ok_or("the tenant has no default domain")?;
    println!(
        "Until {} is verified, addresses use the default domain {}.",
        domain.name, default_domain.name
    );

    let mailbox = control_plane
        .mailbox_create(
            &alice,
            tenant.id,
            MailboxCreate {
                local_part: "alice".into(),
                domain_id: default_domain.id,
                display_name: "Alice Example".into(),
                quota_bytes: None,
                status: None,
                kind: None,
            },
        )
        .await
        .map_err(|e| format!("the tenant administrator could not create a mailbox: {e}"))?
        .done()
        .ok_or("the tenant administrator's mailbox was filed instead of created")?;
    println!(
        "She then created the mailbox {} with a quota of {} bytes.",
        mailbox.address, mailbox.quota_bytes
    );

    // Step 3: the provider is responsible for directory work too, but the customer is
    // accountable: the provider's call becomes a proposal, and the domain is added only when
    // alice approves it. The audit trail then names both.
    let proposal = match control_plane
        .domain_create(
            &provider,
            tenant.id,
            DomainCreate {
                name: "provider.example.com".into(),
            },
        )
        .await
        .map_err(|e| format!("the provider's proposal failed: {e}"))?
    {
        Outcome::Filed(request) if request.kind == RequestKind::Proposal => request,
        other => {
            return Err(format!(
                "the provider's domain was expected to become a proposal, but the call gave {other:?}"
            ));
        }
    };
    println!(
        "The provider proposed the domain provider.example.com: proposal {} waits for the {:?}.",
        proposal.id, proposal.addressed_to
    );
    let approved = control_plane
        .request_approve(&alice, proposal.id, RequestResolution::default())
        .await
        .map_err(|e| format!("alice could not approve the proposal: {e}"))?;
    if approved.state != RequestState::Approved {
        return Err(format!(
            "the proposal was expected to be approved, but it is {:?}",
            approved.state
        ));
    }
    println!(
        "alice approved it; the operation ran as the provider and produced {}.",
        approved.result.map(|r| r.to_string()).unwrap_or_default()
    );

    // A read-only principal of the same tenant holds only I: it is refused, and the refusal
    // carries the activity, the deciding profile and the letters of every party.
    let reader = Actor::customer("rita", tenant.id, &["tenant-reader"]);
    let attempt = control_plane
        .domain_create(
            &reader,
            tenant.id,
            DomainCreate {
                name: "reader.example.com".into(),
            },
        )
        .await;
    let refusal = match attempt {
        Err(Error::Forbidden(refusal)) => refusal,
        Ok(outcome) => {
            return Err(format!(
                "the reader was expected to be forbidden from adding a domain, but the call gave {outcome:?}"
            ));
        }
        Err(other) => {
            return Err(format!(
                "the reader was expected to be forbidden from adding a domain, but the call failed with: {other}"
            ));
        }
    };
    println!("The read-only rita tried to add a domain and was refused:");
    println!("  reason: {}", refusal.reason);
    for party in &refusal.letters {
        println!("  the {} party holds {}", party.party, party.letters);
    }
    if refusal.activity.as_str() != "directory.administer" {
        return Err(format!(
            "the refusal was expected to name `directory.administer`, but it names `{}`",
            refusal.activity
        ));
    }
    let customer_letters = refusal
        .letters
        .iter()
        .find(|p| p.party == Party::Customer)
        .map(|p| p.letters)
        .ok_or("the refusal lists no letters for the customer party")?;
    if !customer_letters.has(Duty::R) || !customer_letters.has(Duty::A) {
        return Err(format!(
            "the customer party was expected to hold R and A for `directory.administer`, but it holds {customer_letters}"
        ));
    }

    // Step 4: a customer of another tenant cannot even learn that the first tenant exists.
    let other = control_plane
        .tenant_create(
            &provider,
            TenantCreate {
                name: "Other Corp".into(),
                profile: Some("hosted-exchange".into()),
                partner_id: None,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("the provider could not create a second tenant: {e}"))?;
    println!(
        "The provider created a second tenant \"{}\" ({}).",
        other.name, other.id
    );
    let bob = Actor::customer("bob", other.id, &["tenant-admin"]);
    match control_plane.tenant_view(&bob, tenant.id).await {
        Err(Error::NotFound { kind, id }) => {
            println!(
                "Its administrator bob asked for the first tenant and was told: {kind} {id} not found."
            );
        }
        Ok(t) => {
            return Err(format!(
                "bob was expected to get NotFound for another tenant, but he read \"{}\"",
                t.name
            ));
        }
        Err(other) => {
            return Err(format!(
                "bob was expected to get NotFound for another tenant, but the call failed with: {other}"
            ));
        }
    }

    // Step 5: every change wrote one audit row in the same transaction, and the refused
    // calls wrote none, so the chain holds exactly eleven rows: two tenants with three rows
    // each (created, placed in a region, licences provided), alice's domain and mailbox, and
    // for the proposal its filing, the domain it added, and its approval.
    let report = control_plane
        .audit_verify()
        .await
        .map_err(|e| format!("verifying the audit chain failed: {e}"))?;
    if !report.is_intact() {
        return Err(format!(
            "the audit chain is broken: {}",
            report.problem.as_deref().unwrap_or("no detail given")
        ));
    }
    println!("The audit chain is intact and holds {} rows.", report.rows);
    if report.rows != 11 {
        return Err(format!(
            "the audit chain was expected to hold 11 rows, but it holds {}",
            report.rows
        ));
    }

    // Step 6: the background work. The library starts it; this program never calls the job
    // worker. The intervals are short so that the example ends quickly; the defaults are
    // the server's (jobs every second, webhooks every 2 s, requests every 60 s).
    let background = workers::spawn(
        control_plane.clone(),
        WorkerSettings {
            job_poll: Duration::from_millis(50),
            ..WorkerSettings::default()
        },
    );
    let export = control_plane
        .export_create(
            &alice,
            tenant.id,
            ExportCreate {
                format: ExportFormat::EmlZip,
                mailbox_id: None,
            },
        )
        .await
        .map_err(|e| format!("alice could not ask for an export: {e}"))?
        .done()
        .ok_or("alice's export was filed instead of taken on by provider automation")?;
    println!(
        "alice asked for an export of her tenant's mail ({}); it is {}.",
        export.id,
        export.state.as_str()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let ready = loop {
        let now = control_plane
            .export_view(&alice, tenant.id, export.id)
            .await
            .map_err(|e| format!("reading the export failed: {e}"))?;
        if now.state == ExportState::Ready {
            break now;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the workers did not package the export in 30 seconds: it is {}",
                now.state.as_str()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "The workers packaged it: it is {}, with a download link valid until {}.",
        ready.state.as_str(),
        ready.expires_at.map(|t| t.to_string()).unwrap_or_default()
    );
    // A graceful stop: the job worker finishes the step it holds and claims no other.
    background.stop().await;
    println!("The workers stopped.");
    Ok(())
}

/// The file path of an SQLite location, for printing.
fn location_path(location: &DatabaseLocation) -> String {
    match location {
        DatabaseLocation::Sqlite(path) => path.display().to_string(),
        DatabaseLocation::Postgres(_) => "a PostgreSQL database".into(),
    }
}

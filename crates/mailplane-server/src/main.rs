//! The `mailplane` binary: serve the API, run migrations, print the OpenAPI document, mint
//! tokens, verify the audit chain, and lint or render RACI profiles.

mod config;
mod listen;
mod mailstack;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use mailplane::auth::{Keyring, LOCAL_KID, TokenIssuer};
use mailplane::types::{OrgId, Party};
use mailplane::{Actor, ControlPlane, ControlPlaneConfig, PolicySet};
use mailplane_http::AppState;
use mailplane_store::DataStore;

use config::Config;

#[derive(Parser)]
#[command(
    name = "mailplane",
    version,
    about = "A RACI-aware control plane for hosted mail"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (creates the data directory, database and signing key when missing).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (the checked-in `openapi/mailplane.json`).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// Mint bearer tokens with the deployment's signing key.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// RACI profile tools.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Service catalogue tools.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Destruction certificate tools.
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
    /// Postfix and Dovecot: the configuration that makes them ask this Mailplane.
    Mailstack {
        #[command(subcommand)]
        command: mailstack::MailstackCommand,
    },
}

#[derive(Subcommand)]
enum CertificateCommand {
    /// Verify a destruction certificate, or a mailbox's destruction receipt, offline: its
    /// Ed25519 signature over the canonical document, and, with `--key`, that it was signed
    /// by the provider's published key.
    /// Exit 0 when it verifies, 1 when it does not.
    Verify {
        /// The certificate (a JSON file, as the termination's `certificate`).
        file: std::path::PathBuf,
        /// The provider's key to trust: the JWK set from
        /// `/.well-known/mailplane/destruction-keys`, one JWK, a PEM public key, or the
        /// base64 key itself. Without it, the key embedded in the certificate is used and
        /// reported, to be compared with the published one.
        #[arg(long)]
        key: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum CatalogueCommand {
    /// Check a catalogue file; exit 1 naming every rule it breaks.
    Check {
        /// The TOML file (default: ./catalogue/catalogue.toml).
        file: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issue a token for a principal.
    Issue {
        /// provider, partner or customer.
        #[arg(long)]
        party: Party,
        /// `provider`, a partner id or a tenant id.
        #[arg(long, default_value = "provider")]
        org: String,
        /// A role; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// How long the token is valid: 90s, 30m, 12h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// The subject recorded in audit rows.
        #[arg(long, default_value = "cli")]
        subject: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 when a row was edited or removed.
    Verify,
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Lint every profile under a folder (default: ./policies).
    Lint {
        /// The folder holding one sub-folder per profile.
        dir: Option<std::path::PathBuf>,
    },
    /// Render a profile as a Markdown table.
    Render {
        /// The profile id.
        profile: String,
        /// The folder holding the profiles (default: the shipped ones).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

/// mimalloc: a request makes many small allocations (rows, JSON, headers), which it serves
/// faster than glibc's allocator (measured in the benchmark's reads and writes).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = match config::with_file_defaults(Cli::command(), &args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: the configuration file {message}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match Cli::from_arg_matches(&command.get_matches_from(args)) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    let cfg = cli.config;
    match cli.command {
        Command::Serve => serve(cfg).await.map(|_| ExitCode::SUCCESS),
        Command::Migrate => {
            let store = DataStore::open(&cfg.database()?)
                .await
                .map_err(|e| e.to_string())?;
            println!("migrations applied ({})", store.backend_name());
            Ok(ExitCode::SUCCESS)
        }
        Command::Openapi { out } => {
            let doc = mailplane_http::openapi_json();
            match out {
                Some(path) => {
                    std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => print!("{doc}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token {
            command:
                TokenCommand::Issue {
                    party,
                    org,
                    roles,
                    ttl,
                    subject,
                },
        } => {
            let key =
                mailplane::auth::ensure_signing_key(&cfg.data_dir).map_err(|e| e.to_string())?;
            let issuer = TokenIssuer::ed25519(LOCAL_KID, key.private_pem.as_bytes())
                .map_err(|e| e.to_string())?;
            let org = parse_org(party, &org)?;
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let token = issuer
                .issue(&Actor::new(subject, org, &roles), config::parse_ttl(&ttl)?)
                .map_err(|e| e.to_string())?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = DataStore::connect(&cfg.database()?)
                .await
                .map_err(|e| e.to_string())?;
            let report = store.audit_verify().await.map_err(|e| e.to_string())?;
            match report.problem {
                None => {
                    println!("audit chain intact: {} row(s)", report.rows);
                    Ok(ExitCode::SUCCESS)
                }
                Some(problem) => {
                    println!(
                        "audit chain BROKEN after {} intact row(s): {problem}",
                        report.rows
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Lint { dir },
        } => {
            let dir = dir.unwrap_or_else(|| "policies".into());
            match PolicySet::load_dir(&dir) {
                Ok(set) => {
                    for p in set.iter() {
                        println!(
                            "ok: {} ({} activities, {} roles)",
                            p.key(),
                            p.activities.len(),
                            p.roles.len()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(report) => {
                    print!("{report}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Policy {
            command: PolicyCommand::Render { profile, dir },
        } => {
            let set = match dir {
                Some(d) => PolicySet::load_dir(&d)?,
                None => PolicySet::builtin(),
            };
            let p = set
                .get(&profile)
                .ok_or_else(|| format!("no profile `{profile}`"))?;
            print!("{}", mailplane_policy::render_markdown(p));
            Ok(ExitCode::SUCCESS)
        }
        Command::Certificate {
            command: CertificateCommand::Verify { file, key },
        } => certificate_verify(&file, key.as_deref()),
        Command::Mailstack { command } => mailstack::run(command).map(|()| ExitCode::SUCCESS),
        Command::Catalogue {
            command: CatalogueCommand::Check { file },
        } => {
            let file = file
                .or(cfg.catalogue.clone())
                .unwrap_or_else(|| "catalogue/catalogue.toml".into());
            match mailplane::catalogue::load(&file) {
                Ok(c) => {
                    println!(
                        "ok: {} ({} regions, {} offers, {} SKUs)",
                        file.display(),
                        c.regions.len(),
                        c.offers.len(),
                        c.skus.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// `mailplane certificate verify`: reads the files, verifies, prints a summary.
fn certificate_verify(
    file: &std::path::Path,
    key: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    let document = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let trusted = match key {
        Some(k) => {
            let bytes = std::fs::read(k).map_err(|e| format!("{}: {e}", k.display()))?;
            mailplane::certificate::trusted_keys(&bytes)
                .map_err(|e| format!("{}: {e}", k.display()))?
        }
        None => vec![],
    };
    // A mailbox's destruction receipt is signed with the same key and verified here too.
    if mailplane::certificate::receipt::is_receipt(&document) {
        return match mailplane::certificate::receipt::verify_receipt(&document, &trusted) {
            Ok(v) => {
                println!("VALID: {}", file.display());
                println!("{}", v.summary());
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("INVALID: {}: {e}", file.display());
                Ok(ExitCode::from(1))
            }
        };
    }
    match mailplane::certificate::verify(&document, &trusted) {
        Ok(v) => {
            println!("VALID: {}", file.display());
            println!("{}", v.summary());
            if !v.pinned {
                println!(
                    "note: checked against the key embedded in the certificate ({}); pass --key with the provider's published keys to check who signed it",
                    v.key_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("INVALID: {}: {e}", file.display());
            Ok(ExitCode::from(1))
        }
    }
}

fn parse_org(party: Party, org: &str) -> Result<OrgId, String> {
    match party {
        Party::Provider => Ok(OrgId::Provider),
        Party::Partner => org
            .parse()
            .map(OrgId::Partner)
            .map_err(|_| "--org must be a partner id".to_string()),
        Party::Customer => org
            .parse()
            .map(OrgId::Tenant)
            .map_err(|_| "--org must be a tenant id".to_string()),
    }
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

async fn serve(cfg: Config) -> Result<(), String> {
    config::init_tracing(&cfg.log_format);
    let policies = match &cfg.policies {
        Some(dir) => PolicySet::load_dir(dir)?,
        None => PolicySet::builtin(),
    };
    let settings = ControlPlaneConfig {
        catalogue: cfg.catalogue()?,
        ..ControlPlaneConfig::default()
    };
    let mut control_plane = ControlPlane::open(&cfg.database()?, policies, settings)
        .await
        .and_then(|cp| cp.with_read_cache(cfg.read_cache as usize))
        .map_err(|e| e.to_string())?;
    // Messages live as encrypted files under the data directory.
    let master_key = cfg
        .master_key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("master.key"));
    let data_plane =
        mailplane::data_plane::FileDataPlane::open(&cfg.data_dir.join("mail"), &master_key)
            .map_err(|e| e.to_string())?;
    let max_message = data_plane.max_message_bytes();
    let keys = data_plane.keys().clone();
    control_plane = control_plane.with_data_plane(std::sync::Arc::new(data_plane), max_message);
    // Regions with a Dovecot back end of their own keep their mailboxes there, with the
    // same tenants' keys.
    if let Some(path) = &cfg.mail_hosts {
        let hosts = mailplane::data_plane::MailHosts::load(path).map_err(|e| e.to_string())?;
        control_plane = control_plane
            .with_mail_hosts(&hosts, &keys)
            .map_err(|e| e.to_string())?;
    }
    // Exports are written under the data directory; certificates are signed with a key of
    // their own, published at /.well-known/mailplane/destruction-keys.
    let certificate_key = cfg
        .certificate_key_file
        .clone()
        .unwrap_or_else(|| cfg.data_dir.join("certificate.key"));
    let signer = mailplane::certificate::CertificateSigner::from_key_file(&certificate_key)
        .map_err(|e| e.to_string())?;
    if cfg.webhooks_allow_private {
        control_plane = control_plane
            .with_webhook_settings(mailplane::WebhookSettings {
                allow_private_addresses: true,
                ..mailplane::WebhookSettings::default()
            })
            .map_err(|e| e.to_string())?;
    }
    control_plane = control_plane
        .with_lifecycle(mailplane::LifecycleSettings {
            exports_dir: cfg.data_dir.join("exports"),
            signer: Arc::new(signer),
            issuer: cfg.catalogue()?.mail_domain,
            link_ttl: mailplane::DEFAULT_LINK_TTL,
        })
        .with_job_settings(mailplane::JobSettings {
            lease: time::Duration::seconds(cfg.job_lease as i64),
            throttle: std::time::Duration::from_millis(cfg.job_throttle_ms),
            relocation_grace: time::Duration::seconds(cfg.relocation_grace as i64),
            ..mailplane::JobSettings::default()
        });
    let dns = mailplane::dns::DnsSettings {
        name_servers: cfg.dns_servers.clone(),
        timeout: std::time::Duration::from_secs(cfg.dns_timeout),
    };
    if dns != mailplane::dns::DnsSettings::default() {
        control_plane = control_plane.with_dns(&dns).map_err(|e| e.to_string())?;
    }
    let backend = control_plane.ready().await.map_err(|e| e.to_string())?;
    // The mail servers' lookups, when configured: they stop with the server.
    let mailstack = match mailstack::serve_settings(
        cfg.postfix_socketmap.as_deref(),
        cfg.dovecot_dict.as_ref(),
        &cfg.mailstack_socket_mode,
    )? {
        Some(settings) => Some(
            mailplane::mailstack::MailstackServer::start(control_plane.mail_lookups(), &settings)
                .await
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let signing = mailplane::auth::ensure_signing_key(&cfg.data_dir).map_err(|e| e.to_string())?;
    let mut keyring = Keyring::new(
        mailplane::auth::DEFAULT_ISSUER,
        mailplane::auth::DEFAULT_AUDIENCE,
    );
    keyring
        .add_public_pem(LOCAL_KID, signing.public_pem.as_bytes())
        .map_err(|e| e.to_string())?;
    if let Some(secret) = cfg.hs256_secret()? {
        keyring
            .add_hs256("hs256", &secret)
            .map_err(|e| e.to_string())?;
    }
    for (kid, path) in cfg.trusted_keys()? {
        let pem = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        keyring
            .add_public_pem(&kid, &pem)
            .map_err(|e| e.to_string())?;
    }
    let (stop, stopping) = tokio::sync::watch::channel(false);
    // The job worker (which also schedules the retention sweeps), the webhook pump and the
    // request sweep: the library's background work, started as an embedder starts it.
    let workers = mailplane::workers::spawn(
        control_plane.clone(),
        mailplane::workers::WorkerSettings::default(),
    );
    let mut state = AppState::new(control_plane.clone(), Arc::new(keyring));
    if cfg.rate_limit > 0 {
        state = state.with_rate_limit(mailplane_http::limits::RateLimit {
            per_second: f64::from(cfg.rate_limit),
            burst: cfg.rate_limit_burst,
        });
    }
    let app = mailplane_http::app(state);
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("Mailplane is serving on http://{addr} ({backend} database)");
    println!("API docs:     http://{addr}/docs");
    println!("OpenAPI:      http://{addr}/openapi.json");
    if let Some(a) = mailstack.as_ref().and_then(|m| m.socketmap_addr()) {
        println!("Postfix socketmap lookups on {a}");
    }
    if let Some(path) = &cfg.dovecot_dict {
        println!("Dovecot dict lookups on {}", path.display());
    }
    if signing.created {
        let issuer = TokenIssuer::ed25519(LOCAL_KID, signing.private_pem.as_bytes())
            .map_err(|e| e.to_string())?;
        let token = issuer
            .issue(
                &Actor::provider("bootstrap", &["provider-admin"]),
                30 * 24 * 3600,
            )
            .map_err(|e| e.to_string())?;
        println!();
        println!(
            "A new signing key was created in {}.",
            cfg.data_dir.display()
        );
        println!("Bootstrap provider-admin token (valid 30 days, shown once):");
        println!();
        println!("{token}");
        println!();
        println!(
            "Mint more with: mailplane token issue --party provider --role provider-admin --ttl 1h"
        );
    }
    // On SIGTERM or Ctrl-C: stop accepting connections, let requests in flight finish,
    // stop the job worker and the webhook pump after the step or pass they are in, then
    // give up any job lease still held, all within the grace period.
    let grace = std::time::Duration::from_secs(cfg.shutdown_grace);
    let mut serving_stop = stopping;
    let server = listen::serve(listener, app, async move {
        let _ = serving_stop.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(server);
    stop_signal().await;
    tracing::info!("stopping: finishing requests in flight and the job step being run");
    let _ = stop.send(true);
    let (workers_done, drained) = tokio::join!(
        // The workers give up their job leases once stopped, also when the grace runs out.
        workers.stop_within(grace),
        tokio::time::timeout(grace, server)
    );
    match drained {
        Ok(Ok(Ok(()))) if workers_done => {
            tracing::info!("stopped");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(format!("the server task failed: {e}")),
        Ok(Ok(Ok(()))) | Err(_) => {
            tracing::warn!(
                grace = cfg.shutdown_grace,
                "stopped before everything in flight finished"
            );
            Ok(())
        }
    }
}

//! The end-to-end test harness.
//!
//! A [`Harness`] is one fresh deployment: its own database (an SQLite file in a temporary
//! folder, or a new PostgreSQL database when `MAILPLANE_TEST_DATABASE_URL` is set), the
//! shipped profiles, a control plane, the HTTP app and a token issuer. It hands out typed
//! clients (`provider_admin`, `customer_admin`, `partner_admin`, `anonymous`) that call the
//! app through `tower::ServiceExt::oneshot`, without a socket.

pub mod dns;
pub mod mail_clients;
pub mod mailstack;
pub mod planes;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use mailplane::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Keyring, TokenIssuer};
use mailplane::clock::ManualClock;
use mailplane::types::{PartnerId, TenantId};
use mailplane::{
    Actor, ControlPlane, ControlPlaneConfig, DatabaseLocation, PolicySet, WebhookSettings,
};
use mailplane_http::AppState;
use mailplane_store::DataStore;

pub use planes::Plane;

/// The largest message the harness's data plane takes: 1 MiB.
pub const MAX_TEST_MESSAGE: usize = 1 << 20;

/// The HS256 secret every harness trusts under kid `hs256`.
pub const TEST_SECRET: &[u8] = b"mailplane-test-secret-of-at-least-32-bytes";

/// Which database a harness runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database on the server named by `MAILPLANE_TEST_DATABASE_URL`.
    Postgres,
}

/// One fresh deployment under test.
pub struct Harness {
    /// The control plane, for tests through the library.
    pub control_plane: ControlPlane,
    /// The store, for tests that tamper with rows.
    pub store: DataStore,
    /// The HTTP app.
    pub app: Router,
    /// Signs test tokens.
    pub issuer: TokenIssuer,
    /// The backend in use.
    pub backend: Backend,
    /// The control plane's clock: it stands still until a test moves it past a deadline.
    pub clock: Arc<ManualClock>,
    /// Where the database is, for tests that restart the control plane.
    pub location: DatabaseLocation,
    /// The authoritative name server the control plane checks customers' records with.
    pub dns: dns::DnsServer,
    /// Where the data plane keeps its files and master key (and, on Dovecot, the tenants'
    /// data keys).
    pub mail_dir: PathBuf,
    /// The data plane of the default region (`eu`).
    pub plane: Plane,
    /// On Dovecot, the real Postfix and Dovecot the default region's mail lives in, asking
    /// their lookups of [`Harness::control_plane`]; stopped with the harness.
    pub mail_stack: Option<mailstack::MailStack>,
    dir: Option<PathBuf>,
}

impl Harness {
    /// Serves the HTTP app (and runs the jobs) from `control_plane` from now on: the
    /// harness's own with more settings, such as mail hosts.
    pub fn use_control_plane(&mut self, control_plane: ControlPlane) {
        let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
        keyring.add_hs256("hs256", TEST_SECRET).expect("hs256 key");
        self.app = mailplane_http::app(AppState::new(control_plane.clone(), Arc::new(keyring)));
        self.control_plane = control_plane;
    }

    /// Runs every due job step, as the server's worker does each second, until none is due.
    pub async fn run_jobs(&self) -> mailplane::JobReport {
        self.control_plane.jobs_run_due().await.expect("job worker")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // The mail servers first, while their files are still there.
        drop(self.mail_stack.take());
        let _ = std::fs::remove_dir_all(&self.mail_dir);
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The fields a problem document's `errors` name, in order.
pub fn field_errors(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The PostgreSQL server URL for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var("MAILPLANE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

impl Harness {
    /// A harness on a fresh SQLite file.
    pub async fn sqlite() -> Harness {
        Harness::sqlite_on(Plane::Files)
            .await
            .expect("the file store needs no mail stack")
    }

    /// A harness on a fresh SQLite file and `plane`, or `None` when that data plane cannot
    /// run here ([`mailstack::MailStack::runs`]).
    pub async fn sqlite_on(plane: Plane) -> Option<Harness> {
        if !plane.runs() {
            return None;
        }
        let dir =
            std::env::temp_dir().join(format!("mailplane-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let location = DatabaseLocation::Sqlite(dir.join("test.db"));
        Harness::open(location, Backend::Sqlite, Some(dir), plane).await
    }

    /// A harness on a fresh PostgreSQL database, or `None` when no server is configured.
    pub async fn postgres() -> Option<Harness> {
        Harness::postgres_on(Plane::Files).await
    }

    /// A harness on a fresh PostgreSQL database and `plane`, or `None` when no server is
    /// configured or the data plane cannot run here.
    pub async fn postgres_on(plane: Plane) -> Option<Harness> {
        let url = postgres_url()?;
        if !plane.runs() {
            return None;
        }
        let name = format!("mp_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(&url)
            .await
            .expect("connect to the PostgreSQL test server");
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let db_url = match url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("MAILPLANE_TEST_DATABASE_URL must end in /<database>"),
        };
        Harness::open(
            DatabaseLocation::Postgres(db_url),
            Backend::Postgres,
            None,
            plane,
        )
        .await
    }

    async fn open(
        location: DatabaseLocation,
        backend: Backend,
        dir: Option<PathBuf>,
        plane: Plane,
    ) -> Option<Harness> {
        let clock = Arc::new(ManualClock::starting_now());
        let dns = dns::DnsServer::start().await;
        let mail_dir =
            std::env::temp_dir().join(format!("mailplane-mail-{}", uuid::Uuid::now_v7().simple()));
        let files = Arc::new(
            mailplane::data_plane::FileDataPlane::open(
                &mail_dir.join("mail"),
                &mail_dir.join("master.key"),
            )
            .expect("data plane"),
        );
        let control_plane = ControlPlane::open(
            &location,
            PolicySet::builtin(),
            ControlPlaneConfig::default(),
        )
        .await
        .expect("control plane")
        .with_clock(clock.clone())
        // The webhook tests' receivers listen on loopback.
        .with_webhook_settings(WebhookSettings {
            allow_private_addresses: true,
            ..Default::default()
        })
        .expect("webhook settings")
        // Customers' DNS records live on a real name server on loopback.
        .with_dns(&mailplane::dns::DnsSettings {
            name_servers: vec![dns.addr()],
            timeout: std::time::Duration::from_secs(2),
        })
        .expect("dns settings")
        // Messages as encrypted files in a folder of the test's own, at most 1 MiB each.
        .with_data_plane(files.clone(), MAX_TEST_MESSAGE)
        // Exports in the test's folder; certificates signed with a key made for the test.
        .with_lifecycle(mailplane::LifecycleSettings {
            exports_dir: mail_dir.join("exports"),
            signer: Arc::new(
                mailplane::certificate::CertificateSigner::from_key_file(
                    &mail_dir.join("certificate.key"),
                )
                .expect("certificate key"),
            ),
            issuer: "mailplane.example".into(),
            link_ttl: mailplane::DEFAULT_LINK_TTL,
        });
        // On Dovecot, the default region's mail lives in a real Postfix and Dovecot that ask
        // this control plane their lookups; its data keys are the file store's.
        let (control_plane, mail_stack) = match plane {
            Plane::Files => (control_plane, None),
            Plane::Dovecot => {
                let (control_plane, stack) =
                    planes::on_dovecot(control_plane, files.keys()).await?;
                (control_plane, Some(stack))
            }
        };
        // A second handle on the same database, for tests that tamper with rows.
        let store = DataStore::open(&location).await.expect("store");
        let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
        keyring.add_hs256("hs256", TEST_SECRET).expect("hs256 key");
        let app = mailplane_http::app(AppState::new(control_plane.clone(), Arc::new(keyring)));
        Some(Harness {
            control_plane,
            store,
            app,
            issuer: TokenIssuer::hs256("hs256", TEST_SECRET).expect("hs256 issuer"),
            backend,
            clock,
            location,
            dns,
            mail_dir,
            plane,
            mail_stack,
            dir,
        })
    }

    /// A client acting as `actor`.
    pub fn client(&self, actor: Actor) -> Client {
        let token = self.issuer.issue(&actor, 3600).expect("token");
        Client {
            app: self.app.clone(),
            token: Some(token),
            actor: Some(actor),
        }
    }

    /// A client with a raw token (or none).
    pub fn client_with_token(&self, token: Option<String>) -> Client {
        Client {
            app: self.app.clone(),
            token,
            actor: None,
        }
    }

    /// A provider administrator.
    pub fn provider_admin(&self) -> Client {
        self.client(Actor::provider("provider-admin@test", &["provider-admin"]))
    }

    /// A provider principal with one role.
    pub fn provider(&self, role: &str) -> Client {
        self.client(Actor::provider(format!("{role}@provider"), &[role]))
    }

    /// An administrator of a customer tenant.
    pub fn customer_admin(&self, tenant: TenantId) -> Client {
        self.customer(tenant, "tenant-admin")
    }

    /// A customer principal with one role.
    pub fn customer(&self, tenant: TenantId, role: &str) -> Client {
        self.client(Actor::customer(format!("{role}@{tenant}"), tenant, &[role]))
    }

    /// An administrator of a partner.
    pub fn partner_admin(&self, partner: PartnerId) -> Client {
        self.partner(partner, "partner-admin")
    }

    /// A partner principal with one role.
    pub fn partner(&self, partner: PartnerId, role: &str) -> Client {
        self.client(Actor::partner(
            format!("{role}@{partner}"),
            partner,
            &[role],
        ))
    }

    /// A caller without a token.
    pub fn anonymous(&self) -> Client {
        self.client_with_token(None)
    }
}

/// A caller of the HTTP app.
pub struct Client {
    app: Router,
    token: Option<String>,
    /// The actor behind the token, for library calls in the same test.
    pub actor: Option<Actor>,
}

/// An HTTP answer with its JSON body.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The Content-Type header.
    pub content_type: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The body as text (lossy UTF-8), for answers that are not JSON.
    pub text: String,
    /// The response headers.
    pub headers: axum::http::HeaderMap,
    /// The body as sent, for binary answers (archives).
    pub bytes: Vec<u8>,
}

impl Reply {
    /// Panics with the body unless the status is `expected`; returns the body.
    #[track_caller]
    pub fn expect(self, expected: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {:#}",
            self.body
        );
        self.body
    }

    /// A string field of the body.
    pub fn str(&self, field: &str) -> String {
        self.body[field].as_str().unwrap_or_default().to_string()
    }
}

impl Client {
    /// Sends a request with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.send_with_headers(method, path, body, &[]).await
    }

    /// Sends a prepared request (the token is not added).
    pub async fn send_request(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            content_type,
            body,
            text,
            headers,
            bytes: bytes.to_vec(),
        }
    }

    /// The same caller against another application (one with rate limits, say).
    pub fn with_app(mut self, app: Router) -> Client {
        self.app = app;
        self
    }

    /// The bearer token, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// POST a raw body with its content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, content_type);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        self.send_request(req.body(Body::from(body)).unwrap()).await
    }

    /// POST with a JSON body and one extra header (`Idempotency-Key`, say).
    pub async fn post_with_header(&self, path: &str, body: Value, extra: (&str, &str)) -> Reply {
        self.send_with_headers(Method::POST, path, Some(body), &[extra])
            .await
    }

    /// Any method, an optional JSON body and extra headers (`If-Match`, say).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&b).unwrap())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send_request(req).await
    }

    /// PUT with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }
}

/// Runs an end-to-end test on SQLite, and on PostgreSQL when a server is configured.
#[macro_export]
macro_rules! e2e {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Harness::sqlite().await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(h) = $crate::postgres_or_skip($crate::Plane::Files).await {
                    super::$name(h).await;
                }
            }
        }
    };
}

/// A harness on a fresh PostgreSQL database and `plane`, or `None` (said on stderr) when no
/// server is configured or the plane cannot run here; without a server under CI, a panic.
pub async fn postgres_or_skip(plane: Plane) -> Option<Harness> {
    if postgres_url().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but MAILPLANE_TEST_DATABASE_URL is not: the PostgreSQL run would be skipped"
        );
        eprintln!("MAILPLANE_TEST_DATABASE_URL is not set: PostgreSQL run skipped");
        return None;
    }
    Harness::postgres_on(plane).await
}

/// Test fixtures built through the API.
pub mod fixtures {
    use serde_json::json;

    use super::*;

    /// Creates a partner as the provider; returns its id.
    pub async fn partner(h: &Harness, name: &str) -> PartnerId {
        let p = h
            .provider_admin()
            .post("/v1/partners", json!({ "name": name }))
            .await
            .expect(201);
        p["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a hosted-exchange tenant as the provider; returns its id.
    pub async fn tenant(h: &Harness, name: &str) -> TenantId {
        let t = h
            .provider_admin()
            .post("/v1/tenants", json!({ "name": name }))
            .await
            .expect(201);
        t["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a tenant of the ticketed-suite profile as the provider; returns its id.
    pub async fn suite_tenant(h: &Harness) -> TenantId {
        let t = h
            .provider_admin()
            .post(
                "/v1/tenants",
                json!({ "name": "Suite customer", "profile": "ticketed-suite" }),
            )
            .await
            .expect(201);
        t["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a master-hoster tenant as the partner; returns its id.
    pub async fn partner_tenant(h: &Harness, partner: PartnerId, name: &str) -> TenantId {
        let t = h
            .partner_admin(partner)
            .post(
                "/v1/tenants",
                json!({ "name": name, "profile": "master-hoster" }),
            )
            .await
            .expect(201);
        t["id"].as_str().unwrap().parse().unwrap()
    }

    /// Adds a domain as the tenant's admin, publishes its verification record on the
    /// harness's name server and verifies it; returns its id.
    pub async fn domain(h: &Harness, tenant: TenantId, name: &str) -> String {
        let id = unverified_domain(h, tenant, name).await;
        publish_verification(h, tenant, &id).await;
        h.customer_admin(tenant)
            .post(
                &format!("/v1/tenants/{tenant}/domains/{id}/verify"),
                json!({}),
            )
            .await
            .expect(200);
        id
    }

    /// Adds a domain as the tenant's admin without verifying it; returns its id.
    pub async fn unverified_domain(h: &Harness, tenant: TenantId, name: &str) -> String {
        let d = h
            .customer_admin(tenant)
            .post(
                &format!("/v1/tenants/{tenant}/domains"),
                json!({ "name": name }),
            )
            .await
            .expect(201);
        d["id"].as_str().unwrap().to_string()
    }

    /// Publishes the verification TXT record the control plane asks for.
    pub async fn publish_verification(h: &Harness, tenant: TenantId, domain: &str) {
        let r = h
            .customer_admin(tenant)
            .get(&format!("/v1/tenants/{tenant}/domains/{domain}/records"))
            .await
            .expect(200);
        let txt = r["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["purpose"] == "verification")
            .expect("a verification record")
            .clone();
        h.dns.set_txt(
            txt["name"].as_str().unwrap(),
            &[txt["value"].as_str().unwrap()],
        );
    }

    /// The tenant's default domain's id.
    pub async fn default_domain(h: &Harness, tenant: TenantId) -> String {
        let d = h
            .provider_admin()
            .get(&format!("/v1/tenants/{tenant}/domains"))
            .await
            .expect(200);
        d["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["default"] == true)
            .expect("a default domain")["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a mailbox as the tenant's admin; returns its id.
    pub async fn mailbox(h: &Harness, tenant: TenantId, domain: &str, local: &str) -> String {
        let m = h
            .customer_admin(tenant)
            .post(
                &format!("/v1/tenants/{tenant}/mailboxes"),
                json!({ "local_part": local, "domain_id": domain, "display_name": local }),
            )
            .await
            .expect(201);
        m["id"].as_str().unwrap().to_string()
    }
}

/// A real HTTP receiver on loopback for webhook tests: it records every delivery and
/// answers as told (fail the first few, or hang on the first one).
pub mod receiver {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};

    use super::*;

    /// One delivery as the receiver saw it.
    #[derive(Debug, Clone)]
    pub struct Received {
        /// The request headers.
        pub headers: HeaderMap,
        /// The raw body.
        pub body: Bytes,
    }

    /// How the receiver answers.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Behaviour {
        /// Answer 500 to this many deliveries first.
        pub fail_first: usize,
        /// Never answer the first delivery.
        pub hang_first: bool,
    }

    struct Inner {
        behaviour: Behaviour,
        seen: AtomicUsize,
        received: Mutex<Vec<Received>>,
    }

    /// A running receiver.
    #[derive(Clone)]
    pub struct Receiver {
        inner: Arc<Inner>,
        /// Its URL.
        pub url: String,
    }

    impl Receiver {
        /// Starts a receiver on 127.0.0.1 with an ephemeral port.
        pub async fn start(behaviour: Behaviour) -> Receiver {
            let inner = Arc::new(Inner {
                behaviour,
                seen: AtomicUsize::new(0),
                received: Mutex::new(Vec::new()),
            });
            let app = Router::new()
                .route("/hook", axum::routing::post(receive))
                .with_state(inner.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/hook", listener.local_addr().unwrap());
            tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            });
            Receiver { inner, url }
        }

        /// Every delivery received so far, in order.
        pub fn received(&self) -> Vec<Received> {
            self.inner.received.lock().unwrap().clone()
        }
    }

    async fn receive(
        State(inner): State<Arc<Inner>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        inner
            .received
            .lock()
            .unwrap()
            .push(Received { headers, body });
        let n = inner.seen.fetch_add(1, Ordering::SeqCst);
        if inner.behaviour.hang_first && n == 0 {
            std::future::pending::<()>().await;
        }
        if n < inner.behaviour.fail_first {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::NO_CONTENT
        }
    }
}

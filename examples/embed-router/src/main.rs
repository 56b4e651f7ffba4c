//! Mounting Mailplane's HTTP API inside a host axum application.
//!
//! A service that already has an axum router can serve Mailplane next to its own routes:
//! [`mailplane_http::app`] returns an ordinary [`Router`], and [`Router::nest`] mounts it
//! under a prefix, here `/mail`. This example builds such a host app with one route of its
//! own (`/`), trusts an HS256 shared secret for bearer tokens, mints a provider token with
//! the same secret, and then sends requests to the combined router in-process with
//! [`tower::ServiceExt::oneshot`], without opening a socket:
//!
//! 1. `GET /` reaches the host's own route;
//! 2. `GET /mail/healthz` reaches Mailplane's liveness probe;
//! 3. `POST /mail/v1/tenants` with the token creates a tenant;
//! 4. `GET /mail/v1/tenants` with the token lists it;
//! 5. `GET /mail/v1/tenants` without a token is answered with a 401 problem document.
//!
//! Every response's status is checked and the program exits with status 1 when one is not
//! the expected one, so running it in CI tests the mounting.
//!
//! Run it with `cargo run -p embed-router`.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use mailplane::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Keyring, TokenIssuer};
use mailplane::{Actor, ControlPlane, ControlPlaneConfig, DatabaseLocation, PolicySet};
use mailplane_http::AppState;
use tower::ServiceExt;

/// The shared secret tokens are signed and verified with. A real deployment reads it from
/// its secret store; HS256 requires at least 32 bytes.
const SECRET: &[u8] = b"an example secret that is long enough for HS256";

/// The key id the secret is trusted under, carried in each token's `kid` header.
const KID: &str = "hs256";

/// The outcome of the example: a sentence saying which expectation failed, if one did.
type Outcome = Result<(), String>;

#[tokio::main]
async fn main() {
    // Each run gets its own directory, so that runs never see each other's data.
    let dir = std::env::temp_dir().join(format!("mailplane-embed-router-{}", uuid::Uuid::now_v7()));
    let outcome = run(&dir).await;

    // The directory is removed whether or not the example succeeded. The router and its
    // control plane were dropped when `run` returned.
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("warning: could not remove {}: {e}", dir.display());
    }

    match outcome {
        Ok(()) => println!("Every response had the expected status."),
        Err(why) => {
            eprintln!("embed-router failed: {why}");
            std::process::exit(1);
        }
    }
}

/// Builds the host app over a store in `dir` and sends the requests.
async fn run(dir: &Path) -> Outcome {
    let control_plane = ControlPlane::open(
        &DatabaseLocation::Sqlite(dir.join("mailplane.db")),
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .map_err(|e| format!("opening the control plane failed: {e}"))?;

    // The keyring verifies incoming tokens; the issuer mints them with the same secret.
    let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
    keyring
        .add_hs256(KID, SECRET)
        .map_err(|e| format!("the keyring refused the secret: {e}"))?;
    let provider = Actor::provider("example-provider", &["provider-admin"]);
    let token = TokenIssuer::hs256(KID, SECRET)
        .and_then(|issuer| issuer.issue(&provider, 3600))
        .map_err(|e| format!("minting a token failed: {e}"))?;
    let bearer = format!("Bearer {token}");

    // The host's own routes, with Mailplane's whole application mounted under `/mail`.
    let mail = mailplane_http::app(AppState::new(control_plane, Arc::new(keyring)));
    let app = Router::new()
        .route("/", get(|| async { "host app" }))
        .nest("/mail", mail);

    let (status, _, body) = send(&app, Method::GET, "/", None, None).await?;
    expect(status, StatusCode::OK, "GET /", &body)?;
    if body != "host app" {
        return Err(format!(
            "GET / was expected to answer \"host app\", but it answered {body:?}"
        ));
    }

    let (status, _, body) = send(&app, Method::GET, "/mail/healthz", None, None).await?;
    expect(status, StatusCode::OK, "GET /mail/healthz", &body)?;

    let (status, _, body) = send(
        &app,
        Method::POST,
        "/mail/v1/tenants",
        Some(&bearer),
        Some(serde_json::json!({ "name": "Example" })),
    )
    .await?;
    expect(status, StatusCode::CREATED, "POST /mail/v1/tenants", &body)?;

    let (status, _, body) =
        send(&app, Method::GET, "/mail/v1/tenants", Some(&bearer), None).await?;
    expect(status, StatusCode::OK, "GET /mail/v1/tenants", &body)?;
    let listed = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["items"].as_array().map(Vec::len));
    if listed != Some(1) {
        return Err(format!(
            "GET /mail/v1/tenants was expected to list the one tenant just created, but it answered {body}"
        ));
    }

    let (status, content_type, body) =
        send(&app, Method::GET, "/mail/v1/tenants", None, None).await?;
    expect(
        status,
        StatusCode::UNAUTHORIZED,
        "GET /mail/v1/tenants without a token",
        &body,
    )?;
    if content_type.as_deref() != Some("application/problem+json") {
        return Err(format!(
            "the 401 was expected to be an application/problem+json document, but its content type is {content_type:?}"
        ));
    }
    Ok(())
}

/// Sends one request to the router in-process and returns the status, the content type
/// and the body as text. It prints the exchange as it goes.
async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    bearer: Option<&str>,
    json: Option<serde_json::Value>,
) -> Result<(StatusCode, Option<String>, String), String> {
    let what = format!(
        "{method} {uri}{}",
        if bearer.is_some() {
            " (with the provider's token)"
        } else {
            ""
        }
    );
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(bearer) = bearer {
        request = request.header(header::AUTHORIZATION, bearer);
    }
    let body = match json {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let request = request
        .body(body)
        .map_err(|e| format!("building {what} failed: {e}"))?;

    // A router is a tower service that never fails; cloning it is cheap.
    let response = app
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| format!("{what} failed: {e}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the body of {what} failed: {e}"))?
        .to_bytes();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    println!("{what} answered {status}: {body}");
    Ok((status, content_type, body))
}

/// Fails with a sentence naming the request when its status is not the expected one.
fn expect(status: StatusCode, expected: StatusCode, what: &str, body: &str) -> Outcome {
    if status == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} was expected to answer {expected}, but it answered {status}: {body}"
        ))
    }
}

//! Request bodies and headers are bounded before anything buffers them: a body over its
//! route's limit is a 413 problem document whatever the other headers (announced by its
//! length, or streamed past the limit without one), and header fields over 64 KiB are a
//! 431 problem document.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, header};
use http_body::Frame;
use serde_json::json;

use mailplane_http::bodies::{BATCH_BODY_LIMIT, DEFAULT_BODY_LIMIT};
use mailplane_tests::{Client, Harness, Reply, e2e, fixtures};

const CHUNK: usize = 64 * 1024;
const MIB: usize = 1024 * 1024;

/// A body of JSON whitespace streamed in 64 KiB chunks with no length announced, counting
/// the bytes the server pulls from it.
struct Streamed {
    left: usize,
    pulled: Arc<AtomicUsize>,
}

impl http_body::Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let n = CHUNK.min(self.left);
        self.left -= n;
        self.pulled.fetch_add(n, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
    }
}

/// A streamed body of `total` bytes, and the count of bytes the server pulled from it.
fn streamed(total: usize) -> (Body, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let body = Streamed {
        left: total,
        pulled: pulled.clone(),
    };
    (Body::new(body), pulled)
}

fn post(
    client: &Client,
    path: &str,
    key: Option<&str>,
    length: Option<usize>,
    body: Body,
) -> Request<Body> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = client.token() {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(n) = length {
        req = req.header(header::CONTENT_LENGTH, n.to_string());
    }
    req.body(body).unwrap()
}

async fn tenant_count(admin: &Client) -> usize {
    admin.get("/v1/tenants?limit=1000").await.expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

#[track_caller]
fn too_large(reply: &Reply, field: &str, limit: usize) {
    assert_eq!(reply.status, 413, "{:#}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(
        reply.body["type"],
        "https://mailplane.dev/problems/too-large"
    );
    assert_eq!(reply.body["errors"][0]["field"], field);
    assert_eq!(
        reply.body["errors"][0]["rule"],
        format!("must be at most {limit} bytes")
    );
}

async fn oversized_bodies_answer_413_before_they_are_read(h: Harness) {
    let admin = h.provider_admin();
    let before = tenant_count(&admin).await;
    for key in [None, Some("big-body-1")] {
        // Announced by its length: refused at once, not a byte read.
        let (body, pulled) = streamed(64 * MIB);
        let reply = admin
            .send_request(post(&admin, "/v1/tenants", key, Some(64 * MIB), body))
            .await;
        too_large(&reply, "body", DEFAULT_BODY_LIMIT);
        assert_eq!(
            pulled.load(Ordering::SeqCst),
            0,
            "key {key:?}: the body was read"
        );

        // Streamed without a length: refused at the first chunk past the limit.
        let (body, pulled) = streamed(64 * MIB);
        let reply = admin
            .send_request(post(&admin, "/v1/tenants", key, None, body))
            .await;
        too_large(&reply, "body", DEFAULT_BODY_LIMIT);
        let read = pulled.load(Ordering::SeqCst);
        assert!(
            read <= DEFAULT_BODY_LIMIT + CHUNK,
            "key {key:?}: {read} bytes were read"
        );
    }
    // Whatever the other headers: without a token, an announced oversized body is a 413 too.
    let anonymous = h.anonymous();
    let (body, _) = streamed(4 * MIB);
    let reply = anonymous
        .send_request(post(
            &anonymous,
            "/v1/tenants",
            Some("k"),
            Some(4 * MIB),
            body,
        ))
        .await;
    too_large(&reply, "body", DEFAULT_BODY_LIMIT);
    // Nothing was created by any of them.
    assert_eq!(tenant_count(&admin).await, before);
}
e2e!(oversized_bodies_answer_413_before_they_are_read);

/// The batch route keeps its larger limit: a 3 MiB body is read and judged, a body past
/// 16 MiB is refused when it passes the limit, with or without a key.
async fn the_batch_route_keeps_its_own_limit(h: Harness) {
    let t = fixtures::tenant(&h, "Bulk").await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/mailboxes/batch");
    let mut padded = vec![b' '; 3 * MIB];
    padded.extend_from_slice(br#"{"mailboxes":[]}"#);
    let reply = customer
        .send_request(post(&customer, &path, None, None, Body::from(padded)))
        .await;
    assert_eq!(reply.status, 400, "{:#}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "mailboxes");
    for key in [None, Some("big-batch")] {
        let (body, pulled) = streamed(24 * MIB);
        let reply = customer
            .send_request(post(&customer, &path, key, None, body))
            .await;
        too_large(&reply, "body", BATCH_BODY_LIMIT);
        assert!(pulled.load(Ordering::SeqCst) <= BATCH_BODY_LIMIT + CHUNK);
    }
}
e2e!(the_batch_route_keeps_its_own_limit);

/// An application mounted under a prefix keeps each route's own limit.
async fn a_mounted_application_keeps_the_routes_limits(h: Harness) {
    let t = fixtures::tenant(&h, "Mounted").await;
    let mounted = axum::Router::new().nest("/mail", h.app.clone());
    let customer = h.customer_admin(t).with_app(mounted);
    let path = format!("/mail/v1/tenants/{t}/mailboxes/batch");
    let mut padded = vec![b' '; 3 * MIB];
    padded.extend_from_slice(br#"{"mailboxes":[]}"#);
    let reply = customer
        .send_request(post(&customer, &path, None, None, Body::from(padded)))
        .await;
    assert_eq!(reply.status, 400, "{:#}", reply.body);
    assert_eq!(reply.body["errors"][0]["field"], "mailboxes");
    let (body, _) = streamed(24 * MIB);
    let reply = customer
        .send_request(post(&customer, &path, None, None, body))
        .await;
    too_large(&reply, "body", BATCH_BODY_LIMIT);
    let (body, _) = streamed(4 * MIB);
    let reply = customer
        .send_request(post(&customer, "/mail/v1/tenants", None, None, body))
        .await;
    too_large(&reply, "body", DEFAULT_BODY_LIMIT);
}
e2e!(a_mounted_application_keeps_the_routes_limits);

/// Header fields over 64 KiB in total (a 1 MB bearer token, say) are a 431 problem
/// document naming the largest field; the token is not verified.
async fn oversized_headers_answer_a_problem_document(h: Harness) {
    let big = h.client_with_token(Some("a".repeat(1024 * 1024)));
    let reply = big.post("/v1/tenants", json!({ "name": "Big" })).await;
    assert_eq!(reply.status, 431, "{:#}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(
        reply.body["type"],
        "https://mailplane.dev/problems/headers-too-large"
    );
    assert_eq!(reply.body["status"], 431);
    assert_eq!(reply.body["errors"][0]["field"], "Authorization");
    // On every path, known or not, and for any header.
    let padding = "p".repeat(70 * 1024);
    let reply = h
        .provider_admin()
        .send_with_headers(
            Method::GET,
            "/v1/no-such-path",
            None,
            &[("X-Padding", padding.as_str())],
        )
        .await;
    assert_eq!(reply.status, 431);
    assert_eq!(reply.body["errors"][0]["field"], "X-Padding");
    // Below the limit, a large header is simply read.
    let padding = "p".repeat(32 * 1024);
    let reply = h
        .provider_admin()
        .send_with_headers(
            Method::GET,
            "/v1/tenants",
            None,
            &[("X-Padding", padding.as_str())],
        )
        .await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
}
e2e!(oversized_headers_answer_a_problem_document);

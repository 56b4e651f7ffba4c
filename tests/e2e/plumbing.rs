//! The HTTP plumbing every route shares: `Idempotency-Key` on creates, entity tags and
//! `If-Match`, per-principal rate limits, request ids and `/metrics`.

use std::sync::Arc;

use axum::http::Method;
use serde_json::json;

use mailplane::Actor;
use mailplane::auth::{DEFAULT_AUDIENCE, DEFAULT_ISSUER, Keyring};
use mailplane_http::AppState;
use mailplane_http::limits::RateLimit;
use mailplane_tests::receiver::{Behaviour, Receiver};
use mailplane_tests::{Client, Harness, TEST_SECRET, e2e, fixtures};

async fn tenant_count(h: &Harness) -> usize {
    h.provider_admin()
        .get("/v1/tenants?limit=1000")
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .len()
}

async fn keyed_creates_replay_and_refuse_another_request(h: Harness) {
    let admin = h.provider_admin();
    let key = ("Idempotency-Key", "onboard-acme-1");
    let first = admin
        .post_with_header("/v1/tenants", json!({ "name": "Acme" }), key)
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    assert!(first.headers.get("idempotency-replayed").is_none());
    let before = tenant_count(&h).await;

    // The retry gets the first answer, marked, and creates nothing.
    let retry = admin
        .post_with_header("/v1/tenants", json!({ "name": "Acme" }), key)
        .await;
    assert_eq!(retry.status, 201);
    assert_eq!(retry.headers["idempotency-replayed"], "true");
    assert_eq!(retry.body, first.body);
    assert_eq!(tenant_count(&h).await, before);

    // The same key with another body is refused, naming the header, and creates nothing.
    let other = admin
        .post_with_header("/v1/tenants", json!({ "name": "Acme Two" }), key)
        .await;
    assert_eq!(other.status, 422, "{:#}", other.body);
    assert_eq!(other.body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(tenant_count(&h).await, before);

    // A call that changes nothing stores nothing: the corrected call under the same key runs.
    let t = first.str("id");
    let d = fixtures::default_domain(&h, t.parse().unwrap()).await;
    let customer = h.customer_admin(t.parse().unwrap());
    let path = format!("/v1/tenants/{t}/mailboxes");
    let bad = customer
        .post_with_header(
            &path,
            json!({ "local_part": "", "domain_id": d, "display_name": "Nobody" }),
            key,
        )
        .await;
    assert_eq!(bad.status, 400);
    // And a key belongs to its principal: the customer's call under the provider's key is
    // its own, not a 422.
    let good = customer
        .post_with_header(
            &path,
            json!({ "local_part": "alice", "domain_id": d, "display_name": "Alice" }),
            key,
        )
        .await;
    assert_eq!(good.status, 201, "{:#}", good.body);
    assert!(good.headers.get("idempotency-replayed").is_none());

    // A key that is not visible ASCII is a 400 naming the header.
    let odd = admin
        .post_with_header(
            "/v1/tenants",
            json!({ "name": "Odd" }),
            ("Idempotency-Key", "a b"),
        )
        .await;
    assert_eq!(odd.status, 400, "{:#}", odd.body);
    assert_eq!(odd.body["errors"][0]["field"], "Idempotency-Key");
}
e2e!(keyed_creates_replay_and_refuse_another_request);

/// A stored answer is replayed only to the principal whose call made it. Another principal
/// sending the same key and body is authorized afresh: a tenant reader gets the 403 it gets
/// without the key, and never the administrator's webhook secret; the administrator still
/// gets its replay; and two principals of one organisation never meet each other's keys.
async fn a_key_replays_only_to_the_principal_that_made_the_call(h: Harness) {
    let t = fixtures::tenant(&h, "Keyed").await;
    let receiver = Receiver::start(Behaviour::default()).await;
    let key = ("Idempotency-Key", "register-hook-1");
    let body = json!({ "url": receiver.url });
    let admin = h.customer_admin(t);
    let first = admin
        .post_with_header("/v1/webhooks", body.clone(), key)
        .await;
    assert_eq!(first.status, 201, "{:#}", first.body);
    let secret = first.str("secret");
    assert_eq!(secret.len(), 64);

    // A reader: 403 without the key, and the same 403 with the administrator's key.
    let reader = h.customer(t, "tenant-reader");
    let plain = reader.post("/v1/webhooks", body.clone()).await;
    assert_eq!(plain.status, 403, "{:#}", plain.body);
    let replayed = reader
        .post_with_header("/v1/webhooks", body.clone(), key)
        .await;
    assert_eq!(replayed.status, 403, "{:#}", replayed.body);
    assert!(replayed.headers.get("idempotency-replayed").is_none());
    assert!(!replayed.text.contains(&secret));
    assert_eq!(replayed.body, plain.body);
    // The administrator's own subject with a reader's token is another principal too.
    let demoted = h.client(Actor::customer(
        format!("tenant-admin@{t}"),
        t,
        &["tenant-reader"],
    ));
    let again = demoted
        .post_with_header("/v1/webhooks", body.clone(), key)
        .await;
    assert_eq!(again.status, 403, "{:#}", again.body);
    assert!(!again.text.contains(&secret));

    // The administrator still gets its answer.
    let retry = admin
        .post_with_header("/v1/webhooks", body.clone(), key)
        .await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    assert_eq!(retry.headers["idempotency-replayed"], "true");
    assert_eq!(retry.body, first.body);

    // Another administrator of the same tenant with the same key: its own call, with
    // another body (not a 422) and with the same one (not the first answer).
    let colleague = h.client(Actor::customer(
        format!("second-admin@{t}"),
        t,
        &["tenant-admin"],
    ));
    let own = colleague
        .post_with_header(
            "/v1/webhooks",
            json!({ "url": format!("{}/colleague", receiver.url) }),
            key,
        )
        .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    assert!(own.headers.get("idempotency-replayed").is_none());
    assert_ne!(own.str("id"), first.str("id"));
    let own_retry = colleague
        .post_with_header(
            "/v1/webhooks",
            json!({ "url": format!("{}/colleague", receiver.url) }),
            key,
        )
        .await;
    assert_eq!(own_retry.headers["idempotency-replayed"], "true");
    assert_eq!(own_retry.body, own.body);
    // A third administrator with the first one's key and body: its own call too.
    let third = h.client(Actor::customer(
        format!("third-admin@{t}"),
        t,
        &["tenant-admin"],
    ));
    let same_body = third.post_with_header("/v1/webhooks", body, key).await;
    assert_eq!(same_body.status, 201, "{:#}", same_body.body);
    assert!(
        same_body.headers.get("idempotency-replayed").is_none(),
        "{:#}",
        same_body.body
    );
    assert_ne!(same_body.str("id"), first.str("id"));
    assert!(!same_body.text.contains(&secret));
}
e2e!(a_key_replays_only_to_the_principal_that_made_the_call);

async fn concurrent_calls_with_one_key_create_once(h: Harness) {
    let t = fixtures::tenant(&h, "Racing").await;
    let d = fixtures::default_domain(&h, t).await;
    let path = format!("/v1/tenants/{t}/mailboxes");
    let calls = (0..8).map(|_| {
        let client = h.customer_admin(t);
        let path = path.clone();
        let d = d.clone();
        tokio::spawn(async move {
            client
                .post_with_header(
                    &path,
                    json!({ "local_part": "bob", "domain_id": d, "display_name": "Bob" }),
                    ("Idempotency-Key", "bob-once"),
                )
                .await
        })
    });
    let mut created = Vec::new();
    for call in calls {
        let reply = call.await.unwrap();
        match reply.status.as_u16() {
            201 => created.push(reply.str("id")),
            // Still running when this call met the key: told to retry, nothing changed.
            409 => assert_eq!(reply.body["errors"][0]["field"], "Idempotency-Key"),
            other => panic!("unexpected {other}: {:#}", reply.body),
        }
    }
    assert!(!created.is_empty());
    assert!(created.iter().all(|id| *id == created[0]), "{created:?}");
    let list = h.customer_admin(t).get(&path).await.expect(200);
    let bobs = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["address"].as_str().unwrap().starts_with("bob@"))
        .count();
    assert_eq!(bobs, 1);
}
e2e!(concurrent_calls_with_one_key_create_once);

async fn entity_tags_guard_updates_and_deletes(h: Harness) {
    let t = fixtures::tenant(&h, "Tagged").await;
    let d = fixtures::default_domain(&h, t).await;
    let m = fixtures::mailbox(&h, t, &d, "carol").await;
    let customer = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/mailboxes/{m}");

    let read = customer.get(&path).await;
    assert_eq!(read.status, 200);
    let tag = read.headers["etag"].to_str().unwrap().to_string();
    assert!(tag.starts_with('"'), "{tag}");

    // Unchanged: 304 with no body.
    let again = customer
        .send_with_headers(Method::GET, &path, None, &[("If-None-Match", &tag)])
        .await;
    assert_eq!(again.status, 304);
    assert!(again.bytes.is_empty());

    // A stale tag changes nothing.
    let stale = customer
        .send_with_headers(
            Method::PATCH,
            &path,
            Some(json!({ "display_name": "Mallory" })),
            &[("If-Match", "\"not-the-tag\"")],
        )
        .await;
    assert_eq!(stale.status, 412, "{:#}", stale.body);
    assert!(stale.body["detail"].as_str().unwrap().contains(&tag));
    assert_eq!(
        customer.get(&path).await.body["display_name"],
        read.body["display_name"]
    );

    // The current tag lets the change through, and the representation gets a new tag.
    let changed = customer
        .send_with_headers(
            Method::PATCH,
            &path,
            Some(json!({ "display_name": "Carol C." })),
            &[("If-Match", &tag)],
        )
        .await;
    assert_eq!(changed.status, 200, "{:#}", changed.body);
    let now = customer.get(&path).await;
    let new_tag = now.headers["etag"].to_str().unwrap().to_string();
    assert_ne!(new_tag, tag);

    // The old tag no longer deletes; the new one does.
    let delete_stale = customer
        .send_with_headers(Method::DELETE, &path, None, &[("If-Match", &tag)])
        .await;
    assert_eq!(delete_stale.status, 412);
    customer.get(&path).await.expect(200);
    let deleted = customer
        .send_with_headers(Method::DELETE, &path, None, &[("If-Match", &new_tag)])
        .await;
    assert_eq!(deleted.status, 204, "{:#}", deleted.body);
    // A deleted mailbox changes no more; once its undelete window closes, it is gone.
    let kept = customer
        .send_with_headers(
            Method::PATCH,
            &path,
            Some(json!({ "display_name": "Ghost" })),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(kept.status, 409, "{:#}", kept.body);
    h.clock.advance(time::Duration::days(31));
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0, "{report:?}");

    // A resource that does not exist is not found, before any precondition is checked: a
    // random id answers exactly as the deleted mailbox does.
    let gone = customer
        .send_with_headers(
            Method::PATCH,
            &path,
            Some(json!({ "display_name": "Ghost" })),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(gone.status, 404, "{:#}", gone.body);
    let random = uuid::Uuid::now_v7().to_string();
    let never = customer
        .send_with_headers(
            Method::PATCH,
            &path.replace(&m, &random),
            Some(json!({ "display_name": "Ghost" })),
            &[("If-Match", "*")],
        )
        .await;
    assert_eq!(never.status, 404);
    assert_eq!(never.text.replace(&random, &m), gone.text);
}
e2e!(entity_tags_guard_updates_and_deletes);

async fn one_tag_lets_exactly_one_of_concurrent_updates_through(h: Harness) {
    let t = fixtures::tenant(&h, "Contended").await;
    let d = fixtures::default_domain(&h, t).await;
    let m = fixtures::mailbox(&h, t, &d, "dave").await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}");
    let tag = h.customer_admin(t).get(&path).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let calls = (0..8).map(|i| {
        let client: Client = h.customer_admin(t);
        let path = path.clone();
        let tag = tag.clone();
        tokio::spawn(async move {
            client
                .send_with_headers(
                    Method::PATCH,
                    &path,
                    Some(json!({ "display_name": format!("Dave {i}") })),
                    &[("If-Match", &tag)],
                )
                .await
        })
    });
    let mut statuses = Vec::new();
    let mut winner = None;
    for call in calls {
        let reply = call.await.unwrap();
        if reply.status == 200 {
            winner = Some(reply.body["display_name"].clone());
        }
        statuses.push(reply.status.as_u16());
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 412, 412, 412, 412, 412, 412, 412]);
    assert_eq!(
        h.customer_admin(t).get(&path).await.body["display_name"],
        winner.unwrap()
    );
}
e2e!(one_tag_lets_exactly_one_of_concurrent_updates_through);

async fn each_principal_has_its_own_rate(h: Harness) {
    let mut keyring = Keyring::new(DEFAULT_ISSUER, DEFAULT_AUDIENCE);
    keyring.add_hs256("hs256", TEST_SECRET).unwrap();
    let limited = mailplane_http::app(
        AppState::new(h.control_plane.clone(), Arc::new(keyring)).with_rate_limit(RateLimit {
            per_second: 0.5,
            burst: 2,
        }),
    );
    let admin = h.provider_admin().with_app(limited.clone());
    admin.get("/v1/tenants").await.expect(200);
    admin.get("/v1/tenants").await.expect(200);
    let refused = admin.get("/v1/tenants").await;
    assert_eq!(refused.status, 429, "{:#}", refused.body);
    assert_eq!(refused.headers["retry-after"], "2");
    assert_eq!(
        refused.body["type"],
        "https://mailplane.dev/problems/too-many-requests"
    );
    // A refused create creates nothing.
    let before = tenant_count(&h).await;
    assert_eq!(
        admin
            .post("/v1/tenants", json!({ "name": "Refused" }))
            .await
            .status,
        429
    );
    assert_eq!(tenant_count(&h).await, before);
    // Another principal is not held back by the first one's rate.
    h.provider("provider-operator")
        .with_app(limited)
        .get("/v1/tenants")
        .await
        .expect(200);
}
e2e!(each_principal_has_its_own_rate);

async fn requests_carry_an_id_and_metrics_count_them_by_operation(h: Harness) {
    let admin = h.provider_admin();
    let created = admin
        .post("/v1/tenants", json!({ "name": "Counted" }))
        .await;
    assert_eq!(created.status, 201);
    let id = created.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // A caller's own request id is kept.
    let mine = admin
        .send_with_headers(
            Method::GET,
            "/v1/tenants",
            None,
            &[("x-request-id", "portal-42")],
        )
        .await;
    assert_eq!(mine.headers["x-request-id"], "portal-42");

    let metrics = h.anonymous().get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type.starts_with("text/plain"));
    let text = metrics.text;
    for line in [
        "mailplane_http_requests_total{operation=\"tenant_create\",status=\"201\"} 1",
        "mailplane_http_requests_total{operation=\"tenant_list\",status=\"200\"} 1",
        "mailplane_http_request_duration_seconds_count{operation=\"tenant_create\"} 1",
        "mailplane_jobs_due ",
        "mailplane_jobs_leased ",
        "mailplane_webhook_failed_attempts_total 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    // The read cache's figures are SQLite's only: PostgreSQL has no read cache.
    let cached = "mailplane_read_cache_lookups_total{result=\"miss\"} ";
    assert_eq!(
        text.contains(cached),
        h.backend == mailplane_tests::Backend::Sqlite,
        "`{cached}` on {:?}:\n{text}",
        h.backend
    );
}
e2e!(requests_carry_an_id_and_metrics_count_them_by_operation);

async fn a_guarded_change_among_many_writers_of_one_path_finishes(h: Harness) {
    let t = fixtures::tenant(&h, "Crowded").await;
    let d = fixtures::default_domain(&h, t).await;
    let m = fixtures::mailbox(&h, t, &d, "erin").await;
    let path = format!("/v1/tenants/{t}/mailboxes/{m}");
    // More writers of the one path than PostgreSQL's pool has connections, with `If-Match`
    // checks among them: each check reads while its transaction holds a connection and the
    // others wait behind the path's lock holding theirs.
    let calls = (0..40).map(|i| {
        let client: Client = h.customer_admin(t);
        let path = path.clone();
        tokio::spawn(async move {
            let tag = if i % 4 == 0 {
                let read = client.get(&path).await;
                Some(read.headers["etag"].to_str().unwrap().to_string())
            } else {
                None
            };
            let headers: Vec<(&str, &str)> = match &tag {
                Some(tag) => vec![("If-Match", tag.as_str())],
                None => vec![],
            };
            client
                .send_with_headers(
                    Method::PATCH,
                    &path,
                    Some(json!({ "display_name": format!("Erin {i}") })),
                    &headers,
                )
                .await
                .status
                .as_u16()
        })
    });
    let all = tokio::time::timeout(std::time::Duration::from_secs(25), async {
        let mut statuses = Vec::new();
        for call in calls {
            statuses.push(call.await.unwrap());
        }
        statuses
    })
    .await
    .expect("every change finishes well before the pool's acquire timeout");
    assert!(
        all.iter().all(|s| *s == 200 || *s == 412),
        "only successes and failed preconditions: {all:?}"
    );
    assert!(all.iter().filter(|s| **s == 200).count() >= 30, "{all:?}");
}
e2e!(a_guarded_change_among_many_writers_of_one_path_finishes);

//! Bulk provisioning through HTTP: 10,000 mailboxes in one call, all or nothing, per-row
//! errors naming the row and the field, and an `Idempotency-Key` that makes a retry safe.

use serde_json::{Value, json};

use mailplane::Actor;
use mailplane::types::TenantId;
use mailplane_tests::{Harness, e2e, fixtures};

async fn tenant_with_seats(h: &Harness, seats: u32) -> TenantId {
    h.provider_admin()
        .post("/v1/tenants", json!({ "name": "Bulk", "seats": seats }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn rows(domain: &str, n: usize, prefix: &str) -> Value {
    let mailboxes: Vec<Value> = (0..n)
        .map(|i| json!({ "local_part": format!("{prefix}{i}"), "domain_id": domain, "display_name": format!("User {i}") }))
        .collect();
    json!({ "mailboxes": mailboxes })
}

async fn count_mailboxes(h: &Harness, t: TenantId) -> usize {
    let mut n = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/tenants/{t}/mailboxes?limit=1000&cursor={c}"),
            None => format!("/v1/tenants/{t}/mailboxes?limit=1000"),
        };
        let page = h.customer_admin(t).get(&path).await.expect(200);
        n += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return n,
        }
    }
}

async fn ten_thousand_mailboxes_in_one_call(h: Harness) {
    let t = tenant_with_seats(&h, 10_000).await;
    let d = fixtures::default_domain(&h, t).await;
    let batch = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            rows(&d, 10_000, "u"),
        )
        .await
        .expect(201);
    assert_eq!(batch["created"], 10_000);
    assert_eq!(batch["mailboxes"].as_array().unwrap().len(), 10_000);
    assert_eq!(
        batch["mailboxes"][9_999]["address"],
        "u9999@bulk.mail.mailplane.example"
    );
    assert_eq!(count_mailboxes(&h, t).await, 10_000);
    let subs = h
        .customer_admin(t)
        .get(&format!("/v1/tenants/{t}/subscriptions"))
        .await
        .expect(200);
    assert_eq!(
        subs["items"][0]["assigned"], 10_000,
        "every mailbox took its seat"
    );
    // One audit row for the batch, naming it.
    let audit = h.customer_admin(t).get("/v1/audit").await.expect(200);
    let rows: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["target_kind"] == "mailbox_batch")
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["target_id"], batch["id"]);
    assert!(h.control_plane.audit_verify().await.unwrap().is_intact());
}
e2e!(ten_thousand_mailboxes_in_one_call);

async fn every_bad_row_is_named_and_nothing_is_created(h: Harness) {
    let t = fixtures::tenant(&h, "Acme").await;
    let d = fixtures::domain(&h, t, "acme.example").await;
    fixtures::mailbox(&h, t, &d, "taken").await;
    let pending = fixtures::unverified_domain(&h, t, "pending.example").await;
    let body = json!({ "mailboxes": [
        { "local_part": "ok", "domain_id": d, "display_name": "Fine" },
        { "local_part": "a..b", "domain_id": d, "display_name": "Bad local part" },
        { "local_part": "x", "domain_id": pending, "display_name": "Unverified" },
        { "local_part": "ok", "domain_id": d, "display_name": "Twice" },
        { "local_part": "taken", "domain_id": d, "display_name": "In use" },
        { "local_part": "big", "domain_id": d, "display_name": "", "quota_bytes": 400_i64 << 30 },
    ]});
    let reply = h
        .customer_admin(t)
        .post(&format!("/v1/tenants/{t}/mailboxes/batch"), body)
        .await
        .expect(400);
    let mut fields: Vec<&str> = reply["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "mailboxes[1].local_part",
            "mailboxes[2].domain_id",
            "mailboxes[3].local_part",
            "mailboxes[4].local_part",
            "mailboxes[5].display_name",
            "mailboxes[5].quota_bytes",
        ],
        "{reply}"
    );
    assert_eq!(count_mailboxes(&h, t).await, 1, "all or nothing");
    // Too many enabled mailboxes for the free seats: refused whole.
    let seats = h
        .customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            rows(&d, 5, "s"),
        )
        .await
        .expect(409);
    assert!(
        seats["detail"].as_str().unwrap().contains("4 are free"),
        "{seats}"
    );
    assert_eq!(count_mailboxes(&h, t).await, 1);
    // Outside the bounds.
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            json!({ "mailboxes": [] }),
        )
        .await
        .expect(400);
    h.customer_admin(t)
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            rows(&d, 10_001, "o"),
        )
        .await
        .expect(400);
    // The provider only proposes directory work, and a batch is never filed.
    h.provider_admin()
        .post(
            &format!("/v1/tenants/{t}/mailboxes/batch"),
            rows(&d, 1, "p"),
        )
        .await
        .expect(403);
}
e2e!(every_bad_row_is_named_and_nothing_is_created);

async fn a_retried_call_creates_once(h: Harness) {
    let t = tenant_with_seats(&h, 50).await;
    let d = fixtures::default_domain(&h, t).await;
    let client = h.customer_admin(t);
    let path = format!("/v1/tenants/{t}/mailboxes/batch");
    let first = client
        .post_with_header(&path, rows(&d, 20, "r"), ("Idempotency-Key", "batch-0001"))
        .await;
    assert_eq!(first.status, 201);
    assert!(first.headers.get("idempotency-replayed").is_none());
    let again = client
        .post_with_header(&path, rows(&d, 20, "r"), ("Idempotency-Key", "batch-0001"))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.headers["idempotency-replayed"], "true");
    assert_eq!(again.body, first.body, "the stored answer, unchanged");
    assert_eq!(count_mailboxes(&h, t).await, 20);
    // The same key with another body is refused.
    let other = client
        .post_with_header(&path, rows(&d, 3, "z"), ("Idempotency-Key", "batch-0001"))
        .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.body["errors"][0]["field"], "Idempotency-Key");
    // Another caller's key space is its own: the same key from the provider's view of
    // another tenant does not replay this answer.
    let t2 = tenant_with_seats(&h, 50).await;
    let d2 = fixtures::default_domain(&h, t2).await;
    let elsewhere = h
        .customer_admin(t2)
        .post_with_header(
            &format!("/v1/tenants/{t2}/mailboxes/batch"),
            rows(&d2, 2, "r"),
            ("Idempotency-Key", "batch-0001"),
        )
        .await;
    assert_eq!(elsewhere.status, 201);
    assert_eq!(elsewhere.body["created"], 2);
    // After 24 hours the key is free again; the same body now meets its own mailboxes.
    h.clock.advance(time::Duration::hours(25));
    let late = client
        .post_with_header(&path, rows(&d, 20, "r"), ("Idempotency-Key", "batch-0001"))
        .await;
    assert_eq!(late.status, 400);
    // Without a key, a retry is a second call, refused row by row.
    let plain = client.post(&path, rows(&d, 20, "r")).await;
    assert_eq!(plain.status, 400);
    assert_eq!(plain.body["errors"].as_array().unwrap().len(), 20);
    let bad_key = client
        .post_with_header(&path, rows(&d, 1, "k"), ("Idempotency-Key", "has space"))
        .await;
    assert_eq!(bad_key.status, 400);
}
e2e!(a_retried_call_creates_once);

/// A batch's key belongs to the principal that sent it: a reader with the administrator's
/// key and rows gets the 403 it gets without the key, and another administrator's call
/// under the same key is its own, neither a 422 nor the first answer.
async fn a_batch_key_belongs_to_its_principal(h: Harness) {
    let t = tenant_with_seats(&h, 50).await;
    let d = fixtures::default_domain(&h, t).await;
    let path = format!("/v1/tenants/{t}/mailboxes/batch");
    let key = ("Idempotency-Key", "batch-shared");
    let admin = h.customer_admin(t);
    let first = admin.post_with_header(&path, rows(&d, 3, "a"), key).await;
    assert_eq!(first.status, 201, "{:#}", first.body);

    let reader = h.customer(t, "tenant-reader");
    let plain = reader.post(&path, rows(&d, 3, "a")).await;
    assert_eq!(plain.status, 403, "{:#}", plain.body);
    let replayed = reader.post_with_header(&path, rows(&d, 3, "a"), key).await;
    assert_eq!(replayed.status, 403, "{:#}", replayed.body);
    assert_eq!(replayed.body, plain.body);

    let colleague = h.client(Actor::customer(
        format!("second-admin@{t}"),
        t,
        &["tenant-admin"],
    ));
    // The first administrator's rows under the same key: a call of its own, which meets
    // the addresses already in use, not the first administrator's answer.
    let same_body = colleague
        .post_with_header(&path, rows(&d, 3, "a"), key)
        .await;
    assert_eq!(same_body.status, 400, "{:#}", same_body.body);
    // Other rows under the same key: created, not a 422.
    let own = colleague
        .post_with_header(&path, rows(&d, 2, "b"), key)
        .await;
    assert_eq!(own.status, 201, "{:#}", own.body);
    assert!(own.headers.get("idempotency-replayed").is_none());
    assert_eq!(own.body["created"], 2);

    let retry = admin.post_with_header(&path, rows(&d, 3, "a"), key).await;
    assert_eq!(retry.status, 201, "{:#}", retry.body);
    assert_eq!(retry.headers["idempotency-replayed"], "true");
    assert_eq!(retry.body, first.body);
    assert_eq!(count_mailboxes(&h, t).await, 5);
}
e2e!(a_batch_key_belongs_to_its_principal);

async fn concurrent_retries_with_one_key_create_once(h: Harness) {
    let t = tenant_with_seats(&h, 200).await;
    let d = fixtures::default_domain(&h, t).await;
    let path = format!("/v1/tenants/{t}/mailboxes/batch");
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = h.customer_admin(t);
        let path = path.clone();
        let body = rows(&d, 50, "c");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post_with_header(&path, body, ("Idempotency-Key", "same-key"))
                .await;
            (r.status.as_u16(), r.body)
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            201 => created += 1,
            // A retry that meets the key while the first call runs is told to retry.
            409 => assert_eq!(body["errors"][0]["field"], "Idempotency-Key", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(created >= 1);
    assert_eq!(
        count_mailboxes(&h, t).await,
        50,
        "one batch, however many retries"
    );
}
e2e!(concurrent_retries_with_one_key_create_once);

//! Exports at rest and their download links: nothing of a message is readable under the data
//! directory while an export is ready, the archive is still downloaded whole and decrypted,
//! a damaged archive is never served as data, the tenant's cryptographic erase makes its
//! exports unreadable, and every link that does not work answers like a random id.

use std::io::Read;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::Duration;
use tower::ServiceExt;

use mailplane::data_plane::DataPlane;
use mailplane::types::TenantId;
use mailplane_tests::planes::{files_holding, files_under};
use mailplane_tests::{Harness, e2e, e2e_stores, fixtures};

/// A tenant with one mailbox holding one message that carries `marker`, `copies` times over
/// (a large body makes an archive of several sealed chunks).
async fn tenant_with_marked_mail(h: &Harness, name: &str, marker: &str, copies: usize) -> TenantId {
    let t = fixtures::tenant(h, name).await;
    let d = fixtures::default_domain(h, t).await;
    let m = fixtures::mailbox(h, t, &d, "alice").await;
    let body = format!("{marker} The plans are in the usual place.\r\n").repeat(copies);
    let message = format!(
        "From: bob@old-host.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: {marker}\r\n\r\n{body}"
    );
    h.customer_admin(t)
        .post_raw(
            &format!("/v1/tenants/{t}/mailboxes/{m}/messages"),
            "message/rfc822",
            message.into_bytes(),
        )
        .await
        .expect(201);
    t
}

/// Asks for an export in `format` and runs the jobs until it is ready; returns the export.
async fn ready_export(h: &Harness, t: TenantId, format: &str) -> Value {
    let path = format!("/v1/tenants/{t}/exports");
    let created = h
        .customer_admin(t)
        .post(&path, json!({ "format": format }))
        .await
        .expect(201);
    let report = h.run_jobs().await;
    assert_eq!(report.failed, 0);
    let id = created["id"].as_str().unwrap();
    let ready = h
        .customer_admin(t)
        .get(&format!("{path}/{id}"))
        .await
        .expect(200);
    assert_eq!(ready["state"], "ready");
    ready
}

/// The zip's entries, decompressed, joined.
fn unzipped(bytes: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut all = Vec::new();
    for i in 0..zip.len() {
        zip.by_index(i).unwrap().read_to_end(&mut all).unwrap();
    }
    all
}

/// The archive file of an export under the data directory.
fn archive_file(h: &Harness, export: &Value) -> std::path::PathBuf {
    let ext = if export["format"] == "mbox" {
        "mbox"
    } else {
        "zip"
    };
    let id = export["id"].as_str().unwrap();
    h.mail_dir
        .join("exports")
        .join(export["tenant_id"].as_str().unwrap())
        .join(id)
        .join(format!("{id}.{ext}"))
}

async fn a_ready_export_leaves_no_message_readable_on_disk(h: Harness) {
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    let t = tenant_with_marked_mail(&h, "Acme", &marker, 1).await;
    let mbox = ready_export(&h, t, "mbox").await;
    let zip = ready_export(&h, t, "eml-zip").await;
    // While both exports are ready, no file under the data directory (nor, on Dovecot,
    // under its mail root) holds the marker.
    let at_rest = h.folders_at_rest();
    let found = files_holding(&at_rest, marker.as_bytes());
    assert!(found.is_empty(), "plaintext at rest in {found:?}");
    assert!(archive_file(&h, &mbox).exists() && archive_file(&h, &zip).exists());
    let seen = files_under(&at_rest).len();
    assert!(seen >= 5, "{seen} files");
    // The downloads are the archives, decrypted, with the manifest's digest.
    let got = h
        .anonymous()
        .get(mbox["download_url"].as_str().unwrap())
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert!(got.text.contains(&marker));
    assert_eq!(
        got.headers["content-length"].to_str().unwrap(),
        got.bytes.len().to_string()
    );
    assert_eq!(
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&got.bytes)),
        mbox["manifest"]["archive"]["sha256"].as_str().unwrap()
    );
    let got = h
        .anonymous()
        .get(zip["download_url"].as_str().unwrap())
        .await;
    assert_eq!(got.status, 200, "{}", got.text);
    let inside = unzipped(&got.bytes);
    assert!(inside.windows(marker.len()).any(|w| w == marker.as_bytes()));
    // The tenant's cryptographic erase covers its exports: the archive is still on disk,
    // and nothing opens it.
    h.data_plane().crypto_erase_tenant(t).await.unwrap();
    assert!(archive_file(&h, &mbox).exists());
    let after = h
        .anonymous()
        .get(mbox["download_url"].as_str().unwrap())
        .await;
    assert_ne!(after.status, 200);
    assert!(!after.text.contains(&marker));
}
e2e_stores!(a_ready_export_leaves_no_message_readable_on_disk);

/// Sends a GET through the app and collects the body; Err when the body fails midway.
async fn fetch(h: &Harness, url: &str) -> (StatusCode, Result<Vec<u8>, String>) {
    let resp = h
        .app
        .clone()
        .oneshot(Request::get(url).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .map_err(|e| e.to_string());
    (status, body)
}

async fn a_damaged_or_truncated_archive_is_never_served(h: Harness) {
    let marker = format!("marker-{}", uuid::Uuid::now_v7().simple());
    // About 300 KiB of body: an archive of several sealed chunks.
    let t = tenant_with_marked_mail(&h, "Acme", &marker, 4000).await;
    let export = ready_export(&h, t, "mbox").await;
    let url = export["download_url"].as_str().unwrap().to_string();
    let file = archive_file(&h, &export);
    let sealed = std::fs::read(&file).unwrap();
    assert!(sealed.len() > 3 * 65536, "{}", sealed.len());
    let (status, body) = fetch(&h, &url).await;
    assert_eq!(status, 200);
    let whole = body.unwrap();
    assert_eq!(
        whole.len() as u64,
        export["manifest"]["archive"]["bytes"].as_u64().unwrap()
    );
    // A bit flipped in the first chunk: refused before anything is sent.
    let mut bad = sealed.clone();
    bad[100] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let (status, body) = fetch(&h, &url).await;
    assert_eq!(status, 500);
    assert!(!String::from_utf8_lossy(&body.unwrap()).contains(&marker));
    // A bit flipped in a later chunk: the transfer fails instead of carrying the bad chunk.
    let mut bad = sealed.clone();
    let at = sealed.len() - 5000;
    bad[at] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let (_, body) = fetch(&h, &url).await;
    assert!(body.is_err(), "a damaged chunk was served");
    // Cut at a chunk boundary (the last chunk dropped) or inside a chunk: refused.
    for cut in [23 + 4 * (65536 + 16), sealed.len() - 1] {
        std::fs::write(&file, &sealed[..cut.min(sealed.len() - 1)]).unwrap();
        let (status, body) = fetch(&h, &url).await;
        assert!(
            status != 200 || body.is_err(),
            "a truncated archive was served whole ({cut})"
        );
    }
    // An archive left in plaintext by a version before archives were sealed is not served:
    // its link answers as for a removed archive, naming why.
    std::fs::write(&file, &whole).unwrap();
    let (status, body) = fetch(&h, &url).await;
    assert_eq!(status, 410);
    let body = String::from_utf8_lossy(&body.unwrap()).into_owned();
    assert!(
        body.contains("before export archives were sealed"),
        "{body}"
    );
    assert!(!body.contains(&marker));
    // Restored, it downloads again.
    std::fs::write(&file, &sealed).unwrap();
    let (status, body) = fetch(&h, &url).await;
    assert_eq!(status, 200);
    assert_eq!(body.unwrap(), whole);
}
e2e_stores!(a_damaged_or_truncated_archive_is_never_served);

/// A reply's raw body with the given ids replaced, for comparing answers about different
/// ids byte for byte.
fn without_ids(reply: &mailplane_tests::Reply, ids: &[&str]) -> String {
    let mut text = reply.text.clone();
    for id in ids {
        text = text.replace(id, "<id>");
    }
    text
}

async fn a_download_link_that_does_not_work_answers_like_a_random_id(h: Harness) {
    let a = tenant_with_marked_mail(&h, "Acme", "a", 1).await;
    let b = tenant_with_marked_mail(&h, "Beta", "b", 1).await;
    let ea = ready_export(&h, a, "mbox").await;
    let eb = ready_export(&h, b, "mbox").await;
    let token = |e: &Value| {
        e["download_url"]
            .as_str()
            .unwrap()
            .split("token=")
            .nth(1)
            .unwrap()
            .to_string()
    };
    let (ta, tb) = (token(&ea), token(&eb));
    let (ida, idb) = (ea["id"].as_str().unwrap(), eb["id"].as_str().unwrap());
    let url = |t: &str, e: &str, token: &str| {
        format!("/v1/tenants/{t}/exports/{e}/download?token={token}")
    };
    let (random_t, random_e) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    // A still-preparing export of A.
    let preparing = h
        .customer_admin(a)
        .post(
            &format!("/v1/tenants/{a}/exports"),
            json!({ "format": "mbox" }),
        )
        .await
        .expect(201);
    let idp = preparing["id"].as_str().unwrap();
    let ids = [
        a.to_string(),
        b.to_string(),
        ida.to_string(),
        idb.to_string(),
        idp.to_string(),
        random_t.clone(),
        random_e.clone(),
    ];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let reference = h.anonymous().get(&url(&random_t, &random_e, &ta)).await;
    assert_eq!(reference.status, 404);
    assert_eq!(reference.content_type, "application/problem+json");
    let reference = without_ids(&reference, &ids);
    let (a_s, b_s) = (a.to_string(), b.to_string());
    let cases = [
        (
            "a random export of a real tenant",
            url(&a_s, &random_e, &ta),
        ),
        (
            "A's export under B's id, with A's token",
            url(&b_s, ida, &ta),
        ),
        ("A's export with B's token", url(&a_s, ida, &tb)),
        ("B's export with A's token", url(&b_s, idb, &ta)),
        (
            "A's export with a forged token",
            url(&a_s, ida, &format!("00{ta}")),
        ),
        (
            "A's export with a token that is not hex",
            url(&a_s, ida, "not-hex"),
        ),
        ("A's export with an empty token", url(&a_s, ida, "")),
        ("an export still being prepared", url(&a_s, idp, &ta)),
    ];
    for (case, path) in &cases {
        let reply = h.anonymous().get(path).await;
        assert_eq!(reply.status, 404, "{case}: {}", reply.text);
        assert_eq!(without_ids(&reply, &ids), reference, "{case}");
    }
    // The links work until they expire; an expired link is a 404 too, before and after its
    // archive is removed.
    h.anonymous().get(&url(&a_s, ida, &ta)).await.expect(200);
    h.clock.advance(Duration::days(8));
    let expired = h.anonymous().get(&url(&a_s, ida, &ta)).await;
    assert_eq!(expired.status, 404);
    assert_eq!(without_ids(&expired, &ids), reference);
    h.run_jobs().await;
    let removed = h.anonymous().get(&url(&b_s, idb, &tb)).await;
    assert_eq!(removed.status, 404);
    assert_eq!(without_ids(&removed, &ids), reference);
}
e2e!(a_download_link_that_does_not_work_answers_like_a_random_id);

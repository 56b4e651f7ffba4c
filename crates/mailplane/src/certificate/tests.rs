//! The destruction certificates' tests: signing and verifying, and a table of tampered
//! certificates, each of which verification must refuse with its reason.

use super::*;
use time::macros::datetime;

fn body() -> CertificateBody {
    CertificateBody {
        version: VERSION,
        certificate_id: Uuid::now_v7(),
        issuer: "Example Mail Hosting".to_string(),
        tenant: CertifiedTenant {
            id: Uuid::now_v7(),
            name: "Acme Ltd".to_string(),
            slug: Some("acme".to_string()),
        },
        mailboxes: vec![
            CertifiedMailbox {
                id: Uuid::now_v7(),
                address: "alice@acme.example".to_string(),
            },
            CertifiedMailbox {
                id: Uuid::now_v7(),
                address: "bob@acme.example".to_string(),
            },
        ],
        objects: 1234,
        bytes: 5_678_901,
        key_ids: vec![Uuid::now_v7()],
        method: METHOD.to_string(),
        standard: STANDARD.to_string(),
        store: Some(CertifiedStore {
            name: "Mailplane embedded file store".to_string(),
            method: "cryptographic erase of the tenant's data key".to_string(),
        }),
        terminated_at: datetime!(2025-01-01 00:00:00 UTC),
        configuration_destroyed_at: datetime!(2025-01-02 10:00:00.123456789 UTC),
        erased_at: datetime!(2025-01-02 10:05:00 UTC),
        verified_at: datetime!(2025-01-02 10:06:00 UTC),
        issued_at: datetime!(2025-01-02 10:07:00 UTC),
        responsible: CertifiedParty {
            party: "provider".to_string(),
            subject: "automation".to_string(),
        },
        accountable_informed: vec![CertifiedParty {
            party: "customer".to_string(),
            subject: "dpo@acme.example".to_string(),
        }],
        verification: "Every message path was read back and none could be opened.".to_string(),
    }
}

fn signed() -> (CertificateSigner, Vec<u8>) {
    let signer = CertificateSigner::generate();
    let certificate = signer.sign(body()).unwrap();
    (signer, serde_json::to_vec_pretty(&certificate).unwrap())
}

fn field_of(error: Error) -> String {
    match error {
        Error::Invalid(fields) => fields[0].field.clone(),
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn rule_of(error: Error) -> String {
    match error {
        Error::Invalid(fields) => fields[0].rule.clone(),
        other => panic!("expected an invalid-input error, got {other:?}"),
    }
}

fn scratch() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mailplane-cert-{}", Uuid::now_v7()))
}

/// The value as JSON text with the keys of every object in descending order and spaces
/// between tokens, written by hand because a `serde_json::Map` may or may not keep
/// insertion order depending on the features enabled in the build.
fn reversed(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| b.0.cmp(a.0));
            let items: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{} : {}", serde_json::Value::from(k.as_str()), reversed(v)))
                .collect();
            format!("{{ {} }}", items.join(" , "))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(reversed).collect();
            format!("[ {} ]", items.join(" , "))
        }
        leaf => leaf.to_string(),
    }
}

#[test]
fn round_trip_verifies_and_pins() {
    let signer = CertificateSigner::generate();
    let original = body();
    let certificate = signer.sign(original.clone()).unwrap();
    assert_eq!(certificate.signature.algorithm, "Ed25519");
    assert_eq!(certificate.signature.key_id, signer.key_id());
    assert_eq!(certificate.signature.public_key, signer.published_key().x);
    let document = serde_json::to_vec(&certificate).unwrap();

    let unpinned = verify(&document, &[]).unwrap();
    assert_eq!(unpinned.body, original);
    assert_eq!(unpinned.key_id, signer.key_id());
    assert!(!unpinned.pinned);

    let pinned = verify(&document, &[signer.published_key()]).unwrap();
    assert!(pinned.pinned);
    assert_eq!(pinned.body, original);

    let summary = pinned.summary();
    assert!(summary.contains(&original.tenant.id.to_string()));
    assert!(summary.contains("Acme Ltd"));
    assert!(summary.contains("Mailboxes: 2"));
    assert!(summary.contains("Messages destroyed: 1234"));
    assert!(summary.contains("Bytes destroyed: 5678901"));
    assert!(summary.contains(&original.key_ids[0].to_string()));
    assert!(summary.contains(STANDARD));
    assert!(summary.contains("2025-01-02T10:00:00.123456789Z"));
    assert!(summary.contains("customer (dpo@acme.example)"));
    assert!(summary.contains(&signer.key_id()));
    assert!(summary.contains("pinned: it is one"));
    assert!(unpinned.summary().contains("not pinned"));
}

#[test]
fn the_published_key_is_a_jwk() {
    let signer = CertificateSigner::generate();
    let jwk = serde_json::to_value(signer.published_key()).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], signer.key_id().as_str());
    assert_eq!(signer.key_id().len(), 16);
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    assert_eq!(x.len(), 32);
    assert!(!format!("{signer:?}").contains(&hex::encode(signer.key.to_bytes())));
}

#[test]
fn tampering_with_any_field_is_detected() {
    // One change to the certificate object, named for the failure message.
    type Tamper = fn(&mut serde_json::Value);

    let (_, document) = signed();
    let original: serde_json::Value = serde_json::from_slice(&document).unwrap();
    let tamperings: Vec<(&str, Tamper)> = vec![
        ("bytes", |c| c["bytes"] = serde_json::json!(5_678_900)),
        ("objects", |c| c["objects"] = serde_json::json!(0)),
        ("version", |c| c["version"] = serde_json::json!(2)),
        ("tenant.name", |c| c["tenant"]["name"] = "Other".into()),
        ("tenant.slug", |c| {
            c["tenant"]["slug"] = serde_json::Value::Null
        }),
        ("mailbox address", |c| {
            c["mailboxes"][1]["address"] = "eve@acme.example".into()
        }),
        ("mailbox order", |c| {
            c["mailboxes"].as_array_mut().unwrap().reverse()
        }),
        ("key ids", |c| c["key_ids"].as_array_mut().unwrap().clear()),
        ("erased_at", |c| {
            c["erased_at"] = "2025-01-02T10:05:01Z".into()
        }),
        ("informed", |c| {
            c["accountable_informed"].as_array_mut().unwrap().clear()
        }),
        ("extra field", |c| {
            c.as_object_mut()
                .unwrap()
                .insert("note".into(), "added".into());
        }),
    ];
    for (name, tamper) in tamperings {
        let mut changed = original.clone();
        tamper(&mut changed["certificate"]);
        assert_ne!(changed, original, "{name} changed nothing");
        let error = verify(&serde_json::to_vec(&changed).unwrap(), &[]).unwrap_err();
        assert_eq!(field_of(error), "signature", "{name} was not detected");
    }
}

#[test]
fn reordering_and_reformatting_still_verify() {
    let (signer, document) = signed();
    let original: serde_json::Value = serde_json::from_slice(&document).unwrap();
    let reordered = reversed(&original);
    // The reordered text really does put later keys first, at the top and inside.
    assert!(
        reordered.starts_with("{ \"signature\" : { \"value\""),
        "{reordered}"
    );
    assert!(reordered.find("\"version\"").unwrap() < reordered.find("\"bytes\"").unwrap());
    let verified = verify(reordered.as_bytes(), &[signer.published_key()]).unwrap();
    assert_eq!(
        verified.body,
        serde_json::from_value::<CertificateBody>(original["certificate"].clone()).unwrap()
    );
    let compact = serde_json::to_vec(&original).unwrap();
    verify(&compact, &[signer.published_key()]).unwrap();
}

#[test]
fn signature_fields_are_checked() {
    let (signer, document) = signed();
    let original: serde_json::Value = serde_json::from_slice(&document).unwrap();
    let check = |tamper: &dyn Fn(&mut serde_json::Value)| {
        let mut changed = original.clone();
        tamper(&mut changed);
        verify(&serde_json::to_vec(&changed).unwrap(), &[]).unwrap_err()
    };

    let error = check(&|d| d["signature"]["algorithm"] = "RS256".into());
    assert_eq!(field_of(error), "signature.algorithm");
    let error = check(&|d| d["signature"]["public_key"] = "c2hvcnQ".into());
    assert_eq!(field_of(error), "signature.public_key");
    let error = check(&|d| d["signature"]["value"] = "c2hvcnQ".into());
    assert_eq!(field_of(error), "signature.value");
    let error = check(&|d| d["signature"]["key_id"] = "0000000000000000".into());
    assert_eq!(field_of(error), "signature.key_id");

    // Another key's public key and id, with the original signature: a substitution.
    let other = CertificateSigner::generate();
    let error = check(&|d| {
        d["signature"]["public_key"] = other.published_key().x.into();
        d["signature"]["key_id"] = other.key_id().into();
    });
    assert_eq!(field_of(error), "signature");

    let error = check(&|d| {
        d.as_object_mut()
            .unwrap()
            .insert("note".into(), "unsigned".into());
    });
    assert_eq!(field_of(error), "note");
    let error = check(&|d| {
        d.as_object_mut().unwrap().remove("signature");
    });
    assert_eq!(field_of(error), "signature");
    let error = verify(b"[1]", &[signer.published_key()]).unwrap_err();
    assert_eq!(field_of(error), "document");
}

#[test]
fn a_wrong_trusted_key_is_refused() {
    let (signer, document) = signed();
    let other = CertificateSigner::generate();
    let error = verify(&document, &[other.published_key()]).unwrap_err();
    assert_eq!(field_of(error), "signature.key_id");
    let pinned = verify(&document, &[other.published_key(), signer.published_key()]).unwrap();
    assert!(pinned.pinned);

    // A trusted key with the right kid but other key material does not pin.
    let mut forged = other.published_key();
    forged.kid = signer.key_id();
    let error = verify(&document, &[forged]).unwrap_err();
    assert_eq!(
        rule_of(error),
        format!("key {} is not among the trusted keys", signer.key_id())
    );
}

#[test]
fn the_key_file_is_created_private_and_reread() {
    let dir = scratch();
    let path = dir.join("nested").join("certificate.key");
    let first = CertificateSigner::from_key_file(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let second = CertificateSigner::from_key_file(&path).unwrap();
    assert_eq!(first.key_id(), second.key_id());
    assert_eq!(first.published_key(), second.published_key());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_short_key_file_is_refused() {
    let dir = scratch();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("certificate.key");
    std::fs::write(&path, [7u8; 31]).unwrap();
    let error = CertificateSigner::from_key_file(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    let Error::Invalid(fields) = error else {
        panic!("expected an invalid-input error");
    };
    assert_eq!(fields[0].field, "signing_key");
    assert!(
        fields[0]
            .rule
            .ends_with("must hold exactly 32 bytes, it holds 31"),
        "{}",
        fields[0].rule
    );
}

#[test]
fn trusted_keys_accepts_every_published_form() {
    let signer = CertificateSigner::generate();
    let key = signer.published_key();
    let expected = vec![key.clone()];

    let set = serde_json::to_vec(&PublishedKeys {
        keys: vec![key.clone()],
    })
    .unwrap();
    assert_eq!(trusted_keys(&set).unwrap(), expected);

    let single = serde_json::to_vec(&key).unwrap();
    assert_eq!(trusted_keys(&single).unwrap(), expected);

    let bare = format!("  {}\n", key.x);
    assert_eq!(trusted_keys(bare.as_bytes()).unwrap(), expected);

    let public = signer.key.verifying_key().to_bytes();
    let padded = format!("{}\n", BASE64.encode(public));
    assert_eq!(trusted_keys(padded.as_bytes()).unwrap(), expected);

    let quoted = format!("\"{}\"", key.x);
    assert_eq!(trusted_keys(quoted.as_bytes()).unwrap(), expected);

    // A key set may carry other keys; only the Ed25519 ones are kept.
    let mixed = serde_json::json!({"keys": [
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "Ed25519", "x": key.x},
    ]});
    assert_eq!(
        trusted_keys(&serde_json::to_vec(&mixed).unwrap()).unwrap(),
        expected
    );

    let wrong_kid = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": key.x, "kid": "x"});
    let error = trusted_keys(&serde_json::to_vec(&wrong_kid).unwrap()).unwrap_err();
    assert_eq!(field_of(error), "trusted_keys.kid");
    let error = trusted_keys(b"not a key").unwrap_err();
    assert_eq!(field_of(error), "trusted_keys");

    // And the parsed keys pin a certificate.
    let document = serde_json::to_vec(&signer.sign(body()).unwrap()).unwrap();
    assert!(
        verify(&document, &trusted_keys(bare.as_bytes()).unwrap())
            .unwrap()
            .pinned
    );
}

#[test]
fn canonical_json_sorts_nested_keys() {
    let value: serde_json::Value = serde_json::from_str(
        r#"{ "b": 1, "a": { "z": [3, {"y": true, "x": null}], "é": "\u00e9\"", "Z": -2 }, "": 0 }"#,
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(canonical_json(&value)).unwrap(),
        r#"{"":0,"a":{"Z":-2,"z":[3,{"x":null,"y":true}],"é":"é\""},"b":1}"#
    );
}

#[test]
fn signing_refuses_another_version() {
    let mut other = body();
    other.version = 2;
    let error = CertificateSigner::generate().sign(other).unwrap_err();
    assert_eq!(field_of(error), "certificate.version");
}

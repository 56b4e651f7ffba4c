//! The `mailplane` binary as an operator uses it: tokens, audit verification, policy lint.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mailplane::input::TenantCreate;
use mailplane::{Actor, ControlPlane, ControlPlaneConfig, DatabaseLocation, PolicySet};

fn mailplane(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailplane"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("MAILPLANE_DATABASE_URL")
        .output()
        .expect("the binary runs")
}

fn temp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("mailplane-cli-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn audit_verify_detects_an_edited_and_a_removed_row() {
    let data = temp_dir();
    let location = DatabaseLocation::Sqlite(data.join("mailplane.db"));
    let cp = ControlPlane::open(
        &location,
        PolicySet::builtin(),
        ControlPlaneConfig::default(),
    )
    .await
    .unwrap();
    // A second handle on the same file, for tampering as an attacker with file access would.
    let store = mailplane_store::DataStore::open(&location).await.unwrap();
    let provider = Actor::provider("ops", &["provider-admin"]);
    for name in ["A", "B", "C"] {
        cp.tenant_create(
            &provider,
            TenantCreate {
                name: name.into(),
                profile: None,
                partner_id: None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let ok = mailplane(&data, &["audit", "verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // Each tenant: created, placed in its region, its licences provided.
    assert!(String::from_utf8_lossy(&ok.stdout).contains("intact: 9 row(s)"));

    store
        .execute_unprepared_for_tests("UPDATE audit_log SET outcome = 'deleted' WHERE seq = 3")
        .await
        .unwrap();
    let edited = mailplane(&data, &["audit", "verify"]);
    assert_eq!(edited.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&edited.stdout).contains("row 3 was altered"));

    store
        .execute_unprepared_for_tests("DELETE FROM audit_log WHERE seq = 2")
        .await
        .unwrap();
    let removed = mailplane(&data, &["audit", "verify"]);
    assert_eq!(removed.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&removed.stdout).contains("missing"),
        "{}",
        String::from_utf8_lossy(&removed.stdout)
    );
    std::fs::remove_dir_all(&data).ok();
}

#[test]
fn token_issue_creates_a_private_key_and_a_verifiable_token() {
    let parent = temp_dir();
    let data = parent.join("fresh");
    let out = mailplane(
        &data,
        &[
            "token",
            "issue",
            "--party",
            "provider",
            "--role",
            "provider-auditor",
            "--ttl",
            "5m",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700, "the data directory is private");
        assert_eq!(mode(&data.join("signing-key.pem")), 0o600);
    }
    let key = mailplane::auth::ensure_signing_key(&data).unwrap();
    assert!(!key.created);
    let mut keyring = mailplane::auth::Keyring::new(
        mailplane::auth::DEFAULT_ISSUER,
        mailplane::auth::DEFAULT_AUDIENCE,
    );
    keyring
        .add_public_pem(mailplane::auth::LOCAL_KID, key.public_pem.as_bytes())
        .unwrap();
    let actor = keyring.verify(&token).unwrap();
    assert_eq!(actor.roles(), ["provider-auditor"]);
    let bad = mailplane(
        &data,
        &[
            "token",
            "issue",
            "--party",
            "customer",
            "--org",
            "nope",
            "--role",
            "tenant-admin",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--org must be a tenant id"));
    std::fs::remove_dir_all(&parent).ok();
}

#[test]
fn policy_lint_names_the_line_of_a_malformed_profile() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let ok = mailplane(&temp_dir(), &["policy", "lint", root.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok: hosted-exchange@1 (56 activities"));

    let broken = temp_dir();
    let profile = broken.join("hosted-exchange");
    std::fs::create_dir_all(&profile).unwrap();
    for f in ["profile.conf", "model.conf", "activities.csv", "policy.csv"] {
        std::fs::copy(root.join("hosted-exchange").join(f), profile.join(f)).unwrap();
    }
    let policy = std::fs::read_to_string(profile.join("policy.csv")).unwrap();
    let line = policy.lines().count() + 1;
    std::fs::write(
        profile.join("policy.csv"),
        format!("{policy}p, customer, data.destroy, A\np, customer, data.destroy, Z\n"),
    )
    .unwrap();
    let out = mailplane(&broken, &["policy", "lint", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("`data.destroy` must have exactly one accountable party (A), found 2"),
        "{text}"
    );
    assert!(
        text.contains(&format!("policy.csv:{}: unknown letter `Z`", line + 1)),
        "{text}"
    );
    std::fs::remove_dir_all(&broken).ok();
}

/// `mailplane` with only the given environment's `MAILPLANE_*` variables.
fn mailplane_env(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailplane"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MAILPLANE_") {
            cmd.env_remove(&key);
        }
    }
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args).output().expect("the binary runs")
}

#[test]
fn a_configuration_file_sets_defaults_that_the_environment_and_flags_override() {
    let parent = temp_dir();
    let from_file = parent.join("from-file");
    let from_env = parent.join("from-env");
    let from_flag = parent.join("from-flag");
    let config = parent.join("mailplane.toml");
    std::fs::write(
        &config,
        format!(
            "# A deployment's settings, keyed by flag name.\ndata_dir = \"{}\"\nrate-limit = 50\ndns_servers = [\"127.0.0.1:5399\", \"127.0.0.1:5398\"]\nwebhooks_allow_private = true\n",
            from_file.display()
        ),
    )
    .unwrap();
    let issue = [
        "token",
        "issue",
        "--party",
        "provider",
        "--role",
        "provider-admin",
    ];
    let config_arg = config.to_str().unwrap();

    // The file names the data directory: the signing key is made there.
    let mut args = vec!["--config", config_arg];
    args.extend(issue);
    let out = mailplane_env(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_file.join("signing-key.pem").exists());

    // MAILPLANE_CONFIG names the file too, and the environment beats it.
    let out = mailplane_env(
        &issue,
        &[
            ("MAILPLANE_CONFIG", &config),
            ("MAILPLANE_DATA_DIR", &from_env),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_env.join("signing-key.pem").exists());

    // A flag beats both.
    let mut args = vec![
        "--config",
        config_arg,
        "--data-dir",
        from_flag.to_str().unwrap(),
    ];
    args.extend(issue);
    let out = mailplane_env(&args, &[("MAILPLANE_DATA_DIR", &from_env)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(from_flag.join("signing-key.pem").exists());

    // An unknown key is refused, naming it and the settings there are.
    std::fs::write(&config, "data_dir = \"x\"\nlisten_port = 8080\n").unwrap();
    let mut args = vec!["--config", config_arg];
    args.extend(issue);
    let out = mailplane_env(&args, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`listen_port` is not a setting"), "{err}");
    assert!(
        err.contains("listen") && err.contains("rate-limit"),
        "{err}"
    );

    // A value of the wrong kind is refused by the flag's own rule.
    std::fs::write(&config, "job_lease = 0\n").unwrap();
    let out = mailplane_env(&args, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("job-lease") || err.contains("job_lease"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&parent);
}

/// A mailbox's destruction receipt verifies with the certificate's tool and key, and an
/// altered one does not.
#[test]
fn certificate_verify_checks_a_mailbox_receipt() {
    use mailplane::certificate::receipt::{RECEIPT_VERSION, ReceiptBody};
    use mailplane::certificate::{CertificateSigner, CertifiedMailbox, CertifiedParty};
    let dir = temp_dir();
    let signer = CertificateSigner::generate();
    let at = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let receipt = signer
        .sign_receipt(ReceiptBody {
            version: RECEIPT_VERSION,
            receipt_id: uuid::Uuid::now_v7(),
            issuer: "Example Provider".into(),
            tenant_id: uuid::Uuid::now_v7(),
            mailbox: CertifiedMailbox {
                id: uuid::Uuid::now_v7(),
                address: "ana@example.com".into(),
            },
            objects: 2,
            bytes: 300,
            method: "deleted from Mailplane embedded file store".into(),
            deleted_at: at,
            window_closed_at: at,
            destroyed_at: at,
            issued_at: at,
            responsible: CertifiedParty {
                party: "provider".into(),
                subject: "mailplane-automation".into(),
            },
        })
        .unwrap();
    let file = dir.join("receipt.json");
    let key = dir.join("keys.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&receipt).unwrap()).unwrap();
    std::fs::write(
        &key,
        serde_json::to_vec(&serde_json::json!({ "keys": [signer.published_key()] })).unwrap(),
    )
    .unwrap();
    let (file_arg, key_arg) = (file.to_str().unwrap(), key.to_str().unwrap());
    let ok = mailplane(&dir, &["certificate", "verify", file_arg, "--key", key_arg]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{stdout}");
    assert!(
        stdout.contains("Mailbox destruction receipt") && stdout.contains("ana@example.com"),
        "{stdout}"
    );
    let mut forged = serde_json::to_value(&receipt).unwrap();
    forged["receipt"]["objects"] = serde_json::json!(0);
    std::fs::write(&file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let refused = mailplane(&dir, &["certificate", "verify", file_arg, "--key", key_arg]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INVALID"));
    std::fs::remove_dir_all(&dir).ok();
}

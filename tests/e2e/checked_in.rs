//! Generated files that are checked in must match their sources: the OpenAPI document and
//! the profile tables of the book. Regenerate with the commands in the failure message.

use std::path::PathBuf;

fn repo_file(path: &str) -> (PathBuf, String) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (p, text)
}

#[test]
fn openapi_document_matches_the_code() {
    let (path, checked_in) = repo_file("openapi/mailplane.json");
    let generated = mailplane_http::openapi_json();
    assert!(
        checked_in == generated,
        "{} is out of date: run `cargo run -- openapi --out openapi/mailplane.json` and commit it",
        path.display()
    );
}

#[test]
fn every_operation_id_is_resource_verb() {
    let doc: serde_json::Value = serde_json::from_str(&mailplane_http::openapi_json()).unwrap();
    let mut ids = Vec::new();
    for (_, item) in doc["paths"].as_object().unwrap() {
        for (_, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(|v| v.as_str()) {
                ids.push(id.to_string());
            }
        }
    }
    assert!(ids.len() >= 17, "{ids:?}");
    for id in &ids {
        let parts: Vec<_> = id.split('_').collect();
        assert_eq!(parts.len(), 2, "`{id}` is not resource_verb");
    }
}

#[test]
fn book_profile_pages_are_rendered_from_policies() {
    for profile in mailplane::PolicySet::builtin().iter() {
        let (path, checked_in) = repo_file(&format!("book/src/profiles/{}.md", profile.id));
        assert!(
            checked_in == mailplane_policy::render_markdown(profile),
            "{} is out of date: run `cargo run -- policy render {} > {}`",
            path.display(),
            profile.id,
            path.display()
        );
    }
}

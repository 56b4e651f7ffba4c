//! The tidy test: rules about the source tree itself, checked on every `cargo test`, as
//! rust-analyzer's `tidy.rs` does. A rule a reviewer would otherwise have to remember is a
//! rule a reviewer forgets; here it fails the build with the file and the rule named.
//!
//! It walks every `crates/*/src/**/*.rs` and `examples/*/src/**/*.rs` and checks that
//!
//! - no file is over [`MAX_LINES`] lines, except the files named in [`EXEMPT`], each with its
//!   reason, and the migrations under a `migration/` folder, which are frozen history;
//! - an exempt file is still over the limit, so that the list cannot go stale: a file that
//!   was split must leave the list in the same change;
//! - every module opens with a `//!` header saying why it exists, after optional blank lines
//!   and attributes.

use std::path::{Path, PathBuf};

/// The most lines a source file may have.
const MAX_LINES: usize = 700;

/// Files allowed over [`MAX_LINES`], by path from the workspace root, each with the reason.
/// Every entry must still be over the limit: the test fails when one no longer is.
const EXEMPT: &[(&str, &str)] = &[];

/// A folder whose files are exempt from the length rule wherever it appears: migrations are
/// frozen history, never edited once released, so they are never split either.
const EXEMPT_FOLDER: &str = "migration";

#[test]
fn source_files_are_tidy() {
    let root = workspace_root();
    let files = source_files(&root);
    assert!(
        files.len() > 50,
        "the tidy test found only {} source files under {}: the walk is broken",
        files.len(),
        root.display()
    );
    let mut problems = Vec::new();
    for path in &files {
        let name = relative(&root, path);
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{name}: cannot be read as UTF-8: {e}"));
        problems.extend(check_length(EXEMPT, &name, &text));
        problems.extend(check_header(&name, &text));
    }
    let names: Vec<String> = files.iter().map(|p| relative(&root, p)).collect();
    problems.extend(check_exemptions_exist(EXEMPT, &names));
    assert!(
        problems.is_empty(),
        "the source tree breaks {} tidy rule(s) (tests/tidy.rs):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The length rule, and its other side: an exempt file must still need its exemption.
fn check_length(exempt_files: &[(&str, &str)], name: &str, text: &str) -> Option<String> {
    if in_exempt_folder(name) {
        return None;
    }
    let lines = text.lines().count();
    let exempt = exempt_files.iter().find(|(path, _)| *path == name);
    match exempt {
        None if lines > MAX_LINES => Some(format!(
            "{name}: {lines} lines, over the limit of {MAX_LINES} lines per source file: split it \
             (or, with a reason, name it in EXEMPT)"
        )),
        Some((_, reason)) if lines <= MAX_LINES => Some(format!(
            "{name}: {lines} lines, within the limit of {MAX_LINES}, yet named in EXEMPT \
             (\"{reason}\"): remove it from EXEMPT so the list stays true"
        )),
        _ => None,
    }
}

/// An exemption naming a file that is no longer there is stale too.
fn check_exemptions_exist(exempt_files: &[(&str, &str)], names: &[String]) -> Vec<String> {
    exempt_files
        .iter()
        .filter(|(path, _)| !names.iter().any(|n| n == path))
        .map(|(path, reason)| {
            format!(
                "{path}: named in EXEMPT (\"{reason}\") but not a source file any more: remove \
                 it from EXEMPT so the list stays true"
            )
        })
        .collect()
}

/// The header rule: the first line that is neither blank nor part of an attribute is a `//!`
/// comment.
fn check_header(name: &str, text: &str) -> Option<String> {
    let mut depth = 0usize;
    for line in text.lines() {
        let trimmed = line.trim();
        if depth > 0 || trimmed.starts_with("#[") || trimmed.starts_with("#![") {
            // An attribute, perhaps over several lines: skip until its brackets close.
            for c in trimmed.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with("//!") {
            return None;
        }
        return Some(format!(
            "{name}: does not open with a `//!` header saying why the module exists (first \
             line: `{trimmed}`)"
        ));
    }
    Some(format!(
        "{name}: does not open with a `//!` header saying why the module exists (the file \
         holds no code)"
    ))
}

fn in_exempt_folder(name: &str) -> bool {
    name.split('/').any(|part| part == EXEMPT_FOLDER)
}

/// The workspace root: the parent of this test crate's folder.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in a folder of the workspace")
        .to_path_buf()
}

/// Every `.rs` file under `crates/*/src` and `examples/*/src`, sorted.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for group in ["crates", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            let src = entry.path().join("src");
            if src.is_dir() {
                walk(&src, &mut files);
            }
        }
    }
    files.sort();
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: cannot be read: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// A path from the workspace root, with `/` separators, as EXEMPT names it.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

// The rules themselves, on made-up files: each must catch what it is for, and let the rest
// through.

#[test]
fn a_file_over_the_limit_is_named_with_the_rule() {
    let long = "//! Header.\n".to_string() + &"x\n".repeat(MAX_LINES);
    let problem = check_length(EXEMPT, "crates/a/src/long.rs", &long).expect("a problem");
    assert!(
        problem.starts_with("crates/a/src/long.rs: 701 lines"),
        "{problem}"
    );
    assert!(problem.contains("over the limit of 700"), "{problem}");
    let exact = "x\n".repeat(MAX_LINES);
    assert_eq!(check_length(EXEMPT, "crates/a/src/exact.rs", &exact), None);
}

#[test]
fn migrations_are_exempt_as_a_folder() {
    let long = "x\n".repeat(MAX_LINES * 2);
    assert_eq!(
        check_length(
            EXEMPT,
            "crates/mailplane-store/src/migration/m0001.rs",
            &long
        ),
        None
    );
    assert!(check_length(EXEMPT, "crates/mailplane-store/src/migrations.rs", &long).is_some());
}

#[test]
fn an_exempt_file_within_the_limit_is_stale() {
    let exempt = [("crates/a/src/table.rs", "one table that reads best whole")];
    let (name, _) = exempt[0];
    let problem = check_length(&exempt, name, "//! Header.\n").expect("a problem");
    assert!(
        problem.contains("within the limit") && problem.contains("remove it from EXEMPT"),
        "{problem}"
    );
    assert!(check_length(&exempt, name, &"x\n".repeat(MAX_LINES + 1)).is_none());
    let gone = check_exemptions_exist(&exempt, &[]);
    assert_eq!(gone.len(), exempt.len());
    assert!(
        gone[0].contains("not a source file any more"),
        "{}",
        gone[0]
    );
}

#[test]
fn a_module_without_a_header_is_named_with_the_rule() {
    for ok in [
        "//! Why.\nfn f() {}\n",
        "\n\n//! Why.\n",
        "#![allow(dead_code)]\n\n//! Why.\n",
        "#![cfg_attr(\n    test,\n    allow(dead_code)\n)]\n//! Why.\n",
    ] {
        assert_eq!(check_header("crates/a/src/ok.rs", ok), None, "{ok:?}");
    }
    for bad in [
        "fn f() {}\n",
        "// Why, but not a doc comment.\nfn f() {}\n",
        "/// An item's doc.\nfn f() {}\n",
        "use std::io;\n//! Too late.\n",
        "",
    ] {
        let problem = check_header("crates/a/src/bad.rs", bad).expect("a problem");
        assert!(
            problem.starts_with("crates/a/src/bad.rs: does not open with a `//!` header"),
            "{problem}"
        );
    }
}

//! A newcomer's first `mailplane serve` on a fresh data directory: it prints where it serves,
//! where the docs are and the bootstrap token, and no screen of migration logs before them.

mod support;

use std::fs::File;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn the_first_start_prints_a_short_block_without_migration_logs() {
    let dir = std::env::temp_dir().join(format!(
        "mailplane-first-start-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("data");
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = support::serve_command()
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"])
        // The operator's default: no `RUST_LOG`.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = support::serving_address(&mut child, &stdout, "mailplane", deadline);
    // The block ends with the hint to mint more tokens.
    let printed = loop {
        let out = std::fs::read_to_string(&stdout).unwrap_or_default();
        if out.contains("Mint more with") || Instant::now() >= deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The test stops the server it started.
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&stderr).unwrap_or_default();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        printed.contains(&format!("http://{addr}/docs")),
        "{printed}"
    );
    assert!(
        printed.contains("Bootstrap provider-admin token"),
        "{printed}"
    );
    assert!(printed.lines().count() <= 12, "{printed}");
    assert!(
        !logs.to_lowercase().contains("migration"),
        "the first start logged its migrations:\n{logs}"
    );
}

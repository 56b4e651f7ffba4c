//! The benchmark runs end to end at the smallest sizes and reports every row. It checks
//! that the parts work, not how fast they are: no figure is compared with a target here.

use mailplane_bench::{Options, Part, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_part_runs_and_reports() {
    let dir = std::env::temp_dir().join(format!(
        "mailplane-bench-smoke-{}",
        uuid::Uuid::now_v7().simple()
    ));
    let mut opts = Options::tiny(&dir);
    // The release binary may not be built; then the memory part reports so.
    opts.server_bin = dir.join("no-such-binary");
    let report = run(Part::All, &opts).await.expect("the benchmark runs");
    let table = report.markdown();
    for part in [
        "1 seed",
        "2 authz",
        "3 http read",
        "4 eddsa",
        "5 writes",
        "6 pagination",
        "7 memory",
        "8 mailstack",
        "10 relocation",
    ] {
        assert!(
            report.rows.iter().any(|r| r.part == part),
            "no row for {part}:\n{table}"
        );
    }
    for measure in [
        "decision p50 at 20 tenants / at 1 tenant",
        "casbin-rs `enforce`, hosted-exchange, one letter",
        "authorized read / health route",
        "EdDSA reads / HS256 reads",
    ] {
        assert!(
            report.rows.iter().any(|r| r.measure == measure),
            "no row `{measure}`:\n{table}"
        );
    }
    // Two seeded databases (main and pagination); the ratios of the decisions (two), the
    // reads (two) and the mailbox pages (two page sizes). The tenant list of 20 tenants is
    // shorter than two pages and says so.
    assert_eq!(report.rows.iter().filter(|r| r.part == "1 seed").count(), 2);
    assert_eq!(
        report.rows.iter().filter(|r| r.unit == "ratio").count(),
        6,
        "{table}"
    );
    assert!(
        report
            .rows
            .iter()
            .filter(|r| !r.unit.is_empty())
            .all(|r| r.value.is_some_and(f64::is_finite)),
        "{table}"
    );
    assert!(!dir.exists(), "the work directory is removed");
}

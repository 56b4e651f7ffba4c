//! The one table a run prints: every figure beside its target and whether it is met.
//!
//! Each part of the benchmark adds rows; the table is printed once at the end, as Markdown
//! so that it can be pasted into the book, or as JSON with the numbers unformatted.

use serde::Serialize;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The item number and name, such as `2 authz`.
    pub part: String,
    /// What was measured, in words.
    pub measure: String,
    /// The figure as people read it, with its unit and any detail (percentiles, counts).
    pub figure: String,
    /// The main number of the figure, for machines.
    pub value: Option<f64>,
    /// The unit of `value`.
    pub unit: String,
    /// The target, such as `<= 2 µs`, or `reference` for a figure given for comparison.
    pub target: String,
    /// Whether the target is met; `None` for figures without a target.
    pub met: Option<bool>,
}

impl Row {
    /// A row without a target.
    pub fn info(part: &str, measure: impl Into<String>, figure: impl Into<String>) -> Row {
        Row {
            part: part.into(),
            measure: measure.into(),
            figure: figure.into(),
            value: None,
            unit: String::new(),
            target: String::new(),
            met: None,
        }
    }

    /// The same row with its main number.
    pub fn value(mut self, value: f64, unit: &str) -> Row {
        self.value = Some(value);
        self.unit = unit.into();
        self
    }

    /// The same row with a target and whether it is met.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Row {
        self.target = target.into();
        self.met = Some(met);
        self
    }

    /// The same row marked as a reference figure, given for comparison only.
    pub fn reference(mut self) -> Row {
        self.target = "reference".into();
        self
    }

    /// The row judged against `target` when `judged`, else marked as reported beside the
    /// judged figure (the targets are SQLite's; PostgreSQL's are reported).
    pub fn target_if(mut self, judged: bool, target: impl Into<String>, met: bool) -> Row {
        if judged {
            return self.target(target, met);
        }
        self.target = "reported".into();
        self
    }
}

/// The rows of a run, in the order they were measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The machine the run took place on.
    pub machine: Machine,
    /// The rows.
    pub rows: Vec<Row>,
}

impl Report {
    /// Adds a row and prints it at once, so that a long run shows its progress.
    pub fn push(&mut self, row: Row) {
        eprintln!(
            "  [{}] {}: {}{}",
            row.part,
            row.measure,
            row.figure,
            match row.met {
                Some(true) => format!(" (target {}: met)", row.target),
                Some(false) => format!(" (target {}: MISSED)", row.target),
                None => String::new(),
            }
        );
        self.rows.push(row);
    }

    /// The table as Markdown, preceded by the machine.
    pub fn markdown(&self) -> String {
        let mut out = format!("{}\n\n", self.machine.sentence());
        out.push_str("| Part | Measure | Figure | Target | Met |\n");
        out.push_str("|---|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.part, r.measure, r.figure, r.target, met
            ));
        }
        out
    }

    /// The report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }
}

/// What the run took place on, read from the system.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// The CPU model, from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Memory, in KiB, from `/proc/meminfo`.
    pub memory_kib: u64,
    /// The kernel release.
    pub kernel: String,
}

impl Machine {
    /// Reads the machine's description (Linux; fields stay empty elsewhere).
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        Machine {
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_model: field(&cpuinfo, "model name"),
            memory_kib: field(&meminfo, "MemTotal")
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
        }
    }

    /// One sentence naming the machine.
    pub fn sentence(&self) -> String {
        format!(
            "Machine: {} CPU(s) ({}), {:.1} GiB of memory, Linux {}.",
            self.cpus,
            if self.cpu_model.is_empty() {
                "model unknown"
            } else {
                &self.cpu_model
            },
            self.memory_kib as f64 / 1024.0 / 1024.0,
            if self.kernel.is_empty() {
                "(unknown)"
            } else {
                &self.kernel
            }
        )
    }
}

/// A count with thousands separators: `1,000,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A count and a noun, singular for one: `1 tenant`, `1,000 tenants`.
pub fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A duration in the unit that reads best: ns, µs, ms or s.
pub fn duration(seconds: f64) -> String {
    if seconds < 1e-6 {
        format!("{:.0} ns", seconds * 1e9)
    } else if seconds < 1e-3 {
        format!("{:.2} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_durations_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(counted(1, "tenant", "tenants"), "1 tenant");
        assert_eq!(counted(1000, "tenant", "tenants"), "1,000 tenants");
        assert_eq!(duration(0.000_000_35), "350 ns");
        assert_eq!(duration(0.000_001_5), "1.50 µs");
        assert_eq!(duration(0.0125), "12.50 ms");
        assert_eq!(duration(2.5), "2.50 s");
    }
}

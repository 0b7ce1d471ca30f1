//! The metrics catalogue: every metric omsd exports with its type, labels, help text and
//! histogram buckets, from one declaration each (the [`metrics!`](crate::metrics) block in
//! `telemetry.rs`). The exporter takes help texts and buckets from it, and the README's "Metrics
//! catalogue" table is rendered from it, so neither can drift from the code.

/// The Prometheus type of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    /// `counter`, `gauge` or `histogram`, as Prometheus' `# TYPE` line spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// One declared metric.
#[derive(Debug, Clone, Copy)]
pub struct MetricSpec {
    /// Name of the Rust constant (`ORDERS_SUBMITTED`).
    pub constant: &'static str,
    /// Metric name (`omsd_orders_submitted_total`).
    pub name: &'static str,
    pub kind: MetricType,
    /// Every label the metric may carry (a series may carry fewer, e.g. `omsd_queue_depth`
    /// has `venue` only for per-venue queues).
    pub labels: &'static [&'static str],
    /// The doc comment of the declaration, one entry a line.
    pub doc: &'static [&'static str],
    /// Explicit buckets of a histogram.
    pub buckets: Option<&'static [f64]>,
}

impl MetricSpec {
    /// The doc comment as one line of text (the `# HELP` text and the README's meaning).
    pub fn help(&self) -> String {
        self.doc
            .iter()
            .map(|line| line.trim())
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Declares metrics: for each entry a `pub const NAME: &str` (with its doc comment) and an
/// entry of `CATALOGUE`. Syntax of one entry:
///
/// ```text
/// /// Meaning (becomes the help text).
/// CONSTANT = counter "omsd_area_name_total" ["label", ...];
/// CONSTANT = histogram "omsd_area_name_seconds" ["label", ...] buckets LATENCY_BUCKETS;
/// ```
#[macro_export]
macro_rules! metrics {
    ($(
        $(#[doc = $doc:literal])+
        $constant:ident = $kind:ident $name:literal [$($label:literal),* $(,)?]
            $(buckets $buckets:expr)?;
    )+) => {
        $(
            $(#[doc = $doc])+
            pub const $constant: &str = $name;
        )+

        /// Every metric declared above, in declaration order.
        pub const CATALOGUE: &[$crate::telemetry::catalogue::MetricSpec] = &[$(
            $crate::telemetry::catalogue::MetricSpec {
                constant: stringify!($constant),
                name: $name,
                kind: $crate::metrics!(@kind $kind),
                labels: &[$($label),*],
                doc: &[$($doc),+],
                buckets: $crate::metrics!(@buckets $($buckets)?),
            },
        )+];
    };
    (@kind counter) => { $crate::telemetry::catalogue::MetricType::Counter };
    (@kind gauge) => { $crate::telemetry::catalogue::MetricType::Gauge };
    (@kind histogram) => { $crate::telemetry::catalogue::MetricType::Histogram };
    (@buckets) => { None };
    (@buckets $buckets:expr) => { Some($buckets) };
}

/// Marks the generated table in README.md.
pub const README_BEGIN: &str = "<!-- metrics-catalogue:begin (generated from src/telemetry.rs; OMSD_BLESS=1 cargo test --test ops_catalogue rewrites it) -->";
/// Ends the generated table in README.md.
pub const README_END: &str = "<!-- metrics-catalogue:end -->";

/// The README table of `catalogue`: name, type, labels, meaning.
pub fn markdown_table(catalogue: &[MetricSpec]) -> String {
    let mut out = String::from("| name | type | labels | meaning |\n|---|---|---|---|\n");
    for spec in catalogue {
        let labels = if spec.labels.is_empty() {
            "–".to_string()
        } else {
            spec.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let meaning = spec.help().replace('|', "\\|");
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {meaning} |\n",
            spec.name,
            spec.kind.as_str()
        ));
    }
    out
}

/// `readme` with the text between [`README_BEGIN`] and [`README_END`] replaced by `table`;
/// `None` when the markers are missing or out of order.
pub fn splice_readme(readme: &str, table: &str) -> Option<String> {
    let begin = readme.find(README_BEGIN)? + README_BEGIN.len();
    let end = begin + readme[begin..].find(README_END)?;
    Some(format!("{}\n{table}{}", &readme[..begin], &readme[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[MetricSpec] = &[
        MetricSpec {
            constant: "A",
            name: "omsd_a_total",
            kind: MetricType::Counter,
            labels: &["venue", "status"],
            doc: &[" Things that", " happened | twice."],
            buckets: None,
        },
        MetricSpec {
            constant: "B",
            name: "omsd_b",
            kind: MetricType::Gauge,
            labels: &[],
            doc: &[" A level."],
            buckets: None,
        },
    ];

    #[test]
    fn table_lists_name_type_labels_and_one_line_meaning() {
        assert_eq!(
            markdown_table(SPECS),
            "| name | type | labels | meaning |\n|---|---|---|---|\n\
             | `omsd_a_total` | counter | `venue`, `status` | Things that happened \\| twice. |\n\
             | `omsd_b` | gauge | – | A level. |\n"
        );
    }

    #[test]
    fn splice_replaces_only_between_the_markers() {
        let readme = format!("intro\n{README_BEGIN}\nold\n{README_END}\nrest\n");
        let spliced = splice_readme(&readme, "new\n").expect("markers found");
        assert_eq!(
            spliced,
            format!("intro\n{README_BEGIN}\nnew\n{README_END}\nrest\n")
        );
        assert_eq!(splice_readme(&spliced, "new\n").as_deref(), Some(&*spliced));
        assert!(splice_readme("no markers", "x").is_none());
        assert!(splice_readme(&format!("{README_END}{README_BEGIN}"), "x").is_none());
    }
}

//! `bench-chart RESULTS.json OUT.svg`: the server + store CPU per request of every variant of
//! the peer benchmark (scripts/bench.sh peers), one group of bars per variant, one bar per
//! endpoint and workload.

use std::path::Path;

use anyhow::{Context as _, bail};
use plotters::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Results {
    meta: Meta,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Meta {
    date: String,
    commit: String,
    command: String,
}

#[derive(Deserialize)]
struct Row {
    label: String,
    endpoint: String,
    workload: String,
    server_us: f64,
    store_us: Option<f64>,
}

/// The bars of each group, in order: (endpoint, workload, legend, colour).
const SERIES: [(&str, &str, &str, RGBColor); 4] = [
    (
        "/read",
        "hot",
        "/read, one hot session",
        RGBColor(0x4c, 0x78, 0xa8),
    ),
    (
        "/read",
        "many",
        "/read, many sessions",
        RGBColor(0x9e, 0xca, 0xe9),
    ),
    (
        "/incr",
        "hot",
        "/incr, one hot session",
        RGBColor(0xe4, 0x57, 0x56),
    ),
    (
        "/incr",
        "many",
        "/incr, many sessions",
        RGBColor(0xff, 0x9d, 0x98),
    ),
];

fn cpu(rows: &[Row], label: &str, endpoint: &str, workload: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.label == label && r.endpoint == endpoint && r.workload == workload)
        .map(|r| r.server_us + r.store_us.unwrap_or(0.0))
}

fn draw(results: &Results, out: &Path) -> anyhow::Result<()> {
    let mut labels: Vec<&str> = Vec::new();
    for row in &results.rows {
        if !labels.contains(&row.label.as_str()) {
            labels.push(&row.label);
        }
    }
    if labels.is_empty() {
        bail!("no rows to draw");
    }
    let max = results
        .rows
        .iter()
        .map(|r| r.server_us + r.store_us.unwrap_or(0.0))
        .fold(0.0_f64, f64::max);
    let bar_rows = labels.len() * (SERIES.len() + 1);
    let height = u32::try_from(120 + bar_rows * 9).unwrap_or(u32::MAX);
    let root = SVGBackend::new(out, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "Server + store CPU per request (µs), {} at {}: {}",
        results.meta.date, results.meta.commit, results.meta.command
    );
    let slots = i32::try_from(bar_rows).unwrap_or(i32::MAX);
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(210)
        .build_cartesian_2d(0.0..max * 1.1, (0..slots).into_segmented())?;
    let group = SERIES.len() + 1;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(labels.len() * group)
        .y_label_formatter(&|slot| match slot {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                let i = usize::try_from(*i).unwrap_or(usize::MAX);
                // One label per group, beside its middle bar.
                if i % group == SERIES.len() / 2 {
                    labels
                        .get(i / group)
                        .map(|s| (*s).to_owned())
                        .unwrap_or_default()
                } else {
                    String::new()
                }
            }
            SegmentValue::Last => String::new(),
        })
        .x_desc("µs per request (server process + Redis/PostgreSQL server)")
        .draw()?;
    for (s, (endpoint, workload, legend, colour)) in SERIES.iter().enumerate() {
        let bars = labels.iter().enumerate().filter_map(|(g, label)| {
            let value = cpu(&results.rows, label, endpoint, workload)?;
            let slot = i32::try_from(g * group + s).ok()?;
            Some(Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(slot)),
                    (value, SegmentValue::Exact(slot + 1)),
                ],
                colour.filled(),
            ))
        });
        chart
            .draw_series(bars)?
            .label(*legend)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        bail!("usage: bench-chart RESULTS.json OUT.svg");
    };
    let text = std::fs::read_to_string(input).with_context(|| format!("cannot read {input}"))?;
    let results: Results = serde_json::from_str(&text)
        .with_context(|| format!("{input} is not a peer results file"))?;
    draw(&results, Path::new(output))
}

//! The timeline chart, drawn by the server as SVG: one bar per period,
//! stacked by change type, each bar a link to the changes it counts.
//! Geometry is computed here; the template only places it (and escapes).

use std::time::{Duration, SystemTime};

use super::pages::{self, query_string};
use crate::database::views::timeline::{CHANGE_TYPES, Range, Timeline};

pub const WIDTH: u32 = 760;
pub const HEIGHT: u32 = 200;
const LEFT: u32 = 44;
const BOTTOM: u32 = 22;
const TOP: u32 = 8;

pub struct Chart {
    pub range: Range,
    /// Links to the same page with each range: (range, link, chosen).
    pub ranges: Vec<(&'static str, String, bool)>,
    pub bars: Vec<Bar>,
    /// (type, label, total over the range).
    pub legend: Vec<(&'static str, &'static str, i64)>,
    pub total: i64,
    /// The y axis: (y, label).
    pub y_ticks: Vec<(u32, String)>,
    /// The x axis: (x, label).
    pub x_labels: Vec<(u32, String)>,
    pub plot_bottom: u32,
    pub plot_left: u32,
}

pub struct Bar {
    pub x: u32,
    pub width: u32,
    pub link: String,
    pub title: String,
    /// (type, y, height), bottom first.
    pub segments: Vec<(&'static str, u32, u32)>,
}

fn label(kind: &str) -> &'static str {
    match kind {
        "WindowsServices" => "Windows services",
        "Software" => "Software",
        "Files" => "Files",
        "Registry" => "Registry",
        _ => "Daemons",
    }
}

/// The chart of `timeline`; `page` is the page's own path (for the range
/// links) and `machine` narrows the bars' links to one machine.
pub fn chart(timeline: &Timeline, page: &str, machine: Option<&str>) -> Chart {
    let bar_time = timeline.range.bar();
    let plot_width = WIDTH - LEFT - 4;
    let plot_bottom = HEIGHT - BOTTOM;
    let plot_height = plot_bottom - TOP;
    let slot = plot_width / timeline.bars.len().max(1) as u32;
    let highest = timeline
        .bars
        .iter()
        .map(|bar| bar.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = |count: i64| ((count as f64 / highest as f64) * plot_height as f64).round() as u32;
    let mut bars = Vec::with_capacity(timeline.bars.len());
    for (index, counts) in timeline.bars.iter().enumerate() {
        let start = timeline.start + bar_time * index as u32;
        let end = start + bar_time - Duration::from_micros(1);
        let x = LEFT + slot * index as u32 + 1;
        let mut y = plot_bottom;
        let mut segments = Vec::new();
        for (kind, &count) in CHANGE_TYPES.iter().zip(counts) {
            if count == 0 {
                continue;
            }
            let height = scale(count).max(1);
            y = y.saturating_sub(height);
            segments.push((*kind, y, height));
        }
        let total: i64 = counts.iter().sum();
        let detail = CHANGE_TYPES
            .iter()
            .zip(counts)
            .filter(|(_, count)| **count > 0)
            .map(|(kind, count)| format!("{}: {count}", label(kind)))
            .collect::<Vec<_>>()
            .join(", ");
        bars.push(Bar {
            x,
            width: slot.saturating_sub(2).max(1),
            link: format!(
                "/changes?{}",
                query_string(&[
                    ("machine", machine.unwrap_or("")),
                    ("since", &rfc3339(start)),
                    ("until", &rfc3339(end)),
                ])
            ),
            title: format!(
                "{}: {total} changes{}{detail}",
                pages::time(start),
                if total > 0 { " — " } else { "" }
            ),
            segments,
        });
    }
    let totals = timeline.totals();
    let y_ticks = [0, highest / 2, highest]
        .into_iter()
        .map(|value| (plot_bottom - scale(value), value.to_string()))
        .collect::<Vec<_>>();
    let every = (timeline.bars.len() / 6).max(1);
    let x_labels = (0..timeline.bars.len())
        .step_by(every)
        .map(|index| {
            let start = timeline.start + bar_time * index as u32;
            (LEFT + slot * index as u32, axis_label(start, timeline.range))
        })
        .collect();
    Chart {
        range: timeline.range,
        ranges: Range::ALL
            .iter()
            .map(|range| {
                let link = format!("{page}?{}", query_string(&[("range", range.as_str())]));
                (range.as_str(), link, *range == timeline.range)
            })
            .collect(),
        bars,
        legend: CHANGE_TYPES
            .iter()
            .zip(totals)
            .map(|(kind, total)| (*kind, label(kind), total))
            .collect(),
        total: totals.iter().sum(),
        y_ticks,
        x_labels,
        plot_bottom,
        plot_left: LEFT,
    }
}

fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at).map_or_else(|_| String::new(), |t| t.to_string())
}

fn axis_label(at: SystemTime, range: Range) -> String {
    let format = match range {
        Range::Hour | Range::SixHours | Range::Day => "%H:%M",
        Range::Week | Range::Month => "%b %d",
    };
    jiff::Timestamp::try_from(at).map_or_else(|_| String::new(), |t| t.strftime(format).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_each_type_and_the_tallest_fills_the_plot() {
        let timeline = Timeline {
            range: Range::Hour,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
            bars: {
                let mut bars = vec![[0; 5]; 12];
                bars[3] = [2, 2, 0, 0, 0];
                bars[11] = [0, 1, 0, 0, 1];
                bars
            },
        };
        let chart = chart(&timeline, "/", Some("web 1"));
        assert_eq!(chart.bars.len(), 12);
        assert_eq!(chart.total, 6);
        assert_eq!(chart.legend[0], ("Software", "Software", 2));
        assert_eq!(chart.legend[1], ("Files", "Files", 3));
        let tallest = &chart.bars[3];
        assert_eq!(tallest.segments.len(), 2);
        let top = tallest.segments[1].1;
        assert_eq!(top, TOP, "the tallest bar reaches the top of the plot");
        assert!(chart.bars[0].segments.is_empty());
        assert!(
            tallest.link.starts_with("/changes?machine=web%201&since="),
            "{}",
            tallest.link
        );
        assert!(chart.ranges.iter().any(|(range, _, chosen)| *range == "1h" && *chosen));
    }
}

//! The chart a query's `render` names, drawn by the server as SVG from the
//! answer's rows, as Kusto reads them: `timechart` (and `linechart`,
//! `areachart`) puts the first datetime (or number) column on the x axis
//! and draws a line per numeric column and per value of the string
//! columns; `columnchart` and `barchart` draw the numeric columns for each
//! value of the first string column; `piechart` the first numeric column by
//! the first string column. Other kinds are not drawn (the rows are).

use driftwatch_kql::{Cell, Column, Type};

pub const WIDTH: f64 = 760.0;
pub const HEIGHT: f64 = 240.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// Series drawn at most (each has a colour of its own), and categories.
const MAX_SERIES: usize = 8;
const MAX_CATEGORIES: usize = 40;

pub struct QueryChart {
    pub kind: String,
    /// Lines: (points, series index, label).
    pub lines: Vec<(String, usize, String)>,
    /// The lines' points, marked: (x, y, series index, title).
    pub marks: Vec<(f64, f64, usize, String)>,
    /// Bars: (x, y, width, height, series index, title).
    pub bars: Vec<(f64, f64, f64, f64, usize, String)>,
    /// Pie slices: (path, series index, title).
    pub slices: Vec<(String, usize, String)>,
    /// (series index, label).
    pub legend: Vec<(usize, String)>,
    pub y_ticks: Vec<(f64, String)>,
    pub x_labels: Vec<(f64, String)>,
    pub plot_left: f64,
    pub plot_right: f64,
    /// Why nothing is drawn, when nothing is.
    pub note: Option<String>,
}

impl QueryChart {
    fn empty(kind: &str, note: Option<String>) -> QueryChart {
        QueryChart {
            kind: kind.to_string(),
            lines: Vec::new(),
            marks: Vec::new(),
            bars: Vec::new(),
            slices: Vec::new(),
            legend: Vec::new(),
            y_ticks: Vec::new(),
            x_labels: Vec::new(),
            plot_left: LEFT,
            plot_right: WIDTH - RIGHT,
            note,
        }
    }

    pub fn is_drawn(&self) -> bool {
        !(self.lines.is_empty() && self.bars.is_empty() && self.slices.is_empty())
    }
}

fn number(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Long(n) => Some(*n as f64),
        Cell::Real(r) if r.is_finite() => Some(*r),
        _ => None,
    }
}

/// A datetime cell as seconds since 1970.
fn seconds(cell: &Cell) -> Option<f64> {
    match cell {
        Cell::Text(text) => text
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_microsecond() as f64 / 1e6),
        _ => None,
    }
}

fn is_numeric(ty: Type) -> bool {
    matches!(ty, Type::Long | Type::Real)
}

/// The chart `kind` of these rows.
pub fn chart(kind: &str, columns: &[Column], rows: &[Vec<Cell>]) -> QueryChart {
    match kind {
        "timechart" | "linechart" | "areachart" => lines(kind, columns, rows),
        "columnchart" | "barchart" => bars(kind, columns, rows),
        "piechart" => pie(kind, columns, rows),
        _ => QueryChart::empty(
            kind,
            Some(format!("'render {kind}' is not drawn here: the rows are below")),
        ),
    }
}

/// Ticks for 0..=`highest` (or `lowest`..=`highest`) on a plot of `height`.
fn y_axis(lowest: f64, highest: f64) -> (impl Fn(f64) -> f64, Vec<(f64, String)>) {
    let (lowest, highest) = if highest > lowest {
        (lowest, highest)
    } else {
        (lowest, lowest + 1.0)
    };
    let bottom = HEIGHT - BOTTOM;
    let scale = move |value: f64| bottom - (value - lowest) / (highest - lowest) * (bottom - TOP);
    let ticks = [lowest, (lowest + highest) / 2.0, highest]
        .into_iter()
        .map(|v| (scale(v), short(v)))
        .collect();
    (scale, ticks)
}

fn short(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.2}")
    }
}

fn lines(kind: &str, columns: &[Column], rows: &[Vec<Cell>]) -> QueryChart {
    let x_index = columns.iter().position(|c| c.ty == Type::Datetime).or_else(|| {
        (kind != "timechart")
            .then(|| columns.iter().position(|c| is_numeric(c.ty)))
            .flatten()
    });
    let Some(x_index) = x_index else {
        return QueryChart::empty(
            kind,
            Some(format!("'render {kind}' needs a datetime column for its x axis")),
        );
    };
    let x_is_time = columns[x_index].ty == Type::Datetime;
    let values: Vec<usize> = (0..columns.len())
        .filter(|&i| i != x_index && is_numeric(columns[i].ty))
        .collect();
    let keys: Vec<usize> = (0..columns.len()).filter(|&i| columns[i].ty == Type::String).collect();
    if values.is_empty() {
        return QueryChart::empty(kind, Some(format!("'render {kind}' needs a numeric column to draw")));
    }
    // Series: (label, points (x, y)).
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for row in rows {
        let x = if x_is_time {
            seconds(&row[x_index])
        } else {
            number(&row[x_index])
        };
        let Some(x) = x else { continue };
        let key: Vec<String> = keys.iter().map(|&i| row[i].display()).collect();
        for &v in &values {
            let Some(y) = number(&row[v]) else { continue };
            let mut label = key.join(", ");
            if values.len() > 1 || label.is_empty() {
                label = if label.is_empty() {
                    columns[v].name.clone()
                } else {
                    format!("{label}: {}", columns[v].name)
                };
            }
            match series.iter().position(|(l, _)| *l == label) {
                Some(found) => series[found].1.push((x, y)),
                None if series.len() < MAX_SERIES => series.push((label, vec![(x, y)])),
                None => {}
            }
        }
    }
    let all = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_min, mut x_max, mut y_min, mut y_max) = (f64::MAX, f64::MIN, 0.0_f64, f64::MIN);
    for &(x, y) in all {
        x_min = x_min.min(x);
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if series.is_empty() {
        return QueryChart::empty(kind, Some("nothing to draw".to_string()));
    }
    let span = if x_max > x_min { x_max - x_min } else { 1.0 };
    let plot_width = WIDTH - LEFT - RIGHT;
    let x_of = |x: f64| LEFT + (x - x_min) / span * plot_width;
    let (y_of, y_ticks) = y_axis(y_min, y_max);
    let mut chart = QueryChart::empty(kind, None);
    chart.y_ticks = y_ticks;
    let ticks = if x_max > x_min { 4 } else { 0 };
    chart.x_labels = (0..=ticks)
        .map(|i| {
            let x = x_min + span * f64::from(i) / f64::from(ticks.max(1));
            let label = if x_is_time {
                jiff::Timestamp::from_microsecond((x * 1e6) as i64)
                    .map(|t| t.strftime("%m-%d %H:%M").to_string())
                    .unwrap_or_default()
            } else {
                short(x)
            };
            (x_of(x), label)
        })
        .collect();
    for (index, (label, mut points)) in series.into_iter().enumerate() {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
            .collect();
        for &(x, y) in &points {
            let at = if x_is_time {
                jiff::Timestamp::from_microsecond((x * 1e6) as i64).map_or_else(|_| short(x), |t| t.to_string())
            } else {
                short(x)
            };
            chart
                .marks
                .push((x_of(x), y_of(y), index, format!("{label}: {} at {at}", short(y))));
        }
        chart.lines.push((path.join(" "), index, label.clone()));
        chart.legend.push((index, label));
    }
    chart
}

/// The first string column's values, each with the numeric columns.
fn categories(columns: &[Column], rows: &[Vec<Cell>]) -> Option<(usize, Vec<usize>)> {
    let label = columns.iter().position(|c| c.ty == Type::String).unwrap_or(0);
    let values: Vec<usize> = (0..columns.len())
        .filter(|&i| i != label && is_numeric(columns[i].ty))
        .collect();
    (!values.is_empty() && !rows.is_empty()).then_some((label, values))
}

fn bars(kind: &str, columns: &[Column], rows: &[Vec<Cell>]) -> QueryChart {
    let Some((label, values)) = categories(columns, rows) else {
        return QueryChart::empty(kind, Some(format!("'render {kind}' needs a numeric column to draw")));
    };
    let values: Vec<usize> = values.into_iter().take(MAX_SERIES).collect();
    let rows = &rows[..rows.len().min(MAX_CATEGORIES)];
    let highest = rows
        .iter()
        .flat_map(|r| values.iter().filter_map(|&v| number(&r[v])))
        .fold(0.0_f64, f64::max);
    let lowest = rows
        .iter()
        .flat_map(|r| values.iter().filter_map(|&v| number(&r[v])))
        .fold(0.0_f64, f64::min);
    let (y_of, y_ticks) = y_axis(lowest, highest);
    let mut chart = QueryChart::empty(kind, None);
    chart.y_ticks = y_ticks;
    let slot = (WIDTH - LEFT - RIGHT) / rows.len() as f64;
    let width = (slot - 4.0).max(1.0) / values.len() as f64;
    for (i, row) in rows.iter().enumerate() {
        let name = row[label].display();
        let x0 = LEFT + slot * i as f64 + 2.0;
        for (s, &v) in values.iter().enumerate() {
            let Some(value) = number(&row[v]) else { continue };
            let (top, bottom) = (y_of(value.max(0.0)), y_of(value.min(0.0)));
            let title = format!("{name}: {} {}", columns[v].name, short(value));
            chart
                .bars
                .push((x0 + width * s as f64, top, width, (bottom - top).max(1.0), s, title));
        }
        if rows.len() <= 12 || i % (rows.len() / 12 + 1) == 0 {
            chart.x_labels.push((x0, name.chars().take(14).collect()));
        }
    }
    chart.legend = values
        .iter()
        .enumerate()
        .map(|(s, &v)| (s, columns[v].name.clone()))
        .collect();
    chart
}

fn pie(kind: &str, columns: &[Column], rows: &[Vec<Cell>]) -> QueryChart {
    let Some((label, values)) = categories(columns, rows) else {
        return QueryChart::empty(
            kind,
            Some("'render piechart' needs a numeric column to draw".to_string()),
        );
    };
    let value = values[0];
    let mut parts: Vec<(String, f64)> = rows
        .iter()
        .filter_map(|r| number(&r[value]).filter(|v| *v > 0.0).map(|v| (r[label].display(), v)))
        .collect();
    if parts.len() > MAX_SERIES {
        let rest: f64 = parts[MAX_SERIES - 1..].iter().map(|(_, v)| v).sum();
        parts.truncate(MAX_SERIES - 1);
        parts.push(("(the others)".to_string(), rest));
    }
    let total: f64 = parts.iter().map(|(_, v)| v).sum();
    if total <= 0.0 {
        return QueryChart::empty(kind, Some("nothing to draw".to_string()));
    }
    let (cx, cy, r) = (HEIGHT / 2.0, HEIGHT / 2.0, HEIGHT / 2.0 - 10.0);
    let mut chart = QueryChart::empty(kind, None);
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (index, (name, v)) in parts.into_iter().enumerate() {
        let sweep = v / total * std::f64::consts::TAU;
        let title = format!("{name}: {} ({:.1}%)", short(v), v / total * 100.0);
        let path = if sweep >= std::f64::consts::TAU - 1e-9 {
            format!(
                "M {cx} {} A {r} {r} 0 1 1 {cx} {} A {r} {r} 0 1 1 {cx} {} Z",
                cy - r,
                cy + r,
                cy - r
            )
        } else {
            let (x0, y0) = (cx + r * angle.cos(), cy + r * angle.sin());
            let end = angle + sweep;
            let (x1, y1) = (cx + r * end.cos(), cy + r * end.sin());
            let large = i32::from(sweep > std::f64::consts::PI);
            format!("M {cx} {cy} L {x0:.1} {y0:.1} A {r} {r} 0 {large} 1 {x1:.1} {y1:.1} Z")
        };
        angle += sweep;
        chart.slices.push((path, index, title));
        chart.legend.push((index, name));
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: Type) -> Column {
        Column::new(name, ty)
    }

    #[test]
    fn a_timechart_draws_a_line_per_series() {
        let columns = [
            col("TimeGenerated", Type::Datetime),
            col("ConfigChangeType", Type::String),
            col("count_", Type::Long),
        ];
        let row = |t: &str, k: &str, n: i64| vec![Cell::Text(t.into()), Cell::Text(k.into()), Cell::Long(n)];
        let rows = [
            row("2026-11-24T10:00:00.000000Z", "Files", 3),
            row("2026-11-24T11:00:00.000000Z", "Files", 1),
            row("2026-11-24T10:00:00.000000Z", "Software", 2),
        ];
        let chart = chart("timechart", &columns, &rows);
        assert_eq!(chart.lines.len(), 2);
        assert_eq!(chart.marks.len(), 3, "each point marked, a lone one too");
        assert_eq!(chart.legend, [(0, "Files".to_string()), (1, "Software".to_string())]);
        assert_eq!(
            chart.lines[0].0, "52.0,10.0 752.0,147.3",
            "x from first to last time, y from 0 to the highest"
        );
        assert!(chart.note.is_none());
    }

    #[test]
    fn columns_and_pies_by_the_first_string_column() {
        let columns = [col("Publisher", Type::String), col("count_", Type::Long)];
        let rows = [
            vec![Cell::Text("a".into()), Cell::Long(3)],
            vec![Cell::Text("b".into()), Cell::Long(1)],
        ];
        let bars = chart("columnchart", &columns, &rows);
        assert_eq!(bars.bars.len(), 2);
        assert_eq!(bars.bars[0].5, "a: count_ 3");
        let pie = chart("piechart", &columns, &rows);
        assert_eq!(pie.slices.len(), 2);
        assert_eq!(pie.slices[1].2, "b: 1 (25.0%)");
        let table = chart("table", &columns, &rows);
        assert!(!table.is_drawn() && table.note.is_some());
        let nothing = chart("timechart", &columns, &rows);
        assert!(nothing.note.unwrap().contains("needs a datetime column"));
    }
}

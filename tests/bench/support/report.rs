//! The one table a bench program prints (Markdown, so it can be pasted into
//! the README) and a small hand-written SVG line plot.

use std::fmt::Write as _;

#[derive(Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn markdown(&self) -> String {
        let cols = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..cols)
                .map(|i| {
                    let c = cells.get(i).map(String::as_str).unwrap_or("");
                    format!("{c}{}", " ".repeat(widths[i].saturating_sub(c.chars().count())))
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let mut out = line(&self.headers);
        out.push('\n');
        out.push_str(&format!(
            "|{}|\n",
            widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|")
        ));
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// p-th percentile (0..=100) of unsorted values, nearest rank; None if empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank - 1).copied()
}

pub enum Axis {
    Left,
    Right,
}

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub axis: Axis,
    pub points: Vec<(f64, f64)>,
}

pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub left_label: String,
    pub right_label: String,
    pub series: Vec<Series>,
    /// (start, end, label) of each phase, in x units.
    pub phases: Vec<(f64, f64, String)>,
}

const W: f64 = 960.0;
const H: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 72.0;
const BOTTOM: f64 = 50.0;

/// A "nice" upper bound and tick step for values up to `max`.
fn ticks(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

impl Plot {
    pub fn svg(&self) -> String {
        let x_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .chain(self.phases.iter().map(|p| p.1))
            .fold(0.0, f64::max);
        let max_of = |left: bool| {
            self.series
                .iter()
                .filter(|s| matches!(s.axis, Axis::Left) == left)
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .fold(0.0, f64::max)
        };
        let (xm, xs) = ticks(x_max);
        let (lm, ls) = ticks(max_of(true));
        let (rm, rs) = ticks(max_of(false));
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let x = |v: f64| LEFT + v / xm * pw;
        let yl = |v: f64| TOP + ph - v / lm * ph;
        let yr = |v: f64| TOP + ph - v / rm * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>
"#,
            W / 2.0,
            esc(&self.title)
        );
        for (i, (a, b, label)) in self.phases.iter().enumerate() {
            let fill = if i % 2 == 0 { "#f2f2f2" } else { "#e6eef7" };
            let _ = writeln!(
                s,
                r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{ph}" fill="{fill}"/><text x="{:.1}" y="{}" font-size="10" fill="#555">{}</text>"##,
                x(*a),
                (x(*b) - x(*a)).max(0.5),
                x(*a) + 3.0,
                TOP - 4.0 - 11.0 * (i % 2) as f64,
                esc(label)
            );
        }
        let mut v = 0.0;
        while v <= xm + 1e-9 {
            let _ = writeln!(
                s,
                r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ccc"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
                x(v),
                TOP + ph,
                TOP + ph + 5.0,
                TOP + ph + 18.0,
                v
            );
            v += xs;
        }
        for (max, step, left) in [(lm, ls, true), (rm, rs, false)] {
            let mut v = 0.0;
            while v <= max + 1e-9 {
                let y = if left { yl(v) } else { yr(v) };
                let (tx, anchor) = if left {
                    (LEFT - 6.0, "end")
                } else {
                    (W - RIGHT + 6.0, "start")
                };
                if left {
                    let _ = writeln!(
                        s,
                        r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/>"##,
                        W - RIGHT
                    );
                }
                let _ = writeln!(
                    s,
                    r#"<text x="{tx}" y="{:.1}" text-anchor="{anchor}">{v}</text>"#,
                    y + 4.0
                );
                v += step;
            }
        }
        let _ = writeln!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>
<text transform="translate({},{}) rotate(90)" text-anchor="middle">{}</text>"##,
            LEFT + pw / 2.0,
            H - 10.0,
            esc(&self.x_label),
            TOP + ph / 2.0,
            esc(&self.left_label),
            W - 16.0,
            TOP + ph / 2.0,
            esc(&self.right_label)
        );
        for (i, series) in self.series.iter().enumerate() {
            let pts: Vec<String> = series
                .points
                .iter()
                .map(|(px, py)| {
                    let y = match series.axis {
                        Axis::Left => yl(*py),
                        Axis::Right => yr(*py),
                    };
                    format!("{:.1},{y:.1}", x(*px))
                })
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>
<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
                series.color,
                pts.join(" "),
                LEFT + 10.0 + 260.0 * i as f64,
                38.0,
                LEFT + 30.0 + 260.0 * i as f64,
                38.0,
                series.color,
                LEFT + 36.0 + 260.0 * i as f64,
                42.0,
                esc(&series.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

//! Charts as server-rendered SVG: `role="img"` with a title and a
//! description, patterns as well as colours, and always followed on the
//! page by a table of the same figures. Figures stay exact decimals; only
//! pixel positions are computed in floating point.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn px(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

static CHART_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Ids unique within a page for `aria-labelledby`.
fn chart_id(kind: &str) -> String {
    format!(
        "{kind}-{}",
        CHART_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

fn open(kind: &str, w: u32, h: u32, title: &str, desc: &str) -> String {
    let id = chart_id(kind);
    format!(
        r#"<svg class="chart {kind}" role="img" viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMidYMid meet" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        esc(title),
        esc(desc)
    )
}

pub struct RadarAxis {
    pub title: String,
    /// Exact percent of the area maximum.
    pub percent: Decimal,
    /// Revision average, percent of the maximum.
    pub average: Decimal,
    pub percent_shown: String,
    pub average_shown: String,
}

/// Radar of areas (percent of maximum) against the revision average.
pub fn radar(axes: &[RadarAxis], title: &str, desc: &str, this: &str, avg: &str) -> String {
    // Wide enough for the longest area names (end-anchored on the left).
    let (w, h, cx, cy, r) = (960u32, 520u32, 480.0f64, 250.0f64, 170.0f64);
    let mut s = open("radar", w, h, title, desc);
    let n = axes.len().max(1) as f64;
    let pt = |i: usize, pct: f64| {
        let a = std::f64::consts::PI * 2.0 * i as f64 / n - std::f64::consts::FRAC_PI_2;
        let k = pct.clamp(0.0, 100.0) / 100.0 * r;
        (cx + k * a.cos(), cy + k * a.sin())
    };
    for ring in [25.0, 50.0, 75.0, 100.0] {
        let pts: Vec<String> = (0..axes.len())
            .map(|i| {
                let (x, y) = pt(i, ring);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        s.push_str(&format!(
            r##"<polygon points="{}" fill="none" stroke="#b0b0b0" stroke-width="1"/>"##,
            pts.join(" ")
        ));
    }
    for (i, a) in axes.iter().enumerate() {
        let (x, y) = pt(i, 100.0);
        let (lx, ly) = pt(i, 118.0);
        let anchor = if (lx - cx).abs() < 10.0 {
            "middle"
        } else if lx > cx {
            "start"
        } else {
            "end"
        };
        s.push_str(&format!(
            r##"<line x1="{cx}" y1="{cy}" x2="{x:.1}" y2="{y:.1}" stroke="#b0b0b0"/><text x="{lx:.1}" y="{ly:.1}" font-size="13" text-anchor="{anchor}" fill="#1a1a1a">{}</text>"##,
            esc(&a.title)
        ));
    }
    let poly = |f: &dyn Fn(&RadarAxis) -> Decimal| -> String {
        axes.iter()
            .enumerate()
            .map(|(i, a)| {
                let (x, y) = pt(i, px(f(a)));
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The average dashed, the evaluation solid: told apart without colour.
    s.push_str(&format!(
        r##"<polygon points="{}" fill="none" stroke="#5a5a5a" stroke-width="2" stroke-dasharray="6 4"/>"##,
        poly(&|a| a.average)
    ));
    s.push_str(&format!(
        r##"<polygon points="{}" fill="#1f5fa8" fill-opacity="0.25" stroke="#1f5fa8" stroke-width="3"/>"##,
        poly(&|a| a.percent)
    ));
    let ly = h as f64 - 30.0;
    s.push_str(&format!(
        r##"<g font-size="13" fill="#1a1a1a"><line x1="40" y1="{ly}" x2="80" y2="{ly}" stroke="#1f5fa8" stroke-width="3"/><text x="88" y="{}">{}</text><line x1="320" y1="{ly}" x2="360" y2="{ly}" stroke="#5a5a5a" stroke-width="2" stroke-dasharray="6 4"/><text x="368" y="{}">{}</text></g>"##,
        ly + 4.0,
        esc(this),
        ly + 4.0,
        esc(avg)
    ));
    s.push_str("</svg>");
    s
}

/// One box of a box plot: exact figures from the comparison.
pub struct BoxStats {
    pub label: String,
    pub max_points: Decimal,
    pub min: Decimal,
    pub q1: Decimal,
    pub median: Decimal,
    pub q3: Decimal,
    pub max: Decimal,
    /// The chosen municipality's points, if one is highlighted.
    pub highlight: Option<Decimal>,
}

/// Horizontal box plots, each on the scale of its own maximum (percent),
/// so areas with different maxima can share one chart.
pub fn box_plots(boxes: &[BoxStats], title: &str, desc: &str, highlight_label: &str) -> String {
    let row = 34.0f64;
    let (left, right) = (230.0f64, 620.0f64);
    let h = (boxes.len() as f64 * row + 60.0) as u32;
    let mut s = open("boxplot", 660, h, title, desc);
    let x = |v: Decimal, max: Decimal| {
        let p = if max.is_zero() { 0.0 } else { px(v / max) };
        left + p.clamp(0.0, 1.0) * (right - left)
    };
    for tick in 0..=4 {
        let tx = left + (right - left) * tick as f64 / 4.0;
        s.push_str(&format!(
            r##"<line x1="{tx:.1}" y1="10" x2="{tx:.1}" y2="{}" stroke="#d0d0d0"/><text x="{tx:.1}" y="{}" font-size="12" text-anchor="middle" fill="#1a1a1a">{} %</text>"##,
            h as f64 - 30.0,
            h as f64 - 14.0,
            tick * 25
        ));
    }
    for (i, b) in boxes.iter().enumerate() {
        let y = 20.0 + i as f64 * row;
        let m = b.max_points;
        let (x0, x1, xm, x3, x4) = (
            x(b.min, m),
            x(b.q1, m),
            x(b.median, m),
            x(b.q3, m),
            x(b.max, m),
        );
        s.push_str(&format!(
            r##"<text x="{}" y="{:.1}" font-size="13" text-anchor="end" fill="#1a1a1a">{}</text><line x1="{x0:.1}" y1="{:.1}" x2="{x4:.1}" y2="{:.1}" stroke="#1a1a1a"/><line x1="{x0:.1}" y1="{:.1}" x2="{x0:.1}" y2="{:.1}" stroke="#1a1a1a"/><line x1="{x4:.1}" y1="{:.1}" x2="{x4:.1}" y2="{:.1}" stroke="#1a1a1a"/><rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="18" fill="#cfe0f5" stroke="#1f5fa8"/><line x1="{xm:.1}" y1="{:.1}" x2="{xm:.1}" y2="{:.1}" stroke="#1a1a1a" stroke-width="3"/>"##,
            left - 8.0,
            y + 13.0,
            esc(&b.label),
            y + 9.0,
            y + 9.0,
            y + 3.0,
            y + 15.0,
            y + 3.0,
            y + 15.0,
            y,
            (x3 - x1).max(1.0),
            y - 2.0,
            y + 20.0,
        ));
        if let Some(v) = b.highlight {
            let hx = x(v, m);
            // A diamond, not only a colour.
            s.push_str(&format!(
                r##"<path d="M{hx:.1} {:.1} l7 9 l-7 9 l-7 -9 z" fill="#b3261e" stroke="#ffffff"><title>{}</title></path>"##,
                y,
                esc(highlight_label)
            ));
        }
    }
    s.push_str("</svg>");
    s
}

/// A histogram: bars with their counts written on them.
pub fn histogram(bins: &[(String, i32)], title: &str, desc: &str) -> String {
    let (w, h) = (660u32, 260u32);
    let mut s = open("histogram", w, h, title, desc);
    let max = bins.iter().map(|b| b.1).max().unwrap_or(0).max(1) as f64;
    let n = bins.len().max(1) as f64;
    let (left, right, top, bottom) = (20.0f64, 640.0f64, 20.0f64, 200.0f64);
    let bw = (right - left) / n;
    let pid = chart_id("hatch");
    s.push_str(&format!(r##"<defs><pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#cfe0f5"/><line x1="0" y1="0" x2="0" y2="6" stroke="#1f5fa8" stroke-width="2"/></pattern></defs>"##));
    for (i, (label, count)) in bins.iter().enumerate() {
        let bh = (*count as f64 / max) * (bottom - top);
        let x = left + i as f64 * bw;
        s.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="url(#{pid})" stroke="#1f5fa8"/><text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle" fill="#1a1a1a">{count}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#1a1a1a">{}</text>"##,
            x + 1.0,
            bottom - bh,
            (bw - 2.0).max(1.0),
            x + bw / 2.0,
            bottom - bh - 4.0,
            x + bw / 2.0,
            bottom + 16.0 + if i % 2 == 1 { 14.0 } else { 0.0 },
            esc(label)
        ));
    }
    s.push_str(&format!(
        r##"<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#1a1a1a"/></svg>"##
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_labelled_images() {
        let svg = histogram(&[("0–10".into(), 2), ("10–20".into(), 0)], "T <x>", "D");
        assert!(svg.starts_with("<svg class=\"chart histogram\" role=\"img\""));
        assert!(svg.contains("<title id=") && svg.contains("T &lt;x&gt;</title>"));
        assert!(svg.contains("<desc id="));
    }
}

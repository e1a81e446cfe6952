//! The radar (*resultatprofil*): one geometry, drawn as SVG with plotters and
//! with the PDF library's own line primitives, so the PDF gets vector
//! graphics too.

use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// One series: percent of maximum per axis.
pub struct Series {
    pub label: String,
    pub values: Vec<Decimal>,
    pub rgb: (u8, u8, u8),
}

/// Unit direction of axis `i` of `n`: first axis straight up, clockwise;
/// `(dx, dy)` with y pointing up.
pub fn direction(i: usize, n: usize) -> (f64, f64) {
    let a = std::f64::consts::TAU * i as f64 / n.max(1) as f64;
    (a.sin(), a.cos())
}

/// Points of a series around a centre, radius `r` for 100 %; y points up.
pub fn polygon(values: &[Decimal], cx: f64, cy: f64, r: f64) -> Vec<(f64, f64)> {
    let n = values.len();
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = (v.to_f64().unwrap_or(0.0) / 100.0).clamp(0.0, 1.0);
            let (dx, dy) = direction(i, n);
            (cx + dx * r * f, cy + dy * r * f)
        })
        .collect()
}

/// Grid rings at 20 %, 40 % … 100 %.
pub const RINGS: [i64; 5] = [20, 40, 60, 80, 100];

/// The chart as SVG.
pub fn svg(title: &str, axes: &[String], series: &[Series]) -> String {
    let (w, h) = (640u32, 600u32);
    let (cx, cy, r) = (320.0, 320.0, 210.0);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let n = axes.len();
        // Screen coordinates: y grows downwards.
        let scr = |(x, y): (f64, f64)| ((x) as i32, (2.0 * cy - y) as i32);
        let _ = root.draw(&Text::new(
            title.to_string(),
            (20, 16),
            ("sans-serif", 18).into_font(),
        ));
        for ring in RINGS {
            let pts = polygon(&vec![Decimal::from(ring); n], cx, cy, r);
            let mut p: Vec<(i32, i32)> = pts.iter().copied().map(scr).collect();
            if let Some(f) = p.first().copied() {
                p.push(f);
            }
            let _ = root.draw(&PathElement::new(p, RGBColor(200, 200, 200)));
        }
        for (i, label) in axes.iter().enumerate() {
            let (dx, dy) = direction(i, n);
            let end = scr((cx + dx * r, cy + dy * r));
            let _ = root.draw(&PathElement::new(
                vec![scr((cx, cy)), end],
                RGBColor(170, 170, 170),
            ));
            let lab = scr((cx + dx * (r + 22.0), cy + dy * (r + 22.0)));
            let _ = root.draw(&Text::new(
                label.clone(),
                (lab.0 - 4 * label.chars().count().min(30) as i32, lab.1),
                ("sans-serif", 13).into_font(),
            ));
        }
        for (k, s) in series.iter().enumerate() {
            let color = RGBColor(s.rgb.0, s.rgb.1, s.rgb.2);
            let pts: Vec<(i32, i32)> = polygon(&s.values, cx, cy, r).into_iter().map(scr).collect();
            if k == 0 {
                let _ = root.draw(&Polygon::new(pts.clone(), color.mix(0.15).filled()));
            }
            let mut closed = pts.clone();
            if let Some(f) = pts.first().copied() {
                closed.push(f);
            }
            let _ = root.draw(&PathElement::new(closed, color.stroke_width(2)));
            let ly = h as i32 - 20 - 18 * (series.len() - 1 - k) as i32;
            let _ = root.draw(&PathElement::new(
                vec![(20, ly), (44, ly)],
                color.stroke_width(3),
            ));
            let _ = root.draw(&Text::new(
                s.label.clone(),
                (52, ly - 7),
                ("sans-serif", 13).into_font(),
            ));
        }
        let _ = root.present();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_axis_points_up_and_full_value_reaches_the_rim() {
        let p = polygon(&[Decimal::from(100), Decimal::from(50)], 0.0, 0.0, 10.0);
        assert!((p[0].0).abs() < 1e-9 && (p[0].1 - 10.0).abs() < 1e-9);
        assert!((p[1].1 + 5.0).abs() < 1e-9);
        let s = svg(
            "Profil",
            &["Område 1".into(), "Område 2".into(), "Område 3".into()],
            &[Series {
                label: "Östra".into(),
                values: vec![Decimal::from(50); 3],
                rgb: (0, 90, 160),
            }],
        );
        assert!(s.starts_with("<svg") && s.contains("Östra") && s.contains("polygon"));
    }
}

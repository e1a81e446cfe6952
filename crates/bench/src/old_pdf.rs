//! The previous PDF exporter (printpdf, hand laid out, untagged), kept only
//! long enough to be measured beside the Typst engine in the same run.
//!
//! PDF export (A4) with printpdf: embedded DejaVu Sans (å, ä, ö and the
//! rest of Nordic text), wrapped paragraphs, tables that break between rows
//! and repeat their header on the next page, and the radar drawn with the
//! PDF's own line primitives from the same geometry as the SVG.

use std::sync::OnceLock;

use kompass_proto::reporting::v1 as pb;
use printpdf::{
    Color, FontId, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle,
    PdfPage, PdfSaveOptions, Point, Polygon, PolygonRing, Pt, Rgb, TextItem, WindingOrder,
};
use rust_decimal::Decimal;

use kompass_reporting::{radar, report_series};

const W: f32 = 595.28;
const H: f32 = 841.89;
const MARGIN: f32 = 50.0;
const BOTTOM: f32 = H - 60.0;

struct Fonts {
    regular: ParsedFont,
    bold: ParsedFont,
}

fn fonts() -> &'static Fonts {
    static F: OnceLock<Fonts> = OnceLock::new();
    F.get_or_init(|| {
        let mut w = vec![];
        Fonts {
            regular: ParsedFont::from_bytes(dejavu::sans::regular(), 0, &mut w)
                .expect("DejaVu Sans parses"),
            bold: ParsedFont::from_bytes(dejavu::sans::bold(), 0, &mut w)
                .expect("DejaVu Sans Bold parses"),
        }
    })
}

fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color::Rgb(Rgb {
        r: r as f32 / 255.0,
        g: g as f32 / 255.0,
        b: b as f32 / 255.0,
        icc_profile: None,
    })
}

fn pt(x: f32, y_from_top: f32) -> LinePoint {
    LinePoint {
        p: Point {
            x: Pt(x),
            y: Pt(H - y_from_top),
        },
        bezier: false,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Align {
    Left,
    Right,
}

struct Writer {
    doc: PdfDocument,
    regular: FontId,
    bold: FontId,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    y: f32,
    footer: String,
}

impl Writer {
    fn new(title: &str, footer: String) -> Writer {
        let mut doc = PdfDocument::new(title);
        let f = fonts();
        let regular = doc.add_font(&f.regular);
        let bold = doc.add_font(&f.bold);
        Writer {
            doc,
            regular,
            bold,
            pages: vec![],
            ops: vec![],
            y: MARGIN,
            footer,
        }
    }

    fn width(&self, s: &str, size: f32, bold: bool) -> f32 {
        let f = if bold {
            &fonts().bold
        } else {
            &fonts().regular
        };
        let upm = f.units_per_em.max(1) as f32;
        s.chars()
            .map(|c| {
                f.lookup_glyph_index(c as u32)
                    .and_then(|g| f.get_glyph_width(g))
                    .map(|w| w as f32 / upm * size)
                    .unwrap_or(size * 0.55)
            })
            .sum()
    }

    /// Splits text into lines no wider than `max`.
    fn wrap(&self, text: &str, max: f32, size: f32, bold: bool) -> Vec<String> {
        let mut lines = vec![];
        for para in text.split('\n') {
            let mut cur = String::new();
            for word in para.split_whitespace() {
                let cand = if cur.is_empty() {
                    word.to_string()
                } else {
                    format!("{cur} {word}")
                };
                if self.width(&cand, size, bold) <= max || cur.is_empty() {
                    cur = cand;
                } else {
                    lines.push(std::mem::take(&mut cur));
                    cur = word.to_string();
                }
                // A single word wider than the column is cut.
                while self.width(&cur, size, bold) > max && cur.chars().count() > 1 {
                    let mut head = String::new();
                    for ch in cur.chars() {
                        if self.width(&format!("{head}{ch}"), size, bold) > max {
                            break;
                        }
                        head.push(ch);
                    }
                    if head.is_empty() {
                        break;
                    }
                    let rest = cur[head.len()..].to_string();
                    lines.push(head);
                    cur = rest;
                }
            }
            lines.push(cur);
        }
        lines
    }

    fn text(&mut self, x: f32, baseline: f32, size: f32, bold: bool, s: &str) {
        if s.is_empty() {
            return;
        }
        let font = if bold {
            self.bold.clone()
        } else {
            self.regular.clone()
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::External(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point {
                    x: Pt(x),
                    y: Pt(H - baseline),
                },
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    fn line(&mut self, pts: Vec<LinePoint>, closed: bool, color: Color, width: f32) {
        self.ops.extend([
            Op::SetOutlineColor { col: color },
            Op::SetOutlineThickness { pt: Pt(width) },
            Op::DrawLine {
                line: Line {
                    points: pts,
                    is_closed: closed,
                },
            },
        ]);
    }

    fn fill(&mut self, pts: Vec<LinePoint>, color: Color) {
        self.ops.extend([
            Op::SetFillColor { col: color },
            Op::DrawPolygon {
                polygon: Polygon {
                    rings: vec![PolygonRing { points: pts }],
                    mode: PaintMode::Fill,
                    winding_order: WindingOrder::NonZero,
                },
            },
            Op::SetFillColor { col: rgb(0, 0, 0) },
        ]);
    }

    fn new_page(&mut self) {
        let n = self.pages.len() + 1;
        let footer = format!("{} – {n}", self.footer);
        self.text(MARGIN, H - 30.0, 8.0, false, &footer);
        let ops = std::mem::take(&mut self.ops);
        self.pages.push(PdfPage::new(Mm(210.0), Mm(297.0), ops));
        self.y = MARGIN;
    }

    fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn heading(&mut self, s: &str, size: f32) {
        self.ensure(size * 3.0);
        self.y += size * 0.8;
        let lines = self.wrap(s, W - 2.0 * MARGIN, size, true);
        for l in lines {
            self.y += size * 1.2;
            self.text(MARGIN, self.y, size, true, &l);
        }
        self.y += size * 0.5;
    }

    fn paragraph(&mut self, s: &str, size: f32, bold: bool) {
        let lines = self.wrap(s, W - 2.0 * MARGIN, size, bold);
        for l in lines {
            self.ensure(size * 1.4);
            self.y += size * 1.4;
            self.text(MARGIN, self.y, size, bold, &l);
        }
        self.y += size * 0.6;
    }

    /// A table; rows never split, the header repeats after a page break.
    fn table(&mut self, cols: &[(f32, Align)], header: &[String], rows: &[(Vec<String>, bool)]) {
        let size = 9.0;
        let lh = size * 1.3;
        let total: f32 = cols.iter().map(|c| c.0).sum();
        let scale = (W - 2.0 * MARGIN) / total;
        let widths: Vec<f32> = cols.iter().map(|c| c.0 * scale).collect();
        let draw_row = |w: &mut Writer, cells: &[String], bold: bool, shade: bool| {
            let wrapped: Vec<Vec<String>> = cells
                .iter()
                .zip(&widths)
                .map(|(c, cw)| w.wrap(c, cw - 6.0, size, bold))
                .collect();
            let n = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let h = n as f32 * lh + 6.0;
            (wrapped, h, shade)
        };
        let emit = |w: &mut Writer, wrapped: Vec<Vec<String>>, h: f32, bold: bool, shade: bool| {
            let top = w.y;
            if shade {
                w.fill(
                    vec![
                        pt(MARGIN, top),
                        pt(W - MARGIN, top),
                        pt(W - MARGIN, top + h),
                        pt(MARGIN, top + h),
                    ],
                    rgb(230, 236, 243),
                );
            }
            let mut x = MARGIN;
            for ((lines, cw), (_, align)) in wrapped.iter().zip(&widths).zip(cols) {
                for (i, l) in lines.iter().enumerate() {
                    let tx = if *align == Align::Right {
                        x + cw - 3.0 - w.width(l, size, bold)
                    } else {
                        x + 3.0
                    };
                    w.text(tx, top + 3.0 + (i as f32 + 1.0) * lh - 3.0, size, bold, l);
                }
                x += cw;
            }
            w.y = top + h;
            w.line(
                vec![pt(MARGIN, w.y), pt(W - MARGIN, w.y)],
                false,
                rgb(180, 180, 180),
                0.5,
            );
        };
        let (hw, hh, _) = draw_row(self, header, true, true);
        self.ensure(hh + lh * 2.0);
        emit(self, hw.clone(), hh, true, true);
        for (cells, bold) in rows {
            let (wr, h, _) = draw_row(self, cells, *bold, false);
            if self.y + h > BOTTOM {
                self.new_page();
                emit(self, hw.clone(), hh, true, true);
            }
            emit(self, wr, h, *bold, false);
        }
        self.y += 8.0;
    }

    fn radar(&mut self, axes: &[String], series: &[radar::Series]) {
        let size = 250.0;
        self.ensure(size + 40.0);
        let r = 85.0_f64;
        let cx = (W / 2.0) as f64;
        let cy_top = self.y + 20.0 + size / 2.0;
        // Geometry works with y up; convert to "from top".
        let cy = (H - cy_top) as f64;
        let to_pt = |(x, y): (f64, f64)| LinePoint {
            p: Point {
                x: Pt(x as f32),
                y: Pt(y as f32),
            },
            bezier: false,
        };
        let n = axes.len();
        for ring in radar::RINGS {
            let pts = radar::polygon(&vec![Decimal::from(ring); n], cx, cy, r);
            self.line(
                pts.into_iter().map(to_pt).collect(),
                true,
                rgb(200, 200, 200),
                0.5,
            );
        }
        for (i, label) in axes.iter().enumerate() {
            let (dx, dy) = radar::direction(i, n);
            self.line(
                vec![to_pt((cx, cy)), to_pt((cx + dx * r, cy + dy * r))],
                false,
                rgb(170, 170, 170),
                0.5,
            );
            let lx = cx + dx * (r + 12.0);
            let ly = cy + dy * (r + 12.0);
            let lw = self.width(label, 7.0, false) as f64;
            let x = if dx.abs() < 0.2 {
                lx - lw / 2.0
            } else if dx < 0.0 {
                lx - lw
            } else {
                lx
            };
            self.text(x as f32, H - ly as f32 + 3.0, 7.0, false, label);
        }
        for s in series {
            let c = rgb(s.rgb.0, s.rgb.1, s.rgb.2);
            let pts: Vec<LinePoint> = radar::polygon(&s.values, cx, cy, r)
                .into_iter()
                .map(to_pt)
                .collect();
            self.line(pts, true, c, 1.5);
        }
        let mut ly = cy_top + size / 2.0 - 10.0;
        for s in series {
            let c = rgb(s.rgb.0, s.rgb.1, s.rgb.2);
            self.line(
                vec![pt(MARGIN, ly - 3.0), pt(MARGIN + 20.0, ly - 3.0)],
                false,
                c,
                2.0,
            );
            self.text(MARGIN + 26.0, ly, 8.0, false, &s.label);
            ly += 11.0;
        }
        self.y = ly + 6.0;
    }

    fn finish(mut self) -> Vec<u8> {
        self.new_page();
        let mut warnings = vec![];
        self.doc
            .with_pages(std::mem::take(&mut self.pages))
            .save(&PdfSaveOptions::default(), &mut warnings)
    }
}

struct L {
    en: bool,
}

impl L {
    fn t<'a>(&self, sv: &'a str, en: &'a str) -> &'a str {
        if self.en { en } else { sv }
    }
}

fn fig(f: &Option<pb::Figure>) -> pb::Figure {
    f.clone().unwrap_or_default()
}

/// The report as PDF.
pub fn render(r: &pb::EvaluationReport, previous: Option<&pb::RadarProfile>) -> Vec<u8> {
    let l = L {
        en: r.language == "en",
    };
    let footer = format!(
        "Kommunkompassen – {} – {}",
        r.tenant_display_name, r.evaluation_date
    );
    let mut w = Writer::new(
        &format!("Kommunkompassen {}", r.tenant_display_name),
        footer,
    );

    // 1. Title and how the evaluation was done.
    w.y += 30.0;
    w.text(MARGIN, w.y, 26.0, true, "Kommunkompassen");
    w.y += 34.0;
    let name = r.tenant_display_name.clone();
    w.text(MARGIN, w.y, 20.0, true, &name);
    w.y += 12.0;
    let sub = format!(
        "{} – {} {} – {}",
        r.title,
        l.t("utvärdering", "evaluation"),
        r.evaluation_date,
        r.framework_title
    );
    w.paragraph(&sub, 11.0, false);
    w.heading(l.t("Om Kommunkompassen", "About Kommunkompassen"), 13.0);
    w.paragraph(
        l.t(
            "Kommunkompassen är ett verktyg för att analysera hur en kommun leds och fungerar. \
             Utvärderingen bygger på intervjuer, dokument och kommunens webbplats och ger poäng \
             per fråga inom åtta huvudområden om vardera 100 poäng, 800 poäng totalt.",
            "Kommunkompassen is a tool for analysing how a municipality is led and works. The \
             evaluation draws on interviews, documents and the municipality's website and gives \
             points per question in eight main areas of 100 points each, 800 points in total.",
        ),
        10.0,
        false,
    );
    let evaluators = r
        .evaluators
        .iter()
        .map(|e| e.display_name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    w.paragraph(
        &format!(
            "{}: {}. {}: {}. {}: {}.",
            l.t("Utvärderingsdatum", "Evaluation date"),
            r.evaluation_date,
            l.t("Intervjuer", "Interviews"),
            r.interview_count,
            l.t("Utvärderare", "Evaluators"),
            if evaluators.is_empty() {
                "–".into()
            } else {
                evaluators
            }
        ),
        10.0,
        false,
    );

    // 2. Summary.
    let total = fig(&r.total);
    w.heading(l.t("Sammanfattning", "Summary"), 15.0);
    w.paragraph(
        &format!(
            "{}: {} {} {} ({} %)",
            l.t("Totalt", "Total"),
            total.display_points,
            l.t("av", "of"),
            total.max_points,
            total.display_percent
        ),
        11.0,
        true,
    );
    let avg_head = l.t("Snitt", "Average").to_string();
    let mut rows: Vec<(Vec<String>, bool)> = r
        .areas
        .iter()
        .map(|a| {
            let f = fig(&a.figure);
            let avg = a
                .average_points
                .parse::<Decimal>()
                .map(|d| kompass_scoring::round_display(d).to_string())
                .unwrap_or_default();
            (
                vec![
                    format!("{}. {}", a.area, a.title),
                    f.display_points,
                    f.max_points,
                    format!("{} %", f.display_percent),
                    avg,
                ],
                false,
            )
        })
        .collect();
    let avg_total = r
        .average_total
        .parse::<Decimal>()
        .map(|d| kompass_scoring::round_display(d).to_string())
        .unwrap_or_default();
    rows.push((
        vec![
            l.t("Totalt", "Total").into(),
            total.display_points.clone(),
            total.max_points.clone(),
            format!("{} %", total.display_percent),
            avg_total,
        ],
        true,
    ));
    w.table(
        &[
            (50.0, Align::Left),
            (12.0, Align::Right),
            (10.0, Align::Right),
            (12.0, Align::Right),
            (12.0, Align::Right),
        ],
        &[
            l.t("Område", "Area").into(),
            l.t("Poäng", "Points").into(),
            "Max".into(),
            l.t("Procent", "Percent").into(),
            avg_head,
        ],
        &rows,
    );
    w.ensure(330.0);
    w.heading(l.t("Resultatprofil", "Result profile"), 13.0);
    let (axes, series) = report_series(r, previous);
    w.radar(&axes, &series);

    // 3. Per area.
    for a in &r.areas {
        let f = fig(&a.figure);
        w.heading(
            &format!(
                "{}. {} – {} {}",
                a.area,
                a.title,
                f.display_points,
                l.t("poäng", "points")
            ),
            14.0,
        );
        if !a.general_text.is_empty() {
            w.heading(l.t("Allmänt", "General"), 11.0);
            w.paragraph(&a.general_text, 10.0, false);
        }
        for h in &a.headings {
            w.heading(&h.title, 11.0);
            w.paragraph(&h.text, 10.0, false);
        }
        let n = a.strengths.len().max(a.improvement_opportunities.len());
        if n > 0 {
            let rows: Vec<(Vec<String>, bool)> = (0..n)
                .map(|i| {
                    (
                        vec![
                            a.strengths.get(i).cloned().unwrap_or_default(),
                            a.improvement_opportunities
                                .get(i)
                                .cloned()
                                .unwrap_or_default(),
                        ],
                        false,
                    )
                })
                .collect();
            w.table(
                &[(50.0, Align::Left), (50.0, Align::Left)],
                &[
                    l.t("Styrkor", "Strengths").into(),
                    l.t("Förbättringsmöjligheter", "Improvement opportunities")
                        .into(),
                ],
                &rows,
            );
        }
    }

    // 4. Overview per area.
    w.new_page();
    w.heading(l.t("Översikt per område", "Overview per area"), 15.0);
    for a in &r.areas {
        w.heading(&format!("{}. {}", a.area, a.title), 11.0);
        let f = fig(&a.figure);
        let mut rows: Vec<(Vec<String>, bool)> = a
            .questions
            .iter()
            .map(|q| {
                let qf = fig(&q.figure);
                (
                    vec![
                        q.question.clone(),
                        q.text.clone(),
                        qf.display_points,
                        qf.max_points,
                        format!("{} %", qf.display_percent),
                    ],
                    false,
                )
            })
            .collect();
        rows.push((
            vec![
                String::new(),
                l.t("Summa", "Total").into(),
                f.display_points,
                f.max_points,
                format!("{} %", f.display_percent),
            ],
            true,
        ));
        w.table(
            &[
                (8.0, Align::Left),
                (60.0, Align::Left),
                (11.0, Align::Right),
                (8.0, Align::Right),
                (11.0, Align::Right),
            ],
            &[
                l.t("Fråga", "Question").into(),
                l.t("Frågetext", "Question text").into(),
                l.t("Uppnått", "Achieved").into(),
                "Max".into(),
                l.t("Procent", "Percent").into(),
            ],
            &rows,
        );
    }

    // 5. Provenance of an imported result, and the seal.
    if let Some(i) = &r.import_record {
        w.heading(l.t("Importerat resultat", "Imported result"), 11.0);
        let role = match i.role.as_str() {
            "operator" => l.t("plattformens operatör", "the platform operator"),
            "tenant_admin" => l.t("kommunens administratör", "the municipality's admin"),
            _ => "",
        };
        let when = i
            .import_time
            .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        w.paragraph(
            &format!(
                "{} {} ({role}) {when}. {}: {}",
                l.t("Importerat av", "Imported by"),
                i.imported_by,
                l.t("Källa", "Source"),
                i.source
            ),
            9.0,
            false,
        );
    }
    if let Some(s) = &r.seal {
        w.heading(l.t("Publiceringssigill", "Publication seal"), 11.0);
        w.paragraph(
            &format!("{} {} ({})", s.algorithm, s.digest, s.canonicalization),
            8.0,
            false,
        );
    }
    w.finish()
}

//! XLSX (rust_xlsxwriter) and CSV exports of a report, and the open dataset.

use kompass_proto::reporting::v1 as pb;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use rust_xlsxwriter::{Color, Format, FormatBorder, Workbook, XlsxError};

fn num(s: &str) -> f64 {
    s.parse::<Decimal>()
        .ok()
        .and_then(|d| d.to_f64())
        .unwrap_or(0.0)
}

fn fig(f: &Option<pb::Figure>) -> pb::Figure {
    f.clone().unwrap_or_default()
}

/// Percent string of the report ("84.5") as the fraction a spreadsheet's
/// percent format expects (0.845).
fn fraction(s: &str) -> f64 {
    s.parse::<Decimal>()
        .ok()
        .and_then(|d| (d / Decimal::from(100)).to_f64())
        .unwrap_or(0.0)
}

/// Widest column the autofit may give (characters); longer texts wrap.
const MAX_WIDTH: u32 = 70;

/// Summary sheet plus one sheet per area. Points are real numbers shown with
/// two decimals (exact values of the report), percents real fractions in
/// percent format; the display columns are the rounded figures the printed
/// report shows. Header rows stay frozen and columns fit their contents.
pub fn xlsx(r: &pb::EvaluationReport) -> Result<Vec<u8>, XlsxError> {
    let en = r.language == "en";
    let t = |sv: &'static str, e: &'static str| if en { e } else { sv };
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let head = Format::new()
        .set_bold()
        .set_background_color(Color::RGB(0xE6ECF3))
        .set_border_bottom(FormatBorder::Thin);
    let two = Format::new().set_num_format("0.00");
    let whole = Format::new().set_num_format("0");
    let percent = Format::new().set_num_format("0.00%");
    let percent_whole = Format::new().set_num_format("0%");
    let two_bold = two.clone().set_bold();
    let whole_bold = whole.clone().set_bold();
    let percent_bold = percent.clone().set_bold();
    let percent_whole_bold = percent_whole.clone().set_bold();
    let wrap = Format::new().set_text_wrap();
    // One figure in columns `c..c+5`: points, max, percent, rounded points,
    // rounded percent.
    let figure = |s: &mut rust_xlsxwriter::Worksheet,
                  row: u32,
                  c: u16,
                  f: &pb::Figure,
                  strong: bool|
     -> Result<(), XlsxError> {
        let (p, w, pc, pw) = if strong {
            (&two_bold, &whole_bold, &percent_bold, &percent_whole_bold)
        } else {
            (&two, &whole, &percent, &percent_whole)
        };
        s.write_number_with_format(row, c, num(&f.points), p)?;
        s.write_number_with_format(row, c + 1, num(&f.max_points), w)?;
        s.write_number_with_format(row, c + 2, fraction(&f.percent), pc)?;
        s.write_number_with_format(row, c + 3, num(&f.display_points), w)?;
        s.write_number_with_format(row, c + 4, fraction(&f.display_percent), pw)?;
        Ok(())
    };
    {
        let s = wb.add_worksheet();
        s.set_name(t("Sammanfattning", "Summary"))?;
        s.write_string_with_format(0, 0, "Kommunkompassen", &bold)?;
        let info = [
            (t("Kommun", "Municipality"), r.tenant_display_name.clone()),
            (
                t("Kommunkod", "Municipality code"),
                r.municipality_code.clone(),
            ),
            (t("Utvärdering", "Evaluation"), r.title.clone()),
            (t("Datum", "Date"), r.evaluation_date.clone()),
            (t("Ramverk", "Framework"), r.framework_version.clone()),
            (
                t("Sigill", "Seal"),
                r.seal
                    .as_ref()
                    .map(|s| s.digest.clone())
                    .unwrap_or_default(),
            ),
        ];
        for (i, (k, v)) in info.iter().enumerate() {
            s.write_string(i as u32 + 1, 0, *k)?;
            s.write_string(i as u32 + 1, 1, v)?;
        }
        let header = 8;
        for (c, h) in [
            t("Område", "Area"),
            t("Namn", "Name"),
            t("Poäng", "Points"),
            "Max",
            t("Procent", "Percent"),
            t("Poäng (avrundat)", "Points (rounded)"),
            t("Procent (avrundat)", "Percent (rounded)"),
            t("Snitt revision", "Revision average"),
        ]
        .iter()
        .enumerate()
        {
            s.write_string_with_format(header, c as u16, *h, &head)?;
        }
        let mut row = header + 1;
        for a in &r.areas {
            s.write_string(row, 0, &a.area)?;
            s.write_string(row, 1, &a.title)?;
            figure(s, row, 2, &fig(&a.figure), false)?;
            if !a.average_points.is_empty() {
                s.write_number_with_format(row, 7, num(&a.average_points), &two)?;
            }
            row += 1;
        }
        s.write_string_with_format(row, 0, t("Totalt", "Total"), &bold)?;
        figure(s, row, 2, &fig(&r.total), true)?;
        if !r.average_total.is_empty() {
            s.write_number_with_format(row, 7, num(&r.average_total), &two_bold)?;
        }
        s.set_freeze_panes(header + 1, 0)?;
        s.set_autofit_max_width(MAX_WIDTH);
        s.autofit();
        // The seal's 64 hex digits must not widen the name column.
        s.set_column_width(1, 45)?;
    }
    for a in &r.areas {
        let s = wb.add_worksheet();
        s.set_name(format!("{} {}", t("Område", "Area"), a.area))?;
        s.write_string_with_format(0, 0, format!("{}. {}", a.area, a.title), &bold)?;
        for (c, h) in [
            t("Fråga", "Question"),
            t("Frågetext", "Question text"),
            t("Uppnått", "Achieved"),
            "Max",
            t("Procent", "Percent"),
            t("Uppnått (avrundat)", "Achieved (rounded)"),
            t("Procent (avrundat)", "Percent (rounded)"),
        ]
        .iter()
        .enumerate()
        {
            s.write_string_with_format(2, c as u16, *h, &head)?;
        }
        let mut row = 3;
        for q in &a.questions {
            s.write_string(row, 0, &q.question)?;
            s.write_string_with_format(row, 1, &q.text, &wrap)?;
            figure(s, row, 2, &fig(&q.figure), false)?;
            row += 1;
        }
        s.write_string_with_format(row, 1, t("Summa", "Total"), &bold)?;
        figure(s, row, 2, &fig(&a.figure), true)?;
        s.set_freeze_panes(3, 0)?;
        s.set_autofit_max_width(MAX_WIDTH);
        s.autofit();
        // The title in A1 spans the sheet; it must not widen column A.
        s.set_column_width(0, 9)?;
    }
    wb.save_to_buffer()
}

/// Whether `s` is a plain decimal number (`-12.5`): spreadsheets read it as
/// a number, never as a formula, so it is written as it is.
fn plain_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// One CSV cell, quoted when needed and safe to open in a spreadsheet: a
/// cell starting with `=`, `+`, `-`, `@`, tab or carriage return would be
/// run as a formula (CSV injection), so it gets a leading `'`, which
/// spreadsheets show as text and hide. Plain numbers such as `-12.5` stay
/// numbers. Every CSV the platform writes goes through here.
pub fn csv_field(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number(s);
    let s = if risky {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r', '\t']) || risky {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One row per question, then one per area and the total (`question` empty).
pub fn csv(r: &pb::EvaluationReport) -> String {
    let mut out = String::from(
        "evaluation,area,question,question_text,points,max_points,percent,display_points,display_percent\n",
    );
    let mut row = |area: &str, q: &str, text: &str, f: &pb::Figure| {
        out.push_str(
            &[
                r.evaluation.as_str(),
                area,
                q,
                text,
                &f.points,
                &f.max_points,
                &f.percent,
                &f.display_points,
                &f.display_percent,
            ]
            .map(csv_field)
            .join(","),
        );
        out.push('\n');
    };
    for a in &r.areas {
        for q in &a.questions {
            row(&a.area, &q.question, &q.text, &fig(&q.figure));
        }
    }
    for a in &r.areas {
        row(&a.area, "", &a.title, &fig(&a.figure));
    }
    row("", "", "", &fig(&r.total));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use kompass_frameworks::Framework;
    use kompass_proto::assessment::v1 as apb;

    /// A published event for Östra on the built-in framework: each question
    /// gets 84 % of its maximum, area 1 also texts.
    pub fn sample() -> (apb::EvaluationPublishedEvent, Framework) {
        let fw = Framework::builtin().clone();
        let questions = fw
            .questions()
            .map(|(a, q)| apb::PublishedQuestion {
                question: q.id.clone(),
                area: a.id.clone(),
                points: kompass_scoring::format_points(
                    q.max_points * rust_decimal::Decimal::new(84, 2),
                ),
                max_points: q.max_points.normalize().to_string(),
            })
            .collect();
        let content = apb::PublishedContent {
            tenant: "tenants/ostra".into(),
            tenant_display_name: "Östra Göinge kommun".into(),
            evaluation: "tenants/ostra/evaluations/e1".into(),
            title: "Kommunkompassen 2026".into(),
            kind: apb::EvaluationKind::External as i32,
            framework_version: crate::report::BUILTIN.into(),
            evaluation_date: "2026-10-01".into(),
            questions,
            areas: vec![apb::PublishedArea {
                area: "1".into(),
                general_text: "Kommunen för en öppen dialog med invånarna. ".repeat(40),
                heading_texts: vec![apb::HeadingText {
                    heading: 1,
                    text: "Det finns en strategi för demokratiutveckling.".into(),
                }],
                strengths: vec!["Medborgarpaneler i alla kommundelar".into(); 30],
                improvement_opportunities: vec![],
            }],
            ..Default::default()
        };
        (
            apb::EvaluationPublishedEvent {
                event_id: String::new(),
                seal: Some(kompass_seal::seal_of(&content, None)),
                content: Some(content),
            },
            fw,
        )
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+46 8 123", "\"'+46 8 123\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1", "\"'\t=1\""),
            ("\r=1", "\"'\r=1\""),
            ("-12.50", "-12.50"),
            ("-7", "-7"),
            ("12.5", "12.5"),
            ("Östra, kommun", "\"Östra, kommun\""),
            ("1.1", "1.1"),
        ] {
            assert_eq!(csv_field(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn xlsx_reads_back_with_the_report_figures() {
        let (ev, fw) = sample();
        let r = crate::report::build(&ev, &fw, None, None, false, true).unwrap();
        // 84 % of 800 exact = 672.00; area 1: 84.
        assert_eq!(r.total.as_ref().unwrap().points, "672.00");
        let bytes = xlsx(&r).unwrap();
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(wb.sheet_names().len(), 9);
        let sum = wb.worksheet_range("Sammanfattning").unwrap();
        let total_row = (0..sum.height())
            .find(|&i| sum.get((i, 0)) == Some(&Data::String("Totalt".into())))
            .unwrap();
        assert_eq!(sum.get((total_row, 2)), Some(&Data::Float(672.0)));
        let a1 = wb.worksheet_range("Område 1").unwrap();
        assert_eq!(a1.get((3, 0)), Some(&Data::String("1.1".into())));
        assert_eq!(a1.get((3, 2)), Some(&Data::Float(12.6)));
        assert_eq!(a1.get((3, 5)), Some(&Data::Float(13.0)));
        // Percents are fractions in percent format, not 84 as a plain number.
        assert_eq!(a1.get((3, 4)), Some(&Data::Float(0.84)));
        assert_eq!(a1.get((3, 6)), Some(&Data::Float(0.84)));
    }

    /// The sheets' own XML: number formats for points (two decimals) and
    /// percents, frozen header rows, and column widths set to fit.
    #[test]
    fn xlsx_has_formats_frozen_headers_and_fitted_columns() {
        use std::io::Read;
        let (ev, fw) = sample();
        let r = crate::report::build(&ev, &fw, None, None, false, true).unwrap();
        let bytes = xlsx(&r).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut read = |name: &str| {
            let mut s = String::new();
            zip.by_name(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .read_to_string(&mut s)
                .unwrap();
            s
        };
        let styles = read("xl/styles.xml");
        assert!(styles.contains(r#"formatCode="0.00""#), "{styles}");
        assert!(styles.contains(r#"formatCode="0.00%""#), "{styles}");
        // Summary: header in row 9, frozen below it; area sheets below row 3.
        let summary = read("xl/worksheets/sheet1.xml");
        assert!(
            summary.contains(r#"ySplit="9""#) && summary.contains(r#"state="frozen""#),
            "{summary}"
        );
        let area = read("xl/worksheets/sheet2.xml");
        assert!(
            area.contains(r#"ySplit="3""#) && area.contains(r#"state="frozen""#),
            "{area}"
        );
        // Every sheet has explicit widths; none is wider than the cap.
        for sheet in [&summary, &area] {
            let cols: Vec<f64> = sheet
                .split("<col ")
                .skip(1)
                .filter_map(|c| c.split("width=\"").nth(1))
                .filter_map(|w| w.split('"').next()?.parse().ok())
                .collect();
            assert!(cols.len() >= 5, "{sheet}");
            assert!(
                cols.iter().all(|w| *w <= MAX_WIDTH as f64 + 1.0),
                "{cols:?}"
            );
        }
    }

    #[test]
    fn pdf_reads_back_with_swedish_letters_and_every_question() {
        let (ev, fw) = sample();
        let r = crate::report::build(&ev, &fw, None, None, false, true).unwrap();
        let t = std::time::Instant::now();
        let bytes = crate::pdf::render(&r, None, None, &fw, kompass_documents::Lang::Sv).unwrap();
        eprintln!("pdf: {} bytes in {:?}", bytes.len(), t.elapsed());
        assert!(bytes.starts_with(b"%PDF"));
        if let Ok(keep) = std::env::var("KOMPASS_PDF_OUT") {
            std::fs::write(keep, &bytes).unwrap();
        }
        let dir = std::env::temp_dir().join(format!("kompass-pdf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("r.pdf");
        std::fs::write(&p, &bytes).unwrap();
        let out = std::process::Command::new("pdftotext")
            .arg("-layout")
            .arg(&p)
            .arg("-")
            .output()
            .expect("poppler-utils must be installed (scripts/test.sh installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Östra Göinge kommun"), "{text}");
        assert!(text.contains("Förbättringsmöjligheter"));
        for (_, q) in fw.questions() {
            assert!(text.contains(&q.id), "question {} missing", q.id);
        }
        assert!(text.contains("672"));
        let _ = std::fs::remove_dir_all(dir);
    }
}

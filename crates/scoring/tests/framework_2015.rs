//! Checks the built-in Kommunkompassen 2015 framework file against the
//! domain rules: 8 areas × 100 points, 45 questions, exact quoted points.

use std::collections::HashSet;

use kompass_scoring::{parse_points, validate_max};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    sv: String,
    en: String,
    /// Norwegian bokmål; the built-in revision carries it for every text.
    nb: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Framework {
    framework: String,
    revision: String,
    name: Text,
    description: Text,
    areas: Vec<Area>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Area {
    id: String,
    name: Text,
    /// A `String`, so an unquoted (float/int) YAML value fails to load.
    max_points: String,
    headings: Vec<Text>,
    questions: Vec<Question>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    id: String,
    max_points: String,
    text: Text,
}

fn load() -> Framework {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../frameworks/data/kommunkompassen-2015.yaml"
    );
    let yaml = std::fs::read_to_string(path).expect("read framework file");
    serde_yaml::from_str(&yaml).expect("parse framework file")
}

fn check_text(what: &str, t: &Text) {
    assert!(!t.sv.trim().is_empty(), "{what}: empty sv text");
    assert!(!t.en.trim().is_empty(), "{what}: empty en text");
    assert_eq!(t.sv.trim(), t.sv, "{what}: sv text has surrounding space");
    assert_eq!(t.en.trim(), t.en, "{what}: en text has surrounding space");
    let nb =
        t.nb.as_deref()
            .unwrap_or_else(|| panic!("{what}: no nb text"));
    assert!(!nb.trim().is_empty(), "{what}: empty nb text");
    assert_eq!(nb.trim(), nb, "{what}: nb text has surrounding space");
}

fn points(what: &str, s: &str) -> Decimal {
    let p = parse_points(s).unwrap_or_else(|e| panic!("{what}: {s:?}: {e}"));
    validate_max(p).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(p > Decimal::ZERO, "{what}: maximum must be positive");
    p
}

#[test]
fn kommunkompassen_2015_is_complete_and_consistent() {
    let f = load();
    assert_eq!(f.framework, "kommunkompassen");
    assert_eq!(f.revision, "2015");
    check_text("name", &f.name);
    check_text("description", &f.description);

    let expected_counts = [5, 5, 5, 6, 6, 6, 5, 7];
    let expected_headings = [4, 6, 5, 6, 6, 6, 4, 6];
    assert_eq!(f.areas.len(), 8, "8 areas");

    let mut area_ids = HashSet::new();
    let mut question_ids = HashSet::new();
    let mut total_max = Decimal::ZERO;
    let mut total_questions = 0;
    for (i, area) in f.areas.iter().enumerate() {
        let n = i + 1;
        assert_eq!(area.id, n.to_string(), "area ids are 1..8 in order");
        assert!(
            area_ids.insert(area.id.clone()),
            "duplicate area {}",
            area.id
        );
        check_text(&format!("area {}", area.id), &area.name);
        let area_max = points(&format!("area {}", area.id), &area.max_points);
        assert_eq!(area_max, Decimal::ONE_HUNDRED, "area {} max", area.id);

        assert_eq!(
            area.headings.len(),
            expected_headings[i],
            "area {} headings",
            area.id
        );
        for h in &area.headings {
            check_text(&format!("area {} heading", area.id), h);
        }

        assert_eq!(
            area.questions.len(),
            expected_counts[i],
            "area {} questions",
            area.id
        );
        let mut sum = Decimal::ZERO;
        for (j, q) in area.questions.iter().enumerate() {
            assert_eq!(q.id, format!("{}.{}", area.id, j + 1), "question id order");
            assert!(
                question_ids.insert(q.id.clone()),
                "duplicate question {}",
                q.id
            );
            check_text(&format!("question {}", q.id), &q.text);
            sum += points(&format!("question {}", q.id), &q.max_points);
        }
        assert_eq!(sum, area_max, "area {} question maxima sum", area.id);
        total_max += area_max;
        total_questions += area.questions.len();
    }
    assert_eq!(total_questions, 45);
    assert_eq!(question_ids.len(), 45);
    assert_eq!(total_max, Decimal::from(800));
}

#[test]
fn area_names_match_the_brief() {
    let f = load();
    let names: Vec<(&str, &str)> = f
        .areas
        .iter()
        .map(|a| (a.name.sv.as_str(), a.name.en.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Offentlighet och demokrati", "Openness and democracy"),
            (
                "Brukarfokus, tillgänglighet och bemötande",
                "User focus, accessibility and treatment"
            ),
            (
                "Politisk styrning och kontroll",
                "Political governance and control"
            ),
            (
                "Ledarskap, ansvar och delegation",
                "Leadership, responsibility and delegation"
            ),
            ("Resultat och effektivitet", "Results and efficiency"),
            (
                "Kommunen som arbetsgivare – personalpolitik",
                "The municipality as employer"
            ),
            ("Ständiga förbättringar", "Continuous improvement"),
            (
                "Kommunen som samhällsbyggare",
                "The municipality as community builder"
            ),
        ]
    );
}

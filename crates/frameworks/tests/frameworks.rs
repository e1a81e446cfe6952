use kompass_frameworks::{Fault, Format, Framework, FrameworkError, Lang, Place, TextField};
use kompass_scoring::ScoreError;
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

/// A small valid framework: two areas of 30 and 20 points.
const SMALL: &str = r#"
framework: test-compass
revision: "2024"
name: {sv: "Testkompassen", en: "Test compass"}
description: {sv: "Ett litet ramverk", en: "A small framework"}
areas:
  - id: "1"
    name: {sv: "Första", en: "First"}
    max_points: "30"
    headings:
      - {sv: "Rubrik ett", en: "Heading one"}
      - {sv: "Rubrik två", en: "Heading two"}
    questions:
      - id: "1.1"
        max_points: "12.5"
        text: {sv: "Fråga ett?", en: "Question one?"}
      - id: "1.2"
        max_points: "17.5"
        text: {sv: "Fråga två?", en: "Question two?"}
  - id: "2"
    name: {sv: "Andra", en: "Second"}
    max_points: "20"
    questions:
      - id: "2.1"
        max_points: "20"
        text: {sv: "Fråga tre?", en: "Question three?"}
"#;

fn small_with(from: &str, to: &str) -> Result<Framework, FrameworkError> {
    assert!(SMALL.contains(from), "test fixture lacks {from:?}");
    Framework::from_yaml(&SMALL.replacen(from, to, 1))
}

#[track_caller]
fn rejected(from: &str, to: &str) -> FrameworkError {
    small_with(from, to).expect_err("should be rejected")
}

// --- built-in framework ------------------------------------------------------

#[test]
fn builtin_is_kommunkompassen_2015() {
    let f = Framework::builtin();
    assert_eq!(f.id, "kommunkompassen");
    assert_eq!(f.revision, "2015");
    assert_eq!(f.areas.len(), 8);
    assert_eq!(f.question_count(), 45);
    assert_eq!(f.total_max(), d("800"));
    for (i, area) in f.areas.iter().enumerate() {
        assert_eq!(area.id, (i + 1).to_string());
        assert_eq!(area.max_points, d("100"));
        assert!(!area.headings.is_empty());
        let sum: Decimal = area.questions.iter().map(|q| q.max_points).sum();
        assert_eq!(sum, d("100"));
    }
    let counts: Vec<_> = f.areas.iter().map(|a| a.questions.len()).collect();
    assert_eq!(counts, [5, 5, 5, 6, 6, 6, 5, 7]);
    let (area, q) = f.question("3.4").unwrap();
    assert_eq!(area.id, "3");
    assert_eq!(area.name.sv, "Politisk styrning och kontroll");
    assert_eq!(q.max_points, d("20"));
    assert_eq!(f.question("1.4").unwrap().1.max_points, d("30"));
    assert!(f.question("9.1").is_none());
    assert_eq!(f.area("8").unwrap().questions.len(), 7);
    assert_eq!(f.questions().count(), 45);
    assert!(f.validate().is_ok());
    // Parsed once.
    assert!(std::ptr::eq(f, Framework::builtin()));
}

#[test]
fn builtin_round_trips_yaml_json_yaml() {
    let f = Framework::builtin();
    let json = f.to_json();
    let from_json = Framework::from_json(&json).unwrap();
    assert_eq!(&from_json, f);
    let yaml = from_json.to_yaml();
    let from_yaml = Framework::from_yaml(&yaml).unwrap();
    assert_eq!(&from_yaml, f);
    assert_eq!(from_yaml.to_yaml(), yaml);
    assert_eq!(from_yaml.to_json(), json);
    // Detection picks the right parser.
    assert_eq!(Framework::parse(&json, Format::detect(&json)).unwrap(), *f);
    assert_eq!(Framework::parse(&yaml, Format::detect(&yaml)).unwrap(), *f);
}

#[test]
fn points_export_as_strings_exactly() {
    let f = Framework::from_yaml(SMALL).unwrap();
    let json = f.to_json();
    assert!(json.contains(r#""max_points": "12.5""#), "{json}");
    assert!(json.contains(r#""max_points": "30""#), "{json}");
    assert!(json.contains(r#""framework": "test-compass""#), "{json}");
    let yaml = f.to_yaml();
    assert!(yaml.contains("max_points: '12.5'"), "{yaml}");
    assert!(yaml.contains("max_points: '30'"), "{yaml}");
    assert!(yaml.contains("revision: '2024'"), "{yaml}");
    assert_eq!(Framework::from_yaml(&yaml).unwrap(), f);
    assert_eq!(Framework::from_json(&json).unwrap(), f);
}

#[test]
fn bare_integers_are_accepted() {
    let yaml = SMALL.replace(r#"max_points: "20""#, "max_points: 20");
    let f = Framework::from_yaml(&yaml).unwrap();
    assert_eq!(f.area("2").unwrap().max_points, d("20"));
    let json = Framework::from_yaml(SMALL)
        .unwrap()
        .to_json()
        .replace(r#""max_points": "20""#, r#""max_points": 20"#);
    assert_eq!(Framework::from_json(&json).unwrap(), f);
}

#[test]
fn headings_may_be_omitted_and_texts_are_trimmed() {
    let f = small_with("Första", "  Första \n").unwrap();
    assert_eq!(f.areas[0].name.sv, "Första");
    assert!(f.areas[1].headings.is_empty());
}

#[test]
fn detect_format() {
    assert_eq!(Format::detect("  \n{\"a\": 1}"), Format::Json);
    assert_eq!(Format::detect("\u{feff}{}"), Format::Json);
    assert_eq!(Format::detect("framework: x"), Format::Yaml);
    assert_eq!(Format::detect("---\nframework: x"), Format::Yaml);
    assert_eq!(Format::detect(""), Format::Yaml);
}

#[test]
fn byte_order_mark_is_ignored() {
    let json = Framework::builtin().to_json();
    assert!(Framework::from_json(&format!("\u{feff}{json}")).is_ok());
    assert!(Framework::from_yaml(&format!("\u{feff}{SMALL}")).is_ok());
}

// --- content hash ------------------------------------------------------------

#[test]
fn content_hash_identifies_the_content() {
    let f = Framework::from_yaml(SMALL).unwrap();
    let h = f.content_hash();
    assert_eq!(h.len(), 64);
    assert!(
        h.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // Same content through another format, other quoting or trailing zeros.
    assert_eq!(
        Framework::from_json(&f.to_json()).unwrap().content_hash(),
        h
    );
    assert_eq!(
        small_with(r#""12.5""#, r#""12.50""#)
            .unwrap()
            .content_hash(),
        h
    );
    assert_eq!(small_with(r#""30""#, "30").unwrap().content_hash(), h);
    let commented = format!("# A comment.\n{SMALL}");
    assert_eq!(Framework::from_yaml(&commented).unwrap().content_hash(), h);
    assert_eq!(small_with("Första", " Första ").unwrap().content_hash(), h);
    // Any change gives another hash.
    assert_ne!(
        small_with("Fråga ett?", "Fråga 1?").unwrap().content_hash(),
        h
    );
    assert_ne!(
        small_with(r#""2024""#, r#""2025""#).unwrap().content_hash(),
        h
    );
    let moved = SMALL
        .replace(r#"max_points: "12.5""#, r#"max_points: "10""#)
        .replace(r#"max_points: "17.5""#, r#"max_points: "20""#);
    assert_ne!(Framework::from_yaml(&moved).unwrap().content_hash(), h);
    assert_ne!(Framework::builtin().content_hash(), h);
}

// --- validation --------------------------------------------------------------

#[test]
fn sum_mismatch_names_the_area() {
    let e = rejected(r#"max_points: "17.5""#, r#"max_points: "12.5""#);
    assert_eq!(
        e.to_string(),
        "area 1: question maxima sum to 25, but the area's max_points is 30"
    );
    assert_eq!(
        e.message_sv(),
        "område 1: frågornas maxpoäng summeras till 25, men områdets max_points är 30"
    );
    assert_eq!(e.code(), "sum_mismatch");
    assert_eq!(
        e.fault(),
        Some(&Fault::SumMismatch {
            sum: d("25"),
            max: d("30")
        })
    );

    let e = rejected(r#"max_points: "17.5""#, r#"max_points: "17.25""#);
    assert_eq!(
        e.to_string(),
        "area 1: question maxima sum to 29.75, but the area's max_points is 30"
    );
    assert!(e.message_sv().contains("29,75"), "{}", e.message_sv());
}

#[test]
fn builtin_sum_mismatch_after_edit() {
    let mut f = Framework::builtin().clone();
    f.areas[1].questions[0].max_points = d("10");
    assert_eq!(
        f.validate().unwrap_err().to_string(),
        "area 2: question maxima sum to 95, but the area's max_points is 100"
    );
}

#[test]
fn duplicate_ids() {
    let e = rejected(r#"id: "1.2""#, r#"id: "1.1""#);
    assert_eq!(e.to_string(), "question id 1.1 appears twice");
    assert_eq!(e.message_sv(), "fråge-id 1.1 förekommer två gånger");
    assert_eq!(e.place(), Some(&Place::Framework));

    let e = rejected(r#"id: "2""#, r#"id: "1""#);
    assert_eq!(e.to_string(), "area id 1 appears twice");
    assert_eq!(e.code(), "duplicate_area_id");
}

#[test]
fn empty_texts_name_the_text_and_language() {
    let e = rejected(r#"sv: "Rubrik två""#, r#"sv: "  ""#);
    assert_eq!(e.to_string(), "area 1: heading 2 has an empty Swedish text");
    assert_eq!(e.message_sv(), "område 1: rubrik 2 har en tom svensk text");
    assert_eq!(
        e.fault(),
        Some(&Fault::EmptyText {
            field: TextField::Heading(2),
            lang: Lang::Sv
        })
    );

    let e = rejected(r#"en: "Question three?""#, r#"en: """#);
    assert_eq!(
        e.to_string(),
        "area 2, question 2.1: the question text has an empty English text"
    );
    assert_eq!(
        e.message_sv(),
        "område 2, fråga 2.1: frågetexten har en tom engelsk text"
    );

    let e = rejected(r#"en: "Test compass""#, r#"en: """#);
    assert_eq!(e.to_string(), "the name has an empty English text");

    let e = rejected(r#"sv: "Ett litet ramverk""#, "sv: ");
    assert_eq!(e.to_string(), "the description has an empty Swedish text");

    let e = rejected(r#"en: "Second""#, r#"en: " ""#);
    assert_eq!(e.to_string(), "area 2: the name has an empty English text");
}

#[test]
fn bad_ids() {
    for bad in [
        "Test",
        "t",
        "test compass",
        "1test",
        "test_compass",
        "testkompaß",
    ] {
        let e = rejected("framework: test-compass", &format!("framework: {bad:?}"));
        assert_eq!(e.code(), "bad_framework_id", "{bad}");
        assert!(
            e.to_string()
                .starts_with(&format!("framework id {bad:?} is invalid")),
            "{e}"
        );
        assert!(
            e.message_sv().starts_with("ramverkets id"),
            "{}",
            e.message_sv()
        );
    }
    let long = format!("a{}", "b".repeat(40));
    assert!(small_with("framework: test-compass", &format!("framework: {long}")).is_ok());
    let too_long = format!("a{}", "b".repeat(41));
    assert!(small_with("framework: test-compass", &format!("framework: {too_long}")).is_err());

    for bad in ["", "20 24", "2024/1", "123456789012345678901"] {
        let e = rejected(r#"revision: "2024""#, &format!("revision: {bad:?}"));
        assert_eq!(e.code(), "bad_revision", "{bad:?}");
    }
    assert!(small_with(r#"revision: "2024""#, "revision: 2019-KS_v1.2").is_ok());

    let e = rejected(r#"id: "2""#, r#"id: "2.0""#);
    assert_eq!(e.code(), "bad_area_id");
    assert!(
        e.to_string()
            .starts_with(r#"area 2.0: area id "2.0" is invalid"#),
        "{e}"
    );

    let e = rejected(r#"id: "2""#, r#"id: """#);
    assert!(
        e.to_string()
            .starts_with(r#"area at position 2: area id "" is invalid"#),
        "{e}"
    );
    assert!(
        e.message_sv().starts_with("område på plats 2: "),
        "{}",
        e.message_sv()
    );

    let e = rejected(r#"id: "2.1""#, r#"id: "2 1""#);
    assert_eq!(e.code(), "bad_question_id");
    assert!(
        e.to_string()
            .starts_with(r#"area 2, question at position 1: question id "2 1" is invalid"#),
        "{e}"
    );

    let e = rejected(r#"id: "2.1""#, r#"id: "1.3""#);
    assert_eq!(
        e.to_string(),
        r#"area 2, question 1.3: question id 1.3 must start with the area id followed by a dot ("2.", e.g. "2.1")"#
    );
    for bad in ["2", "2.", "21", "2-1"] {
        let e = rejected(r#"id: "2.1""#, &format!("id: {bad:?}"));
        assert_eq!(e.code(), "question_outside_area", "{bad}");
    }
    assert!(small_with(r#"id: "2.1""#, r#"id: "2.1a""#).is_ok());
}

#[test]
fn max_points_rules() {
    let e = rejected(r#"max_points: "12.5""#, r#"max_points: "12.345""#);
    assert_eq!(
        e.to_string(),
        r#"area 1, question 1.1: max_points "12.345" is invalid: at most two decimals are allowed, for example 16.80"#
    );
    assert_eq!(
        e.message_sv(),
        r#"område 1, fråga 1.1: max_points "12.345" är ogiltigt: högst två decimaler är tillåtna, till exempel 16.80"#
    );
    assert_eq!(
        e.fault(),
        Some(&Fault::MaxInvalid {
            value: "12.345".into(),
            error: ScoreError::TooManyDecimals
        })
    );

    let e = rejected(r#"max_points: "20""#, r#"max_points: "0""#);
    assert_eq!(e.to_string(), "area 2: max_points must be greater than 0");
    assert_eq!(
        e.message_sv(),
        "område 2: max_points måste vara större än 0"
    );

    let e = rejected(r#"max_points: "12.5""#, r#"max_points: "0.00""#);
    assert_eq!(
        e.to_string(),
        "area 1, question 1.1: max_points must be greater than 0"
    );

    for (bad, error) in [
        ("12,5", ScoreError::Comma),
        ("-5", ScoreError::Negative),
        ("1e1", ScoreError::Exponent),
        ("abc", ScoreError::Malformed),
        ("", ScoreError::Empty),
        (" 12.5", ScoreError::Whitespace),
    ] {
        let e = rejected(r#"max_points: "12.5""#, &format!("max_points: {bad:?}"));
        assert_eq!(
            e.fault(),
            Some(&Fault::MaxInvalid {
                value: bad.into(),
                error
            }),
            "{bad:?}"
        );
    }
    // A bare negative integer is read, then rejected like a quoted one.
    let e = rejected(r#"max_points: "12.5""#, "max_points: -5");
    assert_eq!(e.code(), "max_invalid");

    // Built in code with too many decimals.
    let mut f = Framework::builtin().clone();
    f.areas[2].questions[3].max_points = d("19.999");
    let e = f.validate().unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"area 3, question 3.4: max_points "19.999" is invalid: at most two decimals are allowed, for example 16.80"#
    );
    f.areas[2].questions[3].max_points = d("-20");
    assert_eq!(
        f.validate().unwrap_err().to_string(),
        "area 3, question 3.4: max_points must be greater than 0"
    );
}

#[test]
fn bare_floats_must_be_quoted() {
    let e = rejected(r#"max_points: "12.5""#, "max_points: 12.5");
    assert_eq!(
        e.to_string(),
        r#"area 1, question 1.1: max_points 12.5 is an unquoted decimal number; write it in quotes, as "12.5", so that it is read exactly"#
    );
    assert!(
        e.message_sv().contains("inom citattecken"),
        "{}",
        e.message_sv()
    );
    assert_eq!(e.code(), "max_unquoted");

    let json = Framework::from_yaml(SMALL)
        .unwrap()
        .to_json()
        .replace(r#""max_points": "17.5""#, r#""max_points": 17.5"#);
    let e = Framework::from_json(&json).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("area 1, question 1.2: max_points 17.5 is an unquoted decimal number"),
        "{e}"
    );

    // YAML's .inf and .nan are not numbers of points.
    let e = rejected(r#"max_points: "12.5""#, "max_points: .inf");
    assert_eq!(
        e.fault(),
        Some(&Fault::MaxInvalid {
            value: "inf".into(),
            error: ScoreError::Infinite
        })
    );
    let e = rejected(r#"max_points: "12.5""#, "max_points: .nan");
    assert_eq!(e.code(), "max_invalid");

    // Even a float with an integral value.
    let e = rejected(r#"max_points: "30""#, "max_points: 30.0");
    assert_eq!(e.code(), "max_unquoted");
    assert!(e.to_string().starts_with("area 1: "), "{e}");
}

#[test]
fn missing_areas_or_questions() {
    let e = Framework::from_yaml(
        "framework: x-y\nrevision: '1'\nname: {sv: a, en: a}\ndescription: {sv: a, en: a}\nareas: []\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the framework has no areas; at least one is required"
    );
    assert_eq!(
        e.message_sv(),
        "ramverket har inga områden; minst ett krävs"
    );

    let yaml = SMALL.replace(
        r#"    questions:
      - id: "2.1"
        max_points: "20"
        text: {sv: "Fråga tre?", en: "Question three?"}
"#,
        "    questions: []\n",
    );
    let e = Framework::from_yaml(&yaml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "area 2: the area has no questions; at least one is required"
    );
}

#[test]
fn first_fault_in_document_order_is_reported() {
    // A bad maximum in area 2 and a bad framework id: the id comes first.
    let yaml = SMALL
        .replace(r#"max_points: "20""#, r#"max_points: "x""#)
        .replace("framework: test-compass", "framework: Bad");
    let e = Framework::from_yaml(&yaml).unwrap_err();
    assert_eq!(e.code(), "bad_framework_id");
    // A bad maximum in area 1 comes before an empty text in area 2.
    let yaml = SMALL
        .replace(r#"max_points: "17.5""#, "max_points: 17.5")
        .replace(r#"en: "Second""#, r#"en: """#);
    let e = Framework::from_yaml(&yaml).unwrap_err();
    assert_eq!(e.code(), "max_unquoted");
    // The unreadable maximum is reported, not the sum it breaks.
    let e = rejected(r#"max_points: "17.5""#, r#"max_points: "17,5""#);
    assert_eq!(e.code(), "max_invalid");
}

#[test]
fn malformed_yaml_is_a_syntax_error_with_location() {
    let e = Framework::from_yaml("framework: test\nrevision: [unclosed\nname: x\n").unwrap_err();
    let FrameworkError::Syntax {
        format,
        line,
        column,
        ..
    } = &e
    else {
        panic!("expected a syntax error, got {e:?}");
    };
    assert_eq!(*format, Format::Yaml);
    assert_eq!((*line, *column), (Some(2), Some(11)), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("the YAML text could not be read: "),
        "{e}"
    );
    assert!(
        e.message_sv()
            .starts_with("YAML-texten kunde inte läsas (rad "),
        "{}",
        e.message_sv()
    );
    assert_eq!(e.code(), "syntax");

    // Bad indentation
    let e = Framework::from_yaml("framework: a\n  revision: b\n").unwrap_err();
    assert!(matches!(e, FrameworkError::Syntax { .. }), "{e:?}");

    // Well-formed YAML of the wrong shape.
    let e = small_with("max_points: \"30\"", "max_point: \"30\"").unwrap_err();
    assert!(e.to_string().contains("unknown field `max_point`"), "{e}");
    let e = small_with("    max_points: \"30\"\n", "").unwrap_err();
    assert!(e.to_string().contains("missing field `max_points`"), "{e}");
    assert!(
        matches!(e, FrameworkError::Syntax { line: Some(_), .. }),
        "{e:?}"
    );
    let e = small_with("    max_points: \"30\"", "    max_points: [30]").unwrap_err();
    assert!(e.to_string().contains("in quotes"), "{e}");

    assert!(matches!(
        Framework::from_yaml(""),
        Err(FrameworkError::Syntax { .. })
    ));
    assert!(matches!(
        Framework::from_yaml("- a\n- b\n"),
        Err(FrameworkError::Syntax { .. })
    ));
}

#[test]
fn malformed_json_is_a_syntax_error_with_location() {
    let e = Framework::from_json("{\n  \"framework\": \"x\",\n  \"revision\": }").unwrap_err();
    assert_eq!(
        e,
        FrameworkError::Syntax {
            format: Format::Json,
            message: "expected value at line 3 column 15".into(),
            line: Some(3),
            column: Some(15),
        }
    );
    assert_eq!(
        e.to_string(),
        "the JSON text could not be read: expected value at line 3 column 15"
    );
    assert_eq!(
        e.message_sv(),
        "JSON-texten kunde inte läsas (rad 3, kolumn 15): expected value at line 3 column 15"
    );
    assert!(matches!(
        Framework::from_json("{"),
        Err(FrameworkError::Syntax { .. })
    ));
    // YAML given as JSON.
    assert!(matches!(
        Framework::from_json(SMALL),
        Err(FrameworkError::Syntax { .. })
    ));
    // Ids must be strings in JSON.
    let json = Framework::from_yaml(SMALL)
        .unwrap()
        .to_json()
        .replace(r#""id": "2""#, r#""id": 2"#);
    assert!(matches!(
        Framework::from_json(&json),
        Err(FrameworkError::Syntax { .. })
    ));
}

#[test]
fn serde_deserialize_validates_too() {
    let json = Framework::builtin().to_json();
    let f: Framework = serde_json::from_str(&json).unwrap();
    assert_eq!(&f, Framework::builtin());
    let bad = json.replacen(r#""max_points": "15""#, r#""max_points": "16""#, 1);
    let e = serde_json::from_str::<Framework>(&bad).unwrap_err();
    assert!(
        e.to_string()
            .contains("area 1: question maxima sum to 101, but the area's max_points is 100"),
        "{e}"
    );
}

#[test]
fn norwegian_framework_imports() {
    let yaml = r#"
framework: kommunekompasset
revision: "2020"
name: {sv: "Kommunekompasset", en: "Municipality Compass (Norway)"}
description:
  sv: "KS sitt verktøy for å vurdere hvordan en kommune styres og utvikles."
  en: "KS's tool for evaluating how a municipality is governed and developed."
areas:
  - id: "1"
    name: {sv: "Samspill mellom folkevalgte og innbyggere", en: "Interaction between elected representatives and citizens"}
    max_points: "100"
    headings:
      - {sv: "Åpenhet og innsyn", en: "Openness and transparency"}
    questions:
      - id: "1.1"
        max_points: "40"
        text: {sv: "Hvordan legger kommunen til rette for innbyggerdialog?", en: "How does the municipality facilitate dialogue with residents?"}
      - id: "1.2"
        max_points: "60"
        text: {sv: "Hvordan arbeider kommunen med etikk og tillit – også i små lokalsamfunn på Ørland?", en: "How does the municipality work with ethics and trust?"}
  - id: "2"
    name: {sv: "Samfunnsutvikling", en: "Community development"}
    max_points: 100
    questions:
      - id: "2.1"
        max_points: "33.34"
        text: {sv: "Har kommunen en helhetlig plan for samfunnsutvikling?", en: "Does the municipality have a comprehensive plan for community development?"}
      - id: "2.2"
        max_points: "33.33"
        text: {sv: "Hvordan samarbeider kommunen med næringslivet?", en: "How does the municipality cooperate with business?"}
      - id: "2.3"
        max_points: "33.33"
        text: {sv: "Hvordan arbeider kommunen med bærekraft?", en: "How does the municipality work with sustainability?"}
"#;
    let f = Framework::parse(yaml, Format::detect(yaml)).unwrap();
    assert_eq!(f.id, "kommunekompasset");
    assert_eq!(f.total_max(), d("200"));
    assert_eq!(f.question_count(), 5);
    assert_eq!(f.areas[0].headings[0].sv, "Åpenhet og innsyn");
    assert_eq!(f.question("2.1").unwrap().1.max_points, d("33.34"));
    assert_eq!(Framework::from_json(&f.to_json()).unwrap(), f);
    assert_eq!(Framework::from_yaml(&f.to_yaml()).unwrap(), f);
    assert_ne!(f.content_hash(), Framework::builtin().content_hash());
}

// --- Norwegian bokmål ----------------------------------------------------------

#[test]
fn builtin_carries_bokmal_everywhere() {
    let f = Framework::builtin();
    assert_eq!(f.name.nb.as_deref(), Some("Kommunekompasset"));
    assert!(f.description.nb.is_some());
    for a in &f.areas {
        assert!(a.name.nb.is_some(), "area {}", a.id);
        assert!(a.headings.iter().all(|h| h.nb.is_some()), "area {}", a.id);
        assert!(
            a.questions.iter().all(|q| q.text.nb.is_some()),
            "area {}",
            a.id
        );
    }
    assert_eq!(f.area("1").unwrap().name.get("nb"), "Åpenhet og demokrati");
    assert_eq!(
        f.question("3.2").unwrap().1.text.get("nb-NO"),
        "Styres kommunen etter tydelige politiske mål?"
    );
    assert_eq!(
        f.area("7").unwrap().name.get("sv"),
        "Ständiga förbättringar"
    );
    assert_eq!(
        f.area("7").unwrap().name.get("en"),
        "Continuous improvement"
    );
}

#[test]
fn bokmal_round_trips_through_yaml_and_json() {
    let f = small_with(
        r#"{sv: "Fråga ett?", en: "Question one?"}"#,
        r#"{sv: "Fråga ett?", en: "Question one?", nb: "  Spørsmål én – æøå?  "}"#,
    )
    .unwrap();
    // Trimmed on import, like the other languages.
    assert_eq!(
        f.question("1.1").unwrap().1.text.nb.as_deref(),
        Some("Spørsmål én – æøå?")
    );
    let yaml = f.to_yaml();
    assert!(yaml.contains("nb: Spørsmål én – æøå?"), "{yaml}");
    assert_eq!(Framework::from_yaml(&yaml).unwrap(), f);
    let json = f.to_json();
    assert!(json.contains(r#""nb": "Spørsmål én – æøå?""#), "{json}");
    assert_eq!(Framework::from_json(&json).unwrap(), f);
    // The built-in revision round-trips with all its bokmål texts.
    let b = Framework::builtin();
    assert_eq!(&Framework::from_yaml(&b.to_yaml()).unwrap(), b);
    assert_eq!(&Framework::from_json(&b.to_json()).unwrap(), b);
    assert_eq!(
        Framework::from_json(&b.to_json()).unwrap().content_hash(),
        b.content_hash()
    );
}

#[test]
fn bokmal_is_optional_and_changes_nothing_when_missing() {
    let plain = Framework::from_yaml(SMALL).unwrap();
    assert!(plain.questions().all(|(_, q)| q.text.nb.is_none()));
    // Exports without nb keep the shape (and hash) they had before nb.
    assert!(!plain.to_yaml().contains("nb:"));
    assert!(!plain.to_json().contains(r#""nb""#));
    // An empty nb counts as missing: same content, same hash.
    let empty = small_with(
        r#"{sv: "Fråga ett?", en: "Question one?"}"#,
        r#"{sv: "Fråga ett?", en: "Question one?", nb: "  "}"#,
    )
    .unwrap();
    assert_eq!(empty, plain);
    assert_eq!(empty.content_hash(), plain.content_hash());
    // A real nb text is content: the hash changes.
    let with = small_with(
        r#"{sv: "Fråga ett?", en: "Question one?"}"#,
        r#"{sv: "Fråga ett?", en: "Question one?", nb: "Spørsmål én?"}"#,
    )
    .unwrap();
    assert_ne!(with.content_hash(), plain.content_hash());
    // sv and en stay required.
    let e = rejected(
        r#"{sv: "Fråga ett?", en: "Question one?"}"#,
        r#"{sv: "Fråga ett?", en: "", nb: "Spørsmål én?"}"#,
    );
    assert!(e.to_string().contains("English"), "{e}");
    // Unknown languages are still refused.
    let e = rejected(
        r#"{sv: "Fråga ett?", en: "Question one?"}"#,
        r#"{sv: "Fråga ett?", en: "Question one?", da: "Spørgsmål et?"}"#,
    );
    assert_eq!(e.code(), "syntax");
}

#[test]
fn language_fallback_is_nb_then_sv_then_en() {
    use kompass_frameworks::Text;
    let t = Text::new("Svensk", "English").with_nb("Norsk");
    assert_eq!(t.get("nb"), "Norsk");
    assert_eq!(t.get("no"), "Norsk");
    assert_eq!(t.get("sv"), "Svensk");
    assert_eq!(t.get("en-GB"), "English");
    let no_nb = Text::new("Svensk", "English");
    assert_eq!(no_nb.get("nb"), "Svensk");
    let only_en = Text {
        sv: String::new(),
        en: "English".into(),
        nb: None,
    };
    assert_eq!(only_en.get("nb"), "English");
    assert_eq!(only_en.get("sv"), "English");
    let blank_nb = Text::new("Svensk", "English").with_nb(" ");
    assert_eq!(blank_nb.get("nb"), "Svensk");
    // Languages without texts of their own read Swedish.
    assert_eq!(t.get("fi"), "Svensk");
}

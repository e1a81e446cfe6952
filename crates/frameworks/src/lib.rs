//! Evaluation frameworks (Kommunkompassen revisions and others that operators
//! enter): the model, validation, and YAML/JSON import and export.
//!
//! A framework is a list of main areas (*huvudområden*), each with a maximum,
//! report headings (*rubriker*) and sub-questions (*delfrågor*) whose maxima
//! sum exactly to the area's maximum. Points are exact decimals
//! ([`Decimal`]), never binary floats; in files they are quoted strings
//! (`max_points: "12.5"`). Bare integers (`max_points: 15`) are accepted for
//! convenience; bare non-integers (`max_points: 12.5`) are rejected with a
//! message asking to quote them, because JSON and YAML parsers read them as
//! floats.
//!
//! Every import is validated; the first fault in document order is reported
//! as a [`FrameworkError`] whose English `Display` and Swedish
//! [`FrameworkError::message_sv`] name the place ("area 3, question 3.4: …").
//!
//! Texts are Swedish and English, with Norwegian bokmål (`nb`) optional;
//! [`Text::get`] falls back nb → sv → en where a text is missing.
//!
//! On import, texts are trimmed and points are normalised (`"15.00"` → `15`),
//! so the same framework always exports — and hashes
//! ([`Framework::content_hash`]) — the same way.

#![forbid(unsafe_code)]
#![deny(clippy::float_arithmetic, clippy::float_cmp)]

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::LazyLock;

use kompass_scoring::{ScoreError, parse_points};
use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The YAML text of the built-in framework (Kommunkompassen, SKR revision of
/// 2015), as embedded in the binary.
pub const BUILTIN_2015_YAML: &str = include_str!("../data/kommunkompassen-2015.yaml");

static BUILTIN: LazyLock<Framework> =
    LazyLock::new(|| match Framework::from_yaml(BUILTIN_2015_YAML) {
        Ok(framework) => framework,
        Err(e) => panic!("the built-in framework data/kommunkompassen-2015.yaml is invalid: {e}"),
    });

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

/// A text in Swedish, English and, optionally, Norwegian bokmål (`nb`).
/// For Norwegian (or other Nordic) frameworks the `sv` field holds the text
/// in the framework's own language. `sv` and `en` are required; `nb` may be
/// missing (most frameworks operators enter have none), and an empty `nb`
/// counts as missing. [`Text::get`] picks a language with fallback.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub sv: String,
    pub en: String,
    /// Skipped when missing, so a framework without `nb` exports, and
    /// hashes, exactly as before `nb` existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nb: Option<String>,
}

impl Text {
    pub fn new(sv: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            sv: sv.into(),
            en: en.into(),
            nb: None,
        }
    }

    /// The same text with a Norwegian bokmål version.
    pub fn with_nb(mut self, nb: impl Into<String>) -> Self {
        self.nb = Some(nb.into());
        self
    }

    /// The text in `lang` ("sv", "en", "nb"; a region suffix such as
    /// "nb-NO" is ignored). Fallback where a text is missing: nb → sv → en,
    /// because Swedish is closer to bokmål than English is and every
    /// framework has it; sv → en; en → sv. Other languages get Swedish.
    pub fn get(&self, lang: &str) -> &str {
        let primary = lang.split(['-', '_']).next().unwrap_or_default();
        let nonempty = |s: &str| !s.trim().is_empty();
        let order: [Option<&str>; 3] = match primary.to_ascii_lowercase().as_str() {
            "nb" | "no" | "nn" => [self.nb.as_deref(), Some(&self.sv), Some(&self.en)],
            "en" => [Some(&self.en), Some(&self.sv), None],
            _ => [Some(&self.sv), Some(&self.en), None],
        };
        order
            .into_iter()
            .flatten()
            .find(|s| nonempty(s))
            .unwrap_or_default()
    }

    fn trimmed(&self) -> Self {
        Self {
            sv: self.sv.trim().to_owned(),
            en: self.en.trim().to_owned(),
            nb: self
                .nb
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        }
    }
}

/// One framework revision, e.g. `kommunkompassen` revision `2015`.
///
/// Deserializing (with any serde format) validates, like [`Framework::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawFramework")]
pub struct Framework {
    /// Framework id, e.g. `kommunkompassen`; the file key is `framework`.
    #[serde(rename = "framework")]
    pub id: String,
    pub revision: String,
    pub name: Text,
    pub description: Text,
    pub areas: Vec<Area>,
}

/// A main area (*huvudområde*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Area {
    pub id: String,
    pub name: Text,
    #[serde(serialize_with = "serialize_decimal")]
    pub max_points: Decimal,
    /// Report headings (*rubriker*), in order; may be empty.
    pub headings: Vec<Text>,
    pub questions: Vec<Question>,
}

/// A sub-question (*delfråga*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub id: String,
    #[serde(serialize_with = "serialize_decimal")]
    pub max_points: Decimal,
    pub text: Text,
}

/// Points are always written as strings, whatever serde features of
/// `rust_decimal` other crates enable.
fn serialize_decimal<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

/// File format for import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Yaml,
    Json,
}

impl Format {
    /// JSON if the first non-whitespace character (after an optional byte
    /// order mark) is `{`, YAML otherwise.
    pub fn detect(input: &str) -> Format {
        match strip_bom(input).trim_start().chars().next() {
            Some('{') => Format::Json,
            _ => Format::Yaml,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn strip_bom(input: &str) -> &str {
    input.strip_prefix('\u{feff}').unwrap_or(input)
}

impl Framework {
    /// The built-in framework: Kommunkompassen, SKR revision of 2015
    /// (8 areas, 45 questions, 800 points). Parsed once.
    pub fn builtin() -> &'static Framework {
        &BUILTIN
    }

    /// Parses and validates a framework in YAML.
    pub fn from_yaml(input: &str) -> Result<Framework, FrameworkError> {
        Self::parse(input, Format::Yaml)
    }

    /// Parses and validates a framework in JSON.
    pub fn from_json(input: &str) -> Result<Framework, FrameworkError> {
        Self::parse(input, Format::Json)
    }

    /// Parses and validates a framework; see [`Format::detect`] to choose
    /// the format from the text.
    pub fn parse(input: &str, format: Format) -> Result<Framework, FrameworkError> {
        let input = strip_bom(input);
        let raw: RawFramework = match format {
            Format::Yaml => serde_yaml::from_str(input).map_err(|e| {
                let location = e.location();
                FrameworkError::Syntax {
                    format,
                    message: e.to_string(),
                    // serde_yaml locations are one-based.
                    line: location.as_ref().map(|l| l.line()),
                    column: location.as_ref().map(|l| l.column()),
                }
            })?,
            Format::Json => serde_json::from_str(input).map_err(|e| FrameworkError::Syntax {
                format,
                message: e.to_string(),
                line: (e.line() > 0).then_some(e.line()),
                column: (e.column() > 0).then_some(e.column()),
            })?,
        };
        raw.try_into()
    }

    /// Exports as YAML (points as quoted strings). `parse` of the result
    /// gives back an equal framework.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).expect("a framework always serializes to YAML")
    }

    /// Exports as pretty-printed JSON (points as strings). `parse` of the
    /// result gives back an equal framework.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a framework always serializes to JSON")
    }

    /// Compact JSON of the framework with trimmed texts and normalised
    /// points: the form [`Framework::content_hash`] is computed over.
    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(&self.canonical()).expect("a framework always serializes to JSON")
    }

    /// SHA-256 (lower-case hex) of [`Framework::to_canonical_json`]: equal
    /// for two imports of the same content (in either format, whatever the
    /// quoting, comments or `"15.00"` versus `"15"`), different as soon as
    /// any id, text or maximum differs.
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.to_canonical_json().as_bytes());
        format!("{digest:x}")
    }

    /// Sum of the areas' maxima (800 for Kommunkompassen).
    pub fn total_max(&self) -> Decimal {
        self.areas.iter().map(|a| a.max_points).sum()
    }

    /// Number of questions over all areas (45 for Kommunkompassen 2015).
    pub fn question_count(&self) -> usize {
        self.areas.iter().map(|a| a.questions.len()).sum()
    }

    /// The area with this id.
    pub fn area(&self, id: &str) -> Option<&Area> {
        self.areas.iter().find(|a| a.id == id)
    }

    /// The question with this id (e.g. `"3.4"`) and its area.
    pub fn question(&self, id: &str) -> Option<(&Area, &Question)> {
        self.questions().find(|(_, q)| q.id == id)
    }

    /// All questions in order, each with its area.
    pub fn questions(&self) -> impl Iterator<Item = (&Area, &Question)> {
        self.areas
            .iter()
            .flat_map(|a| a.questions.iter().map(move |q| (a, q)))
    }

    /// Checks every rule and returns the first fault in document order.
    /// Run by every import; call it after building or editing a framework in
    /// code.
    pub fn validate(&self) -> Result<(), FrameworkError> {
        self.check(&HashMap::new())
    }

    fn canonical(&self) -> Framework {
        Framework {
            id: self.id.clone(),
            revision: self.revision.clone(),
            name: self.name.trimmed(),
            description: self.description.trimmed(),
            areas: self
                .areas
                .iter()
                .map(|a| Area {
                    id: a.id.clone(),
                    name: a.name.trimmed(),
                    max_points: a.max_points.normalize(),
                    headings: a.headings.iter().map(Text::trimmed).collect(),
                    questions: a
                        .questions
                        .iter()
                        .map(|q| Question {
                            id: q.id.clone(),
                            max_points: q.max_points.normalize(),
                            text: q.text.trimmed(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Validation proper. `bad_points` holds faults found while reading
    /// points from a file, keyed by (area index, question index or `None`
    /// for the area's own maximum); the maximum there is a placeholder.
    fn check(&self, bad_points: &HashMap<PointsKey, Fault>) -> Result<(), FrameworkError> {
        let at_framework = |fault| FrameworkError::invalid(Place::Framework, fault);
        if !valid_framework_id(&self.id) {
            return Err(at_framework(Fault::BadFrameworkId {
                id: self.id.clone(),
            }));
        }
        if !valid_revision(&self.revision) {
            return Err(at_framework(Fault::BadRevision {
                revision: self.revision.clone(),
            }));
        }
        check_text(&self.name, TextField::Name).map_err(at_framework)?;
        check_text(&self.description, TextField::Description).map_err(at_framework)?;
        if self.areas.is_empty() {
            return Err(at_framework(Fault::NoAreas));
        }

        let mut area_ids = HashSet::new();
        let mut question_ids = HashSet::new();
        for (ai, area) in self.areas.iter().enumerate() {
            let area_place = Place::Area {
                position: ai + 1,
                id: area.id.clone(),
            };
            let at_area = |fault| FrameworkError::invalid(area_place.clone(), fault);
            if !valid_area_id(&area.id) {
                return Err(at_area(Fault::BadAreaId {
                    id: area.id.clone(),
                }));
            }
            if !area_ids.insert(area.id.as_str()) {
                return Err(at_framework(Fault::DuplicateAreaId {
                    id: area.id.clone(),
                }));
            }
            check_text(&area.name, TextField::Name).map_err(at_area)?;
            check_max(area.max_points, bad_points.get(&(ai, None))).map_err(at_area)?;
            for (hi, heading) in area.headings.iter().enumerate() {
                check_text(heading, TextField::Heading(hi + 1)).map_err(at_area)?;
            }
            if area.questions.is_empty() {
                return Err(at_area(Fault::NoQuestions));
            }

            let mut sum = Decimal::ZERO;
            for (qi, question) in area.questions.iter().enumerate() {
                let at_question = |fault| {
                    FrameworkError::invalid(
                        Place::Question {
                            area_position: ai + 1,
                            area_id: area.id.clone(),
                            position: qi + 1,
                            id: question.id.clone(),
                        },
                        fault,
                    )
                };
                if !valid_question_id(&question.id) {
                    return Err(at_question(Fault::BadQuestionId {
                        id: question.id.clone(),
                    }));
                }
                let in_area = question
                    .id
                    .strip_prefix(area.id.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|rest| !rest.is_empty());
                if !in_area {
                    return Err(at_question(Fault::QuestionOutsideArea {
                        id: question.id.clone(),
                        area_id: area.id.clone(),
                    }));
                }
                if !question_ids.insert(question.id.as_str()) {
                    return Err(at_framework(Fault::DuplicateQuestionId {
                        id: question.id.clone(),
                    }));
                }
                check_text(&question.text, TextField::QuestionText).map_err(at_question)?;
                check_max(question.max_points, bad_points.get(&(ai, Some(qi))))
                    .map_err(at_question)?;
                // Each maximum has at most 13 integer digits here, so the sum
                // cannot overflow.
                sum += question.max_points;
            }
            if sum != area.max_points {
                return Err(at_area(Fault::SumMismatch {
                    sum: sum.normalize(),
                    max: area.max_points.normalize(),
                }));
            }
        }
        Ok(())
    }
}

type PointsKey = (usize, Option<usize>);

fn check_text(text: &Text, field: TextField) -> Result<(), Fault> {
    if text.sv.trim().is_empty() {
        return Err(Fault::EmptyText {
            field,
            lang: Lang::Sv,
        });
    }
    if text.en.trim().is_empty() {
        return Err(Fault::EmptyText {
            field,
            lang: Lang::En,
        });
    }
    Ok(())
}

fn check_max(max: Decimal, read_fault: Option<&Fault>) -> Result<(), Fault> {
    if let Some(fault) = read_fault {
        return Err(fault.clone());
    }
    if max <= Decimal::ZERO {
        return Err(Fault::MaxNotPositive);
    }
    // Same rules as points typed by users: at most two decimals and 13
    // integer digits.
    let text = max.normalize().to_string();
    parse_points(&text).map_err(|error| Fault::MaxInvalid {
        value: max.to_string(),
        error,
    })?;
    Ok(())
}

/// `^[a-z][a-z0-9-]{1,40}$`
fn valid_framework_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=41).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// `^[A-Za-z0-9._-]{1,20}$`
fn valid_revision(revision: &str) -> bool {
    (1..=20).contains(&revision.len())
        && revision
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// `^[A-Za-z0-9_-]{1,20}$` (no dot: the dot separates area and question).
fn valid_area_id(id: &str) -> bool {
    (1..=20).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
}

/// `^[A-Za-z0-9._-]{1,40}$`
fn valid_question_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a framework was rejected: unreadable text, or the first rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameworkError {
    /// The text is not well-formed YAML/JSON, or does not have the expected
    /// shape (missing or unknown field, wrong type). `message` is the
    /// parser's (English) message; line and column are one-based.
    Syntax {
        format: Format,
        message: String,
        line: Option<usize>,
        column: Option<usize>,
    },
    /// The framework breaks a rule at `place` (boxed to keep `Result`s small).
    Invalid {
        place: Box<Place>,
        fault: Box<Fault>,
    },
}

impl FrameworkError {
    fn invalid(place: Place, fault: Fault) -> Self {
        Self::Invalid {
            place: Box::new(place),
            fault: Box::new(fault),
        }
    }

    /// Stable machine-readable code, for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax { .. } => "syntax",
            Self::Invalid { fault, .. } => fault.code(),
        }
    }

    pub fn place(&self) -> Option<&Place> {
        match self {
            Self::Syntax { .. } => None,
            Self::Invalid { place, .. } => Some(place.as_ref()),
        }
    }

    pub fn fault(&self) -> Option<&Fault> {
        match self {
            Self::Syntax { .. } => None,
            Self::Invalid { fault, .. } => Some(fault.as_ref()),
        }
    }

    /// The same message as `Display`, in Swedish (the parser's own message
    /// in a syntax error stays English).
    pub fn message_sv(&self) -> String {
        match self {
            Self::Syntax {
                format,
                message,
                line,
                column,
            } => {
                let at = match (line, column) {
                    (Some(l), Some(c)) => format!(" (rad {l}, kolumn {c})"),
                    (Some(l), None) => format!(" (rad {l})"),
                    _ => String::new(),
                };
                format!("{format}-texten kunde inte läsas{at}: {message}")
            }
            Self::Invalid { place, fault } => match place.sv() {
                Some(p) => format!("{p}: {}", fault.sv()),
                None => fault.sv(),
            },
        }
    }
}

impl fmt::Display for FrameworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax {
                format, message, ..
            } => write!(f, "the {format} text could not be read: {message}"),
            Self::Invalid { place, fault } => match place.en() {
                Some(p) => write!(f, "{p}: {}", fault.en()),
                None => f.write_str(&fault.en()),
            },
        }
    }
}

impl std::error::Error for FrameworkError {}

/// Where a fault is. Positions are one-based; messages use the id when it is
/// printable and the position otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The framework as a whole (its id, revision, texts, or a duplicate id).
    Framework,
    Area {
        position: usize,
        id: String,
    },
    Question {
        area_position: usize,
        area_id: String,
        position: usize,
        id: String,
    },
}

fn printable_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= 40
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn label(word: &str, at_position: &str, position: usize, id: &str) -> String {
    if printable_id(id) {
        format!("{word} {id}")
    } else {
        format!("{word} {at_position} {position}")
    }
}

impl Place {
    fn en(&self) -> Option<String> {
        match self {
            Place::Framework => None,
            Place::Area { position, id } => Some(label("area", "at position", *position, id)),
            Place::Question {
                area_position,
                area_id,
                position,
                id,
            } => Some(format!(
                "{}, {}",
                label("area", "at position", *area_position, area_id),
                label("question", "at position", *position, id)
            )),
        }
    }

    fn sv(&self) -> Option<String> {
        match self {
            Place::Framework => None,
            Place::Area { position, id } => Some(label("område", "på plats", *position, id)),
            Place::Question {
                area_position,
                area_id,
                position,
                id,
            } => Some(format!(
                "{}, {}",
                label("område", "på plats", *area_position, area_id),
                label("fråga", "på plats", *position, id)
            )),
        }
    }
}

/// Which text of an object is faulty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextField {
    Name,
    Description,
    /// One-based heading number within its area.
    Heading(usize),
    QuestionText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Sv,
    En,
}

/// The rule a framework breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    BadFrameworkId {
        id: String,
    },
    BadRevision {
        revision: String,
    },
    EmptyText {
        field: TextField,
        lang: Lang,
    },
    NoAreas,
    BadAreaId {
        id: String,
    },
    DuplicateAreaId {
        id: String,
    },
    NoQuestions,
    BadQuestionId {
        id: String,
    },
    /// The question id does not start with `<area id>.`.
    QuestionOutsideArea {
        id: String,
        area_id: String,
    },
    DuplicateQuestionId {
        id: String,
    },
    MaxNotPositive,
    /// `value` as written; `error` says what is wrong with it.
    MaxInvalid {
        value: String,
        error: ScoreError,
    },
    /// A bare (unquoted) non-integer number, read by the parser as a float.
    MaxUnquoted {
        value: String,
    },
    SumMismatch {
        sum: Decimal,
        max: Decimal,
    },
}

/// A full-sentence message from another crate, fitted after a colon.
fn clause(sentence: &str) -> String {
    let s = sentence.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn sv_number(d: Decimal) -> String {
    d.normalize().to_string().replace('.', ",")
}

impl Fault {
    pub fn code(&self) -> &'static str {
        match self {
            Fault::BadFrameworkId { .. } => "bad_framework_id",
            Fault::BadRevision { .. } => "bad_revision",
            Fault::EmptyText { .. } => "empty_text",
            Fault::NoAreas => "no_areas",
            Fault::BadAreaId { .. } => "bad_area_id",
            Fault::DuplicateAreaId { .. } => "duplicate_area_id",
            Fault::NoQuestions => "no_questions",
            Fault::BadQuestionId { .. } => "bad_question_id",
            Fault::QuestionOutsideArea { .. } => "question_outside_area",
            Fault::DuplicateQuestionId { .. } => "duplicate_question_id",
            Fault::MaxNotPositive => "max_not_positive",
            Fault::MaxInvalid { .. } => "max_invalid",
            Fault::MaxUnquoted { .. } => "max_unquoted",
            Fault::SumMismatch { .. } => "sum_mismatch",
        }
    }

    fn en(&self) -> String {
        match self {
            Fault::BadFrameworkId { id } => format!(
                "framework id {id:?} is invalid: it must have 2–41 characters, start with a \
                 lowercase letter a–z and contain only lowercase letters, digits and hyphens"
            ),
            Fault::BadRevision { revision } => format!(
                "revision {revision:?} is invalid: it must have 1–20 characters, only letters \
                 A–Z, digits, '.', '_' and '-'"
            ),
            Fault::EmptyText { field, lang } => {
                let field = match field {
                    TextField::Name => "the name".to_owned(),
                    TextField::Description => "the description".to_owned(),
                    TextField::Heading(n) => format!("heading {n}"),
                    TextField::QuestionText => "the question text".to_owned(),
                };
                let lang = match lang {
                    Lang::Sv => "Swedish",
                    Lang::En => "English",
                };
                format!("{field} has an empty {lang} text")
            }
            Fault::NoAreas => "the framework has no areas; at least one is required".into(),
            Fault::BadAreaId { id } => format!(
                "area id {id:?} is invalid: it must have 1–20 characters, only letters A–Z, \
                 digits, '_' and '-' (no dots)"
            ),
            Fault::DuplicateAreaId { id } => format!("area id {id} appears twice"),
            Fault::NoQuestions => "the area has no questions; at least one is required".into(),
            Fault::BadQuestionId { id } => format!(
                "question id {id:?} is invalid: it must have 1–40 characters, only letters A–Z, \
                 digits, '.', '_' and '-'"
            ),
            Fault::QuestionOutsideArea { id, area_id } => format!(
                "question id {id} must start with the area id followed by a dot \
                 (\"{area_id}.\", e.g. \"{area_id}.1\")"
            ),
            Fault::DuplicateQuestionId { id } => format!("question id {id} appears twice"),
            Fault::MaxNotPositive => "max_points must be greater than 0".into(),
            Fault::MaxInvalid { value, error } => {
                format!(
                    "max_points {value:?} is invalid: {}",
                    clause(&error.to_string())
                )
            }
            Fault::MaxUnquoted { value } => format!(
                "max_points {value} is an unquoted decimal number; write it in quotes, \
                 as \"{value}\", so that it is read exactly"
            ),
            Fault::SumMismatch { sum, max } => format!(
                "question maxima sum to {}, but the area's max_points is {}",
                sum.normalize(),
                max.normalize()
            ),
        }
    }

    fn sv(&self) -> String {
        match self {
            Fault::BadFrameworkId { id } => format!(
                "ramverkets id {id:?} är ogiltigt: det ska ha 2–41 tecken, börja med en liten \
                 bokstav a–z och bara innehålla små bokstäver, siffror och bindestreck"
            ),
            Fault::BadRevision { revision } => format!(
                "revisionen {revision:?} är ogiltig: den ska ha 1–20 tecken och bara innehålla \
                 bokstäver A–Z, siffror, '.', '_' och '-'"
            ),
            Fault::EmptyText { field, lang } => {
                let field = match field {
                    TextField::Name => "namnet".to_owned(),
                    TextField::Description => "beskrivningen".to_owned(),
                    TextField::Heading(n) => format!("rubrik {n}"),
                    TextField::QuestionText => "frågetexten".to_owned(),
                };
                let lang = match lang {
                    Lang::Sv => "svensk",
                    Lang::En => "engelsk",
                };
                format!("{field} har en tom {lang} text")
            }
            Fault::NoAreas => "ramverket har inga områden; minst ett krävs".into(),
            Fault::BadAreaId { id } => format!(
                "områdets id {id:?} är ogiltigt: det ska ha 1–20 tecken och bara innehålla \
                 bokstäver A–Z, siffror, '_' och '-' (inga punkter)"
            ),
            Fault::DuplicateAreaId { id } => format!("områdes-id {id} förekommer två gånger"),
            Fault::NoQuestions => "området har inga frågor; minst en krävs".into(),
            Fault::BadQuestionId { id } => format!(
                "frågans id {id:?} är ogiltigt: det ska ha 1–40 tecken och bara innehålla \
                 bokstäver A–Z, siffror, '.', '_' och '-'"
            ),
            Fault::QuestionOutsideArea { id, area_id } => format!(
                "frågans id {id} måste börja med områdets id följt av en punkt \
                 (\"{area_id}.\", till exempel \"{area_id}.1\")"
            ),
            Fault::DuplicateQuestionId { id } => format!("fråge-id {id} förekommer två gånger"),
            Fault::MaxNotPositive => "max_points måste vara större än 0".into(),
            Fault::MaxInvalid { value, error } => {
                format!(
                    "max_points {value:?} är ogiltigt: {}",
                    clause(&error.message_sv())
                )
            }
            Fault::MaxUnquoted { value } => format!(
                "max_points {value} är ett decimaltal utan citattecken; skriv det inom \
                 citattecken, som \"{value}\", så att det läses exakt"
            ),
            Fault::SumMismatch { sum, max } => format!(
                "frågornas maxpoäng summeras till {}, men områdets max_points är {}",
                sv_number(*sum),
                sv_number(*max)
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// File shape
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFramework {
    framework: String,
    revision: String,
    name: Text,
    description: Text,
    areas: Vec<RawArea>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawArea {
    id: String,
    name: Text,
    max_points: RawPoints,
    #[serde(default)]
    headings: Vec<Text>,
    questions: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: String,
    max_points: RawPoints,
    text: Text,
}

/// A points value as written: a string, a bare integer, or a bare float
/// (rejected during validation so the message can name the place).
enum RawPoints {
    Text(String),
    Integer(String),
    Float(String),
}

impl RawPoints {
    fn resolve(self) -> Result<Decimal, Fault> {
        match self {
            RawPoints::Text(s) | RawPoints::Integer(s) => match parse_points(&s) {
                Ok(d) => Ok(d.normalize()),
                Err(error) => Err(Fault::MaxInvalid { value: s, error }),
            },
            RawPoints::Float(value) => Err(Fault::MaxUnquoted { value }),
        }
    }
}

impl<'de> Deserialize<'de> for RawPoints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PointsVisitor;

        impl Visitor<'_> for PointsVisitor {
            type Value = RawPoints;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of points in quotes, such as \"15\" or \"12.5\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawPoints, E> {
                Ok(RawPoints::Text(v.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawPoints, E> {
                Ok(RawPoints::Integer(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawPoints, E> {
                Ok(RawPoints::Integer(v.to_string()))
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawPoints, E> {
                Ok(RawPoints::Integer(v.to_string()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawPoints, E> {
                Ok(RawPoints::Integer(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawPoints, E> {
                // YAML's .nan and .inf are no numbers of points at all.
                Ok(if v.is_finite() {
                    RawPoints::Float(v.to_string())
                } else {
                    RawPoints::Text(v.to_string())
                })
            }
        }

        deserializer.deserialize_any(PointsVisitor)
    }
}

impl TryFrom<RawFramework> for Framework {
    type Error = FrameworkError;

    fn try_from(raw: RawFramework) -> Result<Self, Self::Error> {
        let mut bad_points: HashMap<PointsKey, Fault> = HashMap::new();
        let mut resolve = |points: RawPoints, key: PointsKey| {
            points.resolve().unwrap_or_else(|fault| {
                bad_points.insert(key, fault);
                Decimal::ZERO
            })
        };
        let areas = raw
            .areas
            .into_iter()
            .enumerate()
            .map(|(ai, a)| Area {
                id: a.id,
                name: a.name.trimmed(),
                max_points: resolve(a.max_points, (ai, None)),
                headings: a.headings.iter().map(Text::trimmed).collect(),
                questions: a
                    .questions
                    .into_iter()
                    .enumerate()
                    .map(|(qi, q)| Question {
                        id: q.id,
                        max_points: resolve(q.max_points, (ai, Some(qi))),
                        text: q.text.trimmed(),
                    })
                    .collect(),
            })
            .collect();
        let framework = Framework {
            id: raw.framework,
            revision: raw.revision,
            name: raw.name.trimmed(),
            description: raw.description.trimmed(),
            areas,
        };
        framework.check(&bad_points)?;
        Ok(framework)
    }
}

//! Scoring arithmetic for Kommunkompassen evaluations, shared by every service.
//!
//! Rules (see the domain brief):
//! - points are exact decimals with at most two decimals, never binary floats;
//! - area totals and the grand total are summed from the **exact** points and
//!   rounded only for display;
//! - display rounding is half away from zero (10.5 → 11, 6.5 → 7), not banker's
//!   rounding;
//! - a percentage is `points / max × 100`, exact, and rounded the same way for
//!   display.
//!
//! A maximum of zero is an error ([`ScoreError::ZeroMax`]) wherever a
//! percentage is needed: a share of nothing is undefined, and showing "0 %"
//! would hide a broken framework.

#![forbid(unsafe_code)]
#![deny(clippy::float_arithmetic, clippy::float_cmp)]

use std::collections::HashSet;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Number of decimals stored for points and money amounts.
pub const SCALE: u32 = 2;

/// Largest number of digits before the decimal point that a parsed value may
/// have, so that every accepted value fits a `NUMERIC(15, 2)` column.
pub const MAX_INTEGER_DIGITS: usize = 13;

/// Why a points value, money amount or score set was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    #[error("The value is empty; enter a number such as 12 or 12.50.")]
    Empty,
    #[error("The value contains spaces or other whitespace; enter the number without spaces.")]
    Whitespace,
    #[error("\"NaN\" is not a number; enter a number such as 12 or 12.50.")]
    NotANumber,
    #[error("Infinity is not allowed; enter a finite number such as 12 or 12.50.")]
    Infinite,
    #[error("Exponent notation such as 1e3 is not allowed; write the number out in full.")]
    Exponent,
    #[error("A comma is not allowed; use a point as the decimal separator, for example 12.50.")]
    Comma,
    #[error("Negative values are not allowed; the value must be zero or more.")]
    Negative,
    #[error("A plus sign is not allowed; enter the number without a sign.")]
    PlusSign,
    #[error("At most two decimals are allowed, for example 16.80.")]
    TooManyDecimals,
    #[error(
        "The value is not a valid number; use only digits and at most one decimal point, for example 12.50."
    )]
    Malformed,
    #[error("The value is too large; at most 13 digits are allowed before the decimal point.")]
    TooLarge,
    #[error("The points {points} exceed the maximum of {max} for this question.")]
    ExceedsMax { points: Decimal, max: Decimal },
    #[error("The maximum {max} is invalid; it must be zero or more with at most two decimals.")]
    InvalidMax { max: Decimal },
    #[error("The maximum is zero, so no percentage can be computed.")]
    ZeroMax,
    #[error("There are no scores to sum.")]
    NoScores,
    #[error("Question {question_id} is scored more than once.")]
    DuplicateQuestion { question_id: String },
}

impl ScoreError {
    /// Stable machine-readable code, for API error bodies and translations.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Whitespace => "whitespace",
            Self::NotANumber => "not_a_number",
            Self::Infinite => "infinite",
            Self::Exponent => "exponent",
            Self::Comma => "comma",
            Self::Negative => "negative",
            Self::PlusSign => "plus_sign",
            Self::TooManyDecimals => "too_many_decimals",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::ExceedsMax { .. } => "exceeds_max",
            Self::InvalidMax { .. } => "invalid_max",
            Self::ZeroMax => "zero_max",
            Self::NoScores => "no_scores",
            Self::DuplicateQuestion { .. } => "duplicate_question",
        }
    }

    /// The same message as `Display`, in Swedish (numbers with decimal comma).
    pub fn message_sv(&self) -> String {
        match self {
            Self::Empty => "Värdet är tomt; ange ett tal, till exempel 12 eller 12.50.".into(),
            Self::Whitespace => {
                "Värdet innehåller mellanslag eller andra blanktecken; ange talet utan mellanslag."
                    .into()
            }
            Self::NotANumber => {
                "\"NaN\" är inte ett tal; ange ett tal, till exempel 12 eller 12.50.".into()
            }
            Self::Infinite => {
                "Oändligheten är inte tillåten; ange ett ändligt tal, till exempel 12 eller 12.50."
                    .into()
            }
            Self::Exponent => {
                "Exponentform som 1e3 är inte tillåten; skriv ut hela talet.".into()
            }
            Self::Comma => {
                "Kommatecken är inte tillåtet; använd punkt som decimaltecken, till exempel 12.50."
                    .into()
            }
            Self::Negative => {
                "Negativa värden är inte tillåtna; värdet måste vara noll eller mer.".into()
            }
            Self::PlusSign => "Plustecken är inte tillåtet; ange talet utan tecken.".into(),
            Self::TooManyDecimals => {
                "Högst två decimaler är tillåtna, till exempel 16.80.".into()
            }
            Self::Malformed => {
                "Värdet är inte ett giltigt tal; använd bara siffror och högst en decimalpunkt, till exempel 12.50."
                    .into()
            }
            Self::TooLarge => {
                "Värdet är för stort; högst 13 siffror är tillåtna före decimalpunkten.".into()
            }
            Self::ExceedsMax { points, max } => format!(
                "Poängen {} överstiger maxpoängen {} för frågan.",
                sv_number(*points),
                sv_number(*max)
            ),
            Self::InvalidMax { max } => format!(
                "Maxpoängen {} är ogiltig; den måste vara noll eller mer med högst två decimaler.",
                sv_number(*max)
            ),
            Self::ZeroMax => "Maxpoängen är noll, så ingen procentsats kan beräknas.".into(),
            Self::NoScores => "Det finns inga poäng att summera.".into(),
            Self::DuplicateQuestion { question_id } => {
                format!("Fråga {question_id} har poängsatts mer än en gång.")
            }
        }
    }
}

/// Decimal with a decimal comma, the way Swedish text writes numbers.
fn sv_number(d: Decimal) -> String {
    d.normalize().to_string().replace('.', ",")
}

/// Strict parser shared by [`parse_points`] and [`parse_money`]: plain ASCII
/// digits, optionally one "." followed by one or two digits. Checks run in a
/// fixed order so each kind of bad input gets its own error.
fn parse_strict(s: &str) -> Result<Decimal, ScoreError> {
    if s.is_empty() {
        return Err(ScoreError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(ScoreError::Whitespace);
    }
    let unsigned = s.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if unsigned == "nan" {
        return Err(ScoreError::NotANumber);
    }
    if unsigned == "inf" || unsigned == "infinity" || s.contains('∞') {
        return Err(ScoreError::Infinite);
    }
    if s.starts_with('-') {
        return Err(ScoreError::Negative);
    }
    if s.starts_with('+') {
        return Err(ScoreError::PlusSign);
    }
    if s.contains(['e', 'E']) {
        return Err(ScoreError::Exponent);
    }
    if s.contains(',') {
        return Err(ScoreError::Comma);
    }
    let (int_part, frac_part) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(ScoreError::Malformed);
    }
    if frac_part.is_some_and(|f| f.len() > SCALE as usize) {
        return Err(ScoreError::TooManyDecimals);
    }
    if int_part.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
        return Err(ScoreError::TooLarge);
    }
    // Cannot fail after the checks above; map defensively instead of panicking.
    Decimal::from_str_exact(s).map_err(|_| ScoreError::Malformed)
}

/// Parses a points value: digits, optional "." and at most two decimals, ≥ 0.
pub fn parse_points(s: &str) -> Result<Decimal, ScoreError> {
    parse_strict(s)
}

/// Parses a money amount (e.g. a budget line in SEK) with the same strictness
/// as points: no sign, exponent, comma or more than two decimals; zero is fine.
pub fn parse_money(s: &str) -> Result<Decimal, ScoreError> {
    parse_strict(s)
}

/// Decimals actually needed to write `d` (1.50 needs one, 1.500 needs one).
fn effective_scale(d: Decimal) -> u32 {
    d.normalize().scale()
}

/// Checks a maximum: ≥ 0 with at most two decimals.
pub fn validate_max(max: Decimal) -> Result<Decimal, ScoreError> {
    if max.is_sign_negative() && !max.is_zero() || effective_scale(max) > SCALE {
        return Err(ScoreError::InvalidMax { max });
    }
    Ok(max)
}

/// Checks `0 ≤ points ≤ max` with at most two decimals, and that `max` itself
/// is valid; returns the points unchanged.
pub fn validate_points(points: Decimal, max: Decimal) -> Result<Decimal, ScoreError> {
    validate_max(max)?;
    if points.is_sign_negative() && !points.is_zero() {
        return Err(ScoreError::Negative);
    }
    if effective_scale(points) > SCALE {
        return Err(ScoreError::TooManyDecimals);
    }
    if points > max {
        return Err(ScoreError::ExceedsMax { points, max });
    }
    Ok(points)
}

/// Rounds to a whole number half away from zero (10.5 → 11, 6.5 → 7,
/// 16.49 → 16), as Swedish reports do; banker's rounding gives wrong figures.
pub fn round_display(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

/// Exact `points / max × 100`, unrounded; a zero maximum is an error.
pub fn percent(points: Decimal, max: Decimal) -> Result<Decimal, ScoreError> {
    if max.is_zero() {
        return Err(ScoreError::ZeroMax);
    }
    // Multiply first so that exact shares (16.80 of 20) stay exact (84).
    Ok((points * Decimal::ONE_HUNDRED / max).normalize())
}

/// [`percent`] rounded half away from zero to a whole percent, for display.
pub fn display_percent(points: Decimal, max: Decimal) -> Result<Decimal, ScoreError> {
    percent(points, max).map(round_display)
}

/// Canonical text for storage and API output: always two decimals ("16.80");
/// values with more decimals are first rounded half away from zero.
pub fn format_points(d: Decimal) -> String {
    let mut r = d.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointAwayFromZero);
    if r.is_zero() {
        // Avoid "-0.00".
        r = Decimal::ZERO;
    }
    r.rescale(SCALE);
    r.to_string()
}

/// The points given for one question, with that question's maximum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuestionScore {
    pub question_id: String,
    pub area_id: String,
    pub points: Decimal,
    pub max_points: Decimal,
}

impl QuestionScore {
    /// Points as a report's *Uppnått* column shows them (whole number).
    pub fn display_points(&self) -> Decimal {
        round_display(self.points)
    }

    /// Exact percentage of the maximum.
    pub fn percent(&self) -> Result<Decimal, ScoreError> {
        percent(self.points, self.max_points)
    }

    /// Percentage as a report's *Procent* column shows it (whole percent).
    pub fn display_percent(&self) -> Result<Decimal, ScoreError> {
        display_percent(self.points, self.max_points)
    }
}

/// Sum for one area, from exact points; display fields are rounded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AreaTotal {
    pub area_id: String,
    /// Exact sum of the area's question points.
    pub points: Decimal,
    pub max_points: Decimal,
    /// `points` rounded half away from zero (not the sum of rounded rows).
    pub display_points: Decimal,
    /// Exact `points / max_points × 100`.
    pub percent: Decimal,
    pub display_percent: Decimal,
    pub question_count: usize,
}

/// Per-area and grand totals of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Areas in the order in which they first appear in the input.
    pub areas: Vec<AreaTotal>,
    /// Exact sum of all question points.
    pub total_points: Decimal,
    pub total_max: Decimal,
    /// `total_points` rounded half away from zero.
    pub display_total: Decimal,
    pub percent: Decimal,
    pub display_percent: Decimal,
}

/// Sums scores per area and overall from exact points, rounding only for
/// display. Every score is validated first (0 ≤ points ≤ max, two decimals,
/// max > 0), and a question id may appear only once, so a bad row can never
/// silently change a total.
pub fn totals(scores: &[QuestionScore]) -> Result<Totals, ScoreError> {
    if scores.is_empty() {
        return Err(ScoreError::NoScores);
    }
    let mut seen = HashSet::with_capacity(scores.len());
    // (area_id, points, max, count) in first-appearance order; the number of
    // areas is small (8), so a linear lookup is fine.
    let mut sums: Vec<(&str, Decimal, Decimal, usize)> = Vec::new();
    for s in scores {
        validate_points(s.points, s.max_points)?;
        if s.max_points.is_zero() {
            return Err(ScoreError::ZeroMax);
        }
        if !seen.insert(s.question_id.as_str()) {
            return Err(ScoreError::DuplicateQuestion {
                question_id: s.question_id.clone(),
            });
        }
        match sums.iter_mut().find(|(id, ..)| *id == s.area_id) {
            Some(entry) => {
                entry.1 += s.points;
                entry.2 += s.max_points;
                entry.3 += 1;
            }
            None => sums.push((&s.area_id, s.points, s.max_points, 1)),
        }
    }
    let areas = sums
        .into_iter()
        .map(|(area_id, points, max_points, question_count)| {
            Ok(AreaTotal {
                area_id: area_id.to_owned(),
                points,
                max_points,
                display_points: round_display(points),
                percent: percent(points, max_points)?,
                display_percent: display_percent(points, max_points)?,
                question_count,
            })
        })
        .collect::<Result<Vec<_>, ScoreError>>()?;
    let total_points: Decimal = areas.iter().map(|a| a.points).sum();
    let total_max: Decimal = areas.iter().map(|a| a.max_points).sum();
    Ok(Totals {
        display_total: round_display(total_points),
        percent: percent(total_points, total_max)?,
        display_percent: display_percent(total_points, total_max)?,
        areas,
        total_points,
        total_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    fn q(id: &str, area: &str, points: &str, max: &str) -> QuestionScore {
        QuestionScore {
            question_id: id.into(),
            area_id: area.into(),
            points: d(points),
            max_points: d(max),
        }
    }

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(round_display(d("10.5")), d("11"));
        assert_eq!(round_display(d("6.5")), d("7"));
        assert_eq!(round_display(d("2.5")), d("3"));
        assert_eq!(round_display(d("16.49")), d("16"));
        assert_eq!(round_display(d("16.50")), d("17"));
        assert_eq!(round_display(d("0.49")), d("0"));
    }

    #[test]
    fn share_of_max_is_exact() {
        // 84 % of 20 = 16.80
        let points = d("20") * d("84") / Decimal::ONE_HUNDRED;
        assert_eq!(format_points(points), "16.80");
        assert_eq!(percent(d("16.80"), d("20")).unwrap(), d("84"));
        assert_eq!(display_percent(d("16.80"), d("20")).unwrap(), d("84"));
        assert_eq!(round_display(d("16.80")), d("17"));
    }

    #[test]
    fn percent_is_exact_and_display_rounds_half_away() {
        assert_eq!(percent(d("1"), d("8")).unwrap(), d("12.5"));
        assert_eq!(display_percent(d("1"), d("8")).unwrap(), d("13"));
        assert_eq!(display_percent(d("10"), d("30")).unwrap(), d("33"));
        assert_eq!(display_percent(d("20"), d("30")).unwrap(), d("67"));
        assert_eq!(percent(d("0"), d("0")), Err(ScoreError::ZeroMax));
        assert_eq!(display_percent(d("5"), d("0")), Err(ScoreError::ZeroMax));
    }

    #[test]
    fn format_points_always_two_decimals() {
        assert_eq!(format_points(d("16.8")), "16.80");
        assert_eq!(format_points(d("16")), "16.00");
        assert_eq!(format_points(d("0")), "0.00");
        assert_eq!(format_points(d("100.00")), "100.00");
        assert_eq!(format_points(d("1.005")), "1.01");
        assert_eq!(format_points(d("12500.5")), "12500.50");
    }

    #[test]
    fn area_total_rounds_exact_sum_not_rounded_rows() {
        let scores = [
            q("1.1", "1", "10.5", "15"),
            q("1.2", "1", "10.5", "20"),
            q("1.3", "1", "10.4", "25"),
        ];
        let rounded_rows: Decimal = scores.iter().map(QuestionScore::display_points).sum();
        assert_eq!(rounded_rows, d("32")); // 11 + 11 + 10: wrong
        let t = totals(&scores).unwrap();
        assert_eq!(t.areas.len(), 1);
        assert_eq!(t.areas[0].points, d("31.4"));
        assert_eq!(t.areas[0].display_points, d("31"));
        assert_eq!(t.areas[0].max_points, d("60"));
        assert_eq!(t.areas[0].question_count, 3);
        assert_eq!(t.display_total, d("31"));
    }

    #[test]
    fn totals_keep_first_appearance_order_and_sum_exactly() {
        let scores = [
            q("2.1", "2", "12.75", "15"),
            q("1.1", "1", "7.50", "15"),
            q("2.2", "2", "0.25", "25"),
            q("1.2", "1", "16.80", "20"),
        ];
        let t = totals(&scores).unwrap();
        let ids: Vec<_> = t.areas.iter().map(|a| a.area_id.as_str()).collect();
        assert_eq!(ids, ["2", "1"]);
        assert_eq!(t.areas[0].points, d("13.00"));
        assert_eq!(t.areas[0].percent, d("32.5"));
        assert_eq!(t.areas[0].display_percent, d("33"));
        assert_eq!(t.areas[1].points, d("24.30"));
        assert_eq!(t.areas[1].display_points, d("24"));
        assert_eq!(t.total_points, d("37.30"));
        assert_eq!(t.total_max, d("75"));
        assert_eq!(t.display_total, d("37"));
        assert_eq!(format_points(t.total_points), "37.30");
    }

    #[test]
    fn totals_reject_bad_input() {
        assert_eq!(totals(&[]), Err(ScoreError::NoScores));
        assert_eq!(
            totals(&[q("1.1", "1", "16", "15")]),
            Err(ScoreError::ExceedsMax {
                points: d("16"),
                max: d("15")
            })
        );
        assert_eq!(totals(&[q("1.1", "1", "0", "0")]), Err(ScoreError::ZeroMax));
        assert_eq!(
            totals(&[q("1.1", "1", "1", "15"), q("1.1", "1", "2", "15")]),
            Err(ScoreError::DuplicateQuestion {
                question_id: "1.1".into()
            })
        );
    }

    #[test]
    fn parse_points_accepts_plain_decimals() {
        assert_eq!(parse_points("0").unwrap(), d("0"));
        assert_eq!(parse_points("16.8").unwrap(), d("16.8"));
        assert_eq!(parse_points("16.80").unwrap(), d("16.80"));
        assert_eq!(parse_points("100").unwrap(), d("100"));
        assert_eq!(parse_points("0.05").unwrap(), d("0.05"));
    }

    #[test]
    fn parse_points_rejections_are_distinct() {
        use ScoreError::*;
        let cases = [
            ("", Empty),
            (" ", Whitespace),
            (" 12", Whitespace),
            ("12 ", Whitespace),
            ("1 2", Whitespace),
            ("12\t", Whitespace),
            ("NaN", NotANumber),
            ("nan", NotANumber),
            ("inf", Infinite),
            ("-inf", Infinite),
            ("Infinity", Infinite),
            ("1e3", Exponent),
            ("1E3", Exponent),
            ("12,5", Comma),
            ("-1", Negative),
            ("-0", Negative),
            ("+1", PlusSign),
            ("1.234", TooManyDecimals),
            ("0.001", TooManyDecimals),
            (".5", Malformed),
            ("5.", Malformed),
            ("1.2.3", Malformed),
            ("abc", Malformed),
            ("1_000", Malformed),
            ("0x10", Malformed),
            ("١٢", Malformed),
            ("12345678901234", TooLarge),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_points(input), Err(expected), "input {input:?}");
        }
        let all = [
            Empty,
            Whitespace,
            NotANumber,
            Infinite,
            Exponent,
            Comma,
            Negative,
            PlusSign,
            TooManyDecimals,
            Malformed,
            TooLarge,
        ];
        let codes: HashSet<_> = all.iter().map(ScoreError::code).collect();
        let en: HashSet<_> = all.iter().map(ToString::to_string).collect();
        let sv: HashSet<_> = all.iter().map(ScoreError::message_sv).collect();
        assert_eq!(codes.len(), all.len(), "codes must be distinct");
        assert_eq!(en.len(), all.len(), "English messages must be distinct");
        assert_eq!(sv.len(), all.len(), "Swedish messages must be distinct");
    }

    #[test]
    fn messages_are_sentences_in_both_languages() {
        let e = ScoreError::ExceedsMax {
            points: d("16.80"),
            max: d("15"),
        };
        assert_eq!(
            e.to_string(),
            "The points 16.80 exceed the maximum of 15 for this question."
        );
        assert_eq!(
            e.message_sv(),
            "Poängen 16,8 överstiger maxpoängen 15 för frågan."
        );
        assert_eq!(
            ScoreError::Comma.message_sv(),
            "Kommatecken är inte tillåtet; använd punkt som decimaltecken, till exempel 12.50."
        );
        for e in [ScoreError::Empty, ScoreError::NoScores, ScoreError::ZeroMax] {
            assert!(e.to_string().ends_with('.'));
            assert!(e.message_sv().ends_with('.'));
        }
    }

    #[test]
    fn parse_money_is_strict() {
        assert_eq!(parse_money("12500.50").unwrap(), d("12500.50"));
        assert_eq!(parse_money("0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_money("0.00").unwrap(), Decimal::ZERO);
        assert_eq!(parse_money("85000").unwrap(), d("85000"));
        assert!(parse_money("12,5e3").is_err());
        assert_eq!(parse_money("12.5e3"), Err(ScoreError::Exponent));
        assert_eq!(parse_money("12,50"), Err(ScoreError::Comma));
        assert_eq!(parse_money("-100"), Err(ScoreError::Negative));
        assert_eq!(parse_money("100.001"), Err(ScoreError::TooManyDecimals));
        assert_eq!(parse_money("85 000"), Err(ScoreError::Whitespace));
    }

    #[test]
    fn validate_points_bounds_and_scale() {
        assert_eq!(validate_points(d("16.80"), d("20")).unwrap(), d("16.80"));
        assert_eq!(validate_points(d("0"), d("20")).unwrap(), d("0"));
        assert_eq!(validate_points(d("20"), d("20")).unwrap(), d("20"));
        assert_eq!(validate_points(d("1.500"), d("20")).unwrap(), d("1.5"));
        assert_eq!(validate_points(d("0"), d("0")).unwrap(), d("0"));
        assert_eq!(validate_points(d("-1"), d("20")), Err(ScoreError::Negative));
        assert_eq!(
            validate_points(d("1.234"), d("20")),
            Err(ScoreError::TooManyDecimals)
        );
        assert_eq!(
            validate_points(d("20.01"), d("20")),
            Err(ScoreError::ExceedsMax {
                points: d("20.01"),
                max: d("20")
            })
        );
        assert_eq!(
            validate_points(d("1"), d("-5")),
            Err(ScoreError::InvalidMax { max: d("-5") })
        );
        assert_eq!(
            validate_points(d("1"), d("5.555")),
            Err(ScoreError::InvalidMax { max: d("5.555") })
        );
    }

    #[test]
    fn serializes_decimals_as_strings() {
        // rust_decimal's "serde-str" feature: exact text, never a float.
        let s = q("1.1", "1", "16.80", "20");
        let yaml = serde_yaml::to_string(&s).unwrap();
        assert!(yaml.contains("'16.80'"), "{yaml}");
        let back: QuestionScore = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(back, s);
    }
}

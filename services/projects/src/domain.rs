//! Domain rules as plain functions: phase order and decisions, risk value,
//! overdue, traffic lights, amounts. No I/O here.

use chrono::NaiveDate;
use kompass_core::{Error, Msg};
use kompass_proto::projects::v1 as pb;

/// Phases of the project model, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Idea,
    PreStudy,
    Planning,
    Execution,
    Closure,
}

impl Phase {
    pub const ORDER: [Phase; 5] = [
        Phase::Idea,
        Phase::PreStudy,
        Phase::Planning,
        Phase::Execution,
        Phase::Closure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idea => "idea",
            Phase::PreStudy => "pre_study",
            Phase::Planning => "planning",
            Phase::Execution => "execution",
            Phase::Closure => "closure",
        }
    }
    pub fn parse(s: &str) -> Phase {
        Phase::ORDER
            .into_iter()
            .find(|p| p.as_str() == s)
            .unwrap_or(Phase::Idea)
    }
    pub fn label(self) -> String {
        self.as_str().to_uppercase()
    }
    pub fn label_sv(self) -> &'static str {
        match self {
            Phase::Idea => "idé",
            Phase::PreStudy => "förstudie",
            Phase::Planning => "planering",
            Phase::Execution => "genomförande",
            Phase::Closure => "avslut",
        }
    }
    pub fn next(self) -> Option<Phase> {
        let i = Phase::ORDER.iter().position(|p| *p == self)?;
        Phase::ORDER.get(i + 1).copied()
    }
    pub fn to_pb(self) -> pb::Phase {
        match self {
            Phase::Idea => pb::Phase::Idea,
            Phase::PreStudy => pb::Phase::PreStudy,
            Phase::Planning => pb::Phase::Planning,
            Phase::Execution => pb::Phase::Execution,
            Phase::Closure => pb::Phase::Closure,
        }
    }
    pub fn from_pb(p: i32) -> Option<Phase> {
        match pb::Phase::try_from(p).ok()? {
            pb::Phase::Unspecified => None,
            pb::Phase::Idea => Some(Phase::Idea),
            pb::Phase::PreStudy => Some(Phase::PreStudy),
            pb::Phase::Planning => Some(Phase::Planning),
            pb::Phase::Execution => Some(Phase::Execution),
            pb::Phase::Closure => Some(Phase::Closure),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Completed,
    Discontinued,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Discontinued => "discontinued",
        }
    }
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "completed" => Some(Outcome::Completed),
            "discontinued" => Some(Outcome::Discontinued),
            _ => None,
        }
    }
    pub fn to_pb(o: Option<Outcome>) -> pb::Outcome {
        match o {
            None => pb::Outcome::Unspecified,
            Some(Outcome::Completed) => pb::Outcome::Completed,
            Some(Outcome::Discontinued) => pb::Outcome::Discontinued,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    Complete,
    Discontinue,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Proceed => "proceed",
            Verdict::Complete => "complete",
            Verdict::Discontinue => "discontinue",
        }
    }
    pub fn parse(s: &str) -> Verdict {
        match s {
            "complete" => Verdict::Complete,
            "discontinue" => Verdict::Discontinue,
            _ => Verdict::Proceed,
        }
    }
    pub fn to_pb(self) -> pb::Verdict {
        match self {
            Verdict::Proceed => pb::Verdict::Proceed,
            Verdict::Complete => pb::Verdict::Complete,
            Verdict::Discontinue => pb::Verdict::Discontinue,
        }
    }
    pub fn from_pb(v: i32) -> Result<Verdict, Error> {
        match pb::Verdict::try_from(v) {
            Ok(pb::Verdict::Proceed) => Ok(Verdict::Proceed),
            Ok(pb::Verdict::Complete) => Ok(Verdict::Complete),
            Ok(pb::Verdict::Discontinue) => Ok(Verdict::Discontinue),
            _ => Err(Error::invalid(
                "verdict is required: PROCEED, COMPLETE or DISCONTINUE",
                "verdict krävs: PROCEED, COMPLETE eller DISCONTINUE",
            )),
        }
    }
}

/// Where a decision leads: the phase after it and the outcome, if it ends
/// the project. FAILED_PRECONDITION naming the current phase when the
/// decision does not fit.
pub fn decide(
    current: Phase,
    ended: Option<Outcome>,
    verdict: Verdict,
    requested: Option<Phase>,
) -> Result<(Phase, Option<Outcome>), Error> {
    if let Some(o) = ended {
        return Err(Error::FailedPrecondition(Msg::new(
            format!(
                "the project has ended ({}) in phase {}: no more decisions can be made",
                o.as_str(),
                current.label()
            ),
            format!(
                "projektet är avslutat ({}) i fasen {}: inga fler beslut kan fattas",
                match o {
                    Outcome::Completed => "genomfört",
                    Outcome::Discontinued => "avbrutet",
                },
                current.label_sv()
            ),
        )));
    }
    match verdict {
        Verdict::Discontinue => Ok((current, Some(Outcome::Discontinued))),
        Verdict::Complete => {
            if current == Phase::Closure {
                Ok((current, Some(Outcome::Completed)))
            } else {
                Err(Error::FailedPrecondition(Msg::new(
                    format!(
                        "the project is in phase {}: it can be completed only in CLOSURE",
                        current.label()
                    ),
                    format!(
                        "projektet är i fasen {}: det kan avslutas som genomfört först i fasen avslut",
                        current.label_sv()
                    ),
                )))
            }
        }
        Verdict::Proceed => {
            let Some(next) = current.next() else {
                return Err(Error::FailedPrecondition(Msg::new(
                    "the project is in phase CLOSURE, the last one: decide COMPLETE or DISCONTINUE",
                    "projektet är i sista fasen, avslut: besluta COMPLETE eller DISCONTINUE",
                )));
            };
            let Some(to) = requested else {
                return Err(Error::invalid(
                    "phase is required with PROCEED: the phase to enter",
                    "phase krävs med PROCEED: fasen som ska påbörjas",
                ));
            };
            if to != next {
                return Err(Error::FailedPrecondition(Msg::new(
                    format!(
                        "the project is in phase {}: the next phase is {}, not {} (phases cannot be skipped or repeated)",
                        current.label(),
                        next.label(),
                        to.label()
                    ),
                    format!(
                        "projektet är i fasen {}: nästa fas är {}, inte {} (faser kan inte hoppas över eller upprepas)",
                        current.label_sv(),
                        next.label_sv(),
                        to.label_sv()
                    ),
                )));
            }
            Ok((next, None))
        }
    }
}

/// Status of milestones, activities and communication measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkStatus {
    NotStarted,
    InProgress,
    Done,
    Cancelled,
}

impl WorkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkStatus::NotStarted => "not_started",
            WorkStatus::InProgress => "in_progress",
            WorkStatus::Done => "done",
            WorkStatus::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> WorkStatus {
        match s {
            "in_progress" => WorkStatus::InProgress,
            "done" => WorkStatus::Done,
            "cancelled" => WorkStatus::Cancelled,
            _ => WorkStatus::NotStarted,
        }
    }
    pub fn to_pb(self) -> pb::WorkStatus {
        match self {
            WorkStatus::NotStarted => pb::WorkStatus::NotStarted,
            WorkStatus::InProgress => pb::WorkStatus::InProgress,
            WorkStatus::Done => pb::WorkStatus::Done,
            WorkStatus::Cancelled => pb::WorkStatus::Cancelled,
        }
    }
    /// Unspecified means NOT_STARTED; unknown values are INVALID_ARGUMENT.
    pub fn from_pb(v: i32) -> Result<WorkStatus, Error> {
        match pb::WorkStatus::try_from(v) {
            Ok(pb::WorkStatus::Unspecified | pb::WorkStatus::NotStarted) => {
                Ok(WorkStatus::NotStarted)
            }
            Ok(pb::WorkStatus::InProgress) => Ok(WorkStatus::InProgress),
            Ok(pb::WorkStatus::Done) => Ok(WorkStatus::Done),
            Ok(pb::WorkStatus::Cancelled) => Ok(WorkStatus::Cancelled),
            Err(_) => Err(Error::InvalidArgument(Msg::new(
                format!("status {v} is not one of NOT_STARTED, IN_PROGRESS, DONE, CANCELLED"),
                format!("status {v} är inte en av NOT_STARTED, IN_PROGRESS, DONE, CANCELLED"),
            ))),
        }
    }
}

/// Overdue: the due date has passed and the work is neither done nor
/// cancelled. Computed on every read, never stored.
pub fn overdue(due_date: &str, status: WorkStatus, today: NaiveDate) -> bool {
    let Ok(due) = NaiveDate::parse_from_str(due_date, "%Y-%m-%d") else {
        return false;
    };
    due < today && matches!(status, WorkStatus::NotStarted | WorkStatus::InProgress)
}

/// Traffic lights as the municipalities use them: green = goal met and
/// contributing, yellow = progress but not fully met, red = not met,
/// white = no data or cannot be judged.
pub fn light_from_pb(v: i32, what: &str, required: bool) -> Result<pb::TrafficLight, Error> {
    match pb::TrafficLight::try_from(v) {
        Ok(pb::TrafficLight::Unspecified) if !required => Ok(pb::TrafficLight::White),
        Ok(pb::TrafficLight::Unspecified) | Err(_) => Err(Error::InvalidArgument(Msg::new(
            format!(
                "{what}: the traffic light must be GREEN (goal met), YELLOW (progress, not fully met), RED (not met) or WHITE (no data)"
            ),
            format!(
                "{what}: trafikljuset måste vara GREEN (målet nått), YELLOW (framsteg men inte helt nått), RED (inte nått) eller WHITE (underlag saknas)"
            ),
        ))),
        Ok(l) => Ok(l),
    }
}

/// Risk value: probability (1–3) × consequence (1–3).
pub fn risk_value(probability: i32, consequence: i32) -> i32 {
    probability * consequence
}

pub fn probability_from_pb(v: i32) -> Result<i32, Error> {
    match pb::Probability::try_from(v) {
        Ok(pb::Probability::Low) => Ok(1),
        Ok(pb::Probability::Medium) => Ok(2),
        Ok(pb::Probability::High) => Ok(3),
        _ => Err(Error::InvalidArgument(Msg::new(
            format!("probability {v} is out of range: LOW (1), MEDIUM (2) or HIGH (3)"),
            format!(
                "sannolikheten {v} är utanför intervallet: LOW (1, låg), MEDIUM (2, medel) eller HIGH (3, hög)"
            ),
        ))),
    }
}

pub fn consequence_from_pb(v: i32) -> Result<i32, Error> {
    match pb::Consequence::try_from(v) {
        Ok(pb::Consequence::Minor) => Ok(1),
        Ok(pb::Consequence::Significant) => Ok(2),
        Ok(pb::Consequence::Severe) => Ok(3),
        _ => Err(Error::InvalidArgument(Msg::new(
            format!("consequence {v} is out of range: MINOR (1), SIGNIFICANT (2) or SEVERE (3)"),
            format!(
                "konsekvensen {v} är utanför intervallet: MINOR (1, lindrig), SIGNIFICANT (2, betydlig) eller SEVERE (3, allvarlig)"
            ),
        ))),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    Sek,
    Nok,
    Dkk,
    Eur,
}

impl Currency {
    pub fn as_str(self) -> &'static str {
        match self {
            Currency::Sek => "SEK",
            Currency::Nok => "NOK",
            Currency::Dkk => "DKK",
            Currency::Eur => "EUR",
        }
    }
    pub fn parse(s: &str) -> Currency {
        match s {
            "NOK" => Currency::Nok,
            "DKK" => Currency::Dkk,
            "EUR" => Currency::Eur,
            _ => Currency::Sek,
        }
    }
    pub fn to_pb(self) -> pb::Currency {
        match self {
            Currency::Sek => pb::Currency::Sek,
            Currency::Nok => pb::Currency::Nok,
            Currency::Dkk => pb::Currency::Dkk,
            Currency::Eur => pb::Currency::Eur,
        }
    }
    pub fn from_pb(v: i32) -> Result<Currency, Error> {
        match pb::Currency::try_from(v) {
            Ok(pb::Currency::Sek) => Ok(Currency::Sek),
            Ok(pb::Currency::Nok) => Ok(Currency::Nok),
            Ok(pb::Currency::Dkk) => Ok(Currency::Dkk),
            Ok(pb::Currency::Eur) => Ok(Currency::Eur),
            _ => Err(Error::invalid(
                "the currency of a budget line must be SEK, NOK, DKK or EUR",
                "valutan för en budgetrad måste vara SEK, NOK, DKK eller EUR",
            )),
        }
    }
}

/// An exact amount in whole hundredths: "85000", "12.5", "0.05". No sign,
/// exponent, comma or more than two decimals ("12,5e3" is refused).
pub fn parse_amount(s: &str) -> Result<i64, Error> {
    let d = kompass_scoring::parse_money(s.trim()).map_err(|e| {
        Error::InvalidArgument(Msg::new(
            format!("amount {s:?} is not an exact decimal like 85000.00: {e}"),
            format!("beloppet {s:?} är inget exakt decimaltal som 85000.00: {e}"),
        ))
    })?;
    let mut d = d;
    d.rescale(2);
    i64::try_from(d.mantissa()).map_err(|_| {
        Error::InvalidArgument(Msg::new(
            format!("amount {s:?} is too large"),
            format!("beloppet {s:?} är för stort"),
        ))
    })
}

/// "85000.00".
pub fn format_amount(centi: i64) -> String {
    rust_decimal::Decimal::new(centi, 2).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_go_in_order_and_cannot_be_skipped() {
        assert_eq!(
            decide(Phase::Idea, None, Verdict::Proceed, Some(Phase::PreStudy)).unwrap(),
            (Phase::PreStudy, None)
        );
        let e = decide(Phase::Idea, None, Verdict::Proceed, Some(Phase::Planning)).unwrap_err();
        assert!(matches!(e, Error::FailedPrecondition(_)));
        assert!(e.to_string().contains("IDEA"), "{e}");
        assert!(matches!(
            decide(
                Phase::Planning,
                None,
                Verdict::Proceed,
                Some(Phase::PreStudy)
            ),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(matches!(
            decide(
                Phase::Planning,
                None,
                Verdict::Proceed,
                Some(Phase::Planning)
            ),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(matches!(
            decide(Phase::Closure, None, Verdict::Proceed, Some(Phase::Closure)),
            Err(Error::FailedPrecondition(_))
        ));
        assert!(matches!(
            decide(Phase::Idea, None, Verdict::Proceed, None),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            decide(Phase::Execution, None, Verdict::Complete, None),
            Err(Error::FailedPrecondition(_))
        ));
        assert_eq!(
            decide(Phase::Closure, None, Verdict::Complete, None).unwrap(),
            (Phase::Closure, Some(Outcome::Completed))
        );
        assert_eq!(
            decide(Phase::PreStudy, None, Verdict::Discontinue, None).unwrap(),
            (Phase::PreStudy, Some(Outcome::Discontinued))
        );
        assert!(matches!(
            decide(
                Phase::Closure,
                Some(Outcome::Completed),
                Verdict::Discontinue,
                None
            ),
            Err(Error::FailedPrecondition(_))
        ));
        let mut p = Phase::Idea;
        for _ in 0..4 {
            p = decide(p, None, Verdict::Proceed, p.next()).unwrap().0;
        }
        assert_eq!(p, Phase::Closure);
    }

    #[test]
    fn risk_values_fill_the_matrix() {
        let mut seen = vec![];
        for p in 1..=3 {
            for c in 1..=3 {
                seen.push(risk_value(p, c));
            }
        }
        assert_eq!(seen, [1, 2, 3, 2, 4, 6, 3, 6, 9]);
        assert!(probability_from_pb(0).is_err());
        assert!(probability_from_pb(4).is_err());
        assert_eq!(
            probability_from_pb(pb::Probability::High as i32).unwrap(),
            3
        );
        assert!(consequence_from_pb(-1).is_err());
        assert_eq!(
            consequence_from_pb(pb::Consequence::Minor as i32).unwrap(),
            1
        );
    }

    #[test]
    fn overdue_is_computed_from_date_and_status() {
        let today = NaiveDate::from_ymd_opt(2027, 3, 15).unwrap();
        assert!(overdue("2027-03-14", WorkStatus::NotStarted, today));
        assert!(overdue("2027-03-14", WorkStatus::InProgress, today));
        assert!(!overdue("2027-03-14", WorkStatus::Done, today));
        assert!(!overdue("2027-03-14", WorkStatus::Cancelled, today));
        assert!(!overdue("2027-03-15", WorkStatus::NotStarted, today));
        assert!(!overdue("", WorkStatus::NotStarted, today));
    }

    #[test]
    fn traffic_lights() {
        assert!(light_from_pb(0, "project", true).is_err());
        assert!(light_from_pb(9, "project", false).is_err());
        assert_eq!(
            light_from_pb(0, "milestone", false).unwrap(),
            pb::TrafficLight::White
        );
        assert_eq!(
            light_from_pb(pb::TrafficLight::Red as i32, "x", true).unwrap(),
            pb::TrafficLight::Red
        );
    }

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_amount("85000").unwrap(), 8_500_000);
        assert_eq!(parse_amount("12.5").unwrap(), 1250);
        assert_eq!(parse_amount("0.05").unwrap(), 5);
        assert_eq!(format_amount(1250), "12.50");
        for bad in ["12,5e3", "1e3", "-5", "1.234", "", "12,50"] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }
}

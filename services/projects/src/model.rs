//! Validated domain values of a project, made from the protobuf messages at
//! the edge (`TryFrom`), and back. Goals, organisation and communications are
//! kept as JSON in the project row; budget lines in a table of their own.

use kompass_core::{Error, Msg, names};
use kompass_proto::projects::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::domain::{self, Currency, WorkStatus};
use crate::util::{self, text};

pub const MAX_TEXT: usize = 10_000;
pub const MAX_LINE: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub id: String,
    pub title: String,
    pub indicator: String,
    #[serde(default)]
    pub baseline: String,
    pub target: String,
    pub target_date: String,
    #[serde(default)]
    pub sub_goals: Vec<Goal>,
}

impl Goal {
    fn from_pb(g: pb::Goal, depth: usize) -> Result<Goal, Error> {
        let title = text("goal title", &g.title, MAX_LINE, true)?;
        let ctx = |f: &str| format!("goal {title:?}: {f}");
        if depth > 0 && !g.sub_goals.is_empty() {
            return Err(Error::invalid(
                "sub-goals cannot have sub-goals of their own",
                "delmål kan inte ha egna delmål",
            ));
        }
        let id = g.id.trim().to_string();
        if id.len() > 64 || id.contains('/') {
            return Err(Error::invalid(
                "goal id is not valid",
                "målets id är ogiltigt",
            ));
        }
        Ok(Goal {
            id: if id.is_empty() { util::new_id() } else { id },
            indicator: text(&ctx("indicator"), &g.indicator, MAX_LINE, true)?,
            baseline: text(&ctx("baseline"), &g.baseline, MAX_LINE, false)?,
            target: text(&ctx("target"), &g.target, MAX_LINE, true)?,
            target_date: util::date(&ctx("target_date"), &g.target_date, true)?,
            sub_goals: g
                .sub_goals
                .into_iter()
                .map(|s| Goal::from_pb(s, depth + 1))
                .collect::<Result<_, _>>()?,
            title,
        })
    }

    pub fn to_pb(&self) -> pb::Goal {
        pb::Goal {
            id: self.id.clone(),
            title: self.title.clone(),
            indicator: self.indicator.clone(),
            baseline: self.baseline.clone(),
            target: self.target.clone(),
            target_date: self.target_date.clone(),
            sub_goals: self.sub_goals.iter().map(Goal::to_pb).collect(),
        }
    }
}

/// Result goals, checked: measurable, ids unique.
pub fn goals(v: Vec<pb::Goal>) -> Result<Vec<Goal>, Error> {
    let goals: Vec<Goal> = v
        .into_iter()
        .map(|g| Goal::from_pb(g, 0))
        .collect::<Result<_, _>>()?;
    let mut ids = std::collections::BTreeSet::new();
    for g in flatten(&goals) {
        if !ids.insert(g.id.clone()) {
            return Err(Error::InvalidArgument(Msg::new(
                format!("goal id {:?} is used twice", g.id),
                format!("mål-id {:?} används två gånger", g.id),
            )));
        }
    }
    Ok(goals)
}

/// Goals and sub-goals in plan order.
pub fn flatten(goals: &[Goal]) -> Vec<&Goal> {
    goals
        .iter()
        .flat_map(|g| std::iter::once(g).chain(g.sub_goals.iter()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Person {
    /// User id, or empty for an outside person.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub role: String,
}

impl TryFrom<pb::Person> for Person {
    type Error = Error;
    fn try_from(p: pb::Person) -> Result<Person, Error> {
        let user = if p.user.trim().is_empty() {
            String::new()
        } else {
            names::user(p.user.trim())?.to_string()
        };
        let display_name = text("display_name", &p.display_name, 200, user.is_empty())?;
        Ok(Person {
            user,
            display_name,
            role: text("role", &p.role, 200, false)?,
        })
    }
}

impl Person {
    pub fn to_pb(&self) -> pb::Person {
        pb::Person {
            user: if self.user.is_empty() {
                String::new()
            } else {
                format!("users/{}", self.user)
            },
            display_name: self.display_name.clone(),
            role: self.role.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceGroup {
    pub title: String,
    #[serde(default)]
    pub members: Vec<Person>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Organisation {
    #[serde(default)]
    pub owner: Option<Person>,
    #[serde(default)]
    pub project_manager: Option<Person>,
    #[serde(default)]
    pub steering_group: Vec<Person>,
    #[serde(default)]
    pub operational_group: Vec<Person>,
    #[serde(default)]
    pub working_group: Vec<Person>,
    #[serde(default)]
    pub reference_groups: Vec<ReferenceGroup>,
}

fn people(v: Vec<pb::Person>) -> Result<Vec<Person>, Error> {
    if v.len() > 200 {
        return Err(Error::invalid(
            "a group has at most 200 members",
            "en grupp har högst 200 medlemmar",
        ));
    }
    v.into_iter().map(Person::try_from).collect()
}

fn user_person(p: Option<pb::Person>, en: &str, sv: &str) -> Result<Option<Person>, Error> {
    let Some(p) = p else { return Ok(None) };
    if p.user.is_empty() && p.display_name.is_empty() && p.role.is_empty() {
        return Ok(None);
    }
    let p = Person::try_from(p)?;
    if p.user.is_empty() {
        return Err(Error::InvalidArgument(Msg::new(
            format!("the {en} must be a user of the platform (users/{{id}})"),
            format!("{sv} måste vara en användare i plattformen (users/{{id}})"),
        )));
    }
    Ok(Some(p))
}

impl TryFrom<pb::Organisation> for Organisation {
    type Error = Error;
    fn try_from(o: pb::Organisation) -> Result<Organisation, Error> {
        Ok(Organisation {
            owner: user_person(o.owner, "owner", "projektägaren")?,
            project_manager: user_person(o.project_manager, "project manager", "projektledaren")?,
            steering_group: people(o.steering_group)?,
            operational_group: people(o.operational_group)?,
            working_group: people(o.working_group)?,
            reference_groups: o
                .reference_groups
                .into_iter()
                .map(|g| {
                    Ok(ReferenceGroup {
                        title: text("reference group title", &g.title, 200, true)?,
                        members: people(g.members)?,
                    })
                })
                .collect::<Result<_, Error>>()?,
        })
    }
}

impl Organisation {
    pub fn to_pb(&self) -> pb::Organisation {
        let v = |p: &[Person]| p.iter().map(Person::to_pb).collect();
        pb::Organisation {
            owner: self.owner.as_ref().map(Person::to_pb),
            project_manager: self.project_manager.as_ref().map(Person::to_pb),
            steering_group: v(&self.steering_group),
            operational_group: v(&self.operational_group),
            working_group: v(&self.working_group),
            reference_groups: self
                .reference_groups
                .iter()
                .map(|g| pb::ReferenceGroup {
                    title: g.title.clone(),
                    members: v(&g.members),
                })
                .collect(),
        }
    }
    pub fn owner_user(&self) -> Option<String> {
        self.owner.as_ref().map(|p| p.user.clone())
    }
    pub fn manager_user(&self) -> Option<String> {
        self.project_manager.as_ref().map(|p| p.user.clone())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Communication {
    pub measure: String,
    pub target_group: String,
    #[serde(default)]
    pub when: String,
    pub status: WorkStatus,
    #[serde(default)]
    pub remarks: String,
}

impl TryFrom<pb::Communication> for Communication {
    type Error = Error;
    fn try_from(c: pb::Communication) -> Result<Communication, Error> {
        Ok(Communication {
            measure: text("communication measure", &c.measure, MAX_LINE, true)?,
            target_group: text(
                "communication target_group",
                &c.target_group,
                MAX_LINE,
                true,
            )?,
            when: text("communication when", &c.when, 200, false)?,
            status: WorkStatus::from_pb(c.status)?,
            remarks: text("communication remarks", &c.remarks, MAX_TEXT, false)?,
        })
    }
}

impl Communication {
    pub fn to_pb(&self) -> pb::Communication {
        pb::Communication {
            measure: self.measure.clone(),
            target_group: self.target_group.clone(),
            when: self.when.clone(),
            status: self.status.to_pb() as i32,
            remarks: self.remarks.clone(),
        }
    }
}

pub fn communications(v: Vec<pb::Communication>) -> Result<Vec<Communication>, Error> {
    if v.len() > 500 {
        return Err(Error::invalid(
            "the communication plan has at most 500 measures",
            "kommunikationsplanen har högst 500 åtgärder",
        ));
    }
    v.into_iter().map(Communication::try_from).collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetLine {
    pub description: String,
    pub amount_centi: i64,
    pub currency: Currency,
    pub funder: String,
}

impl TryFrom<pb::BudgetLine> for BudgetLine {
    type Error = Error;
    fn try_from(b: pb::BudgetLine) -> Result<BudgetLine, Error> {
        Ok(BudgetLine {
            description: text("budget line description", &b.description, MAX_LINE, true)?,
            amount_centi: domain::parse_amount(&b.amount)?,
            currency: Currency::from_pb(b.currency)?,
            funder: text("budget line funder", &b.funder, MAX_LINE, false)?,
        })
    }
}

pub fn budget_lines(v: Vec<pb::BudgetLine>) -> Result<Vec<BudgetLine>, Error> {
    if v.len() > 500 {
        return Err(Error::invalid(
            "a plan has at most 500 budget lines",
            "en plan har högst 500 budgetrader",
        ));
    }
    v.into_iter().map(BudgetLine::try_from).collect()
}

/// What addressing an evaluation result means: an improvement opportunity or
/// a question of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    Opportunity {
        tenant: String,
        evaluation: String,
        name: String,
    },
    Question {
        tenant: String,
        evaluation: String,
        question: String,
        name: String,
    },
}

impl Link {
    pub fn opportunity(name: &str) -> Result<Link, Error> {
        let v = names::parse(
            name,
            &["tenants", "*", "evaluations", "*", "opportunities", "*"],
        )?;
        Ok(Link::Opportunity {
            tenant: v[0].into(),
            evaluation: format!("tenants/{}/evaluations/{}", v[0], v[1]),
            name: name.into(),
        })
    }
    pub fn question(name: &str) -> Result<Link, Error> {
        let v = names::parse(
            name,
            &["tenants", "*", "evaluations", "*", "questions", "*"],
        )?;
        Ok(Link::Question {
            tenant: v[0].into(),
            evaluation: format!("tenants/{}/evaluations/{}", v[0], v[1]),
            question: v[2].into(),
            name: name.into(),
        })
    }
    pub fn name(&self) -> &str {
        match self {
            Link::Opportunity { name, .. } | Link::Question { name, .. } => name,
        }
    }
    pub fn tenant(&self) -> &str {
        match self {
            Link::Opportunity { tenant, .. } | Link::Question { tenant, .. } => tenant,
        }
    }
    pub fn evaluation(&self) -> &str {
        match self {
            Link::Opportunity { evaluation, .. } | Link::Question { evaluation, .. } => evaluation,
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Link::Opportunity { .. } => "opportunity",
            Link::Question { .. } => "question",
        }
    }
}

/// Parses and deduplicates the links of a request.
pub fn links(opportunities: &[String], questions: &[String]) -> Result<Vec<Link>, Error> {
    if opportunities.len() + questions.len() > 200 {
        return Err(Error::invalid(
            "a project addresses at most 200 opportunities and questions",
            "ett projekt kan avse högst 200 förbättringsmöjligheter och frågor",
        ));
    }
    let mut v = opportunities
        .iter()
        .map(|n| Link::opportunity(n.trim()))
        .chain(questions.iter().map(|n| Link::question(n.trim())))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort();
    v.dedup();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_must_be_measurable_and_keep_ids() {
        let g = pb::Goal {
            title: "Fler e-tjänster".into(),
            indicator: "Antal e-tjänster".into(),
            baseline: "12".into(),
            target: "30".into(),
            target_date: "2027-12-31".into(),
            sub_goals: vec![pb::Goal {
                id: "keep".into(),
                title: "Bygglov digitalt".into(),
                indicator: "Andel digitala ansökningar".into(),
                target: "80 %".into(),
                target_date: "2027-06-30".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = goals(vec![g.clone()]).unwrap();
        assert_eq!(v[0].id.len(), 32);
        assert_eq!(v[0].sub_goals[0].id, "keep");
        assert_eq!(flatten(&v).len(), 2);
        let mut bad = g.clone();
        bad.indicator = " ".into();
        assert!(goals(vec![bad]).is_err());
        let mut bad = g.clone();
        bad.target_date = "2027-13-01".into();
        assert!(goals(vec![bad]).is_err());
        let mut twice = g.clone();
        twice.id = "keep".into();
        assert!(goals(vec![twice]).is_err());
    }

    #[test]
    fn people_and_links() {
        assert!(Person::try_from(pb::Person::default()).is_err());
        let p = Person::try_from(pb::Person {
            display_name: "Eva Extern".into(),
            role: "sakkunnig".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(p.user.is_empty());
        let o = Organisation::try_from(pb::Organisation {
            owner: Some(pb::Person {
                display_name: "Kommunstyrelsen".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(o.is_err());
        let l = links(
            &[
                "tenants/ostra/evaluations/e1/opportunities/o1".into(),
                "tenants/ostra/evaluations/e1/opportunities/o1".into(),
            ],
            &["tenants/ostra/evaluations/e1/questions/7.2".into()],
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].evaluation(), "tenants/ostra/evaluations/e1");
        assert!(links(&["tenants/ostra/evaluations/e1".into()], &[]).is_err());
    }

    #[test]
    fn budget_lines_are_exact() {
        let b = BudgetLine::try_from(pb::BudgetLine {
            description: "Utbildning".into(),
            amount: "85000.50".into(),
            currency: pb::Currency::Sek as i32,
            funder: "ESF".into(),
        })
        .unwrap();
        assert_eq!(b.amount_centi, 8_500_050);
        let bad = pb::BudgetLine {
            description: "x".into(),
            amount: "12,5e3".into(),
            currency: pb::Currency::Sek as i32,
            funder: String::new(),
        };
        assert!(BudgetLine::try_from(bad).is_err());
        let no_currency = pb::BudgetLine {
            description: "x".into(),
            amount: "1".into(),
            ..Default::default()
        };
        assert!(BudgetLine::try_from(no_currency).is_err());
    }
}

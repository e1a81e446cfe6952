//! The append-only audit trail. There is no update or delete path for it.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::access::Eval;
use crate::entity::audit_event;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Score,
    AgreedScore,
    Narrative,
    ImprovementOpportunity,
    Assignment,
    State,
    Evidence,
    InformationRequest,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Score => "score",
            Subject::AgreedScore => "agreed_score",
            Subject::Narrative => "narrative",
            Subject::ImprovementOpportunity => "improvement_opportunity",
            Subject::Assignment => "assignment",
            Subject::State => "state",
            Subject::Evidence => "evidence",
            Subject::InformationRequest => "information_request",
        }
    }
}

impl Subject {
    pub const ALL: [Subject; 8] = [
        Subject::Score,
        Subject::AgreedScore,
        Subject::Narrative,
        Subject::ImprovementOpportunity,
        Subject::Assignment,
        Subject::State,
        Subject::Evidence,
        Subject::InformationRequest,
    ];
}

/// The subjects of the audit trail `ev`'s caller reads (the table on
/// `AuditEvent` in the proto). The team (operators and assigned evaluators
/// of an external evaluation, the municipality on a self-assessment) reads
/// everything. The municipality of an external evaluation never reads
/// individual scores, and reads agreed scores once the evaluation is
/// published; the rest it reads through the resources' own RPCs anyway.
pub fn readable(ev: &Eval) -> Vec<Subject> {
    Subject::ALL
        .into_iter()
        .filter(|s| match s {
            Subject::Score => ev.on_team(),
            Subject::AgreedScore => ev.may_read_agreed(),
            _ => true,
        })
        .collect()
}

/// Whether the caller reads the free-text reason of `subject`'s events: a
/// state change's reason is the evaluator team's note until publication.
pub fn reason_readable(ev: &Eval, subject: &str) -> bool {
    subject != Subject::State.as_str() || ev.on_team() || ev.is_published()
}

/// Appends one event inside the caller's transaction, so the change and its
/// record commit together or not at all.
#[allow(clippy::too_many_arguments)]
pub async fn append(
    tx: &impl ConnectionTrait,
    evaluation_id: &str,
    actor: &str,
    subject: Subject,
    target: &str,
    old: Option<serde_json::Value>,
    new: Option<serde_json::Value>,
    reason: &str,
) -> Result<(), sea_orm::DbErr> {
    audit_event::Entity::insert(audit_event::ActiveModel {
        evaluation_id: Set(evaluation_id.into()),
        actor: Set(actor.into()),
        time: Set(Utc::now()),
        subject: Set(subject.as_str().into()),
        target: Set(target.into()),
        old_value: Set(old.map(|v| v.to_string()).unwrap_or_default()),
        new_value: Set(new.map(|v| v.to_string()).unwrap_or_default()),
        reason: Set(reason.into()),
        ..Default::default()
    })
    .exec(tx)
    .await?;
    Ok(())
}

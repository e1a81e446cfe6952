//! The append-only audit trail. There is no update or delete path for it.

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

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

//! What a publication says, its canonical form and its seal.

use kompass_proto::assessment::v1 as pb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const CANONICALIZATION: &str = "kompass-canonical-json-v1";

fn time(t: &Option<prost_types::Timestamp>) -> Value {
    match t {
        Some(t) => chrono::DateTime::from_timestamp(t.seconds, 0)
            .map(|d| Value::String(d.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
            .unwrap_or(Value::Null),
        None => Value::Null,
    }
}

fn tally(t: &Option<pb::Tally>) -> Value {
    let t = t.clone().unwrap_or_default();
    json!({
        "id": t.id, "points": t.points, "max_points": t.max_points, "percent": t.percent,
        "display_points": t.display_points, "display_percent": t.display_percent,
    })
}

/// Compact JSON, keys sorted (serde_json's map is ordered), every field
/// present: the same content always gives the same bytes.
pub fn canonical_json(c: &pb::PublishedContent) -> String {
    let kind = pb::EvaluationKind::try_from(c.kind)
        .unwrap_or_default()
        .as_str_name();
    let totals = c.totals.clone().unwrap_or_default();
    let v = json!({
        "tenant": c.tenant,
        "tenant_display_name": c.tenant_display_name,
        "evaluation": c.evaluation,
        "title": c.title,
        "kind": kind,
        "framework_version": c.framework_version,
        "evaluation_date": c.evaluation_date,
        "publish_time": time(&c.publish_time),
        "imported": c.imported,
        "evaluators": c.evaluators.iter().map(|e| json!({
            "user": e.user, "display_name": e.display_name,
            "role": pb::EvaluatorRole::try_from(e.role).unwrap_or_default().as_str_name(),
        })).collect::<Vec<_>>(),
        "interview_count": c.interview_count,
        "questions": c.questions.iter().map(|q| json!({
            "question": q.question, "area": q.area, "points": q.points, "max_points": q.max_points,
        })).collect::<Vec<_>>(),
        "areas": c.areas.iter().map(|a| json!({
            "area": a.area,
            "general_text": a.general_text,
            "heading_texts": a.heading_texts.iter().map(|h| json!({"heading": h.heading, "text": h.text})).collect::<Vec<_>>(),
            "strengths": a.strengths,
            "improvement_opportunities": a.improvement_opportunities.iter().map(|o| json!({
                "name": o.name, "area": o.area, "text": o.text, "questions": o.questions,
                "position": o.position, "follows_up": o.follows_up,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "totals": {
            "evaluation": totals.evaluation,
            "questions": totals.questions.iter().map(|t| tally(&Some(t.clone()))).collect::<Vec<_>>(),
            "areas": totals.areas.iter().map(|t| tally(&Some(t.clone()))).collect::<Vec<_>>(),
            "total": tally(&totals.total),
            "unscored_questions": totals.unscored_questions,
        },
    });
    serde_json::to_string(&v).expect("serialisable")
}

pub fn digest(canonical: &str) -> String {
    let h = Sha256::digest(canonical.as_bytes());
    h.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_is_stable_and_sensitive() {
        let mut c = pb::PublishedContent {
            tenant: "tenants/ostra".into(),
            title: "Kommunkompassen 2026".into(),
            questions: vec![pb::PublishedQuestion {
                question: "1.1".into(),
                area: "1".into(),
                points: "12.50".into(),
                max_points: "15".into(),
            }],
            ..Default::default()
        };
        let a = canonical_json(&c);
        assert_eq!(a, canonical_json(&c.clone()));
        assert_eq!(digest(&a).len(), 64);
        c.questions[0].points = "12.51".into();
        assert_ne!(digest(&a), digest(&canonical_json(&c)));
    }
}

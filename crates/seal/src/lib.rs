//! The seal of a publication: the canonical form of its `PublishedContent`
//! and the SHA-256 over it. One definition for everyone who computes it:
//! the assessment service when it seals and verifies, the reporting
//! consumer that checks every event before storing it, and the tests.
//!
//! Canonical forms are versioned by the seal's `canonicalization` string, so
//! a seal made under an earlier form stays verifiable after the content
//! gained fields:
//! - [`V1`]: compact JSON, keys sorted, every field present, enums as their
//!   names, timestamps RFC 3339 UTC with seconds, points as decimal strings.
//! - [`V2`] (current): V1 plus `import_record` (null unless imported).

use kompass_proto::assessment::v1 as pb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "SHA-256";
pub const V1: &str = "kompass-canonical-json-v1";
pub const V2: &str = "kompass-canonical-json-v2";
/// The form new publications are sealed with.
pub const CURRENT: &str = V2;

/// Why content does not match a seal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The seal names an algorithm other than SHA-256.
    Algorithm(String),
    /// The seal names a canonical form this build does not know.
    Canonicalization(String),
    /// The recomputed digest differs from the sealed one.
    Digest { sealed: String, computed: String },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Algorithm(a) => write!(f, "unknown seal algorithm {a:?}"),
            Mismatch::Canonicalization(c) => write!(f, "unknown canonicalization {c:?}"),
            Mismatch::Digest { sealed, computed } => {
                write!(f, "content hashes to {computed}, the seal says {sealed}")
            }
        }
    }
}

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

fn v1_value(c: &pb::PublishedContent) -> Value {
    let kind = pb::EvaluationKind::try_from(c.kind)
        .unwrap_or_default()
        .as_str_name();
    let totals = c.totals.clone().unwrap_or_default();
    json!({
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
    })
}

fn import_record(r: &Option<pb::ImportRecord>) -> Value {
    match r {
        None => Value::Null,
        Some(r) => json!({
            "imported_by": r.imported_by,
            "imported_by_display_name": r.imported_by_display_name,
            "role": pb::import_record::Role::try_from(r.role).unwrap_or_default().as_str_name(),
            "import_time": time(&r.import_time),
            "source": r.source,
        }),
    }
}

/// The canonical form of `c` under `canonicalization`; `None` for a form
/// this build does not know. Compact JSON with keys sorted (serde_json's
/// map is ordered): the same content always gives the same bytes.
pub fn canonical_json(c: &pb::PublishedContent, canonicalization: &str) -> Option<String> {
    let v = match canonicalization {
        V1 => v1_value(c),
        V2 => {
            let mut v = v1_value(c);
            v["import_record"] = import_record(&c.import_record);
            v
        }
        _ => return None,
    };
    Some(serde_json::to_string(&v).expect("serialisable"))
}

/// Lowercase hex SHA-256 of `canonical`.
pub fn digest(canonical: &str) -> String {
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Seals `c` with the current canonical form: (canonical JSON, digest).
pub fn seal(c: &pb::PublishedContent) -> (String, String) {
    let canonical = canonical_json(c, CURRENT).expect("the current form is known");
    let d = digest(&canonical);
    (canonical, d)
}

/// Recomputes the digest of `c` under the seal's own canonical form and
/// compares it with the sealed one.
pub fn check(c: &pb::PublishedContent, seal: &pb::Seal) -> Result<(), Mismatch> {
    if !seal.algorithm.is_empty() && !seal.algorithm.eq_ignore_ascii_case(ALGORITHM) {
        return Err(Mismatch::Algorithm(seal.algorithm.clone()));
    }
    let canonical = canonical_json(c, &seal.canonicalization)
        .ok_or_else(|| Mismatch::Canonicalization(seal.canonicalization.clone()))?;
    let computed = digest(&canonical);
    if computed.eq_ignore_ascii_case(seal.digest.trim()) {
        Ok(())
    } else {
        Err(Mismatch::Digest {
            sealed: seal.digest.clone(),
            computed,
        })
    }
}

/// A seal for `c` as a publication makes it (current form), for tests and
/// tools that build events themselves.
pub fn seal_of(c: &pb::PublishedContent, seal_time: Option<prost_types::Timestamp>) -> pb::Seal {
    pb::Seal {
        algorithm: ALGORITHM.into(),
        digest: seal(c).1,
        canonicalization: CURRENT.into(),
        seal_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> pb::PublishedContent {
        pb::PublishedContent {
            tenant: "tenants/ostra".into(),
            title: "Kommunkompassen 2026".into(),
            questions: vec![pb::PublishedQuestion {
                question: "1.1".into(),
                area: "1".into(),
                points: "12.50".into(),
                max_points: "15".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn canonical_form_is_stable_sorted_and_sensitive() {
        let mut c = sample();
        let a = canonical_json(&c, V2).unwrap();
        assert_eq!(a, canonical_json(&c.clone(), V2).unwrap());
        // Keys sorted, compact: the form does not depend on map features.
        assert!(
            a.starts_with(r#"{"areas":[],"evaluation":"","evaluation_date":"","#),
            "{a}"
        );
        assert!(a.contains(r#""import_record":null"#));
        assert_eq!(digest(&a).len(), 64);
        c.questions[0].points = "12.51".into();
        assert_ne!(digest(&a), digest(&canonical_json(&c, V2).unwrap()));
    }

    #[test]
    fn v1_ignores_the_import_record_and_v2_seals_it() {
        let mut c = sample();
        let v1 = canonical_json(&c, V1).unwrap();
        assert!(!v1.contains("import_record"));
        c.import_record = Some(pb::ImportRecord {
            imported_by: "users/op".into(),
            source: "Rapport 2017, https://example.se/r.pdf".into(),
            ..Default::default()
        });
        assert_eq!(canonical_json(&c, V1).unwrap(), v1);
        let s = seal_of(&c, None);
        assert_eq!(check(&c, &s), Ok(()));
        let mut forged = c.clone();
        forged.import_record.as_mut().unwrap().source = "något annat".into();
        assert!(matches!(check(&forged, &s), Err(Mismatch::Digest { .. })));
        assert_eq!(canonical_json(&c, "kompass-canonical-json-v9"), None);
        let unknown = pb::Seal {
            canonicalization: "x".into(),
            ..s.clone()
        };
        assert_eq!(
            check(&c, &unknown),
            Err(Mismatch::Canonicalization("x".into()))
        );
    }

    /// Seals made before V2 existed still verify: V1 is the form the
    /// platform sealed with until now, byte for byte.
    #[test]
    fn v1_is_the_earlier_form() {
        let c = sample();
        assert_eq!(
            canonical_json(&c, V1).unwrap(),
            r#"{"areas":[],"evaluation":"","evaluation_date":"","evaluators":[],"framework_version":"","imported":false,"interview_count":0,"kind":"EVALUATION_KIND_UNSPECIFIED","publish_time":null,"questions":[{"area":"1","max_points":"15","points":"12.50","question":"1.1"}],"tenant":"tenants/ostra","tenant_display_name":"","title":"Kommunkompassen 2026","totals":{"areas":[],"evaluation":"","questions":[],"total":{"display_percent":"","display_points":"","id":"","max_points":"","percent":"","points":""},"unscored_questions":[]}}"#
        );
    }
}

//! EvaluationService: evaluations and their lifecycle, evaluator assignments,
//! publication with seal and outbox event, verification, historic import,
//! audit trail.

use std::collections::BTreeMap;

use chrono::Utc;
use kompass_auth::PlatformRole;
use kompass_catalog::Invalidation;
use kompass_core::{Error, Msg, TenantId, UserId, names, paging};
use kompass_frameworks::Framework;
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, evaluation_service_server::EvaluationService};
use prost::Message;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::access::{self, Eval, Role, State};
use crate::audit::{self, Subject};
use crate::entity::{agreed_score, assignment, audit_event, evaluation, evidence};
use crate::util::{self, centi, ts};
use crate::write::Write;
use crate::{Assessment, frameworks, narratives, scoring};

pub struct Evaluations(pub Assessment);

pub const PUBLISHED_TOPIC: &str = "evaluation.published";

fn kind_str(k: i32) -> Result<&'static str, Error> {
    match pb::EvaluationKind::try_from(k) {
        Ok(pb::EvaluationKind::SelfAssessment) => Ok("self_assessment"),
        Ok(pb::EvaluationKind::External) => Ok("external"),
        _ => Err(Error::invalid(
            "kind is required: SELF_ASSESSMENT or EXTERNAL",
            "typ krävs: SELF_ASSESSMENT eller EXTERNAL",
        )),
    }
}

fn kind_pb(s: &str) -> pb::EvaluationKind {
    match s {
        "self_assessment" => pb::EvaluationKind::SelfAssessment,
        "external" => pb::EvaluationKind::External,
        _ => pb::EvaluationKind::Unspecified,
    }
}

fn state_pb(s: State) -> pb::evaluation::State {
    match s {
        State::Draft => pb::evaluation::State::Draft,
        State::Fieldwork => pb::evaluation::State::Fieldwork,
        State::Scoring => pb::evaluation::State::Scoring,
        State::Consensus => pb::evaluation::State::Consensus,
        State::Published => pb::evaluation::State::Published,
        State::Archived => pb::evaluation::State::Archived,
    }
}

fn state_from_pb(s: i32) -> Option<State> {
    Some(match pb::evaluation::State::try_from(s).ok()? {
        pb::evaluation::State::Draft => State::Draft,
        pb::evaluation::State::Fieldwork => State::Fieldwork,
        pb::evaluation::State::Scoring => State::Scoring,
        pb::evaluation::State::Consensus => State::Consensus,
        pb::evaluation::State::Published => State::Published,
        pb::evaluation::State::Archived => State::Archived,
        pb::evaluation::State::Unspecified => return None,
    })
}

pub fn to_pb(tenant: &TenantId, m: &evaluation::Model) -> pb::Evaluation {
    let name = format!("tenants/{tenant}/evaluations/{}", m.id);
    pb::Evaluation {
        name: name.clone(),
        title: m.title.clone(),
        kind: kind_pb(&m.kind) as i32,
        framework_version: m.framework_version.clone(),
        state: state_pb(State::parse(&m.state)) as i32,
        create_time: Some(ts(m.created_at)),
        etag: m.version.to_string(),
        update_time: Some(ts(m.updated_at)),
        previous_evaluation: m
            .previous_evaluation
            .as_ref()
            .map(|p| format!("tenants/{tenant}/evaluations/{p}"))
            .unwrap_or_default(),
        evaluation_date: m.evaluation_date.clone().unwrap_or_default(),
        imported: m.imported,
        imported_evaluator_names: util::json_list(&m.imported_evaluator_names),
        publish_time: m.publish_time.map(ts),
        seal: m.seal_digest.as_ref().map(|d| pb::Seal {
            algorithm: kompass_seal::ALGORITHM.into(),
            digest: d.clone(),
            canonicalization: canonicalization(m).into(),
            seal_time: m.seal_time.map(ts),
        }),
        import_record: import_record(m),
    }
}

/// The canonical form `m`'s seal was made with (rows sealed before the
/// form was recorded used v1).
fn canonicalization(m: &evaluation::Model) -> &str {
    m.seal_canonicalization
        .as_deref()
        .unwrap_or(kompass_seal::V1)
}

fn import_role_pb(s: &str) -> pb::import_record::Role {
    match s {
        "operator" => pb::import_record::Role::Operator,
        "tenant_admin" => pb::import_record::Role::TenantAdmin,
        _ => pb::import_record::Role::Unspecified,
    }
}

/// Who imported `m`, when and from where; `None` unless imported through
/// ImportEvaluation with provenance.
fn import_record(m: &evaluation::Model) -> Option<pb::ImportRecord> {
    let by = m.imported_by.as_ref()?;
    Some(pb::ImportRecord {
        imported_by: format!("users/{by}"),
        imported_by_display_name: m.imported_by_name.clone().unwrap_or_default(),
        role: import_role_pb(m.import_role.as_deref().unwrap_or_default()) as i32,
        import_time: m.import_time.map(|t| prost_types::Timestamp {
            seconds: t.timestamp(),
            nanos: 0,
        }),
        source: m.import_source.clone().unwrap_or_default(),
    })
}

/// The lifecycle: one step forward at a time, one step back before
/// publication (to rescore), and archiving from any state (an abandoned
/// draft, or a published evaluation retired); a self-assessment may go from
/// draft straight to scoring. Publishing has its own call.
pub fn transition_allowed(from: State, to: State, self_assessment: bool) -> bool {
    use State::*;
    // A self-assessment needs no fieldwork of its own.
    (self_assessment && from == Draft && to == Scoring)
        || matches!(
            (from, to),
            (Draft, Fieldwork)
                | (Fieldwork, Scoring)
                | (Scoring, Consensus)
                | (Fieldwork, Draft)
                | (Scoring, Fieldwork)
                | (Consensus, Scoring)
        )
        || (to == Archived && from != Archived)
}

fn state_change(from: State, to: State) -> (serde_json::Value, serde_json::Value) {
    (json!({"state": from.label()}), json!({"state": to.label()}))
}

/// Builds the content a publication seals, reading the evaluation's data
/// through `tx`: inside the publishing write, under the evaluation lock, so
/// nothing changes between what is read and what is sealed.
async fn published_content(
    st: &Assessment,
    tx: &impl ConnectionTrait,
    ev: &Eval,
    row: &evaluation::Model,
    fw: &Framework,
    points: &BTreeMap<String, i64>,
    publish_time: chrono::DateTime<Utc>,
) -> Result<pb::PublishedContent, Error> {
    let tenant = st.dir.catalog.require_tenant(&ev.tenant).await?;
    let evaluators: Vec<pb::PublishedEvaluator> = if row.imported {
        util::json_list(&row.imported_evaluator_names)
            .into_iter()
            .map(|n| pb::PublishedEvaluator {
                user: String::new(),
                display_name: n,
                role: 0,
            })
            .collect()
    } else {
        let mut v: Vec<_> = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(ev.tenant.as_str()))
            .filter(assignment::Column::EvaluationId.eq(row.id.as_str()))
            .all(&st.platform)
            .await?;
        v.sort_by(|a, b| (a.role != "lead", &a.user_id).cmp(&(b.role != "lead", &b.user_id)));
        v.into_iter()
            .map(|a| pb::PublishedEvaluator {
                user: format!("users/{}", a.user_id),
                display_name: a.display_name,
                role: if a.role == "lead" {
                    pb::EvaluatorRole::Lead
                } else {
                    pb::EvaluatorRole::Peer
                } as i32,
            })
            .collect()
    };
    let interviews = evidence::Entity::find()
        .filter(evidence::Column::EvaluationId.eq(row.id.as_str()))
        .filter(evidence::Column::Kind.eq("interview"))
        .count(tx)
        .await? as i32;
    let name = ev.name();
    let areas = narratives::area_texts(tx, &row.id, fw).await?;
    Ok(pb::PublishedContent {
        tenant: format!("tenants/{}", ev.tenant),
        tenant_display_name: tenant.display_name,
        evaluation: name.clone(),
        title: row.title.clone(),
        kind: kind_pb(&row.kind) as i32,
        framework_version: row.framework_version.clone(),
        evaluation_date: row.evaluation_date.clone().unwrap_or_default(),
        publish_time: Some(prost_types::Timestamp {
            seconds: publish_time.timestamp(),
            nanos: 0,
        }),
        imported: row.imported,
        evaluators,
        interview_count: interviews,
        questions: fw
            .questions()
            .map(|(a, q)| pb::PublishedQuestion {
                question: q.id.clone(),
                area: a.id.clone(),
                points: util::points_str(points.get(&q.id).copied()),
                max_points: q.max_points.normalize().to_string(),
            })
            .collect(),
        areas: areas
            .into_iter()
            .map(|a| pb::PublishedArea {
                area: a.area.clone(),
                general_text: a.general_text,
                heading_texts: a
                    .heading_texts
                    .into_iter()
                    .map(|(heading, text)| pb::HeadingText { heading, text })
                    .collect(),
                strengths: a.strengths,
                improvement_opportunities: a
                    .opportunities
                    .into_iter()
                    .map(|o| pb::ImprovementOpportunity {
                        name: format!("{name}/opportunities/{}", o.id),
                        area: a.area.clone(),
                        text: o.text,
                        questions: o.questions,
                        position: o.position,
                        follows_up: o.follows_up.unwrap_or_default(),
                        create_time: None,
                        etag: String::new(),
                    })
                    .collect(),
            })
            .collect(),
        totals: Some(scoring::totals(&name, fw, points)),
        import_record: import_record(row),
    })
}

/// Seals the content, stores it with the seal on the evaluation row and
/// queues its event, all in `w`.
async fn seal_and_queue(
    w: &mut Write<'_>,
    content: pb::PublishedContent,
    now: chrono::DateTime<Utc>,
) -> Result<pb::Seal, Error> {
    let (canonical, digest) = kompass_seal::seal(&content);
    let seal = pb::Seal {
        algorithm: kompass_seal::ALGORITHM.into(),
        digest: digest.clone(),
        canonicalization: kompass_seal::CURRENT.into(),
        seal_time: Some(ts(now)),
    };
    evaluation::Entity::update_many()
        .col_expr(evaluation::Column::PublishedContent, canonical.into())
        .col_expr(evaluation::Column::SealDigest, digest.into())
        .col_expr(
            evaluation::Column::SealCanonicalization,
            kompass_seal::CURRENT.into(),
        )
        .col_expr(evaluation::Column::SealTime, now.into())
        .col_expr(evaluation::Column::PublishTime, now.into())
        .filter(evaluation::Column::Id.eq(w.row().id.as_str()))
        .exec(&**w)
        .await?;
    let event = pb::EvaluationPublishedEvent {
        event_id: String::new(),
        content: Some(content),
        seal: Some(seal.clone()),
    };
    w.enqueue(PUBLISHED_TOPIC, event.encode_to_vec()).await?;
    Ok(seal)
}

fn assignment_pb(a: &assignment::Model) -> pb::Assignment {
    pb::Assignment {
        name: format!(
            "tenants/{}/evaluations/{}/assignments/{}",
            a.tenant_id, a.evaluation_id, a.user_id
        ),
        user: format!("users/{}", a.user_id),
        role: if a.role == "lead" {
            pb::EvaluatorRole::Lead
        } else {
            pb::EvaluatorRole::Peer
        } as i32,
        display_name: a.display_name.clone(),
        create_time: Some(ts(a.created_at)),
    }
}

/// Parses a historic `question,points` CSV against the framework: every
/// question exactly once; the first fault is named.
pub fn parse_historic_csv(fw: &Framework, csv: &str) -> Result<BTreeMap<String, i64>, Error> {
    let bad = |line: usize, en: String, sv: String| {
        Error::InvalidArgument(Msg::new(
            format!("CSV line {line}: {en}"),
            format!("CSV rad {line}: {sv}"),
        ))
    };
    let mut lines = csv
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h))
            if h.trim()
                .trim_start_matches('\u{feff}')
                .replace(' ', "")
                .eq_ignore_ascii_case("question,points") => {}
        _ => {
            return Err(Error::invalid(
                "CSV must start with the header `question,points`",
                "CSV-filen måste börja med rubrikraden `question,points`",
            ));
        }
    }
    let mut out = BTreeMap::new();
    for (i, l) in lines {
        let n = i + 1;
        let cells: Vec<&str> = l.split(',').map(str::trim).collect();
        if cells.len() != 2 {
            return Err(bad(
                n,
                format!("expected 2 values (question,points), found {}", cells.len()),
                format!("väntade 2 värden (question,points), fann {}", cells.len()),
            ));
        }
        let (q, p) = (cells[0].trim_matches('"'), cells[1].trim_matches('"'));
        let Some((_, question)) = fw.question(q) else {
            return Err(bad(
                n,
                format!("question {q:?} is not in {}/{}", fw.id, fw.revision),
                format!("frågan {q:?} finns inte i {}/{}", fw.id, fw.revision),
            ));
        };
        let points = kompass_scoring::parse_points(p)
            .and_then(|v| kompass_scoring::validate_points(v, question.max_points))
            .map_err(|e| {
                bad(
                    n,
                    format!("question {q}: {e}"),
                    format!("fråga {q}: {}", e.message_sv()),
                )
            })?;
        if out.insert(q.to_string(), centi(points)).is_some() {
            return Err(bad(
                n,
                format!("question {q} appears twice"),
                format!("frågan {q} förekommer två gånger"),
            ));
        }
    }
    if let Some((_, q)) = fw.questions().find(|(_, q)| !out.contains_key(&q.id)) {
        return Err(Error::InvalidArgument(Msg::new(
            format!(
                "CSV has no row for question {}: every question needs points",
                q.id
            ),
            format!(
                "CSV-filen saknar rad för fråga {}: varje fråga behöver poäng",
                q.id
            ),
        )));
    }
    Ok(out)
}

#[tonic::async_trait]
impl EvaluationService for Evaluations {
    async fn create_evaluation(
        &self,
        req: Request<pb::CreateEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_tenant_admin(&tenant)?;
        let e = r
            .evaluation
            .ok_or_else(|| Error::invalid("evaluation is required", "evaluation krävs"))?;
        let title = util::text("title", &e.title, 200, true)?;
        let kind = kind_str(e.kind)?;
        let fv = if e.framework_version.is_empty() {
            frameworks::BUILTIN.to_string()
        } else {
            e.framework_version.clone()
        };
        frameworks::resolve(&self.0, &fv)
            .await
            .map_err(|err| match err {
                Error::NotFound(m) => Error::InvalidArgument(m),
                other => other,
            })?;
        let date = util::past_date("evaluation_date", &e.evaluation_date)?;
        let db = self.0.dir.db(&tenant).await?;
        let previous = if e.previous_evaluation.is_empty() {
            None
        } else {
            let (pt, pid) = names::tenant_child(&e.previous_evaluation, "evaluations")?;
            let prev = evaluation::Entity::find_by_id(pid)
                .one(&*db)
                .await
                .map_err(Error::from)?
                .filter(|_| pt == tenant)
                .ok_or_else(|| {
                    Error::InvalidArgument(Msg::new(
                        format!(
                            "previous_evaluation {} is not an evaluation of {tenant}",
                            e.previous_evaluation
                        ),
                        format!(
                            "previous_evaluation {} är ingen utvärdering av {tenant}",
                            e.previous_evaluation
                        ),
                    ))
                })?;
            if prev.framework_version != fv {
                return Err(Error::invalid(
                    format!(
                        "the next cycle must use the previous evaluation's framework version {}",
                        prev.framework_version
                    ),
                    format!(
                        "nästa cykel måste använda föregående utvärderings ramverksversion {}",
                        prev.framework_version
                    ),
                )
                .into());
            }
            Some(prev)
        };
        frameworks::mark_in_use(&self.0, &fv).await?;
        let now = Utc::now();
        let id = util::new_id();
        let ev = Eval {
            tenant: tenant.clone(),
            user: c.user()?.clone(),
            role: if c.is_operator() {
                Role::Operator
            } else {
                Role::TenantAdmin
            },
            db,
            row: evaluation::Model {
                id: id.clone(),
                title,
                kind: kind.into(),
                framework_version: fv,
                state: State::Draft.as_str().into(),
                version: 1,
                created_by: c.user()?.to_string(),
                created_at: now,
                updated_at: now,
                previous_evaluation: previous.as_ref().map(|p| p.id.clone()),
                evaluation_date: date,
                imported: false,
                imported_evaluator_names: "[]".into(),
                publish_time: None,
                seal_digest: None,
                seal_time: None,
                published_content: None,
                imported_by: None,
                imported_by_name: None,
                import_role: None,
                import_time: None,
                import_source: None,
                seal_canonicalization: None,
            },
        };
        let w = Write::insert(&self.0, &ev).await?;
        if let Some(prev) = &previous {
            // Next cycle: the evidence list comes along as reference.
            let items = evidence::Entity::find()
                .filter(evidence::Column::EvaluationId.eq(prev.id.as_str()))
                .all(&*w)
                .await
                .map_err(Error::from)?;
            for it in items {
                evidence::Entity::insert(evidence::ActiveModel {
                    id: Set(util::new_id()),
                    evaluation_id: Set(id.clone()),
                    kind: Set(it.kind),
                    date: Set(it.date),
                    questions: Set(it.questions),
                    notes: Set(it.notes),
                    details: Set(it.details),
                    file_content: Set(it.file_content),
                    carried_over_from: Set(Some(format!(
                        "tenants/{tenant}/evaluations/{}/evidence/{}",
                        prev.id, it.id
                    ))),
                    creator: Set(it.creator),
                    version: Set(1),
                    created_at: Set(now),
                })
                .exec(&*w)
                .await
                .map_err(Error::from)?;
            }
        }
        w.audit(
            Subject::State,
            &ev.name(),
            None,
            Some(json!({"state": "DRAFT"})),
            "created",
        )
        .await?;
        let row = w.commit().await?;
        Ok(Response::new(to_pb(&tenant, &row)))
    }

    async fn get_evaluation(
        &self,
        req: Request<pb::GetEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let ev = access::open(&self.0, &caller(&req), &req.get_ref().name).await?;
        Ok(Response::new(to_pb(&ev.tenant, &ev.row)))
    }

    async fn list_evaluations(
        &self,
        req: Request<pb::ListEvaluationsRequest>,
    ) -> Result<Response<pb::ListEvaluationsResponse>, Status> {
        let c = caller(&req);
        let user = c.user()?.clone();
        let r = req.into_inner();
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let kind = if r.kind == 0 {
            None
        } else {
            Some(kind_str(r.kind)?)
        };
        let state = state_from_pb(r.state);
        // Which (tenant, evaluation ids) the caller may list.
        let mut scopes: Vec<(TenantId, Option<Vec<String>>)> = vec![];
        let mine = |t: &TenantId| c.is_operator() || c.tenant_role(t).is_some();
        let assigned = |t: Option<&TenantId>| {
            let mut q =
                assignment::Entity::find().filter(assignment::Column::UserId.eq(user.as_str()));
            if let Some(t) = t {
                q = q.filter(assignment::Column::TenantId.eq(t.as_str()));
            }
            q.all(&self.0.platform)
        };
        if r.parent == "tenants/-" {
            for t in c.memberships.keys() {
                scopes.push((t.clone(), None));
            }
            if c.has_role(PlatformRole::Evaluator) {
                let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in assigned(None).await.map_err(Error::from)? {
                    by.entry(a.tenant_id).or_default().push(a.evaluation_id);
                }
                for (t, ids) in by {
                    let t = TenantId::parse(&t)?;
                    if !c.memberships.contains_key(&t) {
                        scopes.push((t, Some(ids)));
                    }
                }
            }
        } else {
            let t = names::tenant(&r.parent)?;
            if mine(&t) {
                scopes.push((t, None));
            } else if c.has_role(PlatformRole::Evaluator) {
                let ids: Vec<String> = assigned(Some(&t))
                    .await
                    .map_err(Error::from)?
                    .into_iter()
                    .map(|a| a.evaluation_id)
                    .collect();
                if ids.is_empty() {
                    c.require_member(&t)?;
                }
                scopes.push((t, Some(ids)));
            } else {
                c.require_member(&t)?;
            }
        }
        scopes.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(String, pb::Evaluation)> = vec![];
        for (t, ids) in scopes {
            if out.len() as u64 > size {
                break;
            }
            if after
                .as_ref()
                .is_some_and(|a| a.split('/').next().unwrap_or("") > t.as_str())
            {
                continue;
            }
            let db = self.0.dir.db(&t).await?;
            let mut q = evaluation::Entity::find().order_by_asc(evaluation::Column::Id);
            if let Some(ids) = ids {
                q = q.filter(evaluation::Column::Id.is_in(ids));
            }
            if let Some(k) = kind {
                q = q.filter(evaluation::Column::Kind.eq(k));
            }
            if let Some(s) = state {
                q = q.filter(evaluation::Column::State.eq(s.as_str()));
            }
            if let Some(a) = &after
                && let Some((at, aid)) = a.split_once('/')
                && at == t.as_str()
            {
                q = q.filter(evaluation::Column::Id.gt(aid));
            }
            let rows = q.limit(size + 1).all(&*db).await.map_err(Error::from)?;
            out.extend(rows.iter().map(|m| (format!("{t}/{}", m.id), to_pb(&t, m))));
        }
        let (rows, next) = paging::finish(out, size, |(k, _)| k.clone());
        Ok(Response::new(pb::ListEvaluationsResponse {
            evaluations: rows.into_iter().map(|(_, e)| e).collect(),
            next_page_token: next,
        }))
    }

    async fn update_evaluation(
        &self,
        req: Request<pb::UpdateEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let e = r
            .evaluation
            .ok_or_else(|| Error::invalid("evaluation is required", "evaluation krävs"))?;
        let paths = util::required_mask(r.update_mask)?;
        let ev = access::open(&self.0, &c, &e.name).await?;
        ev.require(
            ev.may_lead(),
            if ev.is_external() {
                "only the lead evaluator or an operator may change the title or date of an external evaluation; the municipality cannot"
            } else {
                "only the municipality's admin or an operator may change the title or date of a self-assessment"
            },
            if ev.is_external() {
                "endast huvudutvärderaren eller en operatör får ändra titel eller datum för en extern utvärdering; kommunen kan inte det"
            } else {
                "endast kommunens administratör eller en operatör får ändra titel eller datum för en självskattning"
            },
        )?;
        ev.require_open()?;
        let mut set = vec![];
        for p in &paths {
            match p.as_str() {
                "title" => set.push((
                    evaluation::Column::Title,
                    util::text("title", &e.title, 200, true)?.into(),
                )),
                "evaluation_date" => set.push((
                    evaluation::Column::EvaluationDate,
                    util::past_date("evaluation_date", &e.evaluation_date)?.into(),
                )),
                other => return Err(util::unknown_field(other, "title, evaluation_date").into()),
            }
        }
        let mut w = Write::lock(&self.0, &ev).await?;
        w.require_open()?;
        w.update_evaluation(&e.etag, set).await?;
        let row = w.commit().await?;
        Ok(Response::new(to_pb(&ev.tenant, &row)))
    }

    async fn transition_evaluation(
        &self,
        req: Request<pb::TransitionEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.name).await?;
        ev.require(
            ev.may_lead(),
            "only the lead evaluator (or an operator; on a self-assessment the municipality's admin) moves the evaluation on",
            "endast huvudutvärderaren (eller en operatör; vid självskattning kommunens administratör) flyttar utvärderingen vidare",
        )?;
        let to = state_from_pb(r.to_state)
            .ok_or_else(|| Error::invalid("to_state is required", "to_state krävs"))?;
        if to == State::Published {
            return Err(Error::invalid(
                "use PublishEvaluation to publish",
                "använd PublishEvaluation för att publicera",
            )
            .into());
        }
        let refused = |from: State| {
            Error::FailedPrecondition(Msg::new(
                format!(
                    "evaluation is {}: it cannot move to {}",
                    from.label(),
                    to.label()
                ),
                format!(
                    "utvärderingen är {}: den kan inte flyttas till {}",
                    from.label(),
                    to.label()
                ),
            ))
        };
        if !transition_allowed(ev.state(), to, !ev.is_external()) {
            return Err(refused(ev.state()).into());
        }
        let reason = util::text("reason", &r.reason, 2000, false)?;
        let mut w = Write::lock(&self.0, &ev).await?;
        let from = w.state();
        if !transition_allowed(from, to, !ev.is_external()) {
            return Err(refused(from).into());
        }
        w.update_evaluation(
            &r.etag,
            vec![(evaluation::Column::State, to.as_str().into())],
        )
        .await?;
        let (old, new) = state_change(from, to);
        w.audit(Subject::State, &ev.name(), Some(old), Some(new), &reason)
            .await?;
        let row = w.commit().await?;
        Ok(Response::new(to_pb(&ev.tenant, &row)))
    }

    async fn publish_evaluation(
        &self,
        req: Request<pb::PublishEvaluationRequest>,
    ) -> Result<Response<pb::PublishEvaluationResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.name).await?;
        ev.require(
            ev.may_lead(),
            "only the lead evaluator publishes (on a self-assessment, the municipality's admin)",
            "endast huvudutvärderaren publicerar (vid självskattning kommunens administratör)",
        )?;
        ev.require_state(&[State::Consensus], "publishing", "publicering")?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        // Everything sealed is read under the evaluation lock, inside the
        // publishing transaction: a score, text or evidence write either
        // committed before (and is sealed) or waits and then finds the
        // evaluation PUBLISHED.
        let mut w = Write::lock(&self.0, &ev).await?;
        w.require_state(&[State::Consensus], "publishing", "publicering")?;
        util::check_etag(&r.etag, w.row().version, "the evaluation")?;
        let points: BTreeMap<String, i64> = scoring::agreed(&*w, &ev.row.id)
            .await?
            .into_iter()
            .filter_map(|(q, a)| a.points_centi.map(|p| (q, p)))
            .collect();
        let missing: Vec<String> = fw
            .questions()
            .filter(|(_, q)| !points.contains_key(&q.id))
            .map(|(_, q)| q.id.clone())
            .collect();
        if !missing.is_empty() {
            return Err(Error::FailedPrecondition(Msg::new(
                format!(
                    "every question needs an agreed score before publishing; missing: {}",
                    missing.join(", ")
                ),
                format!(
                    "varje fråga behöver överenskomna poäng före publicering; saknas: {}",
                    missing.join(", ")
                ),
            ))
            .into());
        }
        if let Some(d) = &w.row().evaluation_date {
            // Dates are refused in the future when written; this only
            // guards rows written before that rule.
            util::past_date("evaluation_date", d)?;
        }
        let now = Utc::now();
        let row = w.row().clone();
        let content = published_content(&self.0, &*w, &ev, &row, &fw, &points, now).await?;
        w.update_evaluation(
            &r.etag,
            vec![(evaluation::Column::State, State::Published.as_str().into())],
        )
        .await?;
        let seal = seal_and_queue(&mut w, content, now).await?;
        let (old, new) = state_change(State::Consensus, State::Published);
        w.audit(
            Subject::State,
            &ev.name(),
            Some(old),
            Some(new),
            &seal.digest,
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %ev.name(), seal = %seal.digest, "evaluation published");
        let row = evaluation::Entity::find_by_id(ev.row.id.as_str())
            .one(&*ev.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::internal("evaluation vanished"))?;
        Ok(Response::new(pb::PublishEvaluationResponse {
            evaluation: Some(to_pb(&ev.tenant, &row)),
            seal: Some(seal),
        }))
    }

    async fn verify_publication(
        &self,
        req: Request<pb::VerifyPublicationRequest>,
    ) -> Result<Response<pb::VerifyPublicationResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let (tenant, id) = names::tenant_child(&r.name, "evaluations")?;
        let unpublished = || {
            Error::NotFound(Msg::new(
                format!("{} is not a published evaluation", r.name),
                format!("{} är ingen publicerad utvärdering", r.name),
            ))
        };
        // Anyone (also anonymously) may verify the external results of a
        // municipality that agreed to be public; anything else only its own
        // users, operators and analysts. Everyone else gets the same NOT_FOUND
        // whether the tenant or evaluation exists or not.
        let insider = c.user.is_some()
            && (c.is_operator()
                || c.has_role(PlatformRole::Analyst)
                || c.tenant_role(&tenant).is_some());
        if !insider
            && !self
                .0
                .dir
                .catalog
                .tenant(&tenant)
                .await?
                .is_some_and(|t| t.named_in_comparisons)
        {
            return Err(unpublished().into());
        }
        let db = match self.0.dir.db(&tenant).await {
            Ok(db) => db,
            Err(e) if insider => return Err(e.into()),
            Err(_) => return Err(unpublished().into()),
        };
        let row = evaluation::Entity::find_by_id(id)
            .one(&*db)
            .await
            .map_err(Error::from)?
            .filter(|e| e.seal_digest.is_some() && (insider || e.kind == "external"))
            .ok_or_else(unpublished)?;
        let seal = to_pb(&tenant, &row).seal;
        let stored = row.seal_digest.clone().unwrap_or_default();
        // The seal is checked, not trusted: the stored canonical content must
        // still hash to the stored digest, or nothing verifies against it.
        let intact = row
            .published_content
            .as_deref()
            .is_some_and(|c| kompass_seal::digest(c) == stored);
        if !intact {
            tracing::error!(
                evaluation = %r.name,
                seal = %stored,
                "stored publication does not match its seal: the stored content was altered"
            );
        }
        let (valid, computed) = match r.report {
            Some(pb::verify_publication_request::Report::Content(c)) => {
                let d = kompass_seal::canonical_json(&c, canonicalization(&row))
                    .map(|j| kompass_seal::digest(&j))
                    .unwrap_or_default();
                (intact && d == stored, d)
            }
            Some(pb::verify_publication_request::Report::Digest(d)) => (
                intact && d.trim().eq_ignore_ascii_case(&stored),
                String::new(),
            ),
            None => {
                return Err(Error::invalid(
                    "give the report's content or its digest",
                    "ange rapportens innehåll eller dess kontrollsumma",
                )
                .into());
            }
        };
        Ok(Response::new(pb::VerifyPublicationResponse {
            valid,
            seal,
            computed_digest: computed,
            stored_content_intact: intact,
        }))
    }

    async fn import_evaluation(
        &self,
        req: Request<pb::ImportEvaluationRequest>,
    ) -> Result<Response<pb::Evaluation>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let tenant = names::tenant(&r.parent)?;
        c.require_tenant_admin(&tenant)?;
        let kind = kind_str(if r.kind == 0 {
            pb::EvaluationKind::External as i32
        } else {
            r.kind
        })?;
        // An external result in the national comparison is put on record by
        // the platform, never by the municipality it ranks.
        if kind == "external" && !c.is_operator() {
            return Err(Error::denied(
                "only platform operators import external evaluations; a municipality's admin imports self-assessments only (kind SELF_ASSESSMENT)",
                "endast plattformens operatörer importerar externa utvärderingar; kommunens administratör importerar bara självskattningar (kind SELF_ASSESSMENT)",
            )
            .into());
        }
        let title = util::text("title", &r.title, 200, true)?;
        let fw = frameworks::resolve(&self.0, &r.framework_version)
            .await
            .map_err(|e| match e {
                Error::NotFound(m) => Error::InvalidArgument(m),
                e => e,
            })?;
        let date = util::past_date("evaluation_date", &r.evaluation_date)?.ok_or_else(|| {
            Error::invalid(
                "evaluation_date is required (YYYY-MM-DD)",
                "evaluation_date krävs (ÅÅÅÅ-MM-DD)",
            )
        })?;
        let source = util::text("source", &r.source, 2000, false)?;
        if source.is_empty() {
            return Err(Error::invalid(
                "source is required: say where the result comes from, e.g. the report's title and URL",
                "source krävs: ange var resultatet kommer ifrån, t.ex. rapportens titel och webbadress",
            )
            .into());
        }
        let names_list: Vec<String> = r
            .evaluator_names
            .iter()
            .map(|n| util::text("evaluator name", n, 200, true))
            .collect::<Result<_, _>>()?;
        let csv = String::from_utf8(r.csv).map_err(|_| {
            Error::invalid("the CSV is not UTF-8 text", "CSV-filen är inte UTF-8-text")
        })?;
        let points = parse_historic_csv(&fw, &csv)?;
        let user = c.user()?.clone();
        let importer = self
            .0
            .dir
            .catalog
            .user(&user)
            .await?
            .map(|u| u.display_name)
            .unwrap_or_else(|| user.to_string());
        let (role, import_role) = if c.is_operator() {
            (Role::Operator, "operator")
        } else {
            (Role::TenantAdmin, "tenant_admin")
        };
        let id = util::new_id();
        let now = Utc::now();
        let row = evaluation::Model {
            id: id.clone(),
            title,
            kind: kind.into(),
            framework_version: r.framework_version.clone(),
            state: State::Published.as_str().into(),
            version: 1,
            created_by: user.to_string(),
            created_at: now,
            updated_at: now,
            previous_evaluation: None,
            evaluation_date: Some(date),
            imported: true,
            imported_evaluator_names: util::to_json(&names_list),
            publish_time: Some(now),
            seal_digest: None,
            seal_time: None,
            published_content: None,
            imported_by: Some(user.to_string()),
            imported_by_name: Some(importer),
            import_role: Some(import_role.into()),
            import_time: Some(now),
            import_source: Some(source.clone()),
            seal_canonicalization: None,
        };
        if r.validate_only {
            return Ok(Response::new(to_pb(&tenant, &row)));
        }
        frameworks::mark_in_use(&self.0, &r.framework_version).await?;
        let db = self.0.dir.db(&tenant).await?;
        let ev = Eval {
            tenant: tenant.clone(),
            user: user.clone(),
            role,
            db,
            row: row.clone(),
        };
        let mut w = Write::insert(&self.0, &ev).await?;
        for (q, p) in &points {
            agreed_score::Entity::insert(agreed_score::ActiveModel {
                evaluation_id: Set(id.clone()),
                question_id: Set(q.clone()),
                points_centi: Set(Some(*p)),
                comment: Set(String::new()),
                agreed_by: Set(user.to_string()),
                version: Set(1),
                updated_at: Set(now),
            })
            .exec(&*w)
            .await
            .map_err(Error::from)?;
        }
        let content = published_content(&self.0, &*w, &ev, &row, &fw, &points, now).await?;
        seal_and_queue(&mut w, content, now).await?;
        w.audit(
            Subject::State,
            &ev.name(),
            None,
            Some(json!({
                "state": "PUBLISHED", "imported": true, "kind": kind.to_uppercase(),
                "importRole": import_role, "source": source,
            })),
            "historic import",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %ev.name(), by = %user, role = import_role, "evaluation imported");
        let row = evaluation::Entity::find_by_id(id.as_str())
            .one(&*ev.db)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::internal("imported evaluation vanished"))?;
        Ok(Response::new(to_pb(&tenant, &row)))
    }

    async fn create_assignment(
        &self,
        req: Request<pb::CreateAssignmentRequest>,
    ) -> Result<Response<pb::Assignment>, Status> {
        let c = caller(&req);
        c.require_operator()?;
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.parent).await?;
        if !ev.is_external() {
            return Err(Error::precondition(
                "evaluators are assigned to external evaluations only",
                "utvärderare tilldelas endast externa utvärderingar",
            )
            .into());
        }
        ev.require_open()?;
        let a = r
            .assignment
            .ok_or_else(|| Error::invalid("assignment is required", "assignment krävs"))?;
        let user = names::user(&a.user)?;
        let role = match pb::EvaluatorRole::try_from(a.role) {
            Ok(pb::EvaluatorRole::Lead) => "lead",
            Ok(pb::EvaluatorRole::Peer) => "peer",
            _ => {
                return Err(Error::invalid(
                    "role is required: LEAD or PEER",
                    "roll krävs: LEAD eller PEER",
                )
                .into());
            }
        };
        let u = self.0.dir.catalog.user(&user).await?.ok_or_else(|| {
            Error::NotFound(Msg::new(
                format!("user {user} does not exist"),
                format!("användaren {user} finns inte"),
            ))
        })?;
        if !u.platform_roles.split(',').any(|r| r == "evaluator") {
            return Err(Error::FailedPrecondition(Msg::new(
                format!("{user} does not hold the evaluator role"),
                format!("{user} har inte rollen utvärderare"),
            ))
            .into());
        }
        // The assignment lives in the platform database; the evaluation lock
        // in the tenant database orders it with publication, which names the
        // assigned evaluators in what it seals.
        let w = Write::lock(&self.0, &ev).await?;
        w.require_open()?;
        let existing = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(ev.tenant.as_str()))
            .filter(assignment::Column::EvaluationId.eq(ev.row.id.as_str()))
            .all(&self.0.platform)
            .await
            .map_err(Error::from)?;
        if role == "lead"
            && existing
                .iter()
                .any(|x| x.role == "lead" && x.user_id != user.as_str())
        {
            return Err(Error::precondition(
                "the evaluation already has a lead evaluator; remove that assignment first",
                "utvärderingen har redan en huvudutvärderare; ta bort den tilldelningen först",
            )
            .into());
        }
        let model = assignment::Model {
            tenant_id: ev.tenant.to_string(),
            evaluation_id: ev.row.id.clone(),
            user_id: user.to_string(),
            role: role.into(),
            display_name: u.display_name.clone(),
            created_at: Utc::now(),
        };
        let old = existing
            .iter()
            .find(|x| x.user_id == user.as_str())
            .map(|x| json!({"role": x.role}));
        if old.is_some() {
            assignment::Entity::delete_by_id((
                model.tenant_id.clone(),
                model.evaluation_id.clone(),
                model.user_id.clone(),
            ))
            .exec(&self.0.platform)
            .await
            .map_err(Error::from)?;
        }
        let active: assignment::ActiveModel = model.clone().into();
        assignment::Entity::insert(active)
            .exec(&self.0.platform)
            .await
            .map_err(Error::from)?;
        // Committed already: the platform database is not in the write.
        self.0
            .dir
            .catalog
            .invalidate(Invalidation::Assignment {
                tenant: model.tenant_id.clone(),
                evaluation: model.evaluation_id.clone(),
                user: model.user_id.clone(),
            })
            .await;
        let out = assignment_pb(&model);
        w.audit(
            Subject::Assignment,
            &out.name,
            old,
            Some(json!({"role": role})),
            "",
        )
        .await?;
        w.commit().await?;
        Ok(Response::new(out))
    }

    async fn list_assignments(
        &self,
        req: Request<pb::ListAssignmentsRequest>,
    ) -> Result<Response<pb::ListAssignmentsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.parent).await?;
        let size = paging::page_size(r.page_size)?;
        let mut q = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(ev.tenant.as_str()))
            .filter(assignment::Column::EvaluationId.eq(ev.row.id.as_str()))
            .order_by_asc(assignment::Column::UserId);
        if let Some(a) = paging::decode(&r.page_token)? {
            q = q.filter(assignment::Column::UserId.gt(a));
        }
        let rows = q
            .limit(size + 1)
            .all(&self.0.platform)
            .await
            .map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |a| a.user_id.clone());
        Ok(Response::new(pb::ListAssignmentsResponse {
            assignments: rows.iter().map(assignment_pb).collect(),
            next_page_token: next,
        }))
    }

    async fn delete_assignment(
        &self,
        req: Request<pb::DeleteAssignmentRequest>,
    ) -> Result<Response<()>, Status> {
        let c = caller(&req);
        c.require_operator()?;
        let name = req.get_ref().name.clone();
        let (eval, user) = access::child(&name, "assignments")?;
        let user = UserId::parse(user)?;
        let ev = access::open(&self.0, &c, &eval).await?;
        let w = Write::lock(&self.0, &ev).await?;
        let res = assignment::Entity::delete_by_id((
            ev.tenant.to_string(),
            ev.row.id.clone(),
            user.to_string(),
        ))
        .exec(&self.0.platform)
        .await
        .map_err(Error::from)?;
        self.0
            .dir
            .catalog
            .invalidate(Invalidation::Assignment {
                tenant: ev.tenant.to_string(),
                evaluation: ev.row.id.clone(),
                user: user.to_string(),
            })
            .await;
        if res.rows_affected == 0 {
            return Err(Error::not_found(
                format!("{user} is not assigned to {eval}"),
                format!("{user} är inte tilldelad {eval}"),
            )
            .into());
        }
        w.audit(
            Subject::Assignment,
            &name,
            Some(json!({"assigned": true})),
            None,
            "",
        )
        .await?;
        w.commit().await?;
        Ok(Response::new(()))
    }

    async fn list_audit_events(
        &self,
        req: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.parent).await?;
        ev.require(
            ev.role != Role::Member,
            "the audit trail is for operators, the municipality's admins and the assigned evaluators",
            "granskningsloggen är till för operatörer, kommunens administratörer och de tilldelade utvärderarna",
        )?;
        let size = paging::page_size(r.page_size)?;
        // Only the subjects this caller may read (AuditEvent in the proto).
        let readable: Vec<&str> = audit::readable(&ev)
            .into_iter()
            .map(|s| s.as_str())
            .collect();
        let mut q = audit_event::Entity::find()
            .filter(audit_event::Column::EvaluationId.eq(ev.row.id.as_str()))
            .filter(audit_event::Column::Subject.is_in(readable))
            .order_by_asc(audit_event::Column::Id);
        let subject = match pb::audit_event::Subject::try_from(r.subject).unwrap_or_default() {
            pb::audit_event::Subject::Unspecified => None,
            pb::audit_event::Subject::Score => Some(Subject::Score),
            pb::audit_event::Subject::AgreedScore => Some(Subject::AgreedScore),
            pb::audit_event::Subject::Narrative => Some(Subject::Narrative),
            pb::audit_event::Subject::ImprovementOpportunity => {
                Some(Subject::ImprovementOpportunity)
            }
            pb::audit_event::Subject::Assignment => Some(Subject::Assignment),
            pb::audit_event::Subject::State => Some(Subject::State),
            pb::audit_event::Subject::Evidence => Some(Subject::Evidence),
            pb::audit_event::Subject::InformationRequest => Some(Subject::InformationRequest),
        };
        if let Some(s) = subject {
            q = q.filter(audit_event::Column::Subject.eq(s.as_str()));
        }
        if !r.target.is_empty() {
            q = q.filter(audit_event::Column::Target.eq(r.target.as_str()));
        }
        if let Some(a) = paging::decode(&r.page_token)? {
            let a: i64 = a
                .parse()
                .map_err(|_| Error::invalid("bad page_token", "ogiltig page_token"))?;
            q = q.filter(audit_event::Column::Id.gt(a));
        }
        let rows = q.limit(size + 1).all(&*ev.db).await.map_err(Error::from)?;
        let (rows, next) = paging::finish(rows, size, |a| a.id.to_string());
        let name = ev.name();
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events: rows
                .into_iter()
                .map(|a| pb::AuditEvent {
                    reason: if audit::reason_readable(&ev, &a.subject) {
                        a.reason.clone()
                    } else {
                        String::new()
                    },
                    name: format!("{name}/auditEvents/{}", a.id),
                    actor: format!("users/{}", a.actor),
                    time: Some(ts(a.time)),
                    subject: match a.subject.as_str() {
                        "score" => pb::audit_event::Subject::Score,
                        "agreed_score" => pb::audit_event::Subject::AgreedScore,
                        "narrative" => pb::audit_event::Subject::Narrative,
                        "improvement_opportunity" => {
                            pb::audit_event::Subject::ImprovementOpportunity
                        }
                        "assignment" => pb::audit_event::Subject::Assignment,
                        "state" => pb::audit_event::Subject::State,
                        "evidence" => pb::audit_event::Subject::Evidence,
                        "information_request" => pb::audit_event::Subject::InformationRequest,
                        _ => pb::audit_event::Subject::Unspecified,
                    } as i32,
                    target: a.target,
                    old_value: a.old_value,
                    new_value: a.new_value,
                })
                .collect(),
            next_page_token: next,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_moves_one_step_at_a_time() {
        use State::*;
        assert!(transition_allowed(Draft, Fieldwork, false));
        assert!(transition_allowed(Consensus, Scoring, false));
        assert!(!transition_allowed(Draft, Scoring, false));
        assert!(transition_allowed(Draft, Scoring, true));
        assert!(!transition_allowed(Draft, Published, false));
        assert!(!transition_allowed(Published, Consensus, false));
        assert!(transition_allowed(Published, Archived, false));
        assert!(transition_allowed(Draft, Archived, false));
        assert!(!transition_allowed(Archived, Published, false));
        assert!(!transition_allowed(Archived, Draft, true));
    }

    #[test]
    fn historic_csv_names_the_first_fault() {
        let fw = Framework::builtin();
        let mut ok = String::from("question,points\n");
        for (_, q) in fw.questions() {
            ok.push_str(&format!("{},{}\n", q.id, "5.5"));
        }
        assert_eq!(parse_historic_csv(fw, &ok).unwrap().len(), 45);
        let e = parse_historic_csv(fw, "question,points\n1.1,16\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse_historic_csv(fw, "question,points\n9.9,1\n").unwrap_err();
        assert!(e.to_string().contains("9.9"), "{e}");
        let e = parse_historic_csv(fw, "question,points\n1.1,1\n").unwrap_err();
        assert!(e.to_string().contains("no row for question 1.2"), "{e}");
        assert!(parse_historic_csv(fw, "q;p\n").is_err());
    }
}

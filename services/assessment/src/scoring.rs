//! ScoringService: each evaluator's own scores, the consensus view and the
//! lead's agreed scores, totals, and self-assessment vs external comparison.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Utc;
use kompass_auth::Caller;
use kompass_core::{Error, Msg, paging};
use kompass_frameworks::Framework;
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, scoring_service_server::ScoringService};
use kompass_scoring::{QuestionScore, format_points};
use rust_decimal::Decimal;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tonic::{Request, Response, Status};

use crate::Assessment;
use crate::access::{self, Eval, State};
use crate::audit::Subject;
use crate::entity::{agreed_score, assignment, evaluation, evidence, score};
use crate::frameworks;
use crate::store::{self, score::Outcome};
use crate::util::{self, centi, from_centi, points_str, ts};
use crate::write::Write;

pub struct Scoring(pub Assessment);

/// Agreed points by question (hundredths).
pub async fn agreed(
    db: &impl ConnectionTrait,
    evaluation_id: &str,
) -> Result<BTreeMap<String, agreed_score::Model>, Error> {
    Ok(agreed_score::Entity::find()
        .filter(agreed_score::Column::EvaluationId.eq(evaluation_id))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.question_id.clone(), a))
        .collect())
}

fn tally(id: &str, points: Decimal, max: Decimal) -> pb::Tally {
    let pct = kompass_scoring::percent(points, max).unwrap_or_default();
    pb::Tally {
        id: id.into(),
        points: format_points(points),
        max_points: max.normalize().to_string(),
        percent: pct.normalize().to_string(),
        display_points: kompass_scoring::round_display(points).to_string(),
        display_percent: kompass_scoring::round_display(pct).to_string(),
    }
}

/// Totals from exact points per question (missing = 0, listed as unscored);
/// areas and the grand total are summed exactly and rounded only for display.
pub fn totals(evaluation: &str, fw: &Framework, points: &BTreeMap<String, i64>) -> pb::Totals {
    let rows: Vec<QuestionScore> = fw
        .questions()
        .map(|(a, q)| QuestionScore {
            question_id: q.id.clone(),
            area_id: a.id.clone(),
            points: points
                .get(&q.id)
                .map(|c| from_centi(*c))
                .unwrap_or_default(),
            max_points: q.max_points,
        })
        .collect();
    let t = kompass_scoring::totals(&rows).expect("framework maxima are validated");
    pb::Totals {
        evaluation: evaluation.into(),
        questions: rows
            .iter()
            .map(|r| tally(&r.question_id, r.points, r.max_points))
            .collect(),
        areas: t
            .areas
            .iter()
            .map(|a| tally(&a.area_id, a.points, a.max_points))
            .collect(),
        total: Some(tally("", t.total_points, t.total_max)),
        unscored_questions: fw
            .questions()
            .filter(|(_, q)| !points.contains_key(&q.id))
            .map(|(_, q)| q.id.clone())
            .collect(),
    }
}

fn question(fw: &Framework, id: &str) -> Result<Decimal, Error> {
    fw.question(id).map(|(_, q)| q.max_points).ok_or_else(|| {
        Error::InvalidArgument(Msg::new(
            format!(
                "question {id:?} is not in framework {}/{}",
                fw.id, fw.revision
            ),
            format!(
                "frågan {id:?} finns inte i ramverket {}/{}",
                fw.id, fw.revision
            ),
        ))
    })
}

/// Parses a decimal string of points for a question: at most two decimals,
/// 0 ≤ points ≤ max. Empty clears the score.
fn points_for(fw: &Framework, q: &str, s: &str) -> Result<Option<i64>, Error> {
    let max = question(fw, q)?;
    if s.is_empty() {
        return Ok(None);
    }
    let p = kompass_scoring::parse_points(s)
        .and_then(|p| kompass_scoring::validate_points(p, max))
        .map_err(|e| {
            Error::InvalidArgument(Msg::new(
                format!("question {q}: points {s:?}: {e}"),
                format!("fråga {q}: poäng {s:?}: {}", e.message_sv()),
            ))
        })?;
    Ok(Some(centi(p)))
}

/// The previous evaluation's agreed points (next cycle), if the caller may
/// read them there: shown beside the new scores, they must not reveal an
/// unpublished consensus to anyone outside its team.
async fn previous_agreed(
    st: &Assessment,
    c: &Caller,
    ev: &Eval,
) -> Result<Arc<BTreeMap<String, i64>>, Error> {
    let Some(prev) = &ev.row.previous_evaluation else {
        return Ok(Arc::default());
    };
    let key = (ev.tenant.to_string(), prev.clone());
    if let Some(sealed) = st.sealed_agreed.get(&key) {
        return Ok(sealed);
    }
    // Published: public reference for whoever reads this evaluation. Not
    // yet: only for those who read the previous one's consensus themselves.
    let published = evaluation::Entity::find_by_id(prev.as_str())
        .one(&*ev.db)
        .await?
        .is_some_and(|r| r.seal_digest.is_some());
    let readable = published
        || match access::related(st, c, &ev.tenant, &*ev.db, prev).await? {
            Some((role, row)) => access::may_read_agreed(role, &row),
            None => false,
        };
    if !readable {
        return Ok(Arc::default());
    }
    let points: Arc<BTreeMap<String, i64>> = Arc::new(
        agreed(&*ev.db, prev)
            .await?
            .into_iter()
            .filter_map(|(q, a)| a.points_centi.map(|p| (q, p)))
            .collect(),
    );
    if published {
        st.sealed_agreed.insert(key, points.clone());
    }
    Ok(points)
}

fn score_pb(
    ev: &Eval,
    q: &str,
    max: Decimal,
    row: Option<&score::Model>,
    prev: Option<i64>,
) -> pb::Score {
    pb::Score {
        name: format!("{}/scores/{q}", ev.name()),
        question: q.into(),
        evaluator: format!("users/{}", ev.user),
        points: points_str(row.and_then(|r| r.points_centi)),
        comment: row.map(|r| r.comment.clone()).unwrap_or_default(),
        evidence: row
            .map(|r| util::json_list(&r.evidence))
            .unwrap_or_default(),
        max_points: max.normalize().to_string(),
        previous_agreed_points: points_str(prev),
        update_time: row.map(|r| ts(r.updated_at)),
        etag: row
            .map(|r| r.version.to_string())
            .unwrap_or_else(|| "0".into()),
    }
}

impl Scoring {
    async fn own(&self, ev: &Eval, q: &str) -> Result<Option<score::Model>, Error> {
        Ok(
            score::Entity::find_by_id((ev.row.id.clone(), q.to_string(), ev.user.to_string()))
                .one(&*ev.db)
                .await?,
        )
    }

    /// Agreed scores are for the team until publication; afterwards for
    /// everyone who may read the evaluation (individual scores never: see
    /// [`Scoring::agreed_pb`]).
    fn require_consensus_reader(&self, ev: &Eval) -> Result<(), Error> {
        ev.require(
            ev.may_read_agreed(),
            "the agreed scores are for the evaluators until the evaluation is published",
            "de överenskomna poängen är till för utvärderarna tills utvärderingen publiceras",
        )
    }

    /// The consensus of every question (or `only` one). Individual scores
    /// and their spread only for the team; everyone else who may read
    /// agreed scores gets the agreed points and comment alone.
    async fn agreed_pb(
        &self,
        c: &Caller,
        ev: &Eval,
        fw: &Framework,
        only: Option<&str>,
    ) -> Result<Vec<pb::AgreedScore>, Error> {
        let agreed = agreed(&*ev.db, &ev.row.id).await?;
        let prev = previous_agreed(&self.0, c, ev).await?;
        let team = ev.on_team();
        let mut q =
            score::Entity::find().filter(score::Column::EvaluationId.eq(ev.row.id.as_str()));
        if let Some(only) = only {
            q = q.filter(score::Column::QuestionId.eq(only));
        }
        let scores = if team { q.all(&*ev.db).await? } else { vec![] };
        let names: BTreeMap<String, String> = assignment::Entity::find()
            .filter(assignment::Column::TenantId.eq(ev.tenant.as_str()))
            .filter(assignment::Column::EvaluationId.eq(ev.row.id.as_str()))
            .all(&self.0.platform)
            .await?
            .into_iter()
            .map(|a| (a.user_id, a.display_name))
            .collect();
        let mut out = vec![];
        for (_, qn) in fw
            .questions()
            .filter(|(_, q)| only.is_none_or(|o| o == q.id))
        {
            let mine: Vec<&score::Model> =
                scores.iter().filter(|s| s.question_id == qn.id).collect();
            let vals: Vec<i64> = mine.iter().filter_map(|s| s.points_centi).collect();
            let a = agreed.get(&qn.id);
            out.push(pb::AgreedScore {
                name: format!("{}/agreedScores/{}", ev.name(), qn.id),
                question: qn.id.clone(),
                points: points_str(a.and_then(|a| a.points_centi)),
                comment: a.map(|a| a.comment.clone()).unwrap_or_default(),
                max_points: qn.max_points.normalize().to_string(),
                individual_scores: mine
                    .iter()
                    .map(|s| pb::IndividualScore {
                        evaluator: format!("users/{}", s.evaluator_id),
                        display_name: names
                            .get(&s.evaluator_id)
                            .cloned()
                            .unwrap_or_else(|| s.evaluator_id.clone()),
                        points: points_str(s.points_centi),
                        comment: s.comment.clone(),
                    })
                    .collect(),
                lowest_points: points_str(vals.iter().min().copied()),
                highest_points: points_str(vals.iter().max().copied()),
                previous_agreed_points: points_str(prev.get(&qn.id).copied()),
                agreed_by: a
                    .map(|a| format!("users/{}", a.agreed_by))
                    .unwrap_or_default(),
                update_time: a.map(|a| ts(a.updated_at)),
                etag: a
                    .map(|a| a.version.to_string())
                    .unwrap_or_else(|| "0".into()),
            });
        }
        Ok(out)
    }
}

fn stale_if_conflict(e: sea_orm::DbErr, what: &str) -> Error {
    let s = e.to_string();
    if s.contains("duplicate key") || s.contains("UNIQUE constraint") {
        util::check_etag("0", -1, what).unwrap_err()
    } else {
        e.into()
    }
}

#[tonic::async_trait]
impl ScoringService for Scoring {
    async fn get_score(
        &self,
        req: Request<pb::GetScoreRequest>,
    ) -> Result<Response<pb::Score>, Status> {
        let c = caller(&req);
        let (eval, q) = access::child(&req.get_ref().name, "scores")?;
        let ev = access::open(&self.0, &c, &eval).await?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        let max = question(&fw, q).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::NotFound(m),
            e => e,
        })?;
        let row = self.own(&ev, q).await?;
        let prev = previous_agreed(&self.0, &c, &ev).await?;
        Ok(Response::new(score_pb(
            &ev,
            q,
            max,
            row.as_ref(),
            prev.get(q).copied(),
        )))
    }

    async fn list_scores(
        &self,
        req: Request<pb::ListScoresRequest>,
    ) -> Result<Response<pb::ListScoresResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.parent).await?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        let size = paging::page_size(r.page_size)? as usize;
        let start: usize = paging::decode(&r.page_token)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let rows: BTreeMap<String, score::Model> = score::Entity::find()
            .filter(score::Column::EvaluationId.eq(ev.row.id.as_str()))
            .filter(score::Column::EvaluatorId.eq(ev.user.as_str()))
            .all(&*ev.db)
            .await
            .map_err(Error::from)?
            .into_iter()
            .map(|s| (s.question_id.clone(), s))
            .collect();
        let prev = previous_agreed(&self.0, &c, &ev).await?;
        let all: Vec<_> = fw.questions().collect();
        let page: Vec<pb::Score> = all
            .iter()
            .skip(start)
            .take(size)
            .map(|(_, q)| {
                score_pb(
                    &ev,
                    &q.id,
                    q.max_points,
                    rows.get(&q.id),
                    prev.get(&q.id).copied(),
                )
            })
            .collect();
        let next = if start + size < all.len() {
            paging::encode(&(start + size).to_string())
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListScoresResponse {
            scores: page,
            next_page_token: next,
        }))
    }

    async fn update_score(
        &self,
        req: Request<pb::UpdateScoreRequest>,
    ) -> Result<Response<pb::Score>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let s = r
            .score
            .ok_or_else(|| Error::invalid("score is required", "score krävs"))?;
        let paths = util::required_mask(r.update_mask)?;
        let (eval, q) = access::child(&s.name, "scores")?;
        // The one-statement write (PostgreSQL, no evidence) checks the state
        // itself, so it needs only the evaluation's fixed facts, cached.
        let one_statement = !paths.iter().any(|p| p == "evidence")
            && matches!(
                self.0.dir.dbs.backend(),
                kompass_tenant_db::Backend::Postgres { .. }
            );
        let ev = if one_statement {
            access::open_fixed(&self.0, &c, &eval).await?
        } else {
            access::open(&self.0, &c, &eval).await?
        };
        ev.require(
            ev.may_score(),
            "only the evaluation's assigned evaluators (or, on a self-assessment, the municipality's users) score it",
            "endast de tilldelade utvärderarna (eller, vid självskattning, kommunens användare) poängsätter",
        )?;
        if !one_statement {
            ev.require_state(&[State::Scoring], "scoring", "poängsättning")?;
        }
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        let max = question(&fw, q)?;
        // What the request sets, validated before the write begins.
        let (mut set_points, mut set_comment, mut set_evidence) = (None, None, None);
        for p in &paths {
            match p.as_str() {
                "points" => set_points = Some(points_for(&fw, q, s.points.trim())?),
                "comment" => set_comment = Some(util::text("comment", &s.comment, 4000, false)?),
                "evidence" => {
                    let prefix = format!("{}/evidence/", ev.name());
                    let mut ids = vec![];
                    for e in &s.evidence {
                        let id = e.strip_prefix(&prefix).ok_or_else(|| {
                            Error::InvalidArgument(Msg::new(
                                format!("evidence {e:?} is not evidence of this evaluation"),
                                format!("underlaget {e:?} hör inte till den här utvärderingen"),
                            ))
                        })?;
                        ids.push((e.clone(), id.to_string()));
                    }
                    set_evidence = Some(ids);
                }
                other => return Err(util::unknown_field(other, "points, comment, evidence").into()),
            }
        }
        let what = format!("your score of question {q}");
        let now = Utc::now();
        if one_statement {
            let update = store::score::ScoreUpdate {
                evaluation_id: &ev.row.id,
                question_id: q,
                evaluator_id: ev.user.as_str(),
                points_centi: set_points,
                comment: set_comment.as_deref(),
                expected_version: match s.etag.as_str() {
                    "" | "0" => Some(0),
                    e => e.parse().ok(),
                },
                actor: ev.user.as_str(),
                target: &s.name,
                now,
            };
            match store::score::write_one_statement(&*ev.db, &update)
                .await
                .map_err(Error::from)?
            {
                Outcome::Written(w) => {
                    let row = score::Model {
                        evaluation_id: ev.row.id.clone(),
                        question_id: q.into(),
                        evaluator_id: ev.user.to_string(),
                        points_centi: w.points_centi,
                        comment: w.comment,
                        evidence: w.evidence,
                        version: w.version,
                        updated_at: w.updated_at,
                    };
                    let prev = previous_agreed(&self.0, &c, &ev).await?;
                    return Ok(Response::new(score_pb(
                        &ev,
                        q,
                        max,
                        Some(&row),
                        prev.get(q).copied(),
                    )));
                }
                Outcome::NoEvaluation => return Err(access::no_evaluation(&ev.name()).into()),
                Outcome::WrongState(st) => {
                    State::parse(&st).require(&[State::Scoring], "scoring", "poängsättning")?
                }
                Outcome::Stale(current) => util::check_etag(&s.etag, current, &what)?,
                // A score created by someone else since the statement began:
                // the transaction below decides.
                Outcome::Retry => {}
            }
        }
        let w = Write::lock(&self.0, &ev).await?;
        w.require_state(&[State::Scoring], "scoring", "poängsättning")?;
        if let Some(ids) = &set_evidence {
            for (e, id) in ids {
                let found = evidence::Entity::find_by_id(id.as_str())
                    .one(&*w)
                    .await
                    .map_err(Error::from)?
                    .is_some_and(|x| x.evaluation_id == ev.row.id);
                if !found {
                    return Err(Error::InvalidArgument(Msg::new(
                        format!("evidence {e} does not exist"),
                        format!("underlaget {e} finns inte"),
                    ))
                    .into());
                }
            }
        }
        let current =
            score::Entity::find_by_id((ev.row.id.clone(), q.to_string(), ev.user.to_string()))
                .one(&*w)
                .await
                .map_err(Error::from)?;
        let points = set_points.unwrap_or_else(|| current.as_ref().and_then(|r| r.points_centi));
        let comment = set_comment.unwrap_or_else(|| {
            current
                .as_ref()
                .map(|r| r.comment.clone())
                .unwrap_or_default()
        });
        let evidence_refs: Vec<String> = match set_evidence {
            Some(ids) => ids.into_iter().map(|(e, _)| e).collect(),
            None => current
                .as_ref()
                .map(|r| util::json_list(&r.evidence))
                .unwrap_or_default(),
        };
        let old = current
            .as_ref()
            .map(|r| json!({"points": points_str(r.points_centi), "comment": r.comment}));
        let new = json!({"points": points_str(points), "comment": comment});
        match &current {
            None => {
                if !(s.etag.is_empty() || s.etag == "0") {
                    util::check_etag(&s.etag, 0, &what)?;
                }
                score::Entity::insert(score::ActiveModel {
                    evaluation_id: Set(ev.row.id.clone()),
                    question_id: Set(q.into()),
                    evaluator_id: Set(ev.user.to_string()),
                    points_centi: Set(points),
                    comment: Set(comment.clone()),
                    evidence: Set(util::to_json(&evidence_refs)),
                    version: Set(1),
                    updated_at: Set(now),
                })
                .exec(&*w)
                .await
                .map_err(|e| stale_if_conflict(e, &what))?;
            }
            Some(cur) => {
                util::check_etag(&s.etag, cur.version, &what)?;
                w.update(
                    score::Entity::update_many()
                        .col_expr(score::Column::PointsCenti, points.into())
                        .col_expr(score::Column::Comment, comment.clone().into())
                        .col_expr(
                            score::Column::Evidence,
                            util::to_json(&evidence_refs).into(),
                        )
                        .col_expr(score::Column::UpdatedAt, now.into())
                        .filter(score::Column::EvaluationId.eq(ev.row.id.as_str()))
                        .filter(score::Column::QuestionId.eq(q))
                        .filter(score::Column::EvaluatorId.eq(ev.user.as_str())),
                    score::Column::Version,
                    cur.version,
                    &what,
                )
                .await?;
            }
        }
        w.audit(Subject::Score, &s.name, old, Some(new), "").await?;
        w.commit().await?;
        let row = self.own(&ev, q).await?;
        let prev = previous_agreed(&self.0, &c, &ev).await?;
        Ok(Response::new(score_pb(
            &ev,
            q,
            max,
            row.as_ref(),
            prev.get(q).copied(),
        )))
    }

    async fn get_agreed_score(
        &self,
        req: Request<pb::GetAgreedScoreRequest>,
    ) -> Result<Response<pb::AgreedScore>, Status> {
        let c = caller(&req);
        let (eval, q) = access::child(&req.get_ref().name, "agreedScores")?;
        let ev = access::open(&self.0, &c, &eval).await?;
        self.require_consensus_reader(&ev)?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        question(&fw, q).map_err(|e| match e {
            Error::InvalidArgument(m) => Error::NotFound(m),
            e => e,
        })?;
        let mut v = self.agreed_pb(&c, &ev, &fw, Some(q)).await?;
        Ok(Response::new(v.remove(0)))
    }

    async fn list_agreed_scores(
        &self,
        req: Request<pb::ListAgreedScoresRequest>,
    ) -> Result<Response<pb::ListAgreedScoresResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.parent).await?;
        self.require_consensus_reader(&ev)?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        let size = paging::page_size(r.page_size)? as usize;
        let start: usize = paging::decode(&r.page_token)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let all = self.agreed_pb(&c, &ev, &fw, None).await?;
        let n = all.len();
        let page = all.into_iter().skip(start).take(size).collect();
        Ok(Response::new(pb::ListAgreedScoresResponse {
            agreed_scores: page,
            next_page_token: if start + size < n {
                paging::encode(&(start + size).to_string())
            } else {
                String::new()
            },
        }))
    }

    async fn update_agreed_score(
        &self,
        req: Request<pb::UpdateAgreedScoreRequest>,
    ) -> Result<Response<pb::AgreedScore>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let s = r
            .agreed_score
            .ok_or_else(|| Error::invalid("agreed_score is required", "agreed_score krävs"))?;
        let paths = util::required_mask(r.update_mask)?;
        let (eval, q) = access::child(&s.name, "agreedScores")?;
        let ev = access::open(&self.0, &c, &eval).await?;
        ev.require(
            ev.may_lead(),
            "only the lead evaluator sets agreed scores",
            "endast huvudutvärderaren sätter överenskomna poäng",
        )?;
        ev.require_state(
            &[State::Consensus],
            "setting agreed scores",
            "att sätta överenskomna poäng",
        )?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        question(&fw, q)?;
        let (mut set_points, mut set_comment) = (None, None);
        for p in &paths {
            match p.as_str() {
                "points" => set_points = Some(points_for(&fw, q, s.points.trim())?),
                "comment" => set_comment = Some(util::text("comment", &s.comment, 4000, false)?),
                other => return Err(util::unknown_field(other, "points, comment").into()),
            }
        }
        let what = format!("the agreed score of question {q}");
        let now = Utc::now();
        let w = Write::lock(&self.0, &ev).await?;
        w.require_state(
            &[State::Consensus],
            "setting agreed scores",
            "att sätta överenskomna poäng",
        )?;
        let current = agreed_score::Entity::find_by_id((ev.row.id.clone(), q.to_string()))
            .one(&*w)
            .await
            .map_err(Error::from)?;
        let points = set_points.unwrap_or_else(|| current.as_ref().and_then(|a| a.points_centi));
        let comment = set_comment.unwrap_or_else(|| {
            current
                .as_ref()
                .map(|a| a.comment.clone())
                .unwrap_or_default()
        });
        let old = current
            .as_ref()
            .map(|a| json!({"points": points_str(a.points_centi), "comment": a.comment}));
        match &current {
            None => {
                if !(s.etag.is_empty() || s.etag == "0") {
                    util::check_etag(&s.etag, 0, &what)?;
                }
                agreed_score::Entity::insert(agreed_score::ActiveModel {
                    evaluation_id: Set(ev.row.id.clone()),
                    question_id: Set(q.into()),
                    points_centi: Set(points),
                    comment: Set(comment.clone()),
                    agreed_by: Set(ev.user.to_string()),
                    version: Set(1),
                    updated_at: Set(now),
                })
                .exec(&*w)
                .await
                .map_err(|e| stale_if_conflict(e, &what))?;
            }
            Some(cur) => {
                util::check_etag(&s.etag, cur.version, &what)?;
                w.update(
                    agreed_score::Entity::update_many()
                        .col_expr(agreed_score::Column::PointsCenti, points.into())
                        .col_expr(agreed_score::Column::Comment, comment.clone().into())
                        .col_expr(agreed_score::Column::AgreedBy, ev.user.to_string().into())
                        .col_expr(agreed_score::Column::UpdatedAt, now.into())
                        .filter(agreed_score::Column::EvaluationId.eq(ev.row.id.as_str()))
                        .filter(agreed_score::Column::QuestionId.eq(q)),
                    agreed_score::Column::Version,
                    cur.version,
                    &what,
                )
                .await?;
            }
        }
        let new = json!({"points": points_str(points), "comment": comment});
        w.audit(Subject::AgreedScore, &s.name, old, Some(new), "")
            .await?;
        w.commit().await?;
        let mut v = self.agreed_pb(&c, &ev, &fw, Some(q)).await?;
        Ok(Response::new(v.remove(0)))
    }

    async fn get_totals(
        &self,
        req: Request<pb::GetTotalsRequest>,
    ) -> Result<Response<pb::Totals>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let ev = access::open(&self.0, &c, &r.name).await?;
        let fw = frameworks::resolve(&self.0, &ev.row.framework_version).await?;
        let points: BTreeMap<String, i64> = if r.own_scores {
            score::Entity::find()
                .filter(score::Column::EvaluationId.eq(ev.row.id.as_str()))
                .filter(score::Column::EvaluatorId.eq(ev.user.as_str()))
                .all(&*ev.db)
                .await
                .map_err(Error::from)?
                .into_iter()
                .filter_map(|s| s.points_centi.map(|p| (s.question_id, p)))
                .collect()
        } else {
            self.require_consensus_reader(&ev)?;
            agreed(&*ev.db, &ev.row.id)
                .await?
                .into_iter()
                .filter_map(|(q, a)| a.points_centi.map(|p| (q, p)))
                .collect()
        };
        Ok(Response::new(totals(&ev.name(), &fw, &points)))
    }

    async fn compare_self_assessment(
        &self,
        req: Request<pb::CompareSelfAssessmentRequest>,
    ) -> Result<Response<pb::CompareSelfAssessmentResponse>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let me = access::open(&self.0, &c, &r.self_assessment).await?;
        let ext = access::open(&self.0, &c, &r.external_evaluation).await?;
        if me.row.kind != "self_assessment" || ext.row.kind != "external" {
            return Err(Error::invalid(
                "compare a self-assessment with an external evaluation",
                "jämför en självskattning med en extern utvärdering",
            )
            .into());
        }
        if me.tenant != ext.tenant || me.row.framework_version != ext.row.framework_version {
            return Err(Error::invalid(
                "both evaluations must belong to the same municipality and framework version",
                "båda utvärderingarna måste höra till samma kommun och ramverksversion",
            )
            .into());
        }
        self.require_consensus_reader(&me)?;
        self.require_consensus_reader(&ext)?;
        let fw = frameworks::resolve(&self.0, &me.row.framework_version).await?;
        let pick = |m: BTreeMap<String, agreed_score::Model>| -> BTreeMap<String, i64> {
            m.into_iter()
                .filter_map(|(q, a)| a.points_centi.map(|p| (q, p)))
                .collect()
        };
        let own = pick(agreed(&*me.db, &me.row.id).await?);
        let theirs = pick(agreed(&*ext.db, &ext.row.id).await?);
        Ok(Response::new(compare(&fw, &own, &theirs)))
    }
}

/// Self vs external per question, per area and in total; a side with no
/// points for a question leaves that figure (and its difference) empty.
pub fn compare(
    fw: &Framework,
    own: &BTreeMap<String, i64>,
    theirs: &BTreeMap<String, i64>,
) -> pb::CompareSelfAssessmentResponse {
    fn cmp(id: &str, s: Option<i64>, e: Option<i64>, max: Decimal) -> pb::Comparison {
        pb::Comparison {
            id: id.into(),
            self_points: points_str(s),
            external_points: points_str(e),
            max_points: max.normalize().to_string(),
            difference: match (s, e) {
                (Some(s), Some(e)) => format_points(from_centi(e - s)),
                _ => String::new(),
            },
        }
    }
    let sum = |m: &BTreeMap<String, i64>, qs: &[&str]| -> Option<i64> {
        let v: Vec<i64> = qs.iter().filter_map(|q| m.get(*q).copied()).collect();
        (v.len() == qs.len()).then(|| v.iter().sum())
    };
    let questions = fw
        .questions()
        .map(|(_, q)| {
            cmp(
                &q.id,
                own.get(&q.id).copied(),
                theirs.get(&q.id).copied(),
                q.max_points,
            )
        })
        .collect();
    let areas = fw
        .areas
        .iter()
        .map(|a| {
            let qs: Vec<&str> = a.questions.iter().map(|q| q.id.as_str()).collect();
            cmp(&a.id, sum(own, &qs), sum(theirs, &qs), a.max_points)
        })
        .collect();
    let all: Vec<&str> = fw.questions().map(|(_, q)| q.id.as_str()).collect();
    pb::CompareSelfAssessmentResponse {
        questions,
        areas,
        total: Some(cmp("", sum(own, &all), sum(theirs, &all), fw.total_max())),
    }
}

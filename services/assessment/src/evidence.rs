//! EvidenceService: the evidence of an evaluation (interviews, documents,
//! website observations, each linkable to questions) and information
//! requests, in which an evaluator asks the municipality for a document or a
//! written answer by a due date.
//!
//! Who may do what:
//! - Reading: everyone `access::open` admits to the evaluation.
//! - Evidence: assigned evaluators and operators write any evidence; the
//!   municipality's users add documents to an external evaluation and change
//!   or delete only what they added themselves (on a self-assessment the
//!   evidence is wholly theirs).
//! - Information requests: assigned evaluators and operators of an external
//!   evaluation ask, accept and ask again; the municipality's users answer.
//!
//! Every write is one [`Write`]: a transaction that first locks the
//! evaluation row (so publication cannot slip in between the state check and
//! the write), compares the etag (`UPDATE … WHERE version = expected`) and
//! appends an audit event; a write that fails stores nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use kompass_auth::{Caller, PlatformRole};
use kompass_core::{Error, Msg, TenantId, names, paging};
use kompass_frameworks::Framework;
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, evidence_service_server::EvidenceService};
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DerivePartialModel, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};

use crate::Assessment;
use crate::access::{self, Eval, Role};
use crate::audit::{self, Subject};
use crate::entity::{assignment, evidence, information_request, score};
use crate::util::{self, check_etag, json_list, required_mask, ts, unknown_field};
use crate::write::Write;

pub struct EvidenceApi(pub Assessment);

/// Largest uploaded file, in bytes (10 MiB).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Longest document title, interview group, participant role, in characters.
const MAX_TITLE: usize = 500;
/// Longest reference, URL, file name or content type.
const MAX_REFERENCE: usize = 2_000;
/// Longest notes, observation description, request or answer text.
const MAX_TEXT: usize = 20_000;
/// Most participant roles of one interview.
const MAX_ROLES: usize = 100;
/// Most documents in one answer.
const MAX_ANSWER_DOCUMENTS: usize = 20;

const EVIDENCE_FIELDS: &str = "interview, interview.group, interview.participant_roles, document, document.title, document.reference, document.file_content, document.file_name, document.content_type, website_observation, website_observation.url, website_observation.description, date, questions, notes";

// ---------------------------------------------------------------- plain rules

/// An information request is overdue while it is open past its due date.
/// Computed on every read, never stored.
pub fn is_overdue(state: &str, due: &str, today: NaiveDate) -> bool {
    state == "open" && NaiveDate::parse_from_str(due, "%Y-%m-%d").is_ok_and(|d| d < today)
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// Now, at the database's precision (microseconds), so that what a write
/// returns equals what a later read returns.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `%` and `_` are wildcards in LIKE; match them literally.
fn like_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Rows whose JSON list column holds exactly `item`.
fn json_list_holds(item: &str) -> LikeExpr {
    let quoted = serde_json::to_string(item).expect("a string serialises");
    LikeExpr::new(format!("%{}%", like_literal(&quoted))).escape('\\')
}

fn user_ref(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("users/{id}")
    }
}

// ---------------------------------------------------------------- evidence storage

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Interview,
    Document,
    Website,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Interview => "interview",
            Kind::Document => "document",
            Kind::Website => "website",
        }
    }
    fn parse(s: &str) -> Kind {
        match s {
            "interview" => Kind::Interview,
            "website" => Kind::Website,
            _ => Kind::Document,
        }
    }
    /// The field of the `source` oneof.
    fn field(self) -> &'static str {
        match self {
            Kind::Interview => "interview",
            Kind::Document => "document",
            Kind::Website => "website_observation",
        }
    }
    fn label_sv(self) -> &'static str {
        match self {
            Kind::Interview => "en intervju",
            Kind::Document => "ett dokument",
            Kind::Website => "en webbplatsobservation",
        }
    }
    fn label_en(self) -> &'static str {
        match self {
            Kind::Interview => "an interview",
            Kind::Document => "a document",
            Kind::Website => "a website observation",
        }
    }
    fn of(s: &pb::evidence::Source) -> Kind {
        match s {
            pb::evidence::Source::Interview(_) => Kind::Interview,
            pb::evidence::Source::Document(_) => Kind::Document,
            pb::evidence::Source::WebsiteObservation(_) => Kind::Website,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct InterviewDetails {
    group: String,
    participant_roles: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct DocumentDetails {
    title: String,
    reference: String,
    file_name: String,
    content_type: String,
    file_size: i64,
    file_sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct WebsiteDetails {
    url: String,
    description: String,
}

/// What the `details` column holds, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Details {
    Interview(InterviewDetails),
    Document(DocumentDetails),
    Website(WebsiteDetails),
}

impl Details {
    fn kind(&self) -> Kind {
        match self {
            Details::Interview(_) => Kind::Interview,
            Details::Document(_) => Kind::Document,
            Details::Website(_) => Kind::Website,
        }
    }
    fn from_row(kind: &str, details: &str) -> Details {
        match Kind::parse(kind) {
            Kind::Interview => {
                Details::Interview(serde_json::from_str(details).unwrap_or_default())
            }
            Kind::Document => Details::Document(serde_json::from_str(details).unwrap_or_default()),
            Kind::Website => Details::Website(serde_json::from_str(details).unwrap_or_default()),
        }
    }
    fn to_value(&self) -> Value {
        match self {
            Details::Interview(d) => json!(d),
            Details::Document(d) => json!(d),
            Details::Website(d) => json!(d),
        }
    }
    fn to_json(&self) -> String {
        self.to_value().to_string()
    }
}

/// An evidence row without the file bytes, for lists and checks.
#[derive(Debug, Clone, DerivePartialModel)]
#[sea_orm(entity = "evidence::Entity")]
struct Head {
    id: String,
    evaluation_id: String,
    kind: String,
    date: String,
    questions: String,
    notes: String,
    details: String,
    carried_over_from: Option<String>,
    creator: String,
    version: i64,
    created_at: DateTime<Utc>,
}

impl From<Head> for evidence::Model {
    fn from(h: Head) -> evidence::Model {
        evidence::Model {
            id: h.id,
            evaluation_id: h.evaluation_id,
            kind: h.kind,
            date: h.date,
            questions: h.questions,
            notes: h.notes,
            details: h.details,
            file_content: None,
            carried_over_from: h.carried_over_from,
            creator: h.creator,
            version: h.version,
            created_at: h.created_at,
        }
    }
}

fn evidence_name(evaluation: &str, id: &str) -> String {
    format!("{evaluation}/evidence/{id}")
}

fn request_name(evaluation: &str, id: &str) -> String {
    format!("{evaluation}/requests/{id}")
}

fn evidence_pb(evaluation: &str, m: evidence::Model, with_file: bool) -> pb::Evidence {
    let source = match Details::from_row(&m.kind, &m.details) {
        Details::Interview(d) => pb::evidence::Source::Interview(pb::Interview {
            group: d.group,
            participant_roles: d.participant_roles,
        }),
        Details::Document(d) => pb::evidence::Source::Document(pb::Document {
            title: d.title,
            reference: d.reference,
            file_content: if with_file {
                m.file_content.unwrap_or_default()
            } else {
                Vec::new()
            },
            file_name: d.file_name,
            content_type: d.content_type,
            file_size: d.file_size,
            file_sha256: d.file_sha256,
        }),
        Details::Website(d) => pb::evidence::Source::WebsiteObservation(pb::WebsiteObservation {
            url: d.url,
            description: d.description,
        }),
    };
    pb::Evidence {
        name: evidence_name(evaluation, &m.id),
        source: Some(source),
        date: m.date,
        questions: json_list(&m.questions),
        notes: m.notes,
        carried_over_from: m.carried_over_from.unwrap_or_default(),
        creator: user_ref(&m.creator),
        create_time: Some(ts(m.created_at)),
        etag: m.version.to_string(),
    }
}

/// The audit trail's view of an evidence item: never the file bytes.
fn evidence_json(name: &str, m: &evidence::Model) -> Value {
    json!({
        "name": name,
        "kind": m.kind,
        "details": Details::from_row(&m.kind, &m.details).to_value(),
        "date": m.date,
        "questions": json_list(&m.questions),
        "notes": m.notes,
        "version": m.version,
    })
}

// ---------------------------------------------------------------- validation

fn check_interview(prefix: &str, d: InterviewDetails) -> Result<InterviewDetails, Error> {
    let group = util::text(&format!("{prefix}.group"), &d.group, MAX_TITLE, true)?;
    if d.participant_roles.len() > MAX_ROLES {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{prefix}.participant_roles: at most {MAX_ROLES} roles"),
            format!("{prefix}.participant_roles: högst {MAX_ROLES} roller"),
        )));
    }
    let participant_roles = d
        .participant_roles
        .iter()
        .enumerate()
        .map(|(i, r)| {
            util::text(
                &format!("{prefix}.participant_roles[{i}]"),
                r,
                MAX_TITLE,
                true,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InterviewDetails {
        group,
        participant_roles,
    })
}

/// Checks the descriptive fields; the file fields are set by [`with_file`].
fn check_document(prefix: &str, d: DocumentDetails) -> Result<DocumentDetails, Error> {
    Ok(DocumentDetails {
        title: util::text(&format!("{prefix}.title"), &d.title, MAX_TITLE, true)?,
        reference: util::text(
            &format!("{prefix}.reference"),
            &d.reference,
            MAX_REFERENCE,
            false,
        )?,
        file_name: util::text(
            &format!("{prefix}.file_name"),
            &d.file_name,
            MAX_REFERENCE,
            false,
        )?,
        content_type: util::text(
            &format!("{prefix}.content_type"),
            &d.content_type,
            MAX_REFERENCE,
            false,
        )?,
        file_size: d.file_size,
        file_sha256: d.file_sha256,
    })
}

/// Records size and digest of a new upload (or none).
fn with_file(prefix: &str, mut d: DocumentDetails, bytes: &[u8]) -> Result<DocumentDetails, Error> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Error::InvalidArgument(Msg::new(
            format!(
                "{prefix}.file_content is {} bytes; a file may be at most {MAX_FILE_BYTES} bytes (10 MiB)",
                bytes.len()
            ),
            format!(
                "{prefix}.file_content är {} byte; en fil får vara högst {MAX_FILE_BYTES} byte (10 MiB)",
                bytes.len()
            ),
        )));
    }
    if bytes.is_empty() {
        d.file_size = 0;
        d.file_sha256 = String::new();
    } else {
        d.file_size = bytes.len() as i64;
        d.file_sha256 = sha256_hex(bytes);
    }
    Ok(d)
}

fn check_website(prefix: &str, d: WebsiteDetails) -> Result<WebsiteDetails, Error> {
    let url = util::text(&format!("{prefix}.url"), &d.url, MAX_REFERENCE, true)?;
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
        return Err(Error::InvalidArgument(Msg::new(
            format!(
                "{prefix}.url {url:?} is not a web address: it must start with http:// or https://"
            ),
            format!(
                "{prefix}.url {url:?} är ingen webbadress: den måste börja med http:// eller https://"
            ),
        )));
    }
    Ok(WebsiteDetails {
        url,
        description: util::text(
            &format!("{prefix}.description"),
            &d.description,
            MAX_TEXT,
            false,
        )?,
    })
}

fn interview_of(i: &pb::Interview) -> InterviewDetails {
    InterviewDetails {
        group: i.group.clone(),
        participant_roles: i.participant_roles.clone(),
    }
}

fn document_of(d: &pb::Document) -> DocumentDetails {
    DocumentDetails {
        title: d.title.clone(),
        reference: d.reference.clone(),
        file_name: d.file_name.clone(),
        content_type: d.content_type.clone(),
        file_size: 0,
        file_sha256: String::new(),
    }
}

fn website_of(w: &pb::WebsiteObservation) -> WebsiteDetails {
    WebsiteDetails {
        url: w.url.clone(),
        description: w.description.clone(),
    }
}

/// A new document from an upload: details and the bytes to store.
fn new_document(
    prefix: &str,
    d: &pb::Document,
) -> Result<(DocumentDetails, Option<Vec<u8>>), Error> {
    let details = with_file(
        prefix,
        check_document(prefix, document_of(d))?,
        &d.file_content,
    )?;
    let file = (!d.file_content.is_empty()).then(|| d.file_content.clone());
    Ok((details, file))
}

/// The source of a new evidence item: exactly one of the three.
fn new_source(e: &pb::Evidence) -> Result<(Details, Option<Vec<u8>>), Error> {
    match &e.source {
        None => Err(Error::invalid(
            "evidence needs exactly one source: interview, document or website_observation",
            "underlaget behöver exakt en källa: interview, document eller website_observation",
        )),
        Some(pb::evidence::Source::Interview(i)) => Ok((
            Details::Interview(check_interview("interview", interview_of(i))?),
            None,
        )),
        Some(pb::evidence::Source::Document(d)) => {
            let (details, file) = new_document("document", d)?;
            Ok((Details::Document(details), file))
        }
        Some(pb::evidence::Source::WebsiteObservation(w)) => Ok((
            Details::Website(check_website("website_observation", website_of(w))?),
            None,
        )),
    }
}

fn date_field(field: &str, s: &str) -> Result<String, Error> {
    Ok(util::date(field, s.trim())?.unwrap_or_default())
}

/// A required date that is today or later.
fn due_date(field: &str, s: &str, today: NaiveDate) -> Result<String, Error> {
    let Some(d) = util::date(field, s.trim())? else {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} is required (YYYY-MM-DD)"),
            format!("{field} krävs (ÅÅÅÅ-MM-DD)"),
        )));
    };
    let parsed = NaiveDate::parse_from_str(&d, "%Y-%m-%d").expect("checked above");
    if parsed < today {
        return Err(Error::InvalidArgument(Msg::new(
            format!("{field} {d} is in the past: give today ({today}) or a later date"),
            format!("{field} {d} har redan passerat: ange i dag ({today}) eller ett senare datum"),
        )));
    }
    Ok(d)
}

/// Question ids of the framework, without duplicates, in the given order.
fn questions(
    fw: &Framework,
    eval: &Eval,
    field: &str,
    given: &[String],
) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for (i, q) in given.iter().enumerate() {
        let q = q.trim();
        if fw.question(q).is_none() {
            return Err(Error::InvalidArgument(Msg::new(
                format!(
                    "{field}[{i}]: {q:?} is not a question of framework version {}",
                    eval.row.framework_version
                ),
                format!(
                    "{field}[{i}]: {q:?} är ingen fråga i ramverksversionen {}",
                    eval.row.framework_version
                ),
            )));
        }
        if !out.iter().any(|x| x == q) {
            out.push(q.to_string());
        }
    }
    Ok(out)
}

fn require_etag(etag: &str) -> Result<(), Error> {
    if etag.is_empty() {
        return Err(Error::invalid(
            "etag is required: send the etag you read",
            "etag krävs: skicka den etag du läste",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- who may

/// Evidence writers. Everyone `access::open` admits writes evidence, except
/// that on an external evaluation the municipality's users only add documents
/// and only change or delete what they added themselves.
fn require_evidence_writer(eval: &Eval, kind: Kind, creator: Option<&str>) -> Result<(), Error> {
    if !(eval.is_external() && eval.role.is_tenant()) {
        return Ok(());
    }
    if kind != Kind::Document {
        return Err(Error::denied(
            "on an external evaluation the municipality adds documents; interviews and website observations are the evaluators'",
            "i en extern utvärdering lägger kommunen till dokument; intervjuer och webbplatsobservationer är utvärderarnas",
        ));
    }
    if creator.is_some_and(|c| c != eval.user.as_str()) {
        return Err(Error::denied(
            "on an external evaluation the municipality's users change or delete only evidence they added themselves",
            "i en extern utvärdering ändrar eller tar kommunens användare bara bort underlag de själva lagt till",
        ));
    }
    Ok(())
}

/// Asking, accepting and asking again: assigned evaluators and operators of an
/// external evaluation.
fn require_requester(eval: &Eval) -> Result<(), Error> {
    if !eval.is_external() {
        return Err(Error::precondition(
            "information requests belong to external evaluations; this evaluation is a self-assessment",
            "informationsbegäranden hör till externa utvärderingar; den här utvärderingen är en självskattning",
        ));
    }
    eval.require(
        matches!(eval.role, Role::Lead | Role::Peer | Role::Operator),
        "only the evaluation's assigned evaluators (or an operator) ask for, accept or ask again for information",
        "endast utvärderingens tilldelade utvärderare (eller en operatör) begär, godtar eller begär om information",
    )
}

/// Answering: the municipality's users.
fn require_answerer(eval: &Eval) -> Result<(), Error> {
    eval.require(
        eval.role.is_tenant(),
        "only the municipality's users answer information requests",
        "endast kommunens användare besvarar informationsbegäranden",
    )
}

// ---------------------------------------------------------------- information request storage

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Turn {
    /// User id.
    author: String,
    text: String,
    /// Evidence resource names.
    evidence: Vec<String>,
    time: Option<DateTime<Utc>>,
}

fn turns_of(m: &information_request::Model) -> Vec<Turn> {
    serde_json::from_str(&m.turns).unwrap_or_default()
}

fn request_kind_pb(s: &str) -> pb::information_request::Kind {
    match s {
        "document" => pb::information_request::Kind::Document,
        "answer" => pb::information_request::Kind::Answer,
        _ => pb::information_request::Kind::Unspecified,
    }
}

fn request_state_pb(s: &str) -> pb::information_request::State {
    match s {
        "open" => pb::information_request::State::Open,
        "answered" => pb::information_request::State::Answered,
        "accepted" => pb::information_request::State::Accepted,
        _ => pb::information_request::State::Unspecified,
    }
}

fn request_pb(
    evaluation: &str,
    m: information_request::Model,
    today: NaiveDate,
) -> pb::InformationRequest {
    let overdue = is_overdue(&m.state, &m.due_date, today);
    let turns = turns_of(&m)
        .into_iter()
        .map(|t| pb::InformationRequestTurn {
            author: user_ref(&t.author),
            text: t.text,
            evidence: t.evidence,
            create_time: t.time.map(ts),
        })
        .collect();
    pb::InformationRequest {
        name: request_name(evaluation, &m.id),
        kind: request_kind_pb(&m.kind) as i32,
        description: m.description,
        questions: json_list(&m.questions),
        due_date: m.due_date,
        state: request_state_pb(&m.state) as i32,
        overdue,
        turns,
        requested_by: user_ref(&m.requested_by),
        create_time: Some(ts(m.created_at)),
        etag: m.version.to_string(),
    }
}

fn request_json(name: &str, m: &information_request::Model) -> Value {
    json!({
        "name": name,
        "kind": m.kind,
        "description": m.description,
        "questions": json_list(&m.questions),
        "due_date": m.due_date,
        "state": m.state,
        "turns": turns_of(m),
        "version": m.version,
    })
}

/// FAILED_PRECONDITION naming the request's state unless it is `want`.
fn require_request_state(
    name: &str,
    m: &information_request::Model,
    want: &str,
    action_en: &str,
    action_sv: &str,
) -> Result<(), Error> {
    if m.state == want {
        return Ok(());
    }
    let have = m.state.to_uppercase();
    let want = want.to_uppercase();
    Err(Error::FailedPrecondition(Msg::new(
        format!("information request {name} is {have}: {action_en} needs it to be {want}"),
        format!("informationsbegäran {name} är {have}: {action_sv} kräver {want}"),
    )))
}

/// Which evaluations of which tenants a listing covers; `None` = all of the tenant's.
type Scope = Vec<(TenantId, Option<Vec<String>>)>;

/// Page key of a request: due date, then id (uuid v7, unique across tenants).
fn request_key(m: &information_request::Model) -> String {
    format!("{}/{}", m.due_date, m.id)
}

// ---------------------------------------------------------------- handlers

impl EvidenceApi {
    fn st(&self) -> &Assessment {
        &self.0
    }

    async fn find_evidence(
        &self,
        db: &impl ConnectionTrait,
        eval: &Eval,
        id: &str,
        with_file: bool,
        lock: bool,
    ) -> Result<evidence::Model, Error> {
        let mut q = evidence::Entity::find_by_id(id)
            .filter(evidence::Column::EvaluationId.eq(eval.row.id.as_str()));
        if lock {
            q = q.lock_exclusive();
        }
        let row = if with_file {
            q.one(db).await?
        } else {
            q.into_partial_model::<Head>()
                .one(db)
                .await?
                .map(evidence::Model::from)
        };
        row.ok_or_else(|| {
            let name = evidence_name(&eval.name(), id);
            Error::NotFound(Msg::new(
                format!("evidence {name} does not exist"),
                format!("underlaget {name} finns inte"),
            ))
        })
    }

    async fn find_request(
        &self,
        db: &impl ConnectionTrait,
        eval: &Eval,
        id: &str,
        lock: bool,
    ) -> Result<information_request::Model, Error> {
        let mut q = information_request::Entity::find_by_id(id)
            .filter(information_request::Column::EvaluationId.eq(eval.row.id.as_str()));
        if lock {
            q = q.lock_exclusive();
        }
        q.one(db).await?.ok_or_else(|| {
            let name = request_name(&eval.name(), id);
            Error::NotFound(Msg::new(
                format!("information request {name} does not exist"),
                format!("informationsbegäran {name} finns inte"),
            ))
        })
    }

    /// Inserts one evidence item and its audit event inside `tx`.
    #[allow(clippy::too_many_arguments)]
    async fn insert_evidence(
        &self,
        tx: &impl ConnectionTrait,
        eval: &Eval,
        details: &Details,
        file: Option<Vec<u8>>,
        date: String,
        questions: &[String],
        notes: String,
        reason: &str,
    ) -> Result<evidence::Model, Error> {
        let m = evidence::Model {
            id: util::new_id(),
            evaluation_id: eval.row.id.clone(),
            kind: details.kind().as_str().into(),
            date,
            questions: util::to_json(&questions),
            notes,
            details: details.to_json(),
            file_content: file,
            carried_over_from: None,
            creator: eval.user.to_string(),
            version: 1,
            created_at: now(),
        };
        evidence::Entity::insert(m.clone().into_active_model().reset_all())
            .exec_without_returning(tx)
            .await?;
        let name = evidence_name(&eval.name(), &m.id);
        audit::append(
            tx,
            &eval.row.id,
            eval.user.as_str(),
            Subject::Evidence,
            &name,
            None,
            Some(evidence_json(&name, &m)),
            reason,
        )
        .await?;
        Ok(m)
    }

    async fn create(
        &self,
        c: &Caller,
        r: pb::CreateEvidenceRequest,
    ) -> Result<pb::Evidence, Error> {
        let eval = access::open(self.st(), c, &r.parent).await?;
        let e = r
            .evidence
            .ok_or_else(|| Error::invalid("evidence is required", "evidence krävs"))?;
        if let Some(s) = &e.source {
            require_evidence_writer(&eval, Kind::of(s), None)?;
        }
        eval.require_open()?;
        let (details, file) = new_source(&e)?;
        let date = date_field("date", &e.date)?;
        let fw = crate::frameworks::resolve(self.st(), &eval.row.framework_version).await?;
        let qs = questions(&fw, &eval, "questions", &e.questions)?;
        let notes = util::text("notes", &e.notes, MAX_TEXT, false)?;

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let m = self
            .insert_evidence(&*w, &eval, &details, file, date, &qs, notes, "")
            .await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), evidence = %m.id, kind = %m.kind, "evidence added");
        Ok(evidence_pb(&eval.name(), m, false))
    }

    async fn get(&self, c: &Caller, r: pb::GetEvidenceRequest) -> Result<pb::Evidence, Error> {
        let (evaluation, id) = access::child(&r.name, "evidence")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        let m = self
            .find_evidence(&*eval.db, &eval, id, r.include_file_content, false)
            .await?;
        Ok(evidence_pb(&eval.name(), m, r.include_file_content))
    }

    async fn list(
        &self,
        c: &Caller,
        r: pb::ListEvidenceRequest,
    ) -> Result<pb::ListEvidenceResponse, Error> {
        let eval = access::open(self.st(), c, &r.parent).await?;
        let size = paging::page_size(r.page_size)?;
        let mut q = evidence::Entity::find()
            .filter(evidence::Column::EvaluationId.eq(eval.row.id.as_str()))
            .order_by_asc(evidence::Column::Id);
        if let Some(after) = paging::decode(&r.page_token)? {
            q = q.filter(evidence::Column::Id.gt(after));
        }
        let question = r.question.trim();
        if !question.is_empty() {
            let fw = crate::frameworks::resolve(self.st(), &eval.row.framework_version).await?;
            questions(&fw, &eval, "question", &[question.to_string()]).map_err(|_| {
                Error::InvalidArgument(Msg::new(
                    format!(
                        "question {question:?} is not a question of framework version {}",
                        eval.row.framework_version
                    ),
                    format!(
                        "question {question:?} är ingen fråga i ramverksversionen {}",
                        eval.row.framework_version
                    ),
                ))
            })?;
            q = q.filter(evidence::Column::Questions.like(json_list_holds(question)));
        }
        let rows = q
            .limit(size + 1)
            .into_partial_model::<Head>()
            .all(&*eval.db)
            .await?;
        let (rows, next) = paging::finish(rows, size, |h| h.id.clone());
        let name = eval.name();
        Ok(pb::ListEvidenceResponse {
            evidence: rows
                .into_iter()
                .map(|h| evidence_pb(&name, h.into(), false))
                .collect(),
            next_page_token: next,
        })
    }

    async fn update(
        &self,
        c: &Caller,
        r: pb::UpdateEvidenceRequest,
    ) -> Result<pb::Evidence, Error> {
        let e = r
            .evidence
            .ok_or_else(|| Error::invalid("evidence is required", "evidence krävs"))?;
        let paths = required_mask(r.update_mask)?;
        let (evaluation, id) = access::child(&e.name, "evidence")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        let name = evidence_name(&eval.name(), id);
        let current = self
            .find_evidence(&*eval.db, &eval, id, false, false)
            .await?;
        let kind = Kind::parse(&current.kind);
        require_evidence_writer(&eval, kind, Some(&current.creator))?;
        eval.require_open()?;
        require_etag(&e.etag)?;

        // The sent source must be of the stored kind; absent means empty values.
        if let Some(s) = &e.source
            && Kind::of(s) != kind
        {
            return Err(kind_change(&name, kind, Kind::of(s)));
        }
        let sent_interview = match &e.source {
            Some(pb::evidence::Source::Interview(i)) => i.clone(),
            _ => pb::Interview::default(),
        };
        let sent_document = match &e.source {
            Some(pb::evidence::Source::Document(d)) => d.clone(),
            _ => pb::Document::default(),
        };
        let sent_website = match &e.source {
            Some(pb::evidence::Source::WebsiteObservation(w)) => w.clone(),
            _ => pb::WebsiteObservation::default(),
        };

        let mut details = Details::from_row(&current.kind, &current.details);
        // `Some(bytes)`: replace the stored file (empty = remove it).
        let mut new_file: Option<Vec<u8>> = None;
        let mut date = current.date.clone();
        let mut qs = json_list(&current.questions);
        let mut notes = current.notes.clone();
        let mut fw = None;
        for p in &paths {
            let (head, sub) = match p.split_once('.') {
                Some((h, s)) => (h, Some(s)),
                None => (p.as_str(), None),
            };
            match (head, &mut details) {
                ("date", _) if sub.is_none() => date = date_field("date", &e.date)?,
                ("notes", _) if sub.is_none() => {
                    notes = util::text("notes", &e.notes, MAX_TEXT, false)?
                }
                ("questions", _) if sub.is_none() => {
                    if fw.is_none() {
                        fw = Some(
                            crate::frameworks::resolve(self.st(), &eval.row.framework_version)
                                .await?,
                        );
                    }
                    qs = questions(
                        fw.as_ref().expect("resolved"),
                        &eval,
                        "questions",
                        &e.questions,
                    )?;
                }
                ("interview", Details::Interview(d)) => match sub {
                    None => *d = interview_of(&sent_interview),
                    Some("group") => d.group = sent_interview.group.clone(),
                    Some("participant_roles") => {
                        d.participant_roles = sent_interview.participant_roles.clone()
                    }
                    Some(_) => return Err(unknown_field(p, EVIDENCE_FIELDS)),
                },
                ("document", Details::Document(d)) => match sub {
                    None => {
                        // The whole document: its bytes only when sent, so that a
                        // document read without its file can be written back.
                        let keep = (d.file_size, d.file_sha256.clone());
                        *d = document_of(&sent_document);
                        (d.file_size, d.file_sha256) = keep;
                        if !sent_document.file_content.is_empty() {
                            new_file = Some(sent_document.file_content.clone());
                        }
                    }
                    Some("title") => d.title = sent_document.title.clone(),
                    Some("reference") => d.reference = sent_document.reference.clone(),
                    Some("file_name") => d.file_name = sent_document.file_name.clone(),
                    Some("content_type") => d.content_type = sent_document.content_type.clone(),
                    Some("file_content") => new_file = Some(sent_document.file_content.clone()),
                    Some(_) => return Err(unknown_field(p, EVIDENCE_FIELDS)),
                },
                ("website_observation", Details::Website(d)) => match sub {
                    None => *d = website_of(&sent_website),
                    Some("url") => d.url = sent_website.url.clone(),
                    Some("description") => d.description = sent_website.description.clone(),
                    Some(_) => return Err(unknown_field(p, EVIDENCE_FIELDS)),
                },
                ("interview", _) => return Err(kind_change(&name, kind, Kind::Interview)),
                ("document", _) => return Err(kind_change(&name, kind, Kind::Document)),
                ("website_observation", _) => return Err(kind_change(&name, kind, Kind::Website)),
                _ => return Err(unknown_field(p, EVIDENCE_FIELDS)),
            }
        }
        let details = match details {
            Details::Interview(d) => Details::Interview(check_interview("interview", d)?),
            Details::Document(d) => {
                let mut d = check_document("document", d)?;
                if let Some(bytes) = &new_file {
                    d = with_file("document", d, bytes)?;
                }
                Details::Document(d)
            }
            Details::Website(d) => Details::Website(check_website("website_observation", d)?),
        };

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let cur = self.find_evidence(&*w, &eval, id, false, true).await?;
        check_etag(&e.etag, cur.version, &name)?;
        let unchanged = details == Details::from_row(&cur.kind, &cur.details)
            && new_file.is_none()
            && date == cur.date
            && qs == json_list(&cur.questions)
            && notes == cur.notes;
        if unchanged {
            // Nothing changes: no new version, no audit event.
            w.commit().await?;
            return Ok(evidence_pb(&eval.name(), cur, false));
        }
        let version = cur.version + 1;
        let mut u = evidence::Entity::update_many()
            .col_expr(evidence::Column::Details, Expr::value(details.to_json()))
            .col_expr(evidence::Column::Date, Expr::value(date.clone()))
            .col_expr(evidence::Column::Questions, Expr::value(util::to_json(&qs)))
            .col_expr(evidence::Column::Notes, Expr::value(notes.clone()));
        if let Some(bytes) = &new_file {
            let stored: Option<Vec<u8>> = (!bytes.is_empty()).then(|| bytes.clone());
            u = u.col_expr(evidence::Column::FileContent, Expr::value(stored));
        }
        w.update(
            u.filter(evidence::Column::Id.eq(id))
                .filter(evidence::Column::EvaluationId.eq(eval.row.id.as_str())),
            evidence::Column::Version,
            cur.version,
            &name,
        )
        .await?;
        let new = evidence::Model {
            details: details.to_json(),
            date,
            questions: util::to_json(&qs),
            notes,
            version,
            ..cur.clone()
        };
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::Evidence,
            &name,
            Some(evidence_json(&name, &cur)),
            Some(evidence_json(&name, &new)),
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), evidence = %id, "evidence updated");
        Ok(evidence_pb(&eval.name(), new, false))
    }

    async fn delete(&self, c: &Caller, r: pb::DeleteEvidenceRequest) -> Result<(), Error> {
        let (evaluation, id) = access::child(&r.name, "evidence")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        let name = evidence_name(&eval.name(), id);
        let current = self
            .find_evidence(&*eval.db, &eval, id, false, false)
            .await?;
        require_evidence_writer(&eval, Kind::parse(&current.kind), Some(&current.creator))?;
        eval.require_open()?;
        require_etag(&r.etag)?;

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let cur = self.find_evidence(&*w, &eval, id, false, true).await?;
        check_etag(&r.etag, cur.version, &name)?;
        w.delete(
            evidence::Entity::delete_many()
                .filter(evidence::Column::Id.eq(id))
                .filter(evidence::Column::EvaluationId.eq(eval.row.id.as_str())),
            evidence::Column::Version,
            cur.version,
            &name,
        )
        .await?;
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::Evidence,
            &name,
            Some(evidence_json(&name, &cur)),
            None,
            "",
        )
        .await?;
        self.drop_score_references(&w, &eval, &name).await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), evidence = %id, "evidence deleted");
        Ok(())
    }

    /// Scores referring to deleted evidence lose the reference (a new score
    /// version with its own audit event).
    async fn drop_score_references(
        &self,
        w: &Write<'_>,
        eval: &Eval,
        name: &str,
    ) -> Result<(), Error> {
        let rows = score::Entity::find()
            .filter(score::Column::EvaluationId.eq(eval.row.id.as_str()))
            .filter(score::Column::Evidence.like(json_list_holds(name)))
            .all(&**w)
            .await?;
        let reason = format!("evidence {name} was deleted");
        for s in rows {
            let old = json_list(&s.evidence);
            let new: Vec<String> = old.iter().filter(|e| *e != name).cloned().collect();
            if new.len() == old.len() {
                continue;
            }
            let target = format!("{}/scores/{}", eval.name(), s.question_id);
            w.update(
                score::Entity::update_many()
                    .col_expr(score::Column::Evidence, Expr::value(util::to_json(&new)))
                    .col_expr(score::Column::UpdatedAt, Expr::value(now()))
                    .filter(score::Column::EvaluationId.eq(s.evaluation_id.as_str()))
                    .filter(score::Column::QuestionId.eq(s.question_id.as_str()))
                    .filter(score::Column::EvaluatorId.eq(s.evaluator_id.as_str())),
                score::Column::Version,
                s.version,
                &target,
            )
            .await?;
            w.audit(
                Subject::Score,
                &target,
                Some(json!({"evaluator": user_ref(&s.evaluator_id), "evidence": old})),
                Some(json!({"evaluator": user_ref(&s.evaluator_id), "evidence": new})),
                &reason,
            )
            .await?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ requests

    async fn create_request(
        &self,
        c: &Caller,
        r: pb::CreateInformationRequestRequest,
    ) -> Result<pb::InformationRequest, Error> {
        let eval = access::open(self.st(), c, &r.parent).await?;
        require_requester(&eval)?;
        eval.require_open()?;
        let ir = r.information_request.ok_or_else(|| {
            Error::invalid(
                "information_request is required",
                "information_request krävs",
            )
        })?;
        let kind = match pb::information_request::Kind::try_from(ir.kind) {
            Ok(pb::information_request::Kind::Document) => "document",
            Ok(pb::information_request::Kind::Answer) => "answer",
            _ => {
                return Err(Error::invalid(
                    "kind is required: DOCUMENT or ANSWER",
                    "kind krävs: DOCUMENT eller ANSWER",
                ));
            }
        };
        let description = util::text("description", &ir.description, MAX_TEXT, true)?;
        let today = today();
        let due = due_date("due_date", &ir.due_date, today)?;
        let fw = crate::frameworks::resolve(self.st(), &eval.row.framework_version).await?;
        let qs = questions(&fw, &eval, "questions", &ir.questions)?;
        let now = now();
        let m = information_request::Model {
            id: util::new_id(),
            evaluation_id: eval.row.id.clone(),
            kind: kind.into(),
            description: description.clone(),
            questions: util::to_json(&qs),
            due_date: due,
            state: "open".into(),
            turns: util::to_json(&vec![Turn {
                author: eval.user.to_string(),
                text: description,
                evidence: vec![],
                time: Some(now),
            }]),
            requested_by: eval.user.to_string(),
            version: 1,
            created_at: now,
        };
        let name = request_name(&eval.name(), &m.id);

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        information_request::Entity::insert(m.clone().into_active_model().reset_all())
            .exec_without_returning(&*w)
            .await?;
        audit::append(
            &*w,
            &eval.row.id,
            eval.user.as_str(),
            Subject::InformationRequest,
            &name,
            None,
            Some(request_json(&name, &m)),
            "",
        )
        .await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), request = %m.id, "information request created");
        Ok(request_pb(&eval.name(), m, today))
    }

    async fn get_request(
        &self,
        c: &Caller,
        r: pb::GetInformationRequestRequest,
    ) -> Result<pb::InformationRequest, Error> {
        let (evaluation, id) = access::child(&r.name, "requests")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        let m = self.find_request(&*eval.db, &eval, id, false).await?;
        Ok(request_pb(&eval.name(), m, today()))
    }

    /// Stores a changed request (version + 1, unless stale) with its audit event.
    async fn write_request(
        &self,
        w: &Write<'_>,
        eval: &Eval,
        cur: &information_request::Model,
        new: information_request::Model,
        reason: &str,
    ) -> Result<information_request::Model, Error> {
        let name = request_name(&eval.name(), &cur.id);
        let new = information_request::Model {
            version: cur.version + 1,
            ..new
        };
        w.update(
            information_request::Entity::update_many()
                .col_expr(
                    information_request::Column::State,
                    Expr::value(new.state.clone()),
                )
                .col_expr(
                    information_request::Column::DueDate,
                    Expr::value(new.due_date.clone()),
                )
                .col_expr(
                    information_request::Column::Turns,
                    Expr::value(new.turns.clone()),
                )
                .filter(information_request::Column::Id.eq(cur.id.as_str()))
                .filter(information_request::Column::EvaluationId.eq(eval.row.id.as_str())),
            information_request::Column::Version,
            cur.version,
            &name,
        )
        .await?;
        w.audit(
            Subject::InformationRequest,
            &name,
            Some(request_json(&name, cur)),
            Some(request_json(&name, &new)),
            reason,
        )
        .await?;
        Ok(new)
    }

    async fn answer(
        &self,
        c: &Caller,
        r: pb::AnswerInformationRequestRequest,
    ) -> Result<pb::InformationRequest, Error> {
        let (evaluation, id) = access::child(&r.name, "requests")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        require_answerer(&eval)?;
        eval.require_open()?;
        require_etag(&r.etag)?;
        let text = util::text("text", &r.text, MAX_TEXT, false)?;
        if r.documents.len() > MAX_ANSWER_DOCUMENTS {
            return Err(Error::InvalidArgument(Msg::new(
                format!("documents: at most {MAX_ANSWER_DOCUMENTS} in one answer"),
                format!("documents: högst {MAX_ANSWER_DOCUMENTS} i ett svar"),
            )));
        }
        if text.is_empty() && r.documents.is_empty() {
            return Err(Error::invalid(
                "an answer needs a text, documents or both",
                "ett svar behöver en text, dokument eller båda",
            ));
        }
        let mut docs = Vec::with_capacity(r.documents.len());
        for (i, d) in r.documents.iter().enumerate() {
            let mut d = d.clone();
            if d.title.trim().is_empty() {
                // An upload without a title is known by its file name.
                d.title = d.file_name.clone();
            }
            docs.push(new_document(&format!("documents[{i}]"), &d)?);
        }
        let name = request_name(&eval.name(), id);
        let today = today();

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let cur = self.find_request(&*w, &eval, id, true).await?;
        check_etag(&r.etag, cur.version, &name)?;
        require_request_state(&name, &cur, "open", "answering", "att svara")?;
        let qs = json_list(&cur.questions);
        let reason = format!("answer to information request {name}");
        let mut attached = Vec::with_capacity(docs.len());
        for (details, file) in docs {
            let m = self
                .insert_evidence(
                    &*w,
                    &eval,
                    &Details::Document(details),
                    file,
                    today.format("%Y-%m-%d").to_string(),
                    &qs,
                    String::new(),
                    &reason,
                )
                .await?;
            attached.push(evidence_name(&eval.name(), &m.id));
        }
        let mut turns = turns_of(&cur);
        turns.push(Turn {
            author: eval.user.to_string(),
            text,
            evidence: attached,
            time: Some(now()),
        });
        let new = information_request::Model {
            state: "answered".into(),
            turns: util::to_json(&turns),
            ..cur.clone()
        };
        let new = self.write_request(&w, &eval, &cur, new, "answered").await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), request = %id, "information request answered");
        Ok(request_pb(&eval.name(), new, today))
    }

    async fn accept(
        &self,
        c: &Caller,
        r: pb::AcceptInformationRequestRequest,
    ) -> Result<pb::InformationRequest, Error> {
        let (evaluation, id) = access::child(&r.name, "requests")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        require_requester(&eval)?;
        eval.require_open()?;
        require_etag(&r.etag)?;
        let name = request_name(&eval.name(), id);

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let cur = self.find_request(&*w, &eval, id, true).await?;
        check_etag(&r.etag, cur.version, &name)?;
        require_request_state(&name, &cur, "answered", "accepting", "att godta")?;
        let new = information_request::Model {
            state: "accepted".into(),
            ..cur.clone()
        };
        let new = self.write_request(&w, &eval, &cur, new, "accepted").await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), request = %id, "information request accepted");
        Ok(request_pb(&eval.name(), new, today()))
    }

    async fn reopen(
        &self,
        c: &Caller,
        r: pb::ReopenInformationRequestRequest,
    ) -> Result<pb::InformationRequest, Error> {
        let (evaluation, id) = access::child(&r.name, "requests")?;
        let eval = access::open(self.st(), c, &evaluation).await?;
        require_requester(&eval)?;
        eval.require_open()?;
        require_etag(&r.etag)?;
        let text = util::text("text", &r.text, MAX_TEXT, true)?;
        let today = today();
        let due = due_date("due_date", &r.due_date, today)?;
        let name = request_name(&eval.name(), id);

        let w = Write::lock(self.st(), &eval).await?;
        w.require_open()?;
        let cur = self.find_request(&*w, &eval, id, true).await?;
        check_etag(&r.etag, cur.version, &name)?;
        require_request_state(
            &name,
            &cur,
            "answered",
            "asking again",
            "att begära på nytt",
        )?;
        let mut turns = turns_of(&cur);
        turns.push(Turn {
            author: eval.user.to_string(),
            text,
            evidence: vec![],
            time: Some(now()),
        });
        let new = information_request::Model {
            state: "open".into(),
            due_date: due,
            turns: util::to_json(&turns),
            ..cur.clone()
        };
        let new = self
            .write_request(&w, &eval, &cur, new, "asked again")
            .await?;
        w.commit().await?;
        tracing::info!(evaluation = %eval.name(), request = %id, "information request reopened");
        Ok(request_pb(&eval.name(), new, today))
    }

    /// The evaluations a request listing covers, per tenant.
    async fn scope(&self, c: &Caller, parent: &str) -> Result<Scope, Error> {
        let v = names::parse(parent, &["tenants", "*", "evaluations", "*"])?;
        let (t, e) = (v[0], v[1]);
        let user = c.user()?;
        let evaluator = c.has_role(PlatformRole::Evaluator);
        if t == "-" {
            if e != "-" {
                return Err(Error::invalid(
                    "with tenants/- the evaluation must be - too: tenants/-/evaluations/-",
                    "med tenants/- måste utvärderingen också vara -: tenants/-/evaluations/-",
                ));
            }
            if c.is_operator() {
                use kompass_catalog::entity::tenant;
                let tenants = tenant::Entity::find()
                    .filter(tenant::Column::State.eq("active"))
                    .order_by_asc(tenant::Column::Id)
                    .all(self.st().dir.catalog.db())
                    .await?;
                return tenants
                    .into_iter()
                    .map(|t| Ok((TenantId::parse(&t.id)?, None)))
                    .collect();
            }
            if evaluator {
                let rows = assignment::Entity::find()
                    .filter(assignment::Column::UserId.eq(user.as_str()))
                    .all(&self.st().platform)
                    .await?;
                let mut by_tenant: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in rows {
                    by_tenant
                        .entry(a.tenant_id)
                        .or_default()
                        .push(a.evaluation_id);
                }
                return by_tenant
                    .into_iter()
                    .map(|(t, es)| Ok((TenantId::parse(&t)?, Some(es))))
                    .collect();
            }
            return Err(Error::denied(
                "only evaluators and operators list across municipalities; use tenants/{tenant}/evaluations/-",
                "endast utvärderare och operatörer listar över flera kommuner; använd tenants/{tenant}/evaluations/-",
            ));
        }
        let tenant = TenantId::parse(t)?;
        if e != "-" {
            let eval = access::open(self.st(), c, parent).await?;
            return Ok(vec![(tenant, Some(vec![eval.row.id]))]);
        }
        if c.is_operator() || c.tenant_role(&tenant).is_some() {
            return Ok(vec![(tenant, None)]);
        }
        if evaluator {
            let es: Vec<String> = assignment::Entity::find()
                .filter(assignment::Column::TenantId.eq(tenant.as_str()))
                .filter(assignment::Column::UserId.eq(user.as_str()))
                .all(&self.st().platform)
                .await?
                .into_iter()
                .map(|a| a.evaluation_id)
                .collect();
            return Ok(vec![(tenant, Some(es))]);
        }
        Err(Error::denied(
            format!("you have no access to the evaluations of {tenant}"),
            format!("du har ingen åtkomst till utvärderingarna i {tenant}"),
        ))
    }

    async fn list_requests(
        &self,
        c: &Caller,
        r: pb::ListInformationRequestsRequest,
    ) -> Result<pb::ListInformationRequestsResponse, Error> {
        let size = paging::page_size(r.page_size)?;
        let after = match paging::decode(&r.page_token)? {
            None => None,
            Some(k) => Some(
                k.split_once('/')
                    .map(|(d, i)| (d.to_string(), i.to_string()))
                    .ok_or_else(|| {
                        Error::invalid(
                            "page_token is not one this service issued",
                            "page_token kommer inte från den här tjänsten",
                        )
                    })?,
            ),
        };
        let state = match pb::information_request::State::try_from(r.state) {
            Ok(pb::information_request::State::Unspecified) => None,
            Ok(pb::information_request::State::Open) => Some("open"),
            Ok(pb::information_request::State::Answered) => Some("answered"),
            Ok(pb::information_request::State::Accepted) => Some("accepted"),
            Err(_) => {
                return Err(Error::invalid(
                    "state must be OPEN, ANSWERED or ACCEPTED",
                    "state måste vara OPEN, ANSWERED eller ACCEPTED",
                ));
            }
        };
        let scope = self.scope(c, &r.parent).await?;
        let across_tenants = r.parent.starts_with("tenants/-/");
        let today = today();
        let today_s = today.format("%Y-%m-%d").to_string();
        let mut found: Vec<(TenantId, information_request::Model)> = Vec::new();
        for (tenant, evaluations) in scope {
            if evaluations.as_ref().is_some_and(|e| e.is_empty()) {
                continue;
            }
            let db = match self.st().dir.db(&tenant).await {
                Ok(db) => db,
                // A municipality being onboarded or suspended has nothing to show.
                Err(Error::FailedPrecondition(_) | Error::NotFound(_)) if across_tenants => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut q = information_request::Entity::find()
                .order_by_asc(information_request::Column::DueDate)
                .order_by_asc(information_request::Column::Id);
            if let Some(es) = evaluations {
                q = q.filter(information_request::Column::EvaluationId.is_in(es));
            }
            if let Some(s) = state {
                q = q.filter(information_request::Column::State.eq(s));
            }
            if r.overdue_only {
                q = q
                    .filter(information_request::Column::State.eq("open"))
                    .filter(information_request::Column::DueDate.lt(today_s.as_str()));
            }
            if let Some((d, i)) = &after {
                q = q.filter(
                    Condition::any()
                        .add(information_request::Column::DueDate.gt(d.as_str()))
                        .add(
                            Condition::all()
                                .add(information_request::Column::DueDate.eq(d.as_str()))
                                .add(information_request::Column::Id.gt(i.as_str())),
                        ),
                );
            }
            let rows = q.limit(size + 1).all(&*db).await?;
            found.extend(rows.into_iter().map(|m| (tenant.clone(), m)));
        }
        found.sort_by_key(|(_, m)| request_key(m));
        found.truncate(size as usize + 1);
        let (page, next) = paging::finish(found, size, |(_, m)| request_key(m));
        Ok(pb::ListInformationRequestsResponse {
            information_requests: page
                .into_iter()
                .map(|(t, m)| {
                    let evaluation = format!("tenants/{t}/evaluations/{}", m.evaluation_id);
                    request_pb(&evaluation, m, today)
                })
                .collect(),
            next_page_token: next,
        })
    }
}

fn kind_change(name: &str, have: Kind, sent: Kind) -> Error {
    Error::InvalidArgument(Msg::new(
        format!(
            "evidence {name} is {}; it cannot become {} (field {}): delete it and add a new one",
            have.label_en(),
            sent.label_en(),
            sent.field()
        ),
        format!(
            "underlaget {name} är {}; det kan inte bli {} (fältet {}): ta bort det och lägg till ett nytt",
            have.label_sv(),
            sent.label_sv(),
            sent.field()
        ),
    ))
}

#[tonic::async_trait]
impl EvidenceService for EvidenceApi {
    async fn create_evidence(
        &self,
        req: Request<pb::CreateEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.create(&c, req.into_inner()).await?))
    }

    async fn get_evidence(
        &self,
        req: Request<pb::GetEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.get(&c, req.into_inner()).await?))
    }

    async fn list_evidence(
        &self,
        req: Request<pb::ListEvidenceRequest>,
    ) -> Result<Response<pb::ListEvidenceResponse>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.list(&c, req.into_inner()).await?))
    }

    async fn update_evidence(
        &self,
        req: Request<pb::UpdateEvidenceRequest>,
    ) -> Result<Response<pb::Evidence>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.update(&c, req.into_inner()).await?))
    }

    async fn delete_evidence(
        &self,
        req: Request<pb::DeleteEvidenceRequest>,
    ) -> Result<Response<()>, Status> {
        let c = caller(&req);
        self.delete(&c, req.into_inner()).await?;
        Ok(Response::new(()))
    }

    async fn create_information_request(
        &self,
        req: Request<pb::CreateInformationRequestRequest>,
    ) -> Result<Response<pb::InformationRequest>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.create_request(&c, req.into_inner()).await?,
        ))
    }

    async fn get_information_request(
        &self,
        req: Request<pb::GetInformationRequestRequest>,
    ) -> Result<Response<pb::InformationRequest>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.get_request(&c, req.into_inner()).await?))
    }

    async fn list_information_requests(
        &self,
        req: Request<pb::ListInformationRequestsRequest>,
    ) -> Result<Response<pb::ListInformationRequestsResponse>, Status> {
        let c = caller(&req);
        Ok(Response::new(
            self.list_requests(&c, req.into_inner()).await?,
        ))
    }

    async fn answer_information_request(
        &self,
        req: Request<pb::AnswerInformationRequestRequest>,
    ) -> Result<Response<pb::InformationRequest>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.answer(&c, req.into_inner()).await?))
    }

    async fn accept_information_request(
        &self,
        req: Request<pb::AcceptInformationRequestRequest>,
    ) -> Result<Response<pb::InformationRequest>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.accept(&c, req.into_inner()).await?))
    }

    async fn reopen_information_request(
        &self,
        req: Request<pb::ReopenInformationRequestRequest>,
    ) -> Result<Response<pb::InformationRequest>, Status> {
        let c = caller(&req);
        Ok(Response::new(self.reopen(&c, req.into_inner()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn overdue_only_when_open_past_due() {
        let today = d("2026-11-23");
        assert!(is_overdue("open", "2026-11-22", today));
        assert!(is_overdue("open", "2025-01-01", today));
        assert!(
            !is_overdue("open", "2026-11-23", today),
            "due today is not overdue"
        );
        assert!(!is_overdue("open", "2026-11-24", today));
        assert!(!is_overdue("answered", "2026-11-01", today));
        assert!(!is_overdue("accepted", "2026-11-01", today));
        assert!(!is_overdue("open", "", today));
        assert!(!is_overdue("open", "not a date", today));
    }

    #[test]
    fn due_dates_must_not_be_past() {
        let today = d("2026-11-23");
        assert_eq!(
            due_date("due_date", "2026-11-23", today).unwrap(),
            "2026-11-23"
        );
        assert!(due_date("due_date", "2026-11-22", today).is_err());
        assert!(due_date("due_date", "", today).is_err());
        assert!(due_date("due_date", "23/11/2026", today).is_err());
    }

    #[test]
    fn sources_are_validated() {
        let ok = |s| {
            new_source(&pb::Evidence {
                source: Some(s),
                ..Default::default()
            })
        };
        assert!(new_source(&pb::Evidence::default()).is_err());
        assert!(ok(pb::evidence::Source::Interview(pb::Interview::default())).is_err());
        assert!(ok(pb::evidence::Source::Document(pb::Document::default())).is_err());
        for url in ["ftp://x.se", "www.ostra.se", "https://", "https://a b"] {
            let w = pb::WebsiteObservation {
                url: url.into(),
                ..Default::default()
            };
            assert!(
                ok(pb::evidence::Source::WebsiteObservation(w)).is_err(),
                "{url}"
            );
        }
        let w = pb::WebsiteObservation {
            url: "https://www.ostra.se/kommun".into(),
            ..Default::default()
        };
        assert!(ok(pb::evidence::Source::WebsiteObservation(w)).is_ok());
        let doc = pb::Document {
            title: "Delegationsordning".into(),
            file_content: b"abc".to_vec(),
            ..Default::default()
        };
        let (details, file) = ok(pb::evidence::Source::Document(doc)).unwrap();
        let Details::Document(details) = details else {
            panic!()
        };
        assert_eq!(details.file_size, 3);
        assert_eq!(
            details.file_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(file.as_deref(), Some(&b"abc"[..]));
        let big = pb::Document {
            title: "Stor".into(),
            file_content: vec![0; MAX_FILE_BYTES + 1],
            ..Default::default()
        };
        assert!(ok(pb::evidence::Source::Document(big)).is_err());
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_literal("a_b%c\\"), "a\\_b\\%c\\\\");
    }
}

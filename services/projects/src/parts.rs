//! Milestones and activities, the risk register, and status reports.

use std::collections::BTreeMap;

use chrono::Utc;
use kompass_auth::Caller;
use kompass_core::{Error, Msg, TenantId, names, paging};
use kompass_grpc::caller;
use kompass_proto::projects::v1 as pb;
use prost::Message;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Value,
};
use tonic::{Request, Response, Status};

use crate::Projects;
use crate::access::Access;
use crate::domain::{self, Phase, WorkStatus};
use crate::entity::{activity, milestone, project, risk, status_report};
use crate::model::{self, MAX_LINE, MAX_TEXT};
use crate::projects::{STATUS_REPORT_FILED_TOPIC, versioned_update};
use crate::util::{self, Db, text, to_json};
use crate::{load, portfolio};

/// A project opened for one request.
struct Open {
    acc: Access,
    db: Db,
    row: project::Model,
}

impl Open {
    fn tenant(&self) -> &TenantId {
        &self.acc.tenant
    }
}

async fn open(st: &Projects, c: &Caller, tenant: &str, project_id: &str) -> Result<Open, Error> {
    let tenant = TenantId::parse(tenant)?;
    let acc = Access::new(c, tenant.clone())?;
    let db = Db::open(&st.dir, &tenant).await?;
    let row = load::project_row(&db, &tenant, project_id).await?;
    Ok(Open { acc, db, row })
}

const MILESTONE: &[&str] = &["tenants", "*", "projects", "*", "milestones", "*"];
const ACTIVITY: &[&str] = &[
    "tenants",
    "*",
    "projects",
    "*",
    "milestones",
    "*",
    "activities",
    "*",
];
const RISK: &[&str] = &["tenants", "*", "projects", "*", "risks", "*"];
const REPORT: &[&str] = &["tenants", "*", "projects", "*", "statusReports", "*"];

fn project_of(parent: &str) -> Result<(String, String), Error> {
    let (t, p) = names::tenant_child(parent, "projects")?;
    Ok((t.to_string(), p.to_string()))
}

fn responsible(s: &str) -> Result<String, Error> {
    let r = text("responsible", s, 200, false)?;
    if r.starts_with("users/") {
        names::user(&r)?;
    }
    Ok(r)
}

fn number(n: i32) -> Result<i32, Error> {
    if !(0..=10_000).contains(&n) {
        return Err(Error::InvalidArgument(Msg::new(
            format!("number {n} must be between 1 and 10000 (0 appends)"),
            format!("numret {n} måste vara mellan 1 och 10000 (0 lägger till sist)"),
        )));
    }
    Ok(n)
}

fn taken(what_en: &str, what_sv: &str, n: i32) -> Error {
    Error::AlreadyExists(Msg::new(
        format!("{what_en} {n} already exists in this project"),
        format!("{what_sv} {n} finns redan i projektet"),
    ))
}

// ---------------------------------------------------------------- milestones

pub async fn create_milestone(
    st: &Projects,
    req: Request<pb::CreateMilestoneRequest>,
) -> Result<Response<pb::Milestone>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    o.acc.require_edit(&o.row)?;
    let m = r
        .milestone
        .ok_or_else(|| Error::invalid("milestone is required", "milestone krävs"))?;
    let title = text("title", &m.title, MAX_LINE, true)?;
    let description = text("description", &m.description, MAX_TEXT, false)?;
    let due = util::date("due_date", &m.due_date, true)?;
    util::not_before_start("due_date", &due, &o.row.start_date)?;
    let resp = responsible(&m.responsible)?;
    let status = WorkStatus::from_pb(m.status)?;
    let mut n = number(m.number)?;
    let numbers: Vec<i32> = milestone::Entity::find()
        .select_only()
        .column(milestone::Column::Number)
        .filter(milestone::Column::ProjectId.eq(o.row.id.as_str()))
        .into_tuple()
        .all(&*o.db)
        .await
        .map_err(Error::from)?;
    if n == 0 {
        n = numbers.iter().max().copied().unwrap_or(0) + 1;
    } else if numbers.contains(&n) {
        return Err(taken("milestone", "milstolpe", n).into());
    }
    let row = milestone::Model {
        id: util::new_id(),
        project_id: o.row.id.clone(),
        number: n,
        title,
        description,
        due_date: due,
        responsible: resp,
        status: status.as_str().into(),
        version: 1,
    };
    milestone::Entity::insert(milestone::ActiveModel::from(row.clone()))
        .exec(&*o.db)
        .await
        .map_err(Error::from)?;
    Ok(Response::new(load::milestone_pb(
        o.tenant(),
        &row,
        &[],
        util::today(),
    )))
}

pub async fn list_milestones(
    st: &Projects,
    req: Request<pb::ListMilestonesRequest>,
) -> Result<Response<pb::ListMilestonesResponse>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    let size = paging::page_size(r.page_size)?;
    let mut q = milestone::Entity::find()
        .filter(milestone::Column::ProjectId.eq(o.row.id.as_str()))
        .order_by_asc(milestone::Column::Number);
    if let Some(after) = paging::decode(&r.page_token)? {
        let after: i32 = after
            .parse()
            .map_err(|_| Error::invalid("page_token is not valid", "page_token är ogiltig"))?;
        q = q.filter(milestone::Column::Number.gt(after));
    }
    let rows = q.limit(size + 1).all(&*o.db).await.map_err(Error::from)?;
    let (rows, next) = paging::finish(rows, size, |m| m.number.to_string());
    let ids: Vec<String> = rows.iter().map(|m| m.id.clone()).collect();
    let mut acts: BTreeMap<String, Vec<activity::Model>> = BTreeMap::new();
    if !ids.is_empty() {
        for a in activity::Entity::find()
            .filter(activity::Column::MilestoneId.is_in(ids))
            .order_by_asc(activity::Column::Position)
            .all(&*o.db)
            .await
            .map_err(Error::from)?
        {
            acts.entry(a.milestone_id.clone()).or_default().push(a);
        }
    }
    let today = util::today();
    Ok(Response::new(pb::ListMilestonesResponse {
        milestones: rows
            .iter()
            .map(|m| {
                let a = acts.remove(&m.id).unwrap_or_default();
                load::milestone_pb(o.tenant(), m, &a, today)
            })
            .collect(),
        next_page_token: next,
    }))
}

async fn milestone_row(o: &Open, id: &str, name: &str) -> Result<milestone::Model, Error> {
    milestone::Entity::find_by_id(id)
        .filter(milestone::Column::ProjectId.eq(o.row.id.as_str()))
        .one(&*o.db)
        .await?
        .ok_or_else(|| util::not_found("milestone", "milstolpen", name))
}

pub async fn update_milestone(
    st: &Projects,
    req: Request<pb::UpdateMilestoneRequest>,
) -> Result<Response<pb::Milestone>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let m = r
        .milestone
        .ok_or_else(|| Error::invalid("milestone is required", "milestone krävs"))?;
    let paths = util::required_mask(r.update_mask)?;
    let v = names::parse(&m.name, MILESTONE)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let cur = milestone_row(&o, v[2], &m.name).await?;
    util::check_etag(&m.etag, cur.version, "the milestone")?;
    use milestone::Column as C;
    let mut set: Vec<(C, Value)> = vec![];
    let mut new = cur.clone();
    for path in &paths {
        match path.as_str() {
            "number" => {
                let n = number(m.number)?;
                if n == 0 {
                    return Err(Error::invalid(
                        "number must be at least 1",
                        "numret måste vara minst 1",
                    )
                    .into());
                }
                if n != cur.number {
                    let clash = milestone::Entity::find()
                        .filter(C::ProjectId.eq(o.row.id.as_str()))
                        .filter(C::Number.eq(n))
                        .one(&*o.db)
                        .await
                        .map_err(Error::from)?;
                    if clash.is_some() {
                        return Err(taken("milestone", "milstolpe", n).into());
                    }
                }
                new.number = n;
                set.push((C::Number, n.into()));
            }
            "title" => {
                new.title = text("title", &m.title, MAX_LINE, true)?;
                set.push((C::Title, new.title.clone().into()));
            }
            "description" => {
                new.description = text("description", &m.description, MAX_TEXT, false)?;
                set.push((C::Description, new.description.clone().into()));
            }
            "due_date" => {
                new.due_date = util::date("due_date", &m.due_date, true)?;
                util::not_before_start("due_date", &new.due_date, &o.row.start_date)?;
                set.push((C::DueDate, new.due_date.clone().into()));
            }
            "responsible" => {
                new.responsible = responsible(&m.responsible)?;
                set.push((C::Responsible, new.responsible.clone().into()));
            }
            "status" => {
                new.status = WorkStatus::from_pb(m.status)?.as_str().into();
                set.push((C::Status, new.status.clone().into()));
            }
            other => {
                return Err(util::unknown_field(
                    other,
                    "number, title, description, due_date, responsible, status",
                )
                .into());
            }
        }
    }
    if !versioned_update::<milestone::Entity>(
        &*o.db,
        (C::Id, &cur.id),
        (C::Version, cur.version),
        set,
    )
    .await?
    {
        return Err(util::stale(&m.etag, cur.version + 1, "the milestone").into());
    }
    new.version += 1;
    let acts = activity::Entity::find()
        .filter(activity::Column::MilestoneId.eq(cur.id.as_str()))
        .order_by_asc(activity::Column::Position)
        .all(&*o.db)
        .await
        .map_err(Error::from)?;
    Ok(Response::new(load::milestone_pb(
        o.tenant(),
        &new,
        &acts,
        util::today(),
    )))
}

pub async fn delete_milestone(
    st: &Projects,
    req: Request<pb::DeleteMilestoneRequest>,
) -> Result<Response<()>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let v = names::parse(&r.name, MILESTONE)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let cur = milestone_row(&o, v[2], &r.name).await?;
    util::check_etag(&r.etag, cur.version, "the milestone")?;
    let tx = kompass_tenant_db::begin_write(&o.db.conn)
        .await
        .map_err(Error::from)?;
    let res = milestone::Entity::delete_many()
        .filter(milestone::Column::Id.eq(cur.id.as_str()))
        .filter(milestone::Column::Version.eq(cur.version))
        .exec(&tx)
        .await
        .map_err(Error::from)?;
    if res.rows_affected == 0 {
        return Err(util::stale(&r.etag, cur.version + 1, "the milestone").into());
    }
    activity::Entity::delete_many()
        .filter(activity::Column::MilestoneId.eq(cur.id.as_str()))
        .exec(&tx)
        .await
        .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    Ok(Response::new(()))
}

// ---------------------------------------------------------------- activities

pub async fn create_activity(
    st: &Projects,
    req: Request<pb::CreateActivityRequest>,
) -> Result<Response<pb::Activity>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let v = names::parse(&r.parent, MILESTONE)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let a = r
        .activity
        .ok_or_else(|| Error::invalid("activity is required", "activity krävs"))?;
    let title = text("title", &a.title, MAX_LINE, true)?;
    let due = util::date("due_date", &a.due_date, true)?;
    util::not_before_start("due_date", &due, &o.row.start_date)?;
    let resp = responsible(&a.responsible)?;
    let status = WorkStatus::from_pb(a.status)?;
    let m = milestone_row(&o, v[2], &r.parent).await?;
    let mut pos = number(a.position)?;
    let taken_positions: Vec<i32> = activity::Entity::find()
        .select_only()
        .column(activity::Column::Position)
        .filter(activity::Column::MilestoneId.eq(m.id.as_str()))
        .into_tuple()
        .all(&*o.db)
        .await
        .map_err(Error::from)?;
    if pos == 0 {
        pos = taken_positions.iter().max().copied().unwrap_or(0) + 1;
    } else if taken_positions.contains(&pos) {
        return Err(taken("activity", "aktivitet", pos).into());
    }
    let row = activity::Model {
        id: util::new_id(),
        project_id: o.row.id.clone(),
        milestone_id: m.id.clone(),
        position: pos,
        title,
        due_date: due,
        responsible: resp,
        status: status.as_str().into(),
        version: 1,
    };
    activity::Entity::insert(activity::ActiveModel::from(row.clone()))
        .exec(&*o.db)
        .await
        .map_err(Error::from)?;
    Ok(Response::new(load::activity_pb(
        o.tenant(),
        &row,
        m.number,
        util::today(),
    )))
}

async fn activity_row(
    o: &Open,
    v: &[&str],
    name: &str,
) -> Result<(milestone::Model, activity::Model), Error> {
    let m = milestone_row(o, v[2], name).await?;
    let a = activity::Entity::find_by_id(v[3])
        .filter(activity::Column::MilestoneId.eq(m.id.as_str()))
        .one(&*o.db)
        .await?
        .ok_or_else(|| util::not_found("activity", "aktiviteten", name))?;
    Ok((m, a))
}

pub async fn update_activity(
    st: &Projects,
    req: Request<pb::UpdateActivityRequest>,
) -> Result<Response<pb::Activity>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let a = r
        .activity
        .ok_or_else(|| Error::invalid("activity is required", "activity krävs"))?;
    let paths = util::required_mask(r.update_mask)?;
    let v = names::parse(&a.name, ACTIVITY)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let (m, cur) = activity_row(&o, &v, &a.name).await?;
    util::check_etag(&a.etag, cur.version, "the activity")?;
    use activity::Column as C;
    let mut set: Vec<(C, Value)> = vec![];
    let mut new = cur.clone();
    for path in &paths {
        match path.as_str() {
            "position" => {
                let n = number(a.position)?;
                if n == 0 {
                    return Err(Error::invalid(
                        "position must be at least 1",
                        "positionen måste vara minst 1",
                    )
                    .into());
                }
                if n != cur.position {
                    let clash = activity::Entity::find()
                        .filter(C::MilestoneId.eq(m.id.as_str()))
                        .filter(C::Position.eq(n))
                        .one(&*o.db)
                        .await
                        .map_err(Error::from)?;
                    if clash.is_some() {
                        return Err(taken("activity", "aktivitet", n).into());
                    }
                }
                new.position = n;
                set.push((C::Position, n.into()));
            }
            "title" => {
                new.title = text("title", &a.title, MAX_LINE, true)?;
                set.push((C::Title, new.title.clone().into()));
            }
            "due_date" => {
                new.due_date = util::date("due_date", &a.due_date, true)?;
                util::not_before_start("due_date", &new.due_date, &o.row.start_date)?;
                set.push((C::DueDate, new.due_date.clone().into()));
            }
            "responsible" => {
                new.responsible = responsible(&a.responsible)?;
                set.push((C::Responsible, new.responsible.clone().into()));
            }
            "status" => {
                new.status = WorkStatus::from_pb(a.status)?.as_str().into();
                set.push((C::Status, new.status.clone().into()));
            }
            other => {
                return Err(util::unknown_field(
                    other,
                    "position, title, due_date, responsible, status",
                )
                .into());
            }
        }
    }
    if !versioned_update::<activity::Entity>(
        &*o.db,
        (C::Id, &cur.id),
        (C::Version, cur.version),
        set,
    )
    .await?
    {
        return Err(util::stale(&a.etag, cur.version + 1, "the activity").into());
    }
    new.version += 1;
    Ok(Response::new(load::activity_pb(
        o.tenant(),
        &new,
        m.number,
        util::today(),
    )))
}

pub async fn delete_activity(
    st: &Projects,
    req: Request<pb::DeleteActivityRequest>,
) -> Result<Response<()>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let v = names::parse(&r.name, ACTIVITY)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let (_, cur) = activity_row(&o, &v, &r.name).await?;
    util::check_etag(&r.etag, cur.version, "the activity")?;
    let res = activity::Entity::delete_many()
        .filter(activity::Column::Id.eq(cur.id.as_str()))
        .filter(activity::Column::Version.eq(cur.version))
        .exec(&*o.db)
        .await
        .map_err(Error::from)?;
    if res.rows_affected == 0 {
        return Err(util::stale(&r.etag, cur.version + 1, "the activity").into());
    }
    Ok(Response::new(()))
}

// ---------------------------------------------------------------- risks

struct RiskIn {
    title: String,
    description: String,
    probability: i32,
    consequence: i32,
    mitigations: Vec<String>,
    owner: String,
}

impl TryFrom<pb::Risk> for RiskIn {
    type Error = Error;
    fn try_from(r: pb::Risk) -> Result<RiskIn, Error> {
        Ok(RiskIn {
            title: text("title", &r.title, MAX_LINE, true)?,
            description: text("description", &r.description, MAX_TEXT, false)?,
            probability: domain::probability_from_pb(r.probability)?,
            consequence: domain::consequence_from_pb(r.consequence)?,
            mitigations: util::texts("mitigations", &r.mitigations, MAX_TEXT)?,
            owner: responsible(&r.owner)?,
        })
    }
}

pub async fn create_risk(
    st: &Projects,
    req: Request<pb::CreateRiskRequest>,
) -> Result<Response<pb::Risk>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    o.acc.require_edit(&o.row)?;
    let input = RiskIn::try_from(
        r.risk
            .ok_or_else(|| Error::invalid("risk is required", "risk krävs"))?,
    )?;
    let row = risk::Model {
        id: util::new_id(),
        project_id: o.row.id.clone(),
        title: input.title,
        description: input.description,
        probability: input.probability,
        consequence: input.consequence,
        mitigations: to_json(&input.mitigations),
        owner: input.owner,
        version: 1,
    };
    let tx = kompass_tenant_db::begin_write(&o.db.conn)
        .await
        .map_err(Error::from)?;
    risk::Entity::insert(risk::ActiveModel::from(row.clone()))
        .exec(&tx)
        .await
        .map_err(Error::from)?;
    portfolio::enqueue_changed(&tx, o.tenant(), &o.row.id).await?;
    tx.commit().await.map_err(Error::from)?;
    st.relay.kick(o.tenant());
    Ok(Response::new(load::risk_pb(o.tenant(), &row)))
}

async fn all_risks(o: &Open) -> Result<Vec<pb::Risk>, Error> {
    let rows = risk::Entity::find()
        .filter(risk::Column::ProjectId.eq(o.row.id.as_str()))
        .all(&*o.db)
        .await?;
    let mut v: Vec<pb::Risk> = rows.iter().map(|r| load::risk_pb(o.tenant(), r)).collect();
    load::sort_risks(&mut v);
    Ok(v)
}

pub async fn list_risks(
    st: &Projects,
    req: Request<pb::ListRisksRequest>,
) -> Result<Response<pb::ListRisksResponse>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    let size = paging::page_size(r.page_size)? as usize;
    // A register is small (tens of risks): ordered by value in memory, the
    // token is the position after the page.
    let start: usize = match paging::decode(&r.page_token)? {
        Some(s) => s
            .parse()
            .map_err(|_| Error::invalid("page_token is not valid", "page_token är ogiltig"))?,
        None => 0,
    };
    let all = all_risks(&o).await?;
    let end = (start + size).min(all.len());
    let next = if end < all.len() {
        paging::encode(&end.to_string())
    } else {
        String::new()
    };
    Ok(Response::new(pb::ListRisksResponse {
        risks: all.get(start..end).unwrap_or_default().to_vec(),
        next_page_token: next,
    }))
}

pub async fn update_risk(
    st: &Projects,
    req: Request<pb::UpdateRiskRequest>,
) -> Result<Response<pb::Risk>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let k = r
        .risk
        .ok_or_else(|| Error::invalid("risk is required", "risk krävs"))?;
    let paths = util::required_mask(r.update_mask)?;
    let v = names::parse(&k.name, RISK)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let cur = risk::Entity::find_by_id(v[2])
        .filter(risk::Column::ProjectId.eq(o.row.id.as_str()))
        .one(&*o.db)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| util::not_found("risk", "risken", &k.name))?;
    util::check_etag(&k.etag, cur.version, "the risk")?;
    use risk::Column as C;
    let mut set: Vec<(C, Value)> = vec![];
    let mut new = cur.clone();
    for path in &paths {
        match path.as_str() {
            "title" => {
                new.title = text("title", &k.title, MAX_LINE, true)?;
                set.push((C::Title, new.title.clone().into()));
            }
            "description" => {
                new.description = text("description", &k.description, MAX_TEXT, false)?;
                set.push((C::Description, new.description.clone().into()));
            }
            "probability" => {
                new.probability = domain::probability_from_pb(k.probability)?;
                set.push((C::Probability, new.probability.into()));
            }
            "consequence" => {
                new.consequence = domain::consequence_from_pb(k.consequence)?;
                set.push((C::Consequence, new.consequence.into()));
            }
            "mitigations" => {
                new.mitigations = to_json(&util::texts("mitigations", &k.mitigations, MAX_TEXT)?);
                set.push((C::Mitigations, new.mitigations.clone().into()));
            }
            "owner" => {
                new.owner = responsible(&k.owner)?;
                set.push((C::Owner, new.owner.clone().into()));
            }
            other => {
                return Err(util::unknown_field(
                    other,
                    "title, description, probability, consequence, mitigations, owner",
                )
                .into());
            }
        }
    }
    let tx = kompass_tenant_db::begin_write(&o.db.conn)
        .await
        .map_err(Error::from)?;
    if !versioned_update::<risk::Entity>(&tx, (C::Id, &cur.id), (C::Version, cur.version), set)
        .await?
    {
        return Err(util::stale(&k.etag, cur.version + 1, "the risk").into());
    }
    portfolio::enqueue_changed(&tx, o.tenant(), &o.row.id).await?;
    tx.commit().await.map_err(Error::from)?;
    st.relay.kick(o.tenant());
    new.version += 1;
    Ok(Response::new(load::risk_pb(o.tenant(), &new)))
}

pub async fn delete_risk(
    st: &Projects,
    req: Request<pb::DeleteRiskRequest>,
) -> Result<Response<()>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let v = names::parse(&r.name, RISK)?;
    let o = open(st, &c, v[0], v[1]).await?;
    o.acc.require_edit(&o.row)?;
    let cur = risk::Entity::find_by_id(v[2])
        .filter(risk::Column::ProjectId.eq(o.row.id.as_str()))
        .one(&*o.db)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| util::not_found("risk", "risken", &r.name))?;
    util::check_etag(&r.etag, cur.version, "the risk")?;
    let tx = kompass_tenant_db::begin_write(&o.db.conn)
        .await
        .map_err(Error::from)?;
    let res = risk::Entity::delete_many()
        .filter(risk::Column::Id.eq(cur.id.as_str()))
        .filter(risk::Column::Version.eq(cur.version))
        .exec(&tx)
        .await
        .map_err(Error::from)?;
    if res.rows_affected == 0 {
        return Err(util::stale(&r.etag, cur.version + 1, "the risk").into());
    }
    portfolio::enqueue_changed(&tx, o.tenant(), &o.row.id).await?;
    tx.commit().await.map_err(Error::from)?;
    st.relay.kick(o.tenant());
    Ok(Response::new(()))
}

/// The nine cells, probability LOW..HIGH, within it consequence MINOR..SEVERE.
pub fn matrix(project: String, risks: Vec<pb::Risk>) -> pb::RiskMatrix {
    let mut cells: Vec<pb::RiskMatrixCell> = (1..=3)
        .flat_map(|p| {
            (1..=3).map(move |c| pb::RiskMatrixCell {
                probability: p,
                consequence: c,
                value: domain::risk_value(p, c),
                risks: vec![],
            })
        })
        .collect();
    for r in risks {
        if (1..=3).contains(&r.probability) && (1..=3).contains(&r.consequence) {
            let i = ((r.probability - 1) * 3 + (r.consequence - 1)) as usize;
            cells[i].risks.push(r);
        }
    }
    pb::RiskMatrix { project, cells }
}

pub async fn get_risk_matrix(
    st: &Projects,
    req: Request<pb::GetRiskMatrixRequest>,
) -> Result<Response<pb::RiskMatrix>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.project)?;
    let o = open(st, &c, &t, &p).await?;
    let risks = all_risks(&o).await?;
    Ok(Response::new(matrix(r.project, risks)))
}

// ---------------------------------------------------------------- status reports

/// The report as filed: every milestone and goal of the project as they are
/// now, with the lights given (WHITE where none was given).
pub fn compose_report(
    input: pb::StatusReport,
    milestones: &[(String, milestone::Model)],
    goals: &[&model::Goal],
    today: chrono::NaiveDate,
) -> Result<pb::StatusReport, Error> {
    let period = text("period", &input.period, 100, true)?;
    let light = domain::light_from_pb(input.light, "the project", true)?;
    let summary = text("summary", &input.summary, MAX_TEXT, false)?;
    let mut ms: BTreeMap<String, pb::MilestoneReport> = BTreeMap::new();
    for m in input.milestones {
        if !milestones.iter().any(|(name, _)| *name == m.milestone) {
            return Err(Error::InvalidArgument(Msg::new(
                format!(
                    "milestone {:?} is not a milestone of this project",
                    m.milestone
                ),
                format!("{:?} är ingen milstolpe i projektet", m.milestone),
            )));
        }
        let l = domain::light_from_pb(m.light, &m.milestone, false)?;
        let comment = text("milestone comment", &m.comment, MAX_TEXT, false)?;
        if ms
            .insert(
                m.milestone.clone(),
                pb::MilestoneReport {
                    light: l as i32,
                    comment,
                    ..Default::default()
                },
            )
            .is_some()
        {
            return Err(Error::InvalidArgument(Msg::new(
                format!("milestone {} is reported twice", m.milestone),
                format!("milstolpen {} rapporteras två gånger", m.milestone),
            )));
        }
    }
    let mut gs: BTreeMap<String, pb::GoalReport> = BTreeMap::new();
    for g in input.goals {
        if !goals.iter().any(|x| x.id == g.goal_id) {
            return Err(Error::InvalidArgument(Msg::new(
                format!("goal {:?} is not a goal of this project's plan", g.goal_id),
                format!("{:?} är inget mål i projektets plan", g.goal_id),
            )));
        }
        let l = domain::light_from_pb(g.light, &g.goal_id, false)?;
        let comment = text("goal comment", &g.comment, MAX_TEXT, false)?;
        if gs
            .insert(
                g.goal_id.clone(),
                pb::GoalReport {
                    light: l as i32,
                    comment,
                    ..Default::default()
                },
            )
            .is_some()
        {
            return Err(Error::InvalidArgument(Msg::new(
                format!("goal {} is reported twice", g.goal_id),
                format!("målet {} rapporteras två gånger", g.goal_id),
            )));
        }
    }
    let white = pb::TrafficLight::White as i32;
    Ok(pb::StatusReport {
        period,
        light: light as i32,
        summary,
        milestones: milestones
            .iter()
            .map(|(name, m)| {
                let given = ms.remove(name).unwrap_or(pb::MilestoneReport {
                    light: white,
                    ..Default::default()
                });
                let status = WorkStatus::parse(&m.status);
                pb::MilestoneReport {
                    milestone: name.clone(),
                    number: m.number,
                    title: m.title.clone(),
                    due_date: m.due_date.clone(),
                    status: status.to_pb() as i32,
                    overdue: domain::overdue(&m.due_date, status, today),
                    ..given
                }
            })
            .collect(),
        goals: goals
            .iter()
            .map(|g| {
                let given = gs.remove(&g.id).unwrap_or(pb::GoalReport {
                    light: white,
                    ..Default::default()
                });
                pb::GoalReport {
                    goal_id: g.id.clone(),
                    title: g.title.clone(),
                    indicator: g.indicator.clone(),
                    baseline: g.baseline.clone(),
                    target: g.target.clone(),
                    target_date: g.target_date.clone(),
                    ..given
                }
            })
            .collect(),
        ..Default::default()
    })
}

pub async fn create_status_report(
    st: &Projects,
    req: Request<pb::CreateStatusReportRequest>,
) -> Result<Response<pb::StatusReport>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    o.acc.require_manager(&o.row)?;
    let input = r
        .status_report
        .ok_or_else(|| Error::invalid("status_report is required", "status_report krävs"))?;
    let ms: Vec<(String, milestone::Model)> = milestone::Entity::find()
        .filter(milestone::Column::ProjectId.eq(o.row.id.as_str()))
        .order_by_asc(milestone::Column::Number)
        .all(&*o.db)
        .await
        .map_err(Error::from)?
        .into_iter()
        .map(|m| (load::milestone_name(o.tenant(), &m), m))
        .collect();
    let goals = load::goals_of(&o.row);
    let flat = model::flatten(&goals);
    let now = Utc::now();
    let id = util::new_id();
    let mut report = compose_report(input, &ms, &flat, util::today())?;
    report.name = format!(
        "{}/statusReports/{id}",
        load::project_name(o.tenant(), &o.row.id)
    );
    report.phase = Phase::parse(&o.row.phase).to_pb() as i32;
    report.author = format!("users/{}", o.acc.user);
    report.create_time = Some(util::ts(now));
    let mut event = pb::StatusReportFiledEvent {
        project: load::project_name(o.tenant(), &o.row.id),
        status_report: Some(report.clone()),
        summary: None,
    };
    let tx = kompass_tenant_db::begin_write(&o.db.conn)
        .await
        .map_err(Error::from)?;
    status_report::Entity::insert(status_report::ActiveModel {
        id: Set(id),
        project_id: Set(o.row.id.clone()),
        author: Set(o.acc.user.to_string()),
        created_at: Set(now),
        content: Set(report.encode_to_vec()),
    })
    .exec(&tx)
    .await
    .map_err(Error::from)?;
    event.summary = Some(portfolio::summary(&tx, o.tenant(), &o.row.id).await?);
    kompass_events::enqueue(
        &tx,
        crate::relay::OUTBOX,
        STATUS_REPORT_FILED_TOPIC,
        event.encode_to_vec(),
    )
    .await
    .map_err(Error::from)?;
    tx.commit().await.map_err(Error::from)?;
    st.relay.kick(o.tenant());
    Ok(Response::new(report))
}

pub async fn get_status_report(
    st: &Projects,
    req: Request<pb::GetStatusReportRequest>,
) -> Result<Response<pb::StatusReport>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let v = names::parse(&r.name, REPORT)?;
    let o = open(st, &c, v[0], v[1]).await?;
    let row = status_report::Entity::find_by_id(v[2])
        .filter(status_report::Column::ProjectId.eq(o.row.id.as_str()))
        .one(&*o.db)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| util::not_found("status report", "lägesrapporten", &r.name))?;
    let rep = load::report_pb(&row)
        .ok_or_else(|| Error::internal(format!("status report {} does not decode", row.id)))?;
    Ok(Response::new(rep))
}

pub async fn list_status_reports(
    st: &Projects,
    req: Request<pb::ListStatusReportsRequest>,
) -> Result<Response<pb::ListStatusReportsResponse>, Status> {
    let c = caller(&req);
    let r = req.into_inner();
    let (t, p) = project_of(&r.parent)?;
    let o = open(st, &c, &t, &p).await?;
    let size = paging::page_size(r.page_size)?;
    let mut q = status_report::Entity::find()
        .filter(status_report::Column::ProjectId.eq(o.row.id.as_str()))
        .order_by_asc(status_report::Column::Id);
    if let Some(after) = paging::decode(&r.page_token)? {
        q = q.filter(status_report::Column::Id.gt(after));
    }
    let rows = q.limit(size + 1).all(&*o.db).await.map_err(Error::from)?;
    let (rows, next) = paging::finish(rows, size, |m| m.id.clone());
    Ok(Response::new(pb::ListStatusReportsResponse {
        status_reports: rows.iter().filter_map(load::report_pb).collect(),
        next_page_token: next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk(p: i32, c: i32) -> pb::Risk {
        pb::Risk {
            name: format!("r{p}{c}"),
            probability: p,
            consequence: c,
            value: domain::risk_value(p, c),
            ..Default::default()
        }
    }

    #[test]
    fn every_risk_lands_in_its_cell() {
        let mut v = vec![];
        for p in 1..=3 {
            for c in 1..=3 {
                v.push(risk(p, c));
            }
        }
        v.push(risk(3, 3));
        let m = matrix("p".into(), v);
        assert_eq!(m.cells.len(), 9);
        for cell in &m.cells {
            assert_eq!(cell.value, cell.probability * cell.consequence);
            assert!(cell.risks.iter().all(|r| r.probability == cell.probability
                && r.consequence == cell.consequence));
        }
        assert_eq!(m.cells[8].risks.len(), 2);
        assert_eq!(m.cells[0].risks.len(), 1);
    }

    #[test]
    fn a_report_snapshots_and_fills_in_white() {
        let m = milestone::Model {
            id: "m1".into(),
            project_id: "p".into(),
            number: 1,
            title: "Kartläggning".into(),
            description: String::new(),
            due_date: "2027-01-31".into(),
            responsible: String::new(),
            status: "in_progress".into(),
            version: 1,
        };
        let ms = vec![("tenants/t/projects/p/milestones/m1".to_string(), m)];
        let g = model::Goal {
            id: "g1".into(),
            title: "Fler e-tjänster".into(),
            indicator: "antal".into(),
            baseline: "12".into(),
            target: "30".into(),
            target_date: "2027-12-31".into(),
            sub_goals: vec![],
        };
        let today = chrono::NaiveDate::from_ymd_opt(2027, 2, 1).unwrap();
        let rep = compose_report(
            pb::StatusReport {
                period: "2027-01".into(),
                light: pb::TrafficLight::Yellow as i32,
                goals: vec![pb::GoalReport {
                    goal_id: "g1".into(),
                    light: pb::TrafficLight::Green as i32,
                    ..Default::default()
                }],
                ..Default::default()
            },
            &ms,
            &[&g],
            today,
        )
        .unwrap();
        assert_eq!(rep.milestones[0].light, pb::TrafficLight::White as i32);
        assert!(rep.milestones[0].overdue);
        assert_eq!(rep.milestones[0].title, "Kartläggning");
        assert_eq!(rep.goals[0].light, pb::TrafficLight::Green as i32);
        assert_eq!(rep.goals[0].target, "30");
        let unknown = compose_report(
            pb::StatusReport {
                period: "2027-01".into(),
                light: pb::TrafficLight::Green as i32,
                goals: vec![pb::GoalReport {
                    goal_id: "nope".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            &ms,
            &[&g],
            today,
        );
        assert!(unknown.is_err());
        let no_light = compose_report(
            pb::StatusReport {
                period: "2027-01".into(),
                ..Default::default()
            },
            &ms,
            &[&g],
            today,
        );
        assert!(no_light.is_err());
    }
}

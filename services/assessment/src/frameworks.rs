//! FrameworkService: the built-in Kommunkompassen 2015 revision, and versions
//! operators import. A version is immutable once an evaluation uses it.

use std::sync::{Arc, LazyLock};

use chrono::Utc;
use kompass_core::{Error, Msg, names, paging};
use kompass_frameworks::{Format, Framework};
use kompass_grpc::caller;
use kompass_proto::assessment::v1::{self as pb, framework_service_server::FrameworkService};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use tonic::{Request, Response, Status};

use crate::Assessment;
use crate::entity::framework_version;
use crate::util::ts;

pub struct Frameworks(pub Assessment);

pub const BUILTIN: &str = "frameworks/kommunkompassen/versions/2015";

pub fn version_name(f: &Framework) -> String {
    format!("frameworks/{}/versions/{}", f.id, f.revision)
}

fn parse_name(name: &str) -> Result<(String, String), Error> {
    let v = names::parse(name, &["frameworks", "*", "versions", "*"])?;
    Ok((v[0].to_string(), v[1].to_string()))
}

fn not_found(name: &str) -> Error {
    Error::NotFound(Msg::new(
        format!("framework version {name} does not exist"),
        format!("ramverksversionen {name} finns inte"),
    ))
}

/// The framework version `name`.
pub async fn resolve(st: &Assessment, name: &str) -> Result<Arc<Framework>, Error> {
    static BUILTIN_FW: LazyLock<Arc<Framework>> =
        LazyLock::new(|| Arc::new(Framework::builtin().clone()));
    if name == BUILTIN {
        return Ok(BUILTIN_FW.clone());
    }
    if let Some(fw) = st.frameworks_in_use.get(name) {
        return Ok(fw);
    }
    let (f, v) = parse_name(name)?;
    let row = framework_version::Entity::find_by_id((f, v))
        .one(&st.platform)
        .await?
        .ok_or_else(|| not_found(name))?;
    let fw = Arc::new(
        Framework::from_yaml(&row.content)
            .map_err(|e| Error::internal(format!("stored framework {name}: {e}")))?,
    );
    // A version in use can no longer be replaced, so it may be kept; one not
    // yet in use is read again next time.
    if row.in_use {
        st.frameworks_in_use.insert(name.to_string(), fw.clone());
    }
    Ok(fw)
}

/// Marks an imported version as used: from now on it cannot be replaced.
pub async fn mark_in_use(st: &Assessment, name: &str) -> Result<(), Error> {
    if name == BUILTIN {
        return Ok(());
    }
    let (f, v) = parse_name(name)?;
    framework_version::Entity::update_many()
        .col_expr(framework_version::Column::InUse, true.into())
        .filter(framework_version::Column::FrameworkId.eq(f))
        .filter(framework_version::Column::Version.eq(v))
        .exec(&st.platform)
        .await?;
    Ok(())
}

/// Only the languages the framework has: a missing `nb` is absent from the
/// map, and readers fall back nb → sv → en (`kompass_frameworks::Text::get`).
fn loc(t: &kompass_frameworks::Text) -> Option<pb::LocalizedText> {
    let mut translations: std::collections::HashMap<String, String> = [
        ("sv".to_string(), t.sv.clone()),
        ("en".to_string(), t.en.clone()),
    ]
    .into();
    if let Some(nb) = &t.nb {
        translations.insert("nb".to_string(), nb.clone());
    }
    Some(pb::LocalizedText { translations })
}

pub fn to_pb(
    f: &Framework,
    builtin: bool,
    in_use: bool,
    created: Option<chrono::DateTime<Utc>>,
) -> pb::FrameworkVersion {
    pb::FrameworkVersion {
        name: version_name(f),
        revision: f.revision.clone(),
        title: loc(&f.name),
        description: loc(&f.description),
        areas: f
            .areas
            .iter()
            .map(|a| pb::Area {
                id: a.id.clone(),
                title: loc(&a.name),
                max_points: a.max_points.normalize().to_string(),
                headings: a.headings.iter().filter_map(loc).collect(),
                questions: a
                    .questions
                    .iter()
                    .map(|q| pb::Question {
                        id: q.id.clone(),
                        max_points: q.max_points.normalize().to_string(),
                        text: loc(&q.text),
                    })
                    .collect(),
            })
            .collect(),
        max_points: f.total_max().normalize().to_string(),
        builtin,
        in_use,
        create_time: created.map(ts),
    }
}

fn format_of(f: i32, content: &str) -> Format {
    match pb::FileFormat::try_from(f) {
        Ok(pb::FileFormat::Yaml) => Format::Yaml,
        Ok(pb::FileFormat::Json) => Format::Json,
        _ => Format::detect(content),
    }
}

#[tonic::async_trait]
impl FrameworkService for Frameworks {
    async fn get_framework_version(
        &self,
        req: Request<pb::GetFrameworkVersionRequest>,
    ) -> Result<Response<pb::FrameworkVersion>, Status> {
        caller(&req).user()?;
        let name = &req.get_ref().name;
        if name == BUILTIN {
            return Ok(Response::new(to_pb(Framework::builtin(), true, true, None)));
        }
        let (f, v) = parse_name(name)?;
        let row = framework_version::Entity::find_by_id((f, v))
            .one(&self.0.platform)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| not_found(name))?;
        let fw = Framework::from_yaml(&row.content).map_err(Error::internal)?;
        Ok(Response::new(to_pb(
            &fw,
            false,
            row.in_use,
            Some(row.created_at),
        )))
    }

    async fn list_framework_versions(
        &self,
        req: Request<pb::ListFrameworkVersionsRequest>,
    ) -> Result<Response<pb::ListFrameworkVersionsResponse>, Status> {
        let anonymous = caller(&req).is_anonymous();
        let r = req.into_inner();
        let only = if r.parent == "frameworks/-" {
            None
        } else {
            Some(names::parse(&r.parent, &["frameworks", "*"])?[0].to_string())
        };
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let mut q = framework_version::Entity::find();
        if let Some(f) = &only {
            q = q.filter(framework_version::Column::FrameworkId.eq(f.as_str()));
        }
        let rows = q.all(&self.0.platform).await.map_err(Error::from)?;
        let mut all: Vec<(String, pb::FrameworkVersion)> = vec![];
        let b = Framework::builtin();
        if only.as_deref().is_none_or(|f| f == b.id) {
            all.push((BUILTIN.to_string(), to_pb(b, true, true, None)));
        }
        for row in rows {
            let fw = Framework::from_yaml(&row.content).map_err(Error::internal)?;
            all.push((
                version_name(&fw),
                to_pb(&fw, false, row.in_use, Some(row.created_at)),
            ));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0));
        let all: Vec<_> = all
            .into_iter()
            .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
            .take(size as usize + 1)
            .collect();
        let (page, next) = paging::finish(all, size, |(k, _)| k.clone());
        let mut versions: Vec<pb::FrameworkVersion> = page.into_iter().map(|(_, v)| v).collect();
        if anonymous {
            versions.iter_mut().for_each(public_outline);
        }
        Ok(Response::new(pb::ListFrameworkVersionsResponse {
            framework_versions: versions,
            next_page_token: next,
        }))
    }

    async fn import_framework_version(
        &self,
        req: Request<pb::ImportFrameworkVersionRequest>,
    ) -> Result<Response<pb::FrameworkVersion>, Status> {
        let c = caller(&req);
        c.require_operator()?;
        let r = req.into_inner();
        let content = String::from_utf8(r.content).map_err(|_| {
            Error::invalid("the file is not UTF-8 text", "filen är inte UTF-8-text")
        })?;
        let fw = Framework::parse(&content, format_of(r.format, &content))
            .map_err(|e| Error::InvalidArgument(Msg::new(e.to_string(), e.message_sv())))?;
        let name = version_name(&fw);
        if name == BUILTIN {
            return Err(Error::AlreadyExists(Msg::new(
                format!("{name} is built in and cannot be replaced"),
                format!("{name} är inbyggd och kan inte ersättas"),
            ))
            .into());
        }
        let existing = framework_version::Entity::find_by_id((fw.id.clone(), fw.revision.clone()))
            .one(&self.0.platform)
            .await
            .map_err(Error::from)?;
        if let Some(e) = &existing {
            if !r.replace {
                return Err(Error::AlreadyExists(Msg::new(
                    format!("{name} already exists; set replace to overwrite it"),
                    format!("{name} finns redan; ange replace för att skriva över"),
                ))
                .into());
            }
            if e.in_use {
                return Err(Error::FailedPrecondition(Msg::new(
                    format!("{name} is used by an evaluation and can no longer change; import it as a new revision"),
                    format!("{name} används av en utvärdering och kan inte längre ändras; importera den som en ny revision"),
                ))
                .into());
            }
        }
        if r.validate_only {
            return Ok(Response::new(to_pb(&fw, false, false, None)));
        }
        let now = Utc::now();
        let user = c.user()?.to_string();
        let row = match existing {
            Some(e) => {
                let mut a = e.into_active_model();
                a.content = Set(fw.to_yaml());
                a.content_hash = Set(fw.content_hash());
                a.created_by = Set(user);
                a.created_at = Set(now);
                a.update(&self.0.platform).await.map_err(Error::from)?
            }
            None => framework_version::Entity::insert(framework_version::ActiveModel {
                framework_id: Set(fw.id.clone()),
                version: Set(fw.revision.clone()),
                content: Set(fw.to_yaml()),
                content_hash: Set(fw.content_hash()),
                in_use: Set(false),
                created_by: Set(user),
                created_at: Set(now),
            })
            .exec_with_returning(&self.0.platform)
            .await
            .map_err(Error::from)?,
        };
        tracing::info!(framework = %name, "framework version imported");
        Ok(Response::new(to_pb(
            &fw,
            false,
            row.in_use,
            Some(row.created_at),
        )))
    }

    async fn export_framework_version(
        &self,
        req: Request<pb::ExportFrameworkVersionRequest>,
    ) -> Result<Response<pb::ExportFrameworkVersionResponse>, Status> {
        caller(&req).user()?;
        let r = req.into_inner();
        let fw = resolve(&self.0, &r.name).await?;
        let (content, format) = match pb::FileFormat::try_from(r.format) {
            Ok(pb::FileFormat::Json) => (fw.to_json(), pb::FileFormat::Json),
            _ => (fw.to_yaml(), pb::FileFormat::Yaml),
        };
        Ok(Response::new(pb::ExportFrameworkVersionResponse {
            content: content.into_bytes(),
            format: format as i32,
        }))
    }
}

/// What the public sees of a framework version: its areas and their maxima,
/// not its questions (whose full lists are not public for every revision).
fn public_outline(v: &mut pb::FrameworkVersion) {
    for a in &mut v.areas {
        a.questions.clear();
        a.headings.clear();
    }
}

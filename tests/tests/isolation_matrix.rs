//! The isolation matrix (issue 9, item 7), generated from the protos: every
//! RPC of every service in `kompass_proto::FILE_DESCRIPTOR_SET` is called
//! with a plausible request aimed at a real tenant's resources, as each of
//! the callers below. Every call must be denied (UNAUTHENTICATED,
//! PERMISSION_DENIED or NOT_FOUND) unless the (RPC, caller) pair is in
//! [`ALLOWED`] with its reason. A new RPC is called like the rest, so one
//! that lets a stranger in fails this test until someone decides and writes
//! down why.
//!
//! To allow a pair, add a row to [`ALLOWED`]: the method as
//! `Service/Method` (package left out), the caller, whether the answer may
//! mention the victim tenant, and the reason. Keep reasons short and true.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Buf, BufMut};
use kompass_config::ServiceKind;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{SECRET, TestEnv, authed};
use prost::Message;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The municipality every call is aimed at. It has not agreed to be public,
/// so nothing of it is public data.
const VICTIM: &str = "ostra";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// Tenant admin of another municipality.
    OtherAdmin,
    /// Member of another municipality.
    OtherMember,
    /// Platform evaluator not assigned to the victim's evaluations.
    Evaluator,
    /// Platform analyst (national figures).
    Analyst,
    /// No token.
    Anonymous,
    /// The victim's own admin, with an expired token.
    Expired,
    /// An operator token signed with another key.
    WrongKey,
    /// An operator token for another audience.
    WrongAudience,
    /// Was operator and the victim's admin; deactivated with DeleteUser.
    Deactivated,
}

const EVERYONE: [Who; 9] = [
    Who::OtherAdmin,
    Who::OtherMember,
    Who::Evaluator,
    Who::Analyst,
    Who::Anonymous,
    Who::Expired,
    Who::WrongKey,
    Who::WrongAudience,
    Who::Deactivated,
];

/// Signed-in callers with a valid token and an active account.
const SIGNED_IN: [Who; 4] = [
    Who::OtherAdmin,
    Who::OtherMember,
    Who::Evaluator,
    Who::Analyst,
];

/// Signed-in callers and the public (no token).
const SIGNED_IN_OR_PUBLIC: [Who; 5] = [
    Who::OtherAdmin,
    Who::OtherMember,
    Who::Evaluator,
    Who::Analyst,
    Who::Anonymous,
];

/// One allowed (RPC, caller) pair. `sees_victim`: the answer may name the
/// victim tenant (otherwise the test also checks it does not).
struct Allow {
    method: &'static str,
    who: &'static [Who],
    sees_victim: bool,
    reason: &'static str,
}

const ALLOWED: &[Allow] = &[
    Allow {
        method: "tenancy.v1.UserService/CreateUser",
        who: &[Who::OtherAdmin],
        sees_victim: false,
        reason: "tenant admins invite colleagues: a user without platform roles or memberships",
    },
    Allow {
        method: "tenancy.v1.UserService/GetCaller",
        who: &SIGNED_IN,
        sees_victim: false,
        reason: "tells callers who they are themselves",
    },
    Allow {
        method: "tenancy.v1.TenantService/ListTenants",
        who: &[Who::OtherAdmin, Who::OtherMember, Who::Evaluator],
        sees_victim: false,
        reason: "lists only the caller's own tenants",
    },
    Allow {
        method: "tenancy.v1.TenantService/ListTenants",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read the municipality register (name, code, population, consent) for national analysis",
    },
    Allow {
        method: "tenancy.v1.TenantService/GetTenant",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read the municipality register (name, code, population, consent) for national analysis",
    },
    Allow {
        method: "assessment.v1.FrameworkService/GetFrameworkVersion",
        who: &SIGNED_IN,
        sees_victim: false,
        reason: "the method (framework) is the same for every municipality",
    },
    Allow {
        method: "assessment.v1.FrameworkService/ListFrameworkVersions",
        who: &SIGNED_IN_OR_PUBLIC,
        sees_victim: false,
        reason: "the method (framework) is the same for every municipality; the public gets areas only",
    },
    Allow {
        method: "assessment.v1.FrameworkService/ExportFrameworkVersion",
        who: &SIGNED_IN,
        sees_victim: false,
        reason: "the method (framework) is the same for every municipality",
    },
    Allow {
        method: "tenancy.v1.UserService/InviteUser",
        who: &[Who::OtherAdmin],
        sees_victim: false,
        reason: "a tenant admin may invite people without platform roles; an invitation names no tenant",
    },
    Allow {
        method: "reporting.v1.ReportingService/GetNationalComparison",
        who: &SIGNED_IN_OR_PUBLIC,
        sees_victim: false,
        reason: "names consenting tenants only; small groups withheld (item 3); the public's figures cover named results only",
    },
    Allow {
        method: "reporting.v1.ReportingService/ExportNationalComparison",
        who: &SIGNED_IN_OR_PUBLIC,
        sees_victim: false,
        reason: "the same figures as GetNationalComparison, typeset: named tenants only, small groups withheld; the public's cover named results only",
    },
    Allow {
        method: "reporting.v1.ReportingService/SearchGoodExamples",
        who: &[
            Who::OtherAdmin,
            Who::OtherMember,
            Who::Evaluator,
            Who::Analyst,
            Who::Anonymous,
        ],
        sees_victim: false,
        reason: "searches public (named) municipalities' published texts only",
    },
    Allow {
        method: "reporting.v1.ReportingService/ExportOpenData",
        who: &[
            Who::OtherAdmin,
            Who::OtherMember,
            Who::Evaluator,
            Who::Analyst,
            Who::Anonymous,
        ],
        sees_victim: false,
        reason: "public (named) municipalities' published results only",
    },
    Allow {
        method: "reporting.v1.ReportingService/GetEvaluationReport",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read every published report (national role)",
    },
    Allow {
        method: "reporting.v1.ReportingService/ExportEvaluationReport",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read every published report (national role)",
    },
    Allow {
        method: "reporting.v1.ReportingService/GetRadarProfile",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read every published report (national role)",
    },
    Allow {
        method: "reporting.v1.ReportingService/CompareEvaluations",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read every published report (national role)",
    },
    Allow {
        method: "reporting.v1.ReportingService/ListPublishedResults",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts see every published result (national role)",
    },
    Allow {
        method: "reporting.v1.ReportingService/ListKeyFigures",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "Kolada key figures are public statistics; analysts see all",
    },
    Allow {
        method: "assessment.v1.EvaluationService/VerifyPublication",
        who: &[Who::Analyst],
        sees_victim: true,
        reason: "analysts read every published result, so may check its seal",
    },
];

/// Sends and receives raw protobuf bytes, so any method can be called.
#[derive(Clone, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

/// Real resources of the victim the requests point at.
struct Victim {
    evaluation: String,
}

impl Victim {
    /// A value for one `{placeholder}` segment, by the collection before it.
    fn id_for(&self, collection: &str) -> String {
        match collection {
            "tenants" => VICTIM.into(),
            "evaluations" => self.evaluation.clone(),
            "users" | "memberships" => "anna".into(),
            "frameworks" => "kommunkompassen".into(),
            "versions" => "2015".into(),
            "scores" | "agreedScores" | "agreed-scores" | "questions" => "1.1".into(),
            "narratives" | "areas" => "1".into(),
            _ => "x1".into(),
        }
    }

    /// Fills a resource-name pattern such as `tenants/{tenant}/evaluations/{e}`.
    fn fill(&self, pattern: &str) -> String {
        let segs: Vec<&str> = pattern.split('/').collect();
        segs.iter()
            .enumerate()
            .map(|(i, s)| {
                if s.starts_with('{') {
                    self.id_for(if i > 0 { segs[i - 1] } else { "" })
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// A plausible value for a string field without a documented pattern.
    fn default_for(&self, field: &str) -> Option<String> {
        let eval = format!("tenants/{VICTIM}/evaluations/{}", self.evaluation);
        Some(match field {
            "parent" | "tenant" => format!("tenants/{VICTIM}"),
            "name" | "evaluation" | "base" | "target" => eval,
            "user" => "users/anna".into(),
            "framework_version" => "frameworks/kommunkompassen/versions/2015".into(),
            "query" => "strategi".into(),
            "digest" => "0".repeat(64),
            "language" => "sv".into(),
            _ => return None,
        })
    }
}

/// The first backticked resource pattern in a comment, if any.
fn pattern(comment: &str) -> Option<String> {
    comment
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|s| {
            s.starts_with("tenants/") || s.starts_with("users/") || s.starts_with("frameworks/")
        })
        .map(|s| s.trim().to_string())
}

struct Schema {
    messages: BTreeMap<String, DescriptorProto>,
    /// Leading comments of fields by (message, field name).
    comments: BTreeMap<(String, String), String>,
}

impl Schema {
    fn load() -> (Schema, Vec<(String, String)>) {
        let fds = FileDescriptorSet::decode(kompass_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut messages = BTreeMap::new();
        let mut comments = BTreeMap::new();
        let mut methods = vec![];
        for f in &fds.file {
            let pkg = f.package();
            let mut by_path: BTreeMap<Vec<i32>, String> = BTreeMap::new();
            if let Some(sci) = &f.source_code_info {
                for l in &sci.location {
                    if let Some(c) = &l.leading_comments {
                        by_path.insert(l.path.clone(), c.clone());
                    }
                }
            }
            for (mi, m) in f.message_type.iter().enumerate() {
                let full = format!(".{pkg}.{}", m.name());
                for (fi, fld) in m.field.iter().enumerate() {
                    if let Some(c) = by_path.get(&vec![4, mi as i32, 2, fi as i32]) {
                        comments.insert((full.clone(), fld.name().to_string()), c.clone());
                    }
                }
                messages.insert(full, m.clone());
            }
            for s in &f.service {
                for m in &s.method {
                    methods.push((
                        format!("/{pkg}.{}/{}", s.name(), m.name()),
                        m.input_type().to_string(),
                    ));
                }
            }
        }
        (Schema { messages, comments }, methods)
    }

    /// The name pattern of the resource a request is about, from the
    /// resource message's own `name` comment: `DeleteActivityRequest` →
    /// `Activity.name`.
    fn resource_pattern(&self, request_ty: &str) -> Option<String> {
        let (pkg, short) = request_ty.rsplit_once('.')?;
        let base = short.strip_suffix("Request")?;
        let verbs = [
            "Get",
            "List",
            "Create",
            "Update",
            "Delete",
            "Export",
            "Import",
            "Answer",
            "Accept",
            "Reopen",
            "Decide",
            "Transition",
            "Publish",
            "Verify",
            "Compare",
        ];
        let noun = verbs.iter().find_map(|v| base.strip_prefix(v))?;
        [noun.to_string(), noun.trim_end_matches('s').to_string()]
            .iter()
            .find_map(|n| {
                self.comments
                    .get(&(format!("{pkg}.{n}"), "name".to_string()))
                    .and_then(|c| pattern(c))
            })
    }

    /// A request of type `ty` with its resource names (and those of the
    /// messages it carries, one level down) pointing at the victim.
    fn request(&self, ty: &str, v: &Victim, depth: u8) -> Vec<u8> {
        let Some(m) = self.messages.get(ty) else {
            return vec![];
        };
        let mut out = vec![];
        for f in &m.field {
            if f.label() == Label::Repeated || f.oneof_index.is_some() && f.r#type() != Type::String
            {
                continue;
            }
            let key = (ty.to_string(), f.name().to_string());
            match f.r#type() {
                Type::String if f.name().ends_with("_id") => {
                    put_len(&mut out, f.number(), b"matrix-x1");
                }
                Type::String => {
                    let val = self
                        .comments
                        .get(&key)
                        .and_then(|c| pattern(c))
                        .or_else(|| {
                            (f.name() == "name")
                                .then(|| self.resource_pattern(ty))
                                .flatten()
                        })
                        .map(|p| v.fill(&p))
                        .or_else(|| v.default_for(f.name()));
                    if let Some(val) = val {
                        put_len(&mut out, f.number(), val.as_bytes());
                    }
                }
                Type::Message if f.type_name() == ".google.protobuf.FieldMask" => {
                    // Ask to change the first field of the resource in the request.
                    let path = m
                        .field
                        .iter()
                        .filter(|b| b.type_name().starts_with(".kompass."))
                        .find_map(|b| self.messages.get(b.type_name()))
                        .and_then(|b| b.field.iter().find(|x| x.name() != "name"))
                        .map(|x| x.name().to_string());
                    if let Some(p) = path {
                        let mut mask = vec![];
                        put_len(&mut mask, 1, p.as_bytes());
                        put_len(&mut out, f.number(), &mask);
                    }
                }
                Type::Message if depth == 0 && f.type_name().starts_with(".kompass.") => {
                    let sub = self.request(f.type_name(), v, depth + 1);
                    put_len(&mut out, f.number(), &sub);
                }
                _ => {}
            }
        }
        out
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_len(out: &mut Vec<u8>, field: i32, bytes: &[u8]) {
    put_varint(out, ((field as u64) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn service_of(path: &str) -> ServiceKind {
    match path.split('.').nth(1) {
        Some("tenancy") => ServiceKind::Tenancy,
        Some("assessment") => ServiceKind::Assessment,
        Some("projects") => ServiceKind::Projects,
        _ => ServiceKind::Reporting,
    }
}

#[tokio::test]
async fn every_rpc_refuses_strangers_unless_allowed() {
    let env = TestEnv::start().await;
    let op = env.token("operator", &["operator"]);
    env.onboard(VICTIM).await;
    env.onboard("vastra").await;
    env.member("anna", VICTIM, tpb::TenantRole::TenantAdmin)
        .await;
    env.member("vera", "vastra", tpb::TenantRole::TenantAdmin)
        .await;
    env.member("viktor", "vastra", tpb::TenantRole::Member)
        .await;
    env.member("dora", VICTIM, tpb::TenantRole::TenantAdmin)
        .await;
    kompass_tests::user(&env, "ulla", &[tpb::PlatformRole::Evaluator]).await;
    kompass_tests::user(&env, "alva", &[tpb::PlatformRole::Analyst]).await;
    let mut users = env.users().await;
    users
        .update_user(authed(
            &op,
            tpb::UpdateUserRequest {
                user: Some(tpb::User {
                    name: "users/dora".into(),
                    platform_roles: vec![tpb::PlatformRole::Operator as i32],
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["platform_roles".into()],
                }),
            },
        ))
        .await
        .unwrap();
    users
        .delete_user(authed(
            &op,
            tpb::DeleteUserRequest {
                name: "users/dora".into(),
            },
        ))
        .await
        .unwrap();
    // A published external evaluation of the victim, in the read model too.
    let mut csv = String::from("question,points\n");
    for (_, q) in kompass_frameworks::Framework::builtin().questions() {
        csv.push_str(&format!("{},{}\n", q.id, q.max_points));
    }
    let published = env
        .evaluations()
        .await
        .import_evaluation(authed(
            &op,
            apb::ImportEvaluationRequest {
                parent: format!("tenants/{VICTIM}"),
                title: "Kommunkompassen 2018".into(),
                kind: apb::EvaluationKind::External as i32,
                framework_version: "frameworks/kommunkompassen/versions/2015".into(),
                evaluation_date: "2018-05-01".into(),
                evaluator_names: vec!["Karin Lund".into()],
                csv: csv.into_bytes(),
                source: "Test fixture: invented results".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .name;
    let mut rep = env.reporting().await;
    for _ in 0..300 {
        let r = rep
            .get_evaluation_report(authed(
                &op,
                kompass_proto::reporting::v1::GetEvaluationReportRequest {
                    name: published.clone(),
                    language: String::new(),
                },
            ))
            .await;
        if r.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victim = Victim {
        evaluation: published.rsplit('/').next().unwrap().to_string(),
    };

    let tokens: BTreeMap<Who, Option<String>> = {
        let mint = |secret: &str, sub: &str, aud: &str, ttl: i64| {
            let mut c =
                kompass_auth::Claims::new("kompass", aud, sub, &[], Duration::from_secs(60));
            if ttl < 0 {
                c.exp = c.iat - 3600;
            }
            kompass_auth::mint_hs256(secret, &c)
        };
        BTreeMap::from([
            (Who::OtherAdmin, Some(env.token_only("vera", &[]))),
            (Who::OtherMember, Some(env.token_only("viktor", &[]))),
            (Who::Evaluator, Some(env.token_only("ulla", &[]))),
            (Who::Analyst, Some(env.token_only("alva", &[]))),
            (Who::Anonymous, None),
            (Who::Expired, Some(mint(SECRET, "anna", "kompass", -1))),
            (
                Who::WrongKey,
                Some(mint(
                    "another-secret-of-at-least-32-bytes!",
                    "operator",
                    "kompass",
                    60,
                )),
            ),
            (
                Who::WrongAudience,
                Some(mint(SECRET, "operator", "elsewhere", 60)),
            ),
            (Who::Deactivated, Some(env.token_only("dora", &[]))),
        ])
    };

    let (schema, methods) = Schema::load();
    assert!(methods.len() > 80, "only {} methods found", methods.len());
    let allowed = |m: &str, w: Who| {
        ALLOWED
            .iter()
            .find(|a| m.ends_with(&format!("kompass.{}", a.method)) && a.who.contains(&w))
    };
    // Every allow-list row names a real method.
    for a in ALLOWED {
        assert!(
            methods
                .iter()
                .any(|(m, _)| m.ends_with(&format!("kompass.{}", a.method))),
            "ALLOWED names {} which does not exist",
            a.method
        );
        assert!(!a.reason.is_empty());
    }
    let mut channels = BTreeMap::new();
    for k in ServiceKind::ALL {
        channels.insert(k, env.channel(k).await);
    }
    let mut failures = vec![];
    let mut calls = 0;
    for (path, input) in &methods {
        let body = schema.request(input, &victim, 0);
        for who in EVERYONE {
            let ch = channels[&service_of(path)].clone();
            let mut grpc = tonic::client::Grpc::new(ch);
            grpc.ready().await.unwrap();
            let mut req = tonic::Request::new(body.clone());
            if let Some(t) = &tokens[&who] {
                req.metadata_mut()
                    .insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            let res = grpc.unary(req, path.parse().unwrap(), Raw).await;
            calls += 1;
            let allow = allowed(path, who);
            match (res, allow) {
                (Err(s), _)
                    if matches!(
                        s.code(),
                        Code::Unauthenticated | Code::PermissionDenied | Code::NotFound
                    ) => {}
                (Ok(r), Some(a)) => {
                    let bytes = r.into_inner();
                    if !a.sees_victim
                        && bytes
                            .windows(VICTIM.len() + 8)
                            .any(|w| w == format!("tenants/{VICTIM}").as_bytes())
                    {
                        failures.push(format!(
                            "{path} as {who:?}: allowed ({}) but the answer names {VICTIM}",
                            a.reason
                        ));
                    }
                }
                // An allowed caller may also be refused or find the request
                // invalid: only data for strangers is a failure.
                (Err(_), Some(_)) => {}
                (Ok(_), None) => failures.push(format!("{path} as {who:?}: answered with data")),
                (Err(s), None) => failures.push(format!(
                    "{path} as {who:?}: {:?} {:?} (expected UNAUTHENTICATED, PERMISSION_DENIED or NOT_FOUND)",
                    s.code(),
                    s.message()
                )),
            }
        }
    }
    // Control, after the matrix (it changes things): the generated requests
    // point at real resources, so the operator gets answers where strangers
    // were refused.
    let mut operator_ok = vec![];
    for (path, input) in &methods {
        let mut grpc = tonic::client::Grpc::new(channels[&service_of(path)].clone());
        grpc.ready().await.unwrap();
        let req = authed(&op, schema.request(input, &victim, 0));
        if grpc.unary(req, path.parse().unwrap(), Raw).await.is_ok() {
            operator_ok.push(path.rsplit('/').next().unwrap().to_string());
        }
    }
    for m in [
        "GetTenant",
        "GetUser",
        "ListMemberships",
        "GetEvaluation",
        "ListEvaluations",
        "GetTotals",
        "ListAuditEvents",
        "ListNarratives",
        "GetEvaluationReport",
        "GetRadarProfile",
        "VerifyPublication",
        "ListProjects",
    ] {
        assert!(operator_ok.iter().any(|x| x == m), "{m}: {operator_ok:?}");
    }
    assert!(calls >= methods.len() * EVERYONE.len());
    assert!(
        failures.is_empty(),
        "{} of {calls} calls were not refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
    env.cleanup().await;
}

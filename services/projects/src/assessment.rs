//! The assessment service over gRPC: checks that what a project addresses
//! exists in a PUBLISHED evaluation of the same tenant. The caller's own
//! bearer token is forwarded, so the assessment service applies its own
//! access rules to what the caller may see.

use std::collections::{BTreeMap, BTreeSet};

use kompass_core::{Error, Msg, TenantId};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::assessment::v1::narrative_service_client::NarrativeServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::model::Link;

#[derive(Clone)]
pub struct AssessmentApi {
    channel: Option<Channel>,
    url: String,
}

/// What is forwarded from the incoming request.
#[derive(Clone, Default)]
pub struct Forward {
    authorization: Option<AsciiMetadataValue>,
    language: Option<AsciiMetadataValue>,
}

impl Forward {
    pub fn from(md: &MetadataMap) -> Forward {
        Forward {
            authorization: md.get("authorization").cloned(),
            language: md.get("accept-language").cloned(),
        }
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(a) = &self.authorization {
            r.metadata_mut().insert("authorization", a.clone());
        }
        if let Some(l) = &self.language {
            r.metadata_mut().insert("accept-language", l.clone());
        }
        r
    }
}

fn unavailable(url: &str, s: &Status) -> Error {
    tracing::warn!(url, code = ?s.code(), message = s.message(), "assessment service call failed");
    Error::Unavailable(Msg::new(
        "the assessment service cannot be reached right now; try again shortly",
        "utvärderingstjänsten går inte att nå just nu; försök igen om en stund",
    ))
}

/// The assessment service's answer about something the request refers to:
/// unknown → INVALID_ARGUMENT, not visible to the caller → NOT_FOUND.
fn refused(url: &str, s: Status, name: &str) -> Error {
    match s.code() {
        Code::NotFound | Code::InvalidArgument => Error::InvalidArgument(Msg::new(
            format!("{name} does not exist in the assessment service"),
            format!("{name} finns inte i utvärderingstjänsten"),
        )),
        Code::PermissionDenied => foreign(name),
        Code::Unauthenticated => Error::unauthenticated(
            "this call needs a bearer token",
            "anropet kräver en bearer-token",
        ),
        _ => unavailable(url, &s),
    }
}

fn foreign(name: &str) -> Error {
    Error::NotFound(Msg::new(
        format!("{name} was not found among this municipality's evaluations"),
        format!("{name} finns inte bland kommunens utvärderingar"),
    ))
}

impl AssessmentApi {
    /// A lazily connecting client; a malformed URL gives UNAVAILABLE on use.
    pub fn new(url: &str) -> AssessmentApi {
        let channel = match Channel::from_shared(url.to_string()) {
            Ok(e) => Some(e.connect_lazy()),
            Err(e) => {
                tracing::error!(url, error = %e, "assessment service URL is not valid");
                None
            }
        };
        AssessmentApi {
            channel,
            url: url.into(),
        }
    }

    fn channel(&self) -> Result<Channel, Error> {
        self.channel.clone().ok_or_else(|| {
            Error::Unavailable(Msg::new(
                "the assessment service is not configured correctly",
                "utvärderingstjänsten är inte rätt konfigurerad",
            ))
        })
    }

    /// The evaluation, which must belong to `tenant` and be PUBLISHED.
    pub async fn published_evaluation(
        &self,
        fwd: &Forward,
        tenant: &TenantId,
        name: &str,
    ) -> Result<apb::Evaluation, Error> {
        let (t, _) = kompass_core::names::tenant_child(name, "evaluations")?;
        if &t != tenant {
            return Err(foreign(name));
        }
        let ev = EvaluationServiceClient::new(self.channel()?)
            .get_evaluation(fwd.req(apb::GetEvaluationRequest { name: name.into() }))
            .await
            .map_err(|s| refused(&self.url, s, name))?
            .into_inner();
        let state = ev.state();
        if state != apb::evaluation::State::Published {
            let label = state.as_str_name().trim_start_matches("STATE_").to_string();
            return Err(Error::FailedPrecondition(Msg::new(
                format!(
                    "evaluation {name} is {label}: projects can address only PUBLISHED evaluations"
                ),
                format!(
                    "utvärderingen {name} är {label}: projekt kan bara avse publicerade (PUBLISHED) utvärderingar"
                ),
            )));
        }
        Ok(ev)
    }

    /// Checks every link; the first faulty one decides the error.
    pub async fn check_links(
        &self,
        fwd: &Forward,
        tenant: &TenantId,
        links: &[Link],
    ) -> Result<(), Error> {
        for l in links {
            if l.tenant() != tenant.as_str() {
                return Err(foreign(l.name()));
            }
        }
        let mut evaluations: BTreeMap<&str, apb::Evaluation> = BTreeMap::new();
        for l in links {
            if !evaluations.contains_key(l.evaluation()) {
                let ev = self
                    .published_evaluation(fwd, tenant, l.evaluation())
                    .await?;
                evaluations.insert(l.evaluation(), ev);
            }
        }
        let mut questions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for l in links {
            match l {
                Link::Opportunity { name, .. } => {
                    NarrativeServiceClient::new(self.channel()?)
                        .get_improvement_opportunity(
                            fwd.req(apb::GetImprovementOpportunityRequest { name: name.clone() }),
                        )
                        .await
                        .map_err(|s| refused(&self.url, s, name))?;
                }
                Link::Question {
                    evaluation,
                    question,
                    name,
                    ..
                } => {
                    let fw = evaluations[evaluation.as_str()].framework_version.clone();
                    if !questions.contains_key(&fw) {
                        let v = FrameworkServiceClient::new(self.channel()?)
                            .get_framework_version(
                                fwd.req(apb::GetFrameworkVersionRequest { name: fw.clone() }),
                            )
                            .await
                            .map_err(|s| refused(&self.url, s, &fw))?
                            .into_inner();
                        let ids = v
                            .areas
                            .iter()
                            .flat_map(|a| a.questions.iter().map(|q| q.id.clone()))
                            .collect();
                        questions.insert(fw.clone(), ids);
                    }
                    if !questions[&fw].contains(question) {
                        return Err(Error::InvalidArgument(Msg::new(
                            format!("{name}: question {question} is not in framework {fw}"),
                            format!("{name}: frågan {question} finns inte i ramverket {fw}"),
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every improvement opportunity of a published evaluation of `tenant`.
    pub async fn opportunities(
        &self,
        fwd: &Forward,
        tenant: &TenantId,
        evaluation: &str,
    ) -> Result<Vec<apb::ImprovementOpportunity>, Error> {
        self.published_evaluation(fwd, tenant, evaluation).await?;
        let mut client = NarrativeServiceClient::new(self.channel()?);
        let mut out = vec![];
        let mut token = String::new();
        loop {
            let page = client
                .list_improvement_opportunities(fwd.req(apb::ListImprovementOpportunitiesRequest {
                    parent: evaluation.into(),
                    page_size: 1000,
                    page_token: token,
                    area: String::new(),
                }))
                .await
                .map_err(|s| refused(&self.url, s, evaluation))?
                .into_inner();
            out.extend(page.improvement_opportunities);
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }
}

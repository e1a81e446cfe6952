//! The assessment service over gRPC: checks that what a project addresses
//! exists in a PUBLISHED evaluation of the same tenant. The caller's own
//! bearer token is forwarded, so the assessment service applies its own
//! access rules to what the caller may see.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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

/// The longest a call to the assessment service may take when the caller
/// set no deadline of its own (the servers stop any call after 60 s).
const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// What is forwarded from the incoming request: the caller's token, language
/// and deadline, so a call the caller has given up on stops downstream too.
#[derive(Clone)]
pub struct Forward {
    authorization: Option<AsciiMetadataValue>,
    language: Option<AsciiMetadataValue>,
    deadline: Instant,
}

/// A `grpc-timeout` value (`<digits><unit>`, units H M S m u n).
pub fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl Forward {
    pub fn from(md: &MetadataMap) -> Forward {
        let timeout = md
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(DEFAULT_DEADLINE, |t| t.min(DEFAULT_DEADLINE));
        Forward {
            authorization: md.get("authorization").cloned(),
            language: md.get("accept-language").cloned(),
            deadline: Instant::now() + timeout,
        }
    }

    /// What is left of the caller's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        // Zero would mean "no deadline" to some servers; one millisecond
        // fails at once, as the caller's expired deadline should.
        r.set_timeout(self.remaining().max(Duration::from_millis(1)));
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
    if matches!(s.code(), Code::DeadlineExceeded | Code::Cancelled) {
        return Error::Unavailable(Msg::new(
            "the assessment service did not answer in time; nothing was changed, try again shortly",
            "utvärderingstjänsten svarade inte i tid; inget ändrades, försök igen om en stund",
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_nonsense_does_not() {
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
        for bad in ["", "S", "12", "1x", "-1S", "1234567890S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    fn outgoing_timeout<T>(r: &tonic::Request<T>) -> Duration {
        parse_grpc_timeout(r.metadata().get("grpc-timeout").unwrap().to_str().unwrap()).unwrap()
    }

    #[test]
    fn the_callers_deadline_travels_on_and_is_capped() {
        let mut md = MetadataMap::new();
        md.insert("grpc-timeout", "500m".parse().unwrap());
        md.insert("authorization", "Bearer x".parse().unwrap());
        let fwd = Forward::from(&md);
        let r = fwd.req(());
        let t = outgoing_timeout(&r);
        assert!(
            t <= Duration::from_millis(500) && t > Duration::from_millis(400),
            "{t:?}"
        );
        assert_eq!(r.metadata().get("authorization").unwrap(), "Bearer x");

        // No deadline, or a longer one than ours: the service's own bound.
        let t = outgoing_timeout(&Forward::from(&MetadataMap::new()).req(()));
        assert!(t <= DEFAULT_DEADLINE && t > DEFAULT_DEADLINE - Duration::from_secs(1));
        let mut md = MetadataMap::new();
        md.insert("grpc-timeout", "5M".parse().unwrap());
        assert!(outgoing_timeout(&Forward::from(&md).req(())) <= DEFAULT_DEADLINE);
    }

    #[test]
    fn an_expired_deadline_fails_the_next_call_at_once() {
        let mut md = MetadataMap::new();
        md.insert("grpc-timeout", "1n".parse().unwrap());
        let fwd = Forward::from(&md);
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(fwd.remaining(), Duration::ZERO);
        assert!(outgoing_timeout(&fwd.req(())) <= Duration::from_millis(1));
    }
}

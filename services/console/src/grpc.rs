//! Calls to the services on the reader's behalf: their token (if signed in)
//! and their language on every request.

use kompass_proto::assessment::v1::evaluation_service_client::EvaluationServiceClient;
use kompass_proto::assessment::v1::framework_service_client::FrameworkServiceClient;
use kompass_proto::reporting::v1::reporting_service_client::ReportingServiceClient;
use kompass_proto::tenancy::v1::tenant_service_client::TenantServiceClient;
use kompass_proto::tenancy::v1::user_service_client::UserServiceClient;
use tonic::transport::Channel;

use crate::Console;
use crate::pages::Page;

impl Page {
    /// `msg` with the reader's token and language.
    pub fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        if let Some(u) = &self.user
            && let Ok(v) = format!("Bearer {}", u.token).parse()
        {
            r.metadata_mut().insert("authorization", v);
        }
        r.metadata_mut().insert(
            "accept-language",
            tonic::metadata::MetadataValue::from_static(self.t.0.service_language()),
        );
        r
    }
}

impl Console {
    pub fn reporting(&self) -> ReportingServiceClient<Channel> {
        // Reports and exports can be large (PDF); the default 4 MiB limit is too tight.
        ReportingServiceClient::new(self.reporting.clone()).max_decoding_message_size(64 << 20)
    }
    pub fn evaluations(&self) -> EvaluationServiceClient<Channel> {
        EvaluationServiceClient::new(self.assessment.clone())
    }
    pub fn frameworks(&self) -> FrameworkServiceClient<Channel> {
        FrameworkServiceClient::new(self.assessment.clone())
    }
    pub fn tenants(&self) -> TenantServiceClient<Channel> {
        TenantServiceClient::new(self.tenancy.clone())
    }
    pub fn users(&self) -> UserServiceClient<Channel> {
        UserServiceClient::new(self.tenancy.clone())
    }
}

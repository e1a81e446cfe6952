//! Proto ↔ domain. Validation happens here, at the edge.

use kompass_auth::{PlatformRole, TenantRole};
use kompass_catalog::{TenantRow, TenantState, UserRow};
use kompass_core::{Error, TenantId, UserId, names};
use kompass_proto::tenancy::v1 as pb;

pub fn ts(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Country {
    Se,
    No,
    Dk,
    Fi,
}

impl Country {
    pub fn as_str(self) -> &'static str {
        match self {
            Country::Se => "SE",
            Country::No => "NO",
            Country::Dk => "DK",
            Country::Fi => "FI",
        }
    }
    fn code_digits(self) -> usize {
        match self {
            Country::Se | Country::No => 4,
            Country::Dk | Country::Fi => 3,
        }
    }
    fn to_pb(s: &str) -> pb::Country {
        match s {
            "SE" => pb::Country::Se,
            "NO" => pb::Country::No,
            "DK" => pb::Country::Dk,
            "FI" => pb::Country::Fi,
            _ => pb::Country::Unspecified,
        }
    }
}

/// A validated onboarding request.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub display_name: String,
    pub country: Country,
    pub municipality_code: String,
    pub population: i64,
    pub named_in_comparisons: bool,
    pub server: Option<String>,
}

pub fn display_name(s: &str) -> Result<String, Error> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > 200 {
        return Err(Error::invalid(
            "display_name is required and at most 200 characters",
            "visningsnamn krävs och får vara högst 200 tecken",
        ));
    }
    Ok(s.to_string())
}

pub fn population(p: i64) -> Result<i64, Error> {
    if p < 0 {
        return Err(Error::invalid(
            "population must not be negative",
            "invånarantalet får inte vara negativt",
        ));
    }
    Ok(p)
}

pub fn municipality_code(country: Country, code: &str) -> Result<String, Error> {
    let n = country.code_digits();
    if code.len() != n || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid(
            format!(
                "municipality_code {code:?} is not valid for {}: use the official {n}-digit code",
                country.as_str()
            ),
            format!(
                "kommunkoden {code:?} är inte giltig för {}: ange den officiella koden med {n} siffror",
                country.as_str()
            ),
        ));
    }
    Ok(code.to_string())
}

impl TryFrom<pb::CreateTenantRequest> for NewTenant {
    type Error = Error;
    fn try_from(r: pb::CreateTenantRequest) -> Result<Self, Error> {
        let id = TenantId::parse(&r.tenant_id)?;
        let t = r
            .tenant
            .ok_or_else(|| Error::invalid("tenant is required", "tenant krävs"))?;
        let country = match pb::Country::try_from(t.country).unwrap_or(pb::Country::Unspecified) {
            pb::Country::Se => Country::Se,
            pb::Country::No => Country::No,
            pb::Country::Dk => Country::Dk,
            pb::Country::Fi => Country::Fi,
            pb::Country::Unspecified => {
                return Err(Error::invalid(
                    "country is required: SE, NO, DK or FI",
                    "land krävs: SE, NO, DK eller FI",
                ));
            }
        };
        Ok(NewTenant {
            id,
            display_name: display_name(&t.display_name)?,
            municipality_code: municipality_code(country, &t.municipality_code)?,
            country,
            population: population(t.population)?,
            named_in_comparisons: t.named_in_comparisons,
            server: (!r.database_server.is_empty()).then_some(r.database_server),
        })
    }
}

pub fn tenant_to_pb(t: TenantRow) -> pb::Tenant {
    let state = match TenantState::parse(&t.state) {
        TenantState::Provisioning => pb::tenant::State::Provisioning,
        TenantState::Active => pb::tenant::State::Active,
        TenantState::Suspended => pb::tenant::State::Suspended,
    };
    pb::Tenant {
        name: format!("tenants/{}", t.id),
        display_name: t.display_name,
        country: Country::to_pb(&t.country) as i32,
        municipality_code: t.municipality_code,
        population: t.population,
        state: state as i32,
        database_server: t.database_server,
        named_in_comparisons: t.named_in_comparisons,
        create_time: Some(ts(t.created_at)),
        update_time: Some(ts(t.updated_at)),
    }
}

pub fn platform_role_from_pb(r: i32) -> Result<PlatformRole, Error> {
    match pb::PlatformRole::try_from(r) {
        Ok(pb::PlatformRole::Operator) => Ok(PlatformRole::Operator),
        Ok(pb::PlatformRole::Evaluator) => Ok(PlatformRole::Evaluator),
        Ok(pb::PlatformRole::Analyst) => Ok(PlatformRole::Analyst),
        _ => Err(Error::invalid(
            format!("platform role {r} is not valid: use OPERATOR, EVALUATOR or ANALYST"),
            format!("plattformsrollen {r} är ogiltig: använd OPERATOR, EVALUATOR eller ANALYST"),
        )),
    }
}

pub fn platform_role_to_pb(r: PlatformRole) -> pb::PlatformRole {
    match r {
        PlatformRole::Operator => pb::PlatformRole::Operator,
        PlatformRole::Evaluator => pb::PlatformRole::Evaluator,
        PlatformRole::Analyst => pb::PlatformRole::Analyst,
    }
}

pub fn tenant_role_from_pb(r: i32) -> Result<TenantRole, Error> {
    match pb::TenantRole::try_from(r) {
        Ok(pb::TenantRole::TenantAdmin) => Ok(TenantRole::TenantAdmin),
        Ok(pb::TenantRole::Member) => Ok(TenantRole::Member),
        _ => Err(Error::invalid(
            "membership role is required: TENANT_ADMIN or MEMBER",
            "roll krävs: TENANT_ADMIN eller MEMBER",
        )),
    }
}

pub fn tenant_role_to_pb(r: TenantRole) -> pb::TenantRole {
    match r {
        TenantRole::TenantAdmin => pb::TenantRole::TenantAdmin,
        TenantRole::Member => pb::TenantRole::Member,
    }
}

pub fn parse_roles(s: &str) -> Vec<PlatformRole> {
    s.split(',').filter_map(PlatformRole::parse).collect()
}

pub fn join_roles(r: &[PlatformRole]) -> String {
    let mut v: Vec<&str> = r.iter().map(|r| r.as_str()).collect();
    v.sort();
    v.dedup();
    v.join(",")
}

pub fn user_to_pb(u: UserRow) -> pb::User {
    pb::User {
        name: format!("users/{}", u.id),
        email: u.email,
        display_name: u.display_name,
        platform_roles: parse_roles(&u.platform_roles)
            .into_iter()
            .map(|r| platform_role_to_pb(r) as i32)
            .collect(),
        language: u.language,
        create_time: Some(ts(u.created_at)),
        delete_time: u.delete_time.map(ts),
    }
}

pub fn email(s: &str) -> Result<String, Error> {
    let s = s.trim();
    let ok = s.len() <= 254
        && s.split_once('@')
            .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !s.contains(' '));
    if !ok {
        return Err(Error::invalid(
            format!("email {s:?} is not a valid address"),
            format!("e-postadressen {s:?} är ogiltig"),
        ));
    }
    Ok(s.to_string())
}

pub fn language(s: &str) -> Result<String, Error> {
    match s {
        "" => Ok("sv".into()),
        "sv" | "en" => Ok(s.into()),
        _ => Err(Error::invalid(
            "language must be \"sv\" or \"en\"",
            "språk måste vara \"sv\" eller \"en\"",
        )),
    }
}

pub fn membership_name(t: &TenantId, u: &UserId) -> String {
    format!("{}/memberships/{u}", names::tenant_name(t))
}

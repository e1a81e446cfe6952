//! Operator commands: thin gRPC clients of the tenancy service.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use kompass_config::{Config, ServiceKind};
use kompass_proto::tenancy::v1 as pb;
use pb::tenant_service_client::TenantServiceClient;
use pb::user_service_client::UserServiceClient;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

#[derive(Args)]
pub struct Conn {
    /// Tenancy service address (default: from configuration).
    #[arg(long, global = true)]
    addr: Option<String>,
    /// Bearer token (also KOMPASS_TOKEN). In embedded mode an operator token
    /// is minted with the dev secret when none is given.
    #[arg(long, global = true, env = "KOMPASS_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(Subcommand)]
pub enum TenantCmd {
    /// Onboards a municipality: creates and migrates its database.
    Create {
        id: String,
        #[arg(long)]
        name: String,
        /// SE, NO, DK or FI.
        #[arg(long)]
        country: String,
        /// Official municipality code.
        #[arg(long)]
        code: String,
        #[arg(long, default_value_t = 0)]
        population: i64,
        /// Agrees to be named in national comparisons.
        #[arg(long)]
        named: bool,
        /// Database server to place it on (default: least used).
        #[arg(long)]
        server: Option<String>,
    },
    /// Onboards every municipality in a CSV file (a national rollout),
    /// a few at a time. The first line names the columns: id, name,
    /// country, code (required), population, named, server (optional).
    /// Every row is checked before any is created; existing tenants are
    /// reported and left as they are.
    Import {
        file: std::path::PathBuf,
        /// Onboardings in flight at once.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    List,
    Show {
        id: String,
    },
    Suspend {
        id: String,
    },
    Resume {
        id: String,
    },
}

#[derive(Subcommand)]
pub enum UserCmd {
    Create {
        id: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Platform roles: operator, evaluator, analyst.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Invites a person by e-mail; their first sign-in with that verified
    /// e-mail links the identity to the new user.
    Invite {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// User id; default: made from the e-mail.
        #[arg(long)]
        id: Option<String>,
        /// Platform roles: operator, evaluator, analyst.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    List {
        /// Also list deactivated users.
        #[arg(long)]
        all: bool,
    },
    Show {
        id: String,
    },
    /// Sets a user's platform roles (no --role: none); applies to the
    /// user's next request.
    Roles {
        id: String,
        /// Platform roles: operator, evaluator, analyst.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Deactivates a user: every later request with their tokens is refused;
    /// the user stays in audit trails.
    Delete {
        id: String,
    },
    /// Grants a user a role in a tenant.
    Grant {
        id: String,
        #[arg(long)]
        tenant: String,
        /// tenant_admin or member.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Removes a user's membership of a tenant.
    Revoke {
        id: String,
        #[arg(long)]
        tenant: String,
    },
}

/// A user to create or invite, from the command's arguments.
fn new_user(email: String, display_name: String, roles: &[String]) -> anyhow::Result<pb::User> {
    Ok(pb::User {
        email,
        display_name,
        platform_roles: platform_roles(roles)?,
        ..Default::default()
    })
}

fn platform_roles(roles: &[String]) -> anyhow::Result<Vec<i32>> {
    roles
        .iter()
        .map(|r| {
            pb::PlatformRole::from_str_name(&format!("PLATFORM_ROLE_{}", r.to_uppercase()))
                .map(|r| r as i32)
                .with_context(|| format!("unknown role {r:?}: use operator, evaluator or analyst"))
        })
        .collect()
}

struct Client {
    channel: Channel,
    token: MetadataValue<tonic::metadata::Ascii>,
}

impl Client {
    async fn connect(cfg: &Config, conn: Conn) -> anyhow::Result<Client> {
        let addr = conn
            .addr
            .unwrap_or_else(|| cfg.service_url(ServiceKind::Tenancy));
        let token = match conn.token {
            Some(t) => t,
            None => {
                let secret = match &cfg.auth.jwt_secret {
                    Some(s) => s.clone(),
                    None if cfg.is_embedded() => kompass_serve::dev_secret(&cfg.database.data_dir)?,
                    None => bail!("give --token or KOMPASS_TOKEN"),
                };
                let claims = kompass_auth::Claims::new(
                    &cfg.auth.issuer,
                    &cfg.auth.audience,
                    "operator",
                    &["operator"],
                    Duration::from_secs(300),
                );
                kompass_auth::mint_hs256(&secret, &claims)
            }
        };
        let channel = Channel::from_shared(addr.clone())?
            .connect()
            .await
            .with_context(|| format!("cannot reach the tenancy service at {addr}"))?;
        Ok(Client {
            channel,
            token: format!("Bearer {token}").parse()?,
        })
    }

    fn req<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut().insert("authorization", self.token.clone());
        r
    }
}

fn print_tenant(t: &pb::Tenant) {
    println!(
        "{:<24} {:<28} {} {:>5} pop {:>8} {:?} on {}",
        t.name,
        t.display_name,
        pb::Country::try_from(t.country)
            .map(|c| c.as_str_name())
            .unwrap_or("?"),
        t.municipality_code,
        t.population,
        pb::tenant::State::try_from(t.state).unwrap_or_default(),
        t.database_server
    );
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", e.code(), e.message())
}

pub async fn tenant(cfg: &Config, conn: Conn, cmd: TenantCmd) -> anyhow::Result<()> {
    let c = Client::connect(cfg, conn).await?;
    let mut api = TenantServiceClient::new(c.channel.clone());
    match cmd {
        TenantCmd::Create {
            id,
            name,
            country,
            code,
            population,
            named,
            server,
        } => {
            let country =
                pb::Country::from_str_name(&format!("COUNTRY_{}", country.to_uppercase()))
                    .context("country must be SE, NO, DK or FI")?;
            let t = api
                .create_tenant(c.req(pb::CreateTenantRequest {
                    tenant_id: id,
                    tenant: Some(pb::Tenant {
                        display_name: name,
                        country: country as i32,
                        municipality_code: code,
                        population,
                        named_in_comparisons: named,
                        ..Default::default()
                    }),
                    database_server: server.unwrap_or_default(),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_tenant(&t);
        }
        TenantCmd::Import { file, concurrency } => {
            let token = c.token.clone();
            let auth = move |msg: pb::CreateTenantRequest| {
                let mut r = tonic::Request::new(msg);
                r.metadata_mut().insert("authorization", token.clone());
                r
            };
            let token = c.token.clone();
            let auth_get = move |msg: pb::GetTenantRequest| {
                let mut r = tonic::Request::new(msg);
                r.metadata_mut().insert("authorization", token.clone());
                r
            };
            crate::import::run(c.channel.clone(), auth, auth_get, &file, concurrency).await?;
        }
        TenantCmd::List => {
            let mut token = String::new();
            loop {
                let r = api
                    .list_tenants(c.req(pb::ListTenantsRequest {
                        page_size: 500,
                        page_token: token,
                    }))
                    .await
                    .map_err(status)?
                    .into_inner();
                r.tenants.iter().for_each(print_tenant);
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
        }
        TenantCmd::Show { id } => {
            let t = api
                .get_tenant(c.req(pb::GetTenantRequest {
                    name: format!("tenants/{id}"),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_tenant(&t);
        }
        TenantCmd::Suspend { id } => {
            let t = api
                .suspend_tenant(c.req(pb::SuspendTenantRequest {
                    name: format!("tenants/{id}"),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_tenant(&t);
        }
        TenantCmd::Resume { id } => {
            let t = api
                .resume_tenant(c.req(pb::ResumeTenantRequest {
                    name: format!("tenants/{id}"),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_tenant(&t);
        }
    }
    Ok(())
}

fn print_user(u: &pb::User) {
    let roles: Vec<&str> = u
        .platform_roles
        .iter()
        .filter_map(|r| pb::PlatformRole::try_from(*r).ok())
        .map(|r| r.as_str_name().trim_start_matches("PLATFORM_ROLE_"))
        .collect();
    println!(
        "{:<24} {:<28} {:<32} {}",
        u.name,
        u.display_name,
        u.email,
        roles.join(",")
    );
}

pub async fn user(cfg: &Config, conn: Conn, cmd: UserCmd) -> anyhow::Result<()> {
    let c = Client::connect(cfg, conn).await?;
    let mut api = UserServiceClient::new(c.channel.clone());
    match cmd {
        UserCmd::Create {
            id,
            email,
            name,
            roles,
        } => {
            let u = api
                .create_user(c.req(pb::CreateUserRequest {
                    user_id: id,
                    user: Some(new_user(email, name, &roles)?),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_user(&u);
        }
        UserCmd::Roles { id, roles } => {
            let u = api
                .update_user(c.req(pb::UpdateUserRequest {
                    user: Some(pb::User {
                        name: format!("users/{id}"),
                        platform_roles: platform_roles(&roles)?,
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["platform_roles".into()],
                    }),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_user(&u);
        }
        UserCmd::Delete { id } => {
            let u = api
                .delete_user(c.req(pb::DeleteUserRequest {
                    name: format!("users/{id}"),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_user(&u);
        }
        UserCmd::Invite {
            email,
            name,
            id,
            roles,
        } => {
            let r = api
                .invite_user(c.req(pb::InviteUserRequest {
                    user_id: id.unwrap_or_default(),
                    user: Some(new_user(email, name, &roles)?),
                }))
                .await
                .map_err(status)?
                .into_inner();
            if let Some(u) = &r.user {
                print_user(u);
            }
            if let Some(t) = r.expire_time {
                println!("invitation open until {t}");
            }
        }
        UserCmd::List { all } => {
            let mut token = String::new();
            loop {
                let r = api
                    .list_users(c.req(pb::ListUsersRequest {
                        page_size: 500,
                        page_token: token,
                        show_deleted: all,
                    }))
                    .await
                    .map_err(status)?
                    .into_inner();
                r.users.iter().for_each(print_user);
                if r.next_page_token.is_empty() {
                    break;
                }
                token = r.next_page_token;
            }
        }
        UserCmd::Show { id } => {
            let u = api
                .get_user(c.req(pb::GetUserRequest {
                    name: format!("users/{id}"),
                }))
                .await
                .map_err(status)?
                .into_inner();
            print_user(&u);
        }
        UserCmd::Grant { id, tenant, role } => {
            let role =
                pb::TenantRole::from_str_name(&format!("TENANT_ROLE_{}", role.to_uppercase()))
                    .context("role must be tenant_admin or member")?;
            let m = api
                .create_membership(c.req(pb::CreateMembershipRequest {
                    parent: format!("tenants/{tenant}"),
                    membership: Some(pb::Membership {
                        user: format!("users/{id}"),
                        role: role as i32,
                        ..Default::default()
                    }),
                }))
                .await
                .map_err(status)?
                .into_inner();
            println!(
                "{} {:?}",
                m.name,
                pb::TenantRole::try_from(m.role).unwrap_or_default()
            );
        }
        UserCmd::Revoke { id, tenant } => {
            api.delete_membership(c.req(pb::DeleteMembershipRequest {
                name: format!("tenants/{tenant}/memberships/{id}"),
            }))
            .await
            .map_err(status)?;
            println!("removed {id} from {tenant}");
        }
    }
    Ok(())
}

//! The demo `kompass dev` starts with: two municipalities, their admins, an
//! operator, an evaluator and an analyst. Running it again changes nothing.

use chrono::Utc;
use kompass_catalog::Catalog;
use kompass_catalog::entity::{membership, user};
use kompass_core::{Error, TenantId, UserId};
use kompass_tenant_db::TenantDbs;
use sea_orm::{ActiveValue::Set, EntityTrait};

use crate::convert::{Country, NewTenant};
use crate::onboarding;

/// (id, display name, platform roles, tenant administered)
pub type SeedUser<'a> = (&'a str, &'a str, &'a [&'a str], Option<&'a str>);

pub async fn demo(
    catalog: &Catalog,
    dbs: &TenantDbs,
    prefix: &str,
    users: &[SeedUser<'_>],
) -> Result<(), Error> {
    for (id, name, code, pop) in [
        ("ostra", "Östra kommun", "9901", 42_000),
        ("vastra", "Västra kommun", "9902", 18_500),
    ] {
        onboarding::onboard(
            catalog,
            dbs,
            prefix,
            NewTenant {
                id: TenantId::parse(id)?,
                display_name: name.into(),
                country: Country::Se,
                municipality_code: code.into(),
                population: pop,
                named_in_comparisons: true,
                server: None,
            },
        )
        .await?;
    }
    for (id, name, roles, admin_of) in users {
        let uid = UserId::parse(id)?;
        if catalog.user(&uid).await?.is_none() {
            user::Entity::insert(user::ActiveModel {
                id: Set(uid.to_string()),
                email: Set(format!("{id}@example.se")),
                display_name: Set(name.to_string()),
                platform_roles: Set(roles.join(",")),
                language: Set("sv".into()),
                created_at: Set(Utc::now()),
                delete_time: Set(None),
            })
            .exec(catalog.db())
            .await?;
        }
        if let Some(t) = admin_of
            && membership::Entity::find_by_id((t.to_string(), uid.to_string()))
                .one(catalog.db())
                .await?
                .is_none()
        {
            membership::Entity::insert(membership::ActiveModel {
                tenant_id: Set(t.to_string()),
                user_id: Set(uid.to_string()),
                role: Set("tenant_admin".into()),
                created_at: Set(Utc::now()),
            })
            .exec(catalog.db())
            .await?;
        }
        catalog
            .invalidate(kompass_catalog::Invalidation::User(uid))
            .await;
    }
    Ok(())
}

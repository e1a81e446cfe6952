//! Invitations by e-mail and the provider identities they link to users.

use chrono::{Duration, Utc};
use kompass_core::{Error, Msg, UserId};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use crate::entity::{identity, invitation, user};
use crate::{Catalog, UserRow};

/// How long an invitation can be accepted.
pub const INVITATION_TTL: Duration = Duration::days(30);

/// A validated invitation to write.
pub struct NewInvitation {
    /// `None`: derived from the e-mail's local part.
    pub user_id: Option<UserId>,
    pub email: String,
    pub display_name: String,
    /// Comma-separated platform roles, as in `users.platform_roles`.
    pub platform_roles: String,
    pub language: String,
    pub invited_by: UserId,
}

/// A user id made from an e-mail's local part: `Anna.Berg+x@kommun.se` → `anna.berg-x`.
pub fn user_id_from_email(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    let mut id: String = local
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            'å' | 'ä' | 'á' | 'à' => 'a',
            'ö' | 'ø' | 'ó' => 'o',
            'æ' => 'a',
            'é' | 'è' => 'e',
            'ü' => 'u',
            _ => '-',
        })
        .collect();
    if !id.starts_with(|c: char| c.is_ascii_lowercase()) {
        id.insert(0, 'u');
    }
    id.truncate(56);
    while id.len() < 2 {
        id.push('x');
    }
    id
}

impl Catalog {
    /// Creates the user and an open invitation for its e-mail in one
    /// transaction. ALREADY_EXISTS when the id is taken or the e-mail already
    /// has an invitation.
    /// A fresh deployment behind an OpenID provider: while the catalog has no
    /// active operator, invites `email` as one, so that person's first
    /// sign-in with that verified e-mail links them. Returns whether it did.
    pub async fn bootstrap_operator_by_email(&self, email: &str) -> Result<bool, Error> {
        if self.has_active_operator().await? {
            return Ok(false);
        }
        let inv = NewInvitation {
            user_id: None,
            email: email.into(),
            display_name: email.trim().into(),
            platform_roles: "operator".into(),
            language: "sv".into(),
            invited_by: UserId::parse("bootstrap")?,
        };
        match self.invite(inv).await {
            Ok(_) => Ok(true),
            // Another replica invited at the same moment.
            Err(Error::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub async fn invite(&self, inv: NewInvitation) -> Result<(UserRow, invitation::Model), Error> {
        let email = inv.email.trim().to_lowercase();
        let tx = kompass_tenant_db::begin_write(self.db()).await?;
        if invitation::Entity::find_by_id(email.as_str())
            .one(&tx)
            .await?
            .is_some()
        {
            return Err(Error::AlreadyExists(Msg::new(
                format!("{email} has already been invited"),
                format!("{email} har redan bjudits in"),
            )));
        }
        let id = match inv.user_id {
            Some(id) => {
                if user::Entity::find_by_id(id.as_str())
                    .one(&tx)
                    .await?
                    .is_some()
                {
                    return Err(Error::AlreadyExists(Msg::new(
                        format!("user {id} already exists"),
                        format!("användaren {id} finns redan"),
                    )));
                }
                id
            }
            None => {
                let base = user_id_from_email(&email);
                let mut n = 1;
                loop {
                    let candidate = if n == 1 {
                        base.clone()
                    } else {
                        format!("{base}-{n}")
                    };
                    let id = UserId::parse(&candidate)?;
                    if user::Entity::find_by_id(id.as_str())
                        .one(&tx)
                        .await?
                        .is_none()
                    {
                        break id;
                    }
                    n += 1;
                }
            }
        };
        let now = Utc::now();
        let u = user::Entity::insert(user::ActiveModel {
            id: Set(id.to_string()),
            email: Set(inv.email.trim().to_string()),
            display_name: Set(inv.display_name),
            platform_roles: Set(inv.platform_roles),
            language: Set(inv.language),
            created_at: Set(now),
            delete_time: Set(None),
        })
        .exec_with_returning(&tx)
        .await?;
        let i = invitation::Entity::insert(invitation::ActiveModel {
            email: Set(email),
            user_id: Set(id.to_string()),
            invited_by: Set(inv.invited_by.to_string()),
            created_at: Set(now),
            expires_at: Set(now + INVITATION_TTL),
            accepted_at: Set(None),
        })
        .exec_with_returning(&tx)
        .await?;
        tx.commit().await?;
        self.invalidate(crate::Invalidation::User(id)).await;
        Ok((u, i))
    }

    /// The user a provider identity is linked to. An unlinked identity whose
    /// verified e-mail has an open invitation is linked now (once: the
    /// invitation is accepted in the same transaction).
    pub async fn linked_user(
        &self,
        issuer: &str,
        subject: &str,
        verified_email: Option<&str>,
    ) -> Result<Option<UserId>, Error> {
        if let Some(found) = self.identity(issuer, subject).await? {
            return Ok(Some(found));
        }
        let Some(email) = verified_email.map(|e| e.trim().to_lowercase()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let Some(inv) = invitation::Entity::find_by_id(email.as_str())
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::ExpiresAt.gt(now))
            .one(self.db())
            .await?
        else {
            return Ok(None);
        };
        let tx = kompass_tenant_db::begin_write(self.db()).await?;
        // Only one identity can accept an invitation.
        let accepted = invitation::Entity::update_many()
            .col_expr(invitation::Column::AcceptedAt, Expr::value(now))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::AcceptedAt.is_null())
            .exec(&tx)
            .await?;
        if accepted.rows_affected != 1 {
            tx.rollback().await.ok();
            // A concurrent first call of the same identity may have won.
            return self.identity(issuer, subject).await;
        }
        let linked = identity::Entity::insert(identity::ActiveModel {
            issuer: Set(issuer.to_string()),
            subject: Set(subject.to_string()),
            user_id: Set(inv.user_id.clone()),
            email: Set(email),
            created_at: Set(now),
        })
        .exec(&tx)
        .await;
        if linked.is_err() {
            tx.rollback().await.ok();
            return self.identity(issuer, subject).await;
        }
        tx.commit().await?;
        tracing::info!(user = %inv.user_id, issuer, "identity linked by invitation");
        Ok(Some(UserId::parse(&inv.user_id)?))
    }

    async fn identity(&self, issuer: &str, subject: &str) -> Result<Option<UserId>, Error> {
        let row = identity::Entity::find_by_id((issuer.to_string(), subject.to_string()))
            .one(self.db())
            .await?;
        row.map(|r| UserId::parse(&r.user_id)).transpose()
    }

    /// The invitation of an e-mail, if any.
    pub async fn invitation(&self, email: &str) -> Result<Option<invitation::Model>, Error> {
        Ok(invitation::Entity::find_by_id(email.trim().to_lowercase())
            .one(self.db())
            .await?)
    }
}

#[async_trait::async_trait]
impl kompass_auth::IdentityLinks for Catalog {
    async fn linked_user(
        &self,
        issuer: &str,
        subject: &str,
        verified_email: Option<&str>,
    ) -> Result<Option<UserId>, Error> {
        match self.access_cache() {
            Some(c) => {
                c.link(
                    (issuer.to_string(), subject.to_string()),
                    Catalog::linked_user(self, issuer, subject, verified_email),
                )
                .await
            }
            None => Catalog::linked_user(self, issuer, subject, verified_email).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_from_emails() {
        assert_eq!(user_id_from_email("Anna.Berg@ostra.se"), "anna.berg");
        assert_eq!(user_id_from_email("åsa+kk@x.se"), "asa-kk");
        assert_eq!(user_id_from_email("9lives@x.se"), "u9lives");
        assert_eq!(user_id_from_email("b@x.se"), "bx");
        for e in ["Anna.Berg@ostra.se", "åsa+kk@x.se", "9@x.se", "ØØØ@x.no"] {
            assert!(UserId::parse(&user_id_from_email(e)).is_ok(), "{e}");
        }
    }
}

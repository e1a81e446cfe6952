//! AIP resource names: `tenants/{tenant}/evaluations/{evaluation}` and the like.

use crate::error::{Error, Msg};
use crate::ids::{TenantId, UserId};

/// Splits `name` against `pattern`, e.g. `["tenants", "*", "evaluations", "*"]`,
/// returning the variable segments.
pub fn parse<'a>(name: &'a str, pattern: &[&str]) -> Result<Vec<&'a str>, Error> {
    let parts: Vec<&str> = name.split('/').collect();
    let fits = parts.len() == pattern.len()
        && parts.iter().zip(pattern).all(
            |(p, pat)| {
                if *pat == "*" { !p.is_empty() } else { p == pat }
            },
        );
    if !fits {
        let want = pattern
            .iter()
            .map(|p| if *p == "*" { "{id}" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        return Err(Error::InvalidArgument(Msg::new(
            format!("resource name {name:?} is not of the form {want}"),
            format!("resursnamnet {name:?} har inte formen {want}"),
        )));
    }
    Ok(parts
        .iter()
        .zip(pattern)
        .filter(|(_, pat)| **pat == "*")
        .map(|(p, _)| *p)
        .collect())
}

/// `tenants/{tenant}`
pub fn tenant(name: &str) -> Result<TenantId, Error> {
    TenantId::parse(parse(name, &["tenants", "*"])?[0])
}

/// `users/{user}`
pub fn user(name: &str) -> Result<UserId, Error> {
    UserId::parse(parse(name, &["users", "*"])?[0])
}

/// `tenants/{tenant}/{collection}/{id}`, returning the tenant and the id.
pub fn tenant_child<'a>(name: &'a str, collection: &str) -> Result<(TenantId, &'a str), Error> {
    let v = parse(name, &["tenants", "*", collection, "*"])?;
    Ok((TenantId::parse(v[0])?, v[1]))
}

pub fn tenant_name(t: &TenantId) -> String {
    format!("tenants/{t}")
}

pub fn user_name(u: &UserId) -> String {
    format!("users/{u}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(tenant("tenants/ostra").unwrap().as_str(), "ostra");
        assert!(tenant("tenant/ostra").is_err());
        assert!(tenant("tenants/").is_err());
        assert!(tenant("tenants/Ostra").is_err());
        let (t, e) = tenant_child("tenants/ostra/evaluations/e1", "evaluations").unwrap();
        assert_eq!((t.as_str(), e), ("ostra", "e1"));
        assert!(tenant_child("tenants/ostra/projects/e1", "evaluations").is_err());
    }
}

//! Validated identifiers. Tenant ids end up in database names, so they are
//! checked against a strict pattern before anything else sees them.

use std::fmt;

use crate::error::{Error, Msg};

/// `^[a-z][a-z0-9-]{1,40}$`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = s.len() >= 2
            && s.len() <= 41
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(TenantId(s.to_string()))
        } else {
            Err(Error::InvalidArgument(Msg::new(
                format!(
                    "tenant id {s:?} is not valid: use 2 to 41 characters, lowercase letters a-z, digits and '-', starting with a letter"
                ),
                format!(
                    "kommun-id {s:?} är ogiltigt: använd 2 till 41 tecken, små bokstäver a-z, siffror och '-', med en bokstav först"
                ),
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `^[a-z][a-z0-9._-]{1,62}$`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let ok = s.len() >= 2
            && s.len() <= 63
            && s.as_bytes()[0].is_ascii_lowercase()
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
            });
        if ok {
            Ok(UserId(s.to_string()))
        } else {
            Err(Error::InvalidArgument(Msg::new(
                format!(
                    "user id {s:?} is not valid: use 2 to 63 characters, lowercase letters a-z, digits, '.', '_' and '-', starting with a letter"
                ),
                format!(
                    "användar-id {s:?} är ogiltigt: använd 2 till 63 tecken, små bokstäver a-z, siffror, '.', '_' och '-', med en bokstav först"
                ),
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids() {
        for ok in [
            "ostra",
            "ab",
            "kommun-1860",
            &format!("a{}", "b".repeat(40)),
        ] {
            assert!(TenantId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "x; drop database",
            "Ostra",
            "a",
            "1abc",
            "-ab",
            "ab_c",
            "",
            "östra",
            &format!("a{}", "b".repeat(41)),
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_ids() {
        assert!(UserId::parse("anna.svensson").is_ok());
        assert!(UserId::parse("Anna").is_err());
        assert!(UserId::parse("a b").is_err());
    }
}

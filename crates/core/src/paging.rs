//! Opaque page tokens: the last key of the previous page, base64-encoded.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Msg};

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;

/// AIP-158: zero means the default, above the maximum is coerced down.
pub fn page_size(requested: i32) -> Result<u64, Error> {
    match requested {
        n if n < 0 => Err(Error::InvalidArgument(Msg::new(
            "page_size must not be negative",
            "page_size får inte vara negativ",
        ))),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

pub fn encode(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

/// The key to continue after, or `None` for the first page.
pub fn decode(token: &str) -> Result<Option<String>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .map(Some)
        .ok_or_else(|| {
            Error::InvalidArgument(Msg::new(
                "page_token is not one this service issued",
                "page_token kommer inte från den här tjänsten",
            ))
        })
}

/// Given `size + 1` fetched rows, trims to `size` and returns the next token.
pub fn finish<T>(mut rows: Vec<T>, size: u64, key: impl Fn(&T) -> String) -> (Vec<T>, String) {
    if rows.len() as u64 > size {
        rows.truncate(size as usize);
        let next = rows.last().map(|r| encode(&key(r))).unwrap_or_default();
        (rows, next)
    } else {
        (rows, String::new())
    }
}

//! The caller's language, carried in a task-local so error mapping can pick it.

use std::future::Future;

/// A language the product speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Sv,
}

impl Lang {
    /// Reads an `accept-language` value: Swedish (and Norwegian/Danish, closer to
    /// Swedish than to English for our users) gets Swedish, anything else English.
    pub fn from_accept_language(v: &str) -> Lang {
        let first = v
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ["sv", "no", "nb", "nn", "da"]
            .iter()
            .any(|p| first.starts_with(p))
        {
            Lang::Sv
        } else {
            Lang::En
        }
    }
}

tokio::task_local! {
    static LANG: Lang;
}

/// Runs `fut` with `lang` as the current language.
pub async fn with_lang<F: Future>(lang: Lang, fut: F) -> F::Output {
    LANG.scope(lang, fut).await
}

/// The current request's language (English outside a request).
pub fn current() -> Lang {
    LANG.try_with(|l| *l).unwrap_or_default()
}

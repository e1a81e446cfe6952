//! Languages: Swedish (default), English, Norwegian bokmål. Every string is in
//! `locales/*/main.ftl`; pages get a [`Tr`] and look keys up.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "sv",
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

/// Cookie that remembers the chosen language.
pub const LANG_COOKIE: &str = "kompass_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Sv,
    En,
    Nb,
}

static SV: LanguageIdentifier = langid!("sv");
static EN: LanguageIdentifier = langid!("en");
static NB: LanguageIdentifier = langid!("nb");

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Sv, Lang::En, Lang::Nb];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
            Lang::Nb => "nb",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sv" | "sv-se" | "sv-fi" => Some(Lang::Sv),
            "en" | "en-gb" | "en-us" => Some(Lang::En),
            // Norwegian without a script is read as bokmål.
            "nb" | "nb-no" | "no" | "no-no" | "nn" | "nn-no" => Some(Lang::Nb),
            s if s.starts_with("en-") => Some(Lang::En),
            s if s.starts_with("sv-") => Some(Lang::Sv),
            _ => None,
        }
    }

    /// The best supported language of an `Accept-Language` header.
    pub fn from_accept_language(h: &str) -> Option<Lang> {
        let mut best: Option<(u16, Lang)> = None;
        for part in h.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or_default();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            // Whole thousandths: the quality is a ranking, not a figure.
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u16;
            if let Some(l) = Lang::parse(tag)
                && q > 0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l)
    }

    /// Language sent to the services, which speak Swedish and English;
    /// Norwegian readers get the Swedish texts, the closer of the two.
    pub fn service_language(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv | Lang::Nb => "sv",
        }
    }

    /// Language of a typeset document (the report PDF): its labels exist in
    /// Swedish, English and bokmål; framework texts stay Swedish for bokmål.
    pub fn document_language(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sv => "sv",
            Lang::Nb => "nb",
        }
    }

    fn id(self) -> &'static LanguageIdentifier {
        match self {
            Lang::Sv => &SV,
            Lang::En => &EN,
            Lang::Nb => &NB,
        }
    }
}

/// Looks strings up in one language.
#[derive(Debug, Clone, Copy)]
pub struct Tr(pub Lang);

impl Tr {
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(self.0.id(), key)
    }

    /// `{a}-{b}`, for keys built from a prefix and a code.
    pub fn t2(&self, a: &str, b: &str) -> String {
        self.t(&format!("{a}-{b}"))
    }

    pub fn ta(&self, key: &str, args: &[(&'static str, String)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(k, v)| {
                // Whole numbers as numbers, so plural forms (`[one]`) match;
                // anything else (points with decimals, names) as text.
                let value = match v.parse::<i64>() {
                    Ok(n) if v.len() < 16 && v.bytes().all(|b| b.is_ascii_digit()) => {
                        FluentValue::from(n)
                    }
                    _ => FluentValue::from(v.clone()),
                };
                (Cow::Borrowed(*k), value)
            })
            .collect();
        LOCALES.lookup_with_args(self.0.id(), key, &map)
    }

    /// Whether `key` exists in this language (tests check every page's keys).
    pub fn has(&self, key: &str) -> bool {
        // A message with variables reports formatting errors when looked up
        // without arguments; it still exists.
        // (fluent-templates does not export its error type, hence the text.)
        match LOCALES.lookup_single_language::<&str>(self.0.id(), key, None) {
            Ok(_) => true,
            Err(e) => e.to_string().starts_with("Fluent errors"),
        }
    }

    pub fn lang(&self) -> &'static str {
        self.0.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported() {
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8,sv;q=0.5"),
            Some(Lang::En)
        );
        assert_eq!(Lang::from_accept_language("nb-NO,nb;q=0.9"), Some(Lang::Nb));
        assert_eq!(Lang::from_accept_language("fr"), None);
        assert_eq!(Lang::from_accept_language("en;q=0, sv"), Some(Lang::Sv));
    }

    #[test]
    fn every_language_has_every_key_of_swedish() {
        let sv = include_str!("../locales/sv/main.ftl");
        for key in sv
            .lines()
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim()))
            .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with(' '))
        {
            for l in Lang::ALL {
                assert!(Tr(l).has(key), "{key} missing in {}", l.code());
            }
        }
    }
}

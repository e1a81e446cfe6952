//! Documents typeset with Typst as a library.
//!
//! Templates are `.typ` files in `templates/`, compiled into the binary with
//! the fonts (DejaVu Sans for text, Typst's own bundled fonts as fallback), so
//! nothing is read from disk or fetched at run time and there are no
//! packages. A service hands [`render`] its data as a serialisable value; the
//! template reads it from the virtual file `/data.json`. User text therefore
//! only ever reaches Typst as string values, never as markup, and cannot
//! inject code.
//!
//! Output is tagged PDF conforming to PDF/UA-1 (Typst refuses to write one
//! that violates it, e.g. a figure without alternative text), with the
//! document language, title and the real creation date.

use std::collections::HashMap;
use std::sync::OnceLock;

use chrono::{Datelike, Timelike, Utc};
use serde::Serialize;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{DiagSpanKind, FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

/// A document the engine can typeset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// The published report of an evaluation, laid out as SKR's reports.
    EvaluationReport,
    /// The project plan (*projektplan*) of an improvement project.
    ProjectPlan,
    /// A status report of an improvement project.
    StatusReport,
    /// The national comparison as a printable summary.
    NationalComparison,
}

impl Template {
    fn path(self) -> &'static str {
        match self {
            Template::EvaluationReport => "/report.typ",
            Template::ProjectPlan => "/project-plan.typ",
            Template::StatusReport => "/status-report.typ",
            Template::NationalComparison => "/comparison.typ",
        }
    }
}

/// Languages documents are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    Sv,
    En,
    Nb,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
            Lang::Nb => "nb",
        }
    }

    /// "sv", "en", "nb" (also "no" and "nn", written as bokmål); anything else
    /// is `None`.
    pub fn parse(s: &str) -> Option<Lang> {
        match s.to_ascii_lowercase().as_str() {
            "sv" => Some(Lang::Sv),
            "en" => Some(Lang::En),
            "nb" | "no" | "nn" => Some(Lang::Nb),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the document data could not be serialised: {0}")]
    Data(#[from] serde_json::Error),
    #[error("typesetting failed: {0}")]
    Typeset(String),
    #[error("PDF export failed: {0}")]
    Pdf(String),
}

const DATA: &str = "/data.json";

/// Template sources, embedded at build time.
const SOURCES: &[(&str, &str)] = &[
    ("/common.typ", include_str!("../templates/common.typ")),
    ("/projects.typ", include_str!("../templates/projects.typ")),
    ("/report.typ", include_str!("../templates/report.typ")),
    (
        "/project-plan.typ",
        include_str!("../templates/project-plan.typ"),
    ),
    (
        "/status-report.typ",
        include_str!("../templates/status-report.typ"),
    ),
    (
        "/comparison.typ",
        include_str!("../templates/comparison.typ"),
    ),
];

fn id(path: &str) -> FileId {
    RootedPath::new(
        VirtualRoot::Project,
        VirtualPath::new(path).expect("template paths are valid"),
    )
    .intern()
}

struct Shared {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    sources: HashMap<FileId, Source>,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        // DejaVu Sans first: it is the documents' text face and covers every
        // Nordic letter; Typst's bundled fonts follow for math and fallback.
        let own = [
            dejavu::sans::regular(),
            dejavu::sans::bold(),
            dejavu::sans::oblique(),
            dejavu::sans::bold_oblique(),
        ];
        let fonts: Vec<Font> = own
            .into_iter()
            .chain(typst_assets::fonts())
            .flat_map(|b| Font::iter(Bytes::new(b)))
            .collect();
        let book = FontBook::from_fonts(&fonts);
        let sources = SOURCES
            .iter()
            .map(|(p, text)| (id(p), Source::new(id(p), (*text).to_string())))
            .collect();
        Shared {
            library: LazyHash::new(Library::default()),
            book: LazyHash::new(book),
            fonts,
            sources,
        }
    })
}

struct DocWorld {
    main: FileId,
    data_id: FileId,
    data: Bytes,
    now: chrono::DateTime<Utc>,
}

impl World for DocWorld {
    fn library(&self) -> &LazyHash<Library> {
        &shared().library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &shared().book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        shared()
            .sources
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(id))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.data_id {
            return Ok(self.data.clone());
        }
        match shared().sources.get(&id) {
            Some(s) => Ok(Bytes::from_string(s.text().to_string())),
            None => Err(not_found(id)),
        }
    }

    fn font(&self, index: usize) -> Option<Font> {
        shared().fonts.get(index).cloned()
    }

    fn today(&self, offset: Option<Duration>) -> Option<Datetime> {
        let t = self.now + chrono::Duration::hours(offset.map(|d| d.hours() as i64).unwrap_or(0));
        Datetime::from_ymd(t.year(), t.month() as u8, t.day() as u8)
    }
}

fn not_found(id: FileId) -> FileError {
    FileError::NotFound(id.vpath().get_without_slash().into())
}

/// Messages with the template line they come from, for whoever edits it.
fn diagnostics(world: &DocWorld, d: &[SourceDiagnostic]) -> String {
    d.iter()
        .map(|d| {
            let mut s = d.message.to_string();
            if let DiagSpanKind::Number { id, .. } = d.span.get()
                && let (Ok(src), Some(range)) = (world.source(id), world.range(d.span))
            {
                let line = src.text()[..range.start].matches('\n').count() + 1;
                s = format!("{}:{line}: {s}", id.vpath().get_without_slash());
            }
            for h in &d.hints {
                s.push_str(&format!(" (hint: {})", h.v));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Typesets `template` with `data` in `lang` and returns the PDF. The data
/// must serialise to a JSON object; the template finds the language in its
/// `lang` field.
pub fn render<T: Serialize>(template: Template, data: &T, lang: Lang) -> Result<Vec<u8>, Error> {
    let mut value = serde_json::to_value(data)?;
    if let serde_json::Value::Object(m) = &mut value {
        m.insert("lang".into(), lang.code().into());
    }
    let now = Utc::now();
    let world = DocWorld {
        main: id(template.path()),
        data_id: id(DATA),
        data: Bytes::new(serde_json::to_vec(&value)?),
        now,
    };
    let doc: PagedDocument = typst::compile(&world)
        .output
        .map_err(|e| Error::Typeset(diagnostics(&world, &e)))?;
    let standards =
        PdfStandards::new(&[PdfStandard::Ua_1]).map_err(|e| Error::Pdf(e.message().to_string()))?;
    let created = Datetime::from_ymd_hms(
        now.year(),
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second() as u8,
    );
    let options = PdfOptions {
        standards,
        tagged: true,
        timestamp: created.map(Timestamp::new_utc),
        ..PdfOptions::default()
    };
    let pdf = typst_pdf::pdf(&doc, &options).map_err(|e| Error::Pdf(diagnostics(&world, &e)));
    // Typst memoises layout across compilations (comemo) and never forgets
    // on its own: a server rendering many reports would only grow. Entries
    // unused for this many renders go; fonts and templates stay warm.
    typst::comemo::evict(MEMO_KEEP_RENDERS);
    pdf
}

/// How many renders a memoised result survives unused (see [`render`]).
const MEMO_KEEP_RENDERS: usize = 10;

/// Forgets everything Typst memoised, so the next render starts cold (for
/// benchmarks measuring the first render of a process).
pub fn forget_memoised() {
    typst::comemo::evict(0);
}

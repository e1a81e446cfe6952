//! `kompass tenant import FILE.csv`: onboards many tenants at once (a
//! national rollout) through the tenancy service's CreateTenant, a bounded
//! number at a time. Every row is validated before any is created.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use kompass_proto::tenancy::v1 as pb;
use pb::tenant_service_client::TenantServiceClient;
use tonic::Code;
use tonic::transport::Channel;

/// The columns, in any order; the first line of the file names them.
/// `id`, `name`, `country` and `code` are required; `population` (default
/// 0), `named` (agrees to be named in comparisons: true/false, yes/no, 1/0;
/// default false) and `server` (default: least used) are optional.
pub const COLUMNS: &[&str] = &[
    "id",
    "name",
    "country",
    "code",
    "population",
    "named",
    "server",
];
const REQUIRED: &[&str] = &["id", "name", "country", "code"];

/// One validated row: its line number and the request it becomes.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub req: pb::CreateTenantRequest,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" | "n" => Some(false),
        "true" | "yes" | "1" | "y" => Some(true),
        _ => None,
    }
}

/// Parses and validates the whole file with the service's own rules; the
/// first fault is reported with its line number.
pub fn parse(text: &str) -> anyhow::Result<Vec<Row>> {
    // RFC 4180 (`"a, b"`, `""` for a quote). `#` starts a comment line: those
    // are blanked here, so they count as lines but hold no record.
    let text: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = csv
        .headers()
        .with_context(|| "line 1: cannot read the header")?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let hline = csv.position().line().max(1);
    if header.iter().all(|h| h.is_empty()) {
        bail!(
            "the file is empty: its first line must name the columns, e.g. id,name,country,code,population,named"
        );
    }
    for h in &header {
        if !COLUMNS.contains(&h.as_str()) {
            bail!(
                "line {hline}: unknown column {h:?}; columns are {}",
                COLUMNS.join(", ")
            );
        }
    }
    for r in REQUIRED {
        if !header.iter().any(|h| h == r) {
            bail!(
                "line {hline}: column {r:?} is missing (required: {})",
                REQUIRED.join(", ")
            );
        }
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    // The line a record starts on, from its byte offset: the csv crate's own
    // line count leaves out blank lines, and its offset is where the blank
    // lines before the record begin.
    let line_at = |p: Option<&csv::Position>| {
        p.map_or(0, |p| {
            let b = text.as_bytes();
            let mut end = (p.byte() as usize).min(b.len());
            while end < b.len() && matches!(b[end], b'\n' | b'\r') {
                end += 1;
            }
            b[..end].iter().filter(|&&c| c == b'\n').count() + 1
        })
    };
    let mut seen = HashSet::new();
    let mut rows = vec![];
    for rec in csv.records() {
        let f = match rec {
            Ok(f) => f,
            Err(e) => {
                let line = line_at(e.position());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        len, expected_len, ..
                    } => bail!("line {line}: {len} fields, the header has {expected_len}"),
                    _ => bail!("line {line}: {e}"),
                }
            }
        };
        let line = line_at(f.position());
        if f.iter().all(|x| x.is_empty()) {
            continue; // a blank line
        }
        let get = |name: &str| col(name).and_then(|i| f.get(i)).unwrap_or("");
        let country = get("country").to_ascii_uppercase();
        let country = pb::Country::from_str_name(&format!("COUNTRY_{country}"))
            .filter(|c| *c != pb::Country::Unspecified)
            .with_context(|| {
                format!("line {line}: country {country:?} must be SE, NO, DK or FI")
            })?;
        let population = match get("population") {
            "" => 0,
            p => p
                .replace([' ', '\u{a0}', '_'], "")
                .parse::<i64>()
                .with_context(|| format!("line {line}: population {p:?} is not a whole number"))?,
        };
        let named = parse_bool(get("named")).with_context(|| {
            format!(
                "line {line}: named {:?} must be true or false",
                get("named")
            )
        })?;
        let req = pb::CreateTenantRequest {
            tenant_id: get("id").to_string(),
            tenant: Some(pb::Tenant {
                display_name: get("name").to_string(),
                country: country as i32,
                municipality_code: get("code").to_string(),
                population,
                named_in_comparisons: named,
                ..Default::default()
            }),
            database_server: get("server").to_string(),
        };
        // The service's own validation, so a bad row fails here and not midway.
        kompass_tenancy::NewTenant::try_from(req.clone())
            .map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
        if !seen.insert(req.tenant_id.clone()) {
            bail!(
                "line {line}: tenant {} appears twice in the file",
                req.tenant_id
            );
        }
        rows.push(Row { line, req });
    }
    if rows.is_empty() {
        bail!("the file has a header but no tenants");
    }
    Ok(rows)
}

/// What happened to one row.
#[derive(Debug)]
enum Outcome {
    Created,
    Existed { same: bool },
    Failed(String),
}

pub async fn run(
    channel: Channel,
    req: impl Fn(pb::CreateTenantRequest) -> tonic::Request<pb::CreateTenantRequest> + Clone,
    get: impl Fn(pb::GetTenantRequest) -> tonic::Request<pb::GetTenantRequest> + Clone,
    file: &Path,
    concurrency: usize,
) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = parse(&text).with_context(|| format!("{}: nothing was imported", file.display()))?;
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(rows.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} tenants {elapsed_precise} eta {eta} {msg}",
        )
        .expect("template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let total = rows.len();
    let mut runs = futures::stream::iter(rows.into_iter().map(|row| {
        let mut api = TenantServiceClient::new(channel.clone());
        let (req, get) = (req.clone(), get.clone());
        async move {
            let id = row.req.tenant_id.clone();
            let existing = api
                .get_tenant(get(pb::GetTenantRequest {
                    name: format!("tenants/{id}"),
                }))
                .await;
            let outcome = match existing {
                Ok(t) => {
                    let t = t.into_inner();
                    let want = row.req.tenant.as_ref().expect("tenant");
                    let same = t.display_name == want.display_name
                        && t.country == want.country
                        && t.municipality_code == want.municipality_code;
                    if same && t.state == pb::tenant::State::Provisioning as i32 {
                        // A half-done onboarding: CreateTenant completes it.
                        create(&mut api, req(row.req.clone())).await
                    } else {
                        Outcome::Existed { same }
                    }
                }
                Err(s) if s.code() == Code::NotFound => {
                    create(&mut api, req(row.req.clone())).await
                }
                Err(s) => Outcome::Failed(format!("{:?}: {}", s.code(), s.message())),
            };
            (row, outcome)
        }
    }))
    .buffer_unordered(concurrency.max(1));
    let (mut created, mut existed, mut failed) = (vec![], vec![], vec![]);
    while let Some((row, outcome)) = runs.next().await {
        let id = row.req.tenant_id.clone();
        match outcome {
            Outcome::Created => created.push(id.clone()),
            Outcome::Existed { same } => {
                let note = if same {
                    "already exists"
                } else {
                    "already exists with other details (left unchanged)"
                };
                say(&bar, format!("line {}: {id} {note}", row.line));
                existed.push(id.clone());
            }
            Outcome::Failed(e) => {
                say(&bar, format!("line {}: {id} FAILED: {e}", row.line));
                failed.push((row.line, id.clone(), e));
            }
        }
        bar.inc(1);
        bar.set_message(id);
    }
    bar.finish_and_clear();
    println!(
        "{total} row(s): {} created, {} already existed, {} failed",
        created.len(),
        existed.len(),
        failed.len()
    );
    failed.sort();
    for (line, id, e) in &failed {
        println!("  FAILED line {line} {id}: {e}");
    }
    if !failed.is_empty() {
        bail!(
            "{} tenant(s) failed; rerun the same file to retry them (created ones are reported as existing)",
            failed.len()
        );
    }
    Ok(())
}

/// A line above the progress bar, or plain output when there is no bar
/// (a hidden bar prints nothing).
fn say(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

async fn create(
    api: &mut TenantServiceClient<Channel>,
    r: tonic::Request<pb::CreateTenantRequest>,
) -> Outcome {
    match api.create_tenant(r).await {
        Ok(_) => Outcome::Created,
        Err(s) if s.code() == Code::AlreadyExists => Outcome::Existed { same: false },
        Err(s) => Outcome::Failed(format!("{:?}: {}", s.code(), s.message())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_the_first_fault_with_its_line() {
        let quoted =
            parse("id,name,country,code\nostra,\"Östra \"\"Kommun\"\"\",SE,0180\n").unwrap();
        assert_eq!(
            quoted[0].req.tenant.as_ref().unwrap().display_name,
            r#"Östra "Kommun""#
        );
        let ragged = format!(
            "{:#}",
            parse("id,name,country,code\nostra,Östra,SE\n").unwrap_err()
        );
        assert!(
            ragged.contains("line 2") && ragged.contains("3 fields"),
            "{ragged}"
        );
        let ok = "id,name,country,code,population,named\n\
                  # comment\n\
                  ostra,\"Östra, kommun\",se,0180,12 000,yes\n\
                  vastra,Västra,NO,0301,,\n";
        let rows = parse(ok).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        let t = rows[0].req.tenant.as_ref().unwrap();
        assert_eq!(t.display_name, "Östra, kommun");
        assert_eq!(t.population, 12000);
        assert!(t.named_in_comparisons);
        let bad = "id,name,country,code\nostra,Östra,SE,0180\nvastra,Västra,SE,18\n";
        let e = format!("{:#}", parse(bad).unwrap_err());
        assert!(
            e.contains("line 3") && e.contains("municipality_code"),
            "{e}"
        );
        let dup = "id,name,country,code\nostra,Östra,SE,0180\nostra,Östra,SE,0180\n";
        assert!(format!("{:#}", parse(dup).unwrap_err()).contains("line 3"));
        assert!(parse("id,name,country\nostra,Östra,SE\n").is_err());
        assert!(
            format!("{:#}", parse("id,name,country,code,colour\n").unwrap_err()).contains("colour")
        );
    }
}

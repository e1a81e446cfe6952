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
pub const COLUMNS: &[&str] = &["id", "name", "country", "code", "population", "named", "server"];
const REQUIRED: &[&str] = &["id", "name", "country", "code"];

/// One validated row: its line number and the request it becomes.
#[derive(Debug, Clone)]
pub struct Row {
    pub line: usize,
    pub req: pb::CreateTenantRequest,
}

/// Splits one CSV line (RFC 4180 quoting: `"a, b"`, `""` for a quote).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                was_quoted = false;
            }
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(cur.trim().to_string());
    Ok(out)
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
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        bail!("the file is empty: its first line must name the columns, e.g. id,name,country,code,population,named");
    };
    let header: Vec<String> = fields(header)
        .map_err(|e| anyhow::anyhow!("line {hline}: {e}"))?
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
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
            bail!("line {hline}: column {r:?} is missing (required: {})", REQUIRED.join(", "));
        }
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let mut seen = HashSet::new();
    let mut rows = vec![];
    for (line, l) in lines {
        let f = fields(l).map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
        if f.len() != header.len() {
            bail!(
                "line {line}: {} fields, the header has {}",
                f.len(),
                header.len()
            );
        }
        let get = |name: &str| col(name).map(|i| f[i].as_str()).unwrap_or("");
        let country = get("country").to_ascii_uppercase();
        let country = pb::Country::from_str_name(&format!("COUNTRY_{country}"))
            .filter(|c| *c != pb::Country::Unspecified)
            .with_context(|| format!("line {line}: country {country:?} must be SE, NO, DK or FI"))?;
        let population = match get("population") {
            "" => 0,
            p => p
                .replace([' ', '\u{a0}', '_'], "")
                .parse::<i64>()
                .with_context(|| format!("line {line}: population {p:?} is not a whole number"))?,
        };
        let named = parse_bool(get("named"))
            .with_context(|| format!("line {line}: named {:?} must be true or false", get("named")))?;
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
            bail!("line {line}: tenant {} appears twice in the file", req.tenant_id);
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
                Err(s) if s.code() == Code::NotFound => create(&mut api, req(row.req.clone())).await,
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
                bar.println(format!("line {}: {id} {note}", row.line));
                existed.push(id.clone());
            }
            Outcome::Failed(e) => {
                bar.println(format!("line {}: {id} FAILED: {e}", row.line));
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
        assert_eq!(
            fields(r#"a, "b, c" ,"say ""hi""""#).unwrap(),
            ["a", "b, c", r#"say "hi""#]
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
        assert!(e.contains("line 3") && e.contains("municipality_code"), "{e}");
        let dup = "id,name,country,code\nostra,Östra,SE,0180\nostra,Östra,SE,0180\n";
        assert!(format!("{:#}", parse(dup).unwrap_err()).contains("line 3"));
        assert!(parse("id,name,country\nostra,Östra,SE\n").is_err());
        assert!(format!("{:#}", parse("id,name,country,code,colour\n").unwrap_err()).contains("colour"));
    }
}

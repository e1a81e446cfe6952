//! ReportingService handlers.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use kompass_auth::{Caller, PlatformRole};
use kompass_core::i18n::{self, Lang};
use kompass_core::{Error, Msg, TenantId, names, paging};
use kompass_grpc::caller;
use kompass_proto::assessment::v1 as apb;
use kompass_proto::reporting::v1::{self as pb, reporting_service_server::ReportingService};
use prost::Message;
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use tonic::{Request, Response, Status};

use crate::store::{self, Filter, dec};
use crate::{Reporting, comparison, export, pdf, portfolio, radar, report};

pub struct Api(pub Reporting);

fn not_found(name: &str) -> Error {
    Error::NotFound(Msg::new(
        format!("no published evaluation {name} in the reporting read model"),
        format!("ingen publicerad utvärdering {name} i rapporteringens läsmodell"),
    ))
}

fn language(requested: &str) -> bool {
    match requested {
        "en" => true,
        // Bokmål reports carry the Swedish framework texts (the 2015 revision
        // has no Norwegian ones); their own labels are Norwegian.
        "sv" | "nb" | "no" | "nn" => false,
        _ => i18n::current() == Lang::En,
    }
}

/// The language of a document: the requested one, else the request's.
fn doc_lang(requested: &str) -> kompass_documents::Lang {
    kompass_documents::Lang::parse(requested).unwrap_or(if i18n::current() == Lang::En {
        kompass_documents::Lang::En
    } else {
        kompass_documents::Lang::Sv
    })
}

fn is_national(c: &Caller) -> bool {
    c.is_operator() || c.has_role(PlatformRole::Analyst)
}

impl Reporting {
    /// Tenants that agreed to be named (and whose reports are public), with
    /// their names, from the catalog.
    pub async fn named_tenants(&self) -> Result<BTreeMap<String, String>, Error> {
        use kompass_catalog::entity::tenant;
        let rows: Vec<(String, String)> = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .column(tenant::Column::DisplayName)
            .filter(tenant::Column::NamedInComparisons.eq(true))
            .into_tuple()
            .all(self.catalog.db())
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn is_public(&self, tenant: &TenantId) -> Result<bool, Error> {
        Ok(self
            .catalog
            .tenant(tenant)
            .await?
            .is_some_and(|t| t.named_in_comparisons))
    }

    /// Opens a published evaluation for the caller; returns the event and
    /// whether the report is public. Outsiders learn nothing about whether a
    /// non-public evaluation exists.
    async fn open(
        &self,
        c: &Caller,
        name: &str,
    ) -> Result<(apb::EvaluationPublishedEvent, bool), Error> {
        let (tenant, _) = names::tenant_child(name, "evaluations")?;
        let ev = store::event(&self.db, name).await?;
        let external = ev
            .as_ref()
            .and_then(|e| e.content.as_ref())
            .is_some_and(|c| store::kind_str(c.kind) == "external");
        let public = external && self.is_public(&tenant).await?;
        let evaluator = match (&ev, &c.user) {
            (Some(e), Some(u)) if c.has_role(PlatformRole::Evaluator) => e
                .content
                .as_ref()
                .is_some_and(|x| x.evaluators.iter().any(|v| v.user == format!("users/{u}"))),
            _ => false,
        };
        let allowed = public || is_national(c) || c.tenant_role(&tenant).is_some() || evaluator;
        if !allowed {
            // Anonymously, a report that is not public is answered exactly as
            // one that does not exist: nobody learns that it is there.
            return Err(if c.is_anonymous() {
                not_found(name)
            } else {
                Error::denied(
                    "you may not read this report: it is for the municipality's users, its evaluators, operators and analysts",
                    "du får inte läsa rapporten: den är till för kommunens användare, dess utvärderare, operatörer och analytiker",
                )
            });
        }
        let ev = ev.ok_or_else(|| not_found(name))?;
        Ok((ev, public))
    }

    /// The comparison for `f` as it may be shown (named tenants only, small
    /// groups withheld: [`comparison::protect`]), reasons in `en`/Swedish.
    pub async fn comparison(&self, f: &Filter, en: bool) -> Result<pb::NationalComparison, Error> {
        let mut c = self.computed_comparison(f).await?;
        let named = self.named_tenants().await?;
        let unnamed = c
            .ranking
            .iter()
            .filter(|e| !named.contains_key(e.tenant.trim_start_matches("tenants/")))
            .count();
        let min = self.min_group.max(1) as usize;
        let named_count = (c.tenant_count as usize).saturating_sub(unnamed);
        if unnamed > 0 && unnamed < min && named_count >= min {
            // A few unnamed ones would follow from the figures and the named
            // totals: compute over the named only rather than withhold the
            // whole group (a national view with three unnamed still shows).
            // A group whose named part is itself too small stays withheld.
            let rows = store::evaluations(&self.db, f)
                .await?
                .into_iter()
                .filter(|r| named.contains_key(&r.tenant_id))
                .collect();
            c = comparison::compute(&f.framework_version, rows);
            c.unnamed_excluded = unnamed as i32;
        }
        comparison::protect(&mut c, &named, self.min_group, en);
        Ok(c)
    }

    /// The comparison the public sees: figures over the municipalities that
    /// agreed to be named, and only those (their results are public anyway);
    /// how many were left out is stated; small groups stay withheld.
    pub async fn public_comparison(
        &self,
        f: &Filter,
        en: bool,
    ) -> Result<pb::NationalComparison, Error> {
        let named = self.named_tenants().await?;
        let rows = store::evaluations(&self.db, f).await?;
        let all = rows.len();
        let rows: Vec<_> = rows
            .into_iter()
            .filter(|r| named.contains_key(&r.tenant_id))
            .collect();
        let excluded = all - rows.len();
        let mut c = comparison::compute(&f.framework_version, rows);
        c.unnamed_excluded = excluded as i32;
        comparison::protect(&mut c, &named, self.min_group, en);
        Ok(c)
    }

    /// The unprotected comparison for `f`, from the cache when possible.
    async fn computed_comparison(&self, f: &Filter) -> Result<pb::NationalComparison, Error> {
        let key = f.cache_key();
        let (generation, hit) = self.cache.get(&key).await;
        if let Some(bytes) = hit
            && let Ok(mut c) = pb::NationalComparison::decode(bytes.as_slice())
        {
            c.cached = true;
            return Ok(c);
        }
        let rows = store::evaluations(&self.db, f).await?;
        let c = comparison::compute(&f.framework_version, rows);
        self.cache.put(generation, &key, c.encode_to_vec()).await;
        Ok(c)
    }

    async fn report(
        &self,
        ev: &apb::EvaluationPublishedEvent,
        en: bool,
        public: bool,
    ) -> Result<pb::EvaluationReport, Error> {
        let c = ev.content.clone().unwrap_or_default();
        let fw = report::framework(self.catalog.db(), &c.framework_version, &c).await;
        let avg = self
            .comparison(
                &Filter {
                    framework_version: c.framework_version.clone(),
                    ..Default::default()
                },
                en,
            )
            .await?;
        let tenant = names::tenant(&c.tenant)?;
        let meta = store::tenant_meta(&self.db, tenant.as_str()).await?;
        let mut r = report::build(ev, &fw, Some(&avg), meta.as_ref(), en, public)?;
        if let Some(m) = &meta
            && !m.municipality_code.is_empty()
        {
            r.key_figures = key_figures(self, &m.municipality_code).await?;
        }
        Ok(r)
    }

    async fn radar(
        &self,
        ev: &apb::EvaluationPublishedEvent,
        r: &pb::EvaluationReport,
        en: bool,
    ) -> Result<pb::RadarProfile, Error> {
        let c = ev.content.clone().unwrap_or_default();
        let tenant = names::tenant(&c.tenant)?;
        let mine = store::tenant_evaluations(&self.db, tenant.as_str()).await?;
        let me = mine.iter().find(|e| e.evaluation == c.evaluation);
        let previous = me.and_then(|me| {
            mine.iter().rfind(|e| {
                e.framework_version == me.framework_version
                    && e.kind == me.kind
                    && e.evaluation != me.evaluation
                    && (e.evaluation_date.as_str(), e.publish_time)
                        < (me.evaluation_date.as_str(), me.publish_time)
            })
        });
        let hundred = Decimal::from(100);
        let axes = r
            .areas
            .iter()
            .map(|a| {
                let f = a.figure.clone().unwrap_or_default();
                let max: Decimal = f.max_points.parse().unwrap_or_default();
                let pct_of = |p: Decimal| {
                    if max.is_zero() {
                        String::new()
                    } else {
                        (p / max * hundred).round_dp(4).normalize().to_string()
                    }
                };
                pb::RadarAxis {
                    area: a.area.clone(),
                    title: a.title.clone(),
                    percent: f.percent.clone(),
                    average_percent: a
                        .average_points
                        .parse::<Decimal>()
                        .map(pct_of)
                        .unwrap_or_default(),
                    previous_percent: previous
                        .map(|p| {
                            pct_of(dec(p
                                .scores
                                .iter()
                                .filter(|s| s.area == a.area)
                                .map(|s| s.points)
                                .sum()))
                        })
                        .unwrap_or_default(),
                }
            })
            .collect::<Vec<_>>();
        let mut profile = pb::RadarProfile {
            evaluation: c.evaluation.clone(),
            previous_evaluation: previous.map(|p| p.evaluation.clone()).unwrap_or_default(),
            axes,
            svg: String::new(),
        };
        let (labels, series) = pdf::report_series(r, Some(&profile));
        let labels: Vec<String> = labels
            .iter()
            .zip(&r.areas)
            .map(|(id, a)| format!("{id}. {}", a.title))
            .collect();
        profile.svg = radar::svg(
            &format!(
                "{} – {} ({})",
                if en {
                    "Result profile"
                } else {
                    "Resultatprofil"
                },
                r.tenant_display_name,
                r.evaluation_date
            ),
            &labels,
            &series,
        );
        Ok(profile)
    }
}

async fn key_figures(st: &Reporting, code: &str) -> Result<Vec<pb::KeyFigure>, Error> {
    Ok(store::key_figures(&st.db, code)
        .await?
        .into_iter()
        .map(|(kpi, period, gender, value, national)| pb::KeyFigure {
            kpi,
            period,
            gender,
            value: value.unwrap_or_default(),
            national_value: national.unwrap_or_default(),
        })
        .collect())
}

fn population(c: i32) -> Result<Option<(i64, i64)>, Error> {
    Ok(match pb::PopulationClass::try_from(c) {
        Ok(pb::PopulationClass::Unspecified) => None,
        Ok(pb::PopulationClass::Under10k) => Some((0, 10_000)),
        Ok(pb::PopulationClass::From10kTo25k) => Some((10_000, 25_000)),
        Ok(pb::PopulationClass::From25kTo50k) => Some((25_000, 50_000)),
        Ok(pb::PopulationClass::From50kTo100k) => Some((50_000, 100_000)),
        Ok(pb::PopulationClass::From100k) => Some((100_000, i64::MAX)),
        Err(_) => {
            return Err(Error::invalid(
                "unknown population_class",
                "okänd population_class",
            ));
        }
    })
}

/// Parses Kolada v3 JSON into values; `value: null` stays null.
pub fn parse_kolada(bytes: &[u8]) -> Result<Vec<store::KeyValue>, Error> {
    let bad = |en: String, sv: String| Error::InvalidArgument(Msg::new(en, sv));
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            format!("the key figures are not JSON: {e}"),
            format!("nyckeltalen är inte JSON: {e}"),
        )
    })?;
    let items = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("values") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            _ => vec![v.clone()],
        },
        _ => vec![],
    };
    let text = |x: Option<&serde_json::Value>| -> String {
        match x {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    let mut out = vec![];
    for (i, it) in items.iter().enumerate() {
        let kpi = text(it.get("kpi"));
        let municipality = text(it.get("municipality"));
        let period = text(it.get("period"));
        if kpi.is_empty()
            || period.is_empty()
            || municipality.len() != 4
            || !municipality.chars().all(|c| c.is_ascii_digit())
        {
            return Err(bad(
                format!(
                    "item {}: kpi, a 4-digit municipality and period are required",
                    i + 1
                ),
                format!(
                    "post {}: kpi, en fyrsiffrig kommunkod och period krävs",
                    i + 1
                ),
            ));
        }
        let vals = it
            .get("values")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        for val in vals {
            let gender = text(val.get("gender"));
            let gender = if gender.is_empty() {
                "T".to_string()
            } else {
                gender
            };
            if !["T", "K", "M"].contains(&gender.as_str()) {
                return Err(bad(
                    format!("item {}: gender must be T, K or M", i + 1),
                    format!("post {}: kön måste vara T, K eller M", i + 1),
                ));
            }
            let value = match val.get("value") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::Number(n)) => {
                    let s = n.to_string();
                    Some(
                        Decimal::from_str(&s)
                            .or_else(|_| Decimal::from_scientific(&s))
                            .map_err(|_| {
                                bad(
                                    format!("item {}: value {s} is not a number", i + 1),
                                    format!("post {}: värdet {s} är inget tal", i + 1),
                                )
                            })?,
                    )
                }
                Some(other) => {
                    return Err(bad(
                        format!("item {}: value {other} is not a number or null", i + 1),
                        format!("post {}: värdet {other} är varken tal eller null", i + 1),
                    ));
                }
            };
            out.push(store::KeyValue {
                kpi: kpi.clone(),
                municipality: municipality.clone(),
                period: period.clone(),
                gender,
                value,
            });
        }
    }
    Ok(out)
}

fn file(filename: String, content_type: &str, content: Vec<u8>) -> pb::ExportedFile {
    pb::ExportedFile {
        filename,
        content_type: content_type.into(),
        content,
    }
}

#[tonic::async_trait]
impl ReportingService for Api {
    async fn list_published_results(
        &self,
        req: Request<pb::ListPublishedResultsRequest>,
    ) -> Result<Response<pb::ListPublishedResultsResponse>, Status> {
        let c = caller(&req);
        c.user()?;
        if !is_national(&c) {
            return Err(Error::denied(
                "national results are for analysts and operators",
                "nationella resultat är till för analytiker och operatörer",
            )
            .into());
        }
        let r = req.into_inner();
        let size = paging::page_size(r.page_size)?;
        let after = paging::decode(&r.page_token)?;
        let rows =
            store::all_evaluations(&self.0.db, &r.framework_version, after.as_deref(), size + 1)
                .await?;
        let named = self.0.named_tenants().await?;
        let (rows, next) = paging::finish(rows, size, |e| e.evaluation.clone());
        Ok(Response::new(pb::ListPublishedResultsResponse {
            results: rows
                .into_iter()
                .map(|e| pb::PublishedResult {
                    total_points: kompass_scoring::format_points(dec(e.total())),
                    tenant_display_name: named.get(&e.tenant_id).cloned().unwrap_or_default(),
                    tenant: format!("tenants/{}", e.tenant_id),
                    evaluation: e.evaluation,
                    framework_version: e.framework_version,
                    evaluation_date: e.evaluation_date,
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn get_evaluation_report(
        &self,
        req: Request<pb::GetEvaluationReportRequest>,
    ) -> Result<Response<pb::EvaluationReport>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let (ev, public) = self.0.open(&c, &r.name).await?;
        Ok(Response::new(
            self.0.report(&ev, language(&r.language), public).await?,
        ))
    }

    async fn export_evaluation_report(
        &self,
        req: Request<pb::ExportEvaluationReportRequest>,
    ) -> Result<Response<pb::ExportedFile>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let en = language(&r.language);
        let (ev, public) = self.0.open(&c, &r.name).await?;
        let rep = self.0.report(&ev, en, public).await?;
        let base = r.name.replace('/', "-");
        let f = match pb::ExportFormat::try_from(r.format).unwrap_or_default() {
            pb::ExportFormat::Pdf => {
                let lang = doc_lang(&r.language);
                let profile = self.0.radar(&ev, &rep, en).await?;
                let content = ev.content.clone().unwrap_or_default();
                let fw =
                    report::framework(self.0.catalog.db(), &content.framework_version, &content)
                        .await;
                let national = self
                    .0
                    .comparison(
                        &Filter {
                            framework_version: content.framework_version.clone(),
                            ..Default::default()
                        },
                        en,
                    )
                    .await?;
                let bytes = tokio::task::spawn_blocking(move || {
                    pdf::render(&rep, Some(&profile), Some(&national), &fw, lang)
                })
                .await
                .map_err(|e| Error::internal(format!("pdf: {e}")))?
                .map_err(|e| Error::internal(format!("pdf: {e}")))?;
                file(format!("{base}.pdf"), "application/pdf", bytes)
            }
            pb::ExportFormat::Xlsx => file(
                format!("{base}.xlsx"),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                export::xlsx(&rep).map_err(|e| Error::internal(format!("xlsx: {e}")))?,
            ),
            pb::ExportFormat::Csv => file(
                format!("{base}.csv"),
                "text/csv; charset=utf-8",
                export::csv(&rep).into_bytes(),
            ),
            _ => {
                return Err(Error::invalid(
                    "format must be PDF, XLSX or CSV",
                    "format måste vara PDF, XLSX eller CSV",
                )
                .into());
            }
        };
        Ok(Response::new(f))
    }

    async fn get_radar_profile(
        &self,
        req: Request<pb::GetRadarProfileRequest>,
    ) -> Result<Response<pb::RadarProfile>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let en = language(&r.language);
        let (ev, public) = self.0.open(&c, &r.name).await?;
        let rep = self.0.report(&ev, en, public).await?;
        Ok(Response::new(self.0.radar(&ev, &rep, en).await?))
    }

    async fn get_national_comparison(
        &self,
        req: Request<pb::GetNationalComparisonRequest>,
    ) -> Result<Response<pb::NationalComparison>, Status> {
        let public = caller(&req).is_anonymous();
        let r = req.into_inner();
        if r.framework_version.is_empty() {
            return Err(Error::invalid(
                "framework_version is required: results of different revisions are never compared",
                "framework_version krävs: resultat från olika revisioner jämförs aldrig",
            )
            .into());
        }
        if r.from_year > 0 && r.to_year > 0 && r.from_year > r.to_year {
            return Err(Error::invalid(
                "from_year is after to_year",
                "from_year ligger efter to_year",
            )
            .into());
        }
        let f = Filter {
            framework_version: r.framework_version,
            country: r.country.to_uppercase(),
            from_year: r.from_year,
            to_year: r.to_year,
            population: population(r.population_class)?,
        };
        let en = i18n::current() == Lang::En;
        let cmp = if public {
            self.0.public_comparison(&f, en).await?
        } else {
            self.0.comparison(&f, en).await?
        };
        Ok(Response::new(cmp))
    }

    async fn export_national_comparison(
        &self,
        req: Request<pb::ExportNationalComparisonRequest>,
    ) -> Result<Response<pb::ExportedFile>, Status> {
        let c = caller(&req);
        let r = req.into_inner();
        let lang = doc_lang(&r.language);
        let filters = pdf::ComparisonFilters {
            country: r.country.to_uppercase(),
            from_year: r.from_year,
            to_year: r.to_year,
            population_class: r.population_class,
        };
        // The same figures, checks and ranking rules as GetNationalComparison.
        let mut get = Request::new(pb::GetNationalComparisonRequest {
            framework_version: r.framework_version.clone(),
            country: r.country,
            from_year: r.from_year,
            to_year: r.to_year,
            population_class: r.population_class,
        });
        get.extensions_mut().insert(c);
        let cmp = self.get_national_comparison(get).await?.into_inner();
        let fw = report::framework(
            self.0.catalog.db(),
            &r.framework_version,
            &apb::PublishedContent::default(),
        )
        .await;
        let base = format!(
            "national-comparison-{}",
            r.framework_version.replace('/', "-")
        );
        let bytes =
            tokio::task::spawn_blocking(move || pdf::render_comparison(&cmp, &fw, &filters, lang))
                .await
                .map_err(|e| Error::internal(format!("pdf: {e}")))?
                .map_err(|e| Error::internal(format!("pdf: {e}")))?;
        Ok(Response::new(file(
            format!("{base}.pdf"),
            "application/pdf",
            bytes,
        )))
    }

    async fn compare_evaluations(
        &self,
        req: Request<pb::CompareEvaluationsRequest>,
    ) -> Result<Response<pb::EvaluationComparison>, Status> {
        let c = caller(&req);
        c.user()?;
        let r = req.into_inner();
        let (t1, _) = names::tenant_child(&r.base, "evaluations")?;
        let (t2, _) = names::tenant_child(&r.target, "evaluations")?;
        if t1 != t2 {
            return Err(Error::invalid(
                "base and target must be evaluations of the same tenant",
                "bas och mål måste vara utvärderingar av samma kommun",
            )
            .into());
        }
        let (b, _) = self.0.open(&c, &r.base).await?;
        let (t, _) = self.0.open(&c, &r.target).await?;
        let (bc, tc) = (b.content.unwrap_or_default(), t.content.unwrap_or_default());
        if bc.framework_version != tc.framework_version {
            return Err(Error::precondition(
                "the evaluations were scored on different framework revisions and are not comparable",
                "utvärderingarna är gjorda på olika ramverksrevisioner och går inte att jämföra",
            )
            .into());
        }
        let (bs, ts) = (store::content_scores(&bc)?, store::content_scores(&tc)?);
        let change = |id: &str, b: i64, t: i64| pb::Change {
            id: id.into(),
            base_points: kompass_scoring::format_points(dec(b)),
            target_points: kompass_scoring::format_points(dec(t)),
            change: kompass_scoring::format_points(dec(t - b)),
            display_change: kompass_scoring::round_display(dec(t - b)).to_string(),
        };
        let bq: BTreeMap<&str, i64> = bs.iter().map(|s| (s.question.as_str(), s.points)).collect();
        let mut areas: Vec<(String, i64, i64)> = vec![];
        let mut questions = vec![];
        for s in &ts {
            let b = bq.get(s.question.as_str()).copied().unwrap_or(0);
            questions.push(change(&s.question, b, s.points));
            match areas.iter_mut().find(|a| a.0 == s.area) {
                Some(a) => {
                    a.1 += b;
                    a.2 += s.points;
                }
                None => areas.push((s.area.clone(), b, s.points)),
            }
        }
        let (tb, tt) = areas
            .iter()
            .fold((0, 0), |acc, a| (acc.0 + a.1, acc.1 + a.2));
        Ok(Response::new(pb::EvaluationComparison {
            base: r.base,
            target: r.target,
            base_kind: store::kind_str(bc.kind).into(),
            target_kind: store::kind_str(tc.kind).into(),
            total: Some(change("", tb, tt)),
            areas: areas.iter().map(|a| change(&a.0, a.1, a.2)).collect(),
            questions,
        }))
    }

    async fn search_good_examples(
        &self,
        req: Request<pb::SearchGoodExamplesRequest>,
    ) -> Result<Response<pb::SearchGoodExamplesResponse>, Status> {
        let r = req.into_inner();
        let q = r.query.trim();
        if q.is_empty() || q.chars().count() > 200 {
            return Err(Error::invalid(
                "query must have 1 to 200 characters",
                "sökfrågan måste ha 1 till 200 tecken",
            )
            .into());
        }
        let size = paging::page_size(r.page_size)?;
        let hits =
            store::search_texts(&self.0.db, q, &r.language, &r.framework_version, size).await?;
        let named = self.0.named_tenants().await?;
        let mut events: BTreeMap<String, Option<apb::EvaluationPublishedEvent>> = BTreeMap::new();
        let mut out = vec![];
        for h in hits {
            let Some(name) = named.get(&h.tenant_id) else {
                continue;
            };
            if !events.contains_key(&h.evaluation) {
                let e = store::event(&self.0.db, &h.evaluation).await?;
                events.insert(h.evaluation.clone(), e);
            }
            let Some(Some(ev)) = events.get(&h.evaluation) else {
                continue;
            };
            let scores = store::content_scores(&ev.content.clone().unwrap_or_default())?;
            let area: Vec<&store::Score> = scores.iter().filter(|s| s.area == h.area).collect();
            out.push(pb::GoodExample {
                tenant: format!("tenants/{}", h.tenant_id),
                tenant_display_name: name.clone(),
                evaluation: h.evaluation,
                area: h.area.clone(),
                questions: area
                    .iter()
                    .map(|s| pb::QuestionPoints {
                        question: s.question.clone(),
                        points: kompass_scoring::format_points(dec(s.points)),
                        max_points: dec(s.max).normalize().to_string(),
                    })
                    .collect(),
                area_points: kompass_scoring::format_points(dec(area
                    .iter()
                    .map(|s| s.points)
                    .sum())),
                source: h.source,
                passage: h.body,
            });
        }
        Ok(Response::new(pb::SearchGoodExamplesResponse {
            examples: out,
        }))
    }

    async fn import_key_figures(
        &self,
        req: Request<pb::ImportKeyFiguresRequest>,
    ) -> Result<Response<pb::ImportKeyFiguresResponse>, Status> {
        let c = caller(&req);
        c.require_operator()?;
        let vals = parse_kolada(&req.into_inner().content)?;
        store::store_key_figures(&self.0.db, &vals).await?;
        Ok(Response::new(pb::ImportKeyFiguresResponse {
            imported: vals.len() as i32,
        }))
    }

    async fn list_key_figures(
        &self,
        req: Request<pb::ListKeyFiguresRequest>,
    ) -> Result<Response<pb::ListKeyFiguresResponse>, Status> {
        let c = caller(&req);
        c.user()?;
        let tenant = names::tenant(&req.get_ref().tenant)?;
        if !is_national(&c)
            && c.tenant_role(&tenant).is_none()
            && !self.0.is_public(&tenant).await?
        {
            return Err(Error::denied(
                "key figures of this municipality are for its users, operators and analysts",
                "kommunens nyckeltal är till för dess användare, operatörer och analytiker",
            )
            .into());
        }
        let t = self.0.catalog.require_tenant(&tenant).await?;
        Ok(Response::new(pb::ListKeyFiguresResponse {
            key_figures: key_figures(&self.0, &t.municipality_code).await?,
        }))
    }

    async fn get_portfolio(
        &self,
        req: Request<pb::GetPortfolioRequest>,
    ) -> Result<Response<pb::Portfolio>, Status> {
        let c = caller(&req);
        c.user()?;
        let r = req.into_inner();
        let v = names::parse(&r.name, &["tenants", "*", "portfolio"])?;
        let tenant = TenantId::parse(v[0])?;
        if !c.is_operator() && c.tenant_role(&tenant).is_none() {
            return Err(Error::denied(
                "the project portfolio is for the municipality's users and operators",
                "projektportföljen är till för kommunens användare och operatörer",
            )
            .into());
        }
        let evaluation = if r.evaluation.is_empty() {
            portfolio::default_evaluation(&self.0.db, &tenant).await?
        } else {
            let (t, _) = names::tenant_child(&r.evaluation, "evaluations")?;
            if t != tenant {
                return Err(Error::invalid(
                    "evaluation must be one of the portfolio's own tenant",
                    "utvärderingen måste höra till portföljens egen kommun",
                )
                .into());
            }
            Some(r.evaluation.clone())
        };
        let content = match &evaluation {
            Some(e) => Some(
                store::event(&self.0.db, e)
                    .await?
                    .ok_or_else(|| not_found(e))?
                    .content
                    .unwrap_or_default(),
            ),
            None => None,
        };
        let rows = portfolio::projects(&self.0.db, &tenant).await?;
        Ok(Response::new(portfolio::build(
            &tenant,
            rows,
            content.as_ref(),
        )))
    }

    async fn export_open_data(
        &self,
        req: Request<pb::ExportOpenDataRequest>,
    ) -> Result<Response<pb::ExportedFile>, Status> {
        let r = req.into_inner();
        let named = self.0.named_tenants().await?;
        let mut rows = vec![];
        let mut after: Option<String> = None;
        loop {
            let page =
                store::all_evaluations(&self.0.db, &r.framework_version, after.as_deref(), 1000)
                    .await?;
            let done = page.len() < 1000;
            after = page.last().map(|e| e.evaluation.clone());
            rows.extend(
                page.into_iter()
                    .filter(|e| named.contains_key(&e.tenant_id)),
            );
            if done {
                break;
            }
        }
        let mut metas = BTreeMap::new();
        for t in rows
            .iter()
            .map(|e| e.tenant_id.clone())
            .collect::<BTreeSet<_>>()
        {
            metas.insert(t.clone(), store::tenant_meta(&self.0.db, &t).await?);
        }
        let mut items = vec![];
        for e in &rows {
            let ev = store::event(&self.0.db, &e.evaluation).await?;
            let imported = ev
                .as_ref()
                .and_then(|x| x.content.as_ref())
                .and_then(|c| c.import_record.clone());
            let seal = ev.and_then(|x| x.seal).unwrap_or_default();
            let meta = metas.get(&e.tenant_id).cloned().flatten();
            let mut areas: Vec<(String, i64, i64)> = vec![];
            for s in &e.scores {
                match areas.iter_mut().find(|a| a.0 == s.area) {
                    Some(a) => {
                        a.1 += s.points;
                        a.2 += s.max;
                    }
                    None => areas.push((s.area.clone(), s.points, s.max)),
                }
            }
            items.push(serde_json::json!({
                "tenant": e.tenant_id,
                "tenant_display_name": named.get(&e.tenant_id),
                "municipality_code": meta.as_ref().map(|m| m.municipality_code.clone()).unwrap_or_default(),
                "country": meta.as_ref().map(|m| m.country.clone()).unwrap_or_default(),
                "evaluation": e.evaluation,
                "framework_version": e.framework_version,
                "evaluation_date": e.evaluation_date,
                "total_points": kompass_scoring::format_points(dec(e.total())),
                "areas": areas.iter().map(|a| serde_json::json!({
                    "area": a.0, "points": kompass_scoring::format_points(dec(a.1)),
                    "max_points": dec(a.2).normalize().to_string(),
                })).collect::<Vec<_>>(),
                "questions": e.scores.iter().map(|s| serde_json::json!({
                    "question": s.question, "area": s.area,
                    "points": kompass_scoring::format_points(dec(s.points)),
                    "max_points": dec(s.max).normalize().to_string(),
                })).collect::<Vec<_>>(),
                "seal": {
                    "algorithm": seal.algorithm, "digest": seal.digest,
                    "canonicalization": seal.canonicalization,
                },
                "import_record": imported.as_ref().map(|r| serde_json::json!({
                    "imported_by": r.imported_by_display_name,
                    "role": report::import_role(r),
                    "import_time": r.import_time.and_then(|t| {
                        chrono::DateTime::from_timestamp(t.seconds, 0)
                            .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    }),
                    "source": r.source,
                })),
            }));
        }
        let f = match pb::ExportFormat::try_from(r.format).unwrap_or_default() {
            pb::ExportFormat::Json => file(
                "kommunkompassen-open-data.json".into(),
                "application/json",
                serde_json::to_vec_pretty(&items).expect("serialisable"),
            ),
            pb::ExportFormat::Csv => {
                let mut out = String::from(
                    "tenant,tenant_display_name,municipality_code,framework_version,evaluation_date,evaluation,seal_algorithm,seal_digest,level,id,points,max_points,imported_by,import_role,import_time,import_source\n",
                );
                for it in &items {
                    let s = |k: &str| it[k].as_str().unwrap_or_default().to_string();
                    let head = [
                        s("tenant"),
                        s("tenant_display_name"),
                        s("municipality_code"),
                        s("framework_version"),
                        s("evaluation_date"),
                        s("evaluation"),
                        it["seal"]["algorithm"].as_str().unwrap_or_default().into(),
                        it["seal"]["digest"].as_str().unwrap_or_default().into(),
                    ]
                    .map(|x| export::csv_field(&x))
                    .join(",");
                    let imp = &it["import_record"];
                    let tail = ["imported_by", "role", "import_time", "source"]
                        .map(|k| export::csv_field(imp[k].as_str().unwrap_or_default()))
                        .join(",");
                    let mut line = |level: &str, id: &str, p: &str, m: &str| {
                        out.push_str(&format!(
                            "{head},{},{},{},{},{tail}\n",
                            export::csv_field(level),
                            export::csv_field(id),
                            export::csv_field(p),
                            export::csv_field(m)
                        ));
                    };
                    for q in it["questions"].as_array().into_iter().flatten() {
                        line(
                            "question",
                            q["question"].as_str().unwrap_or_default(),
                            q["points"].as_str().unwrap_or_default(),
                            q["max_points"].as_str().unwrap_or_default(),
                        );
                    }
                    for a in it["areas"].as_array().into_iter().flatten() {
                        line(
                            "area",
                            a["area"].as_str().unwrap_or_default(),
                            a["points"].as_str().unwrap_or_default(),
                            a["max_points"].as_str().unwrap_or_default(),
                        );
                    }
                }
                file(
                    "kommunkompassen-open-data.csv".into(),
                    "text/csv; charset=utf-8",
                    out.into_bytes(),
                )
            }
            _ => {
                return Err(Error::invalid(
                    "format must be CSV or JSON",
                    "format måste vara CSV eller JSON",
                )
                .into());
            }
        };
        Ok(Response::new(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kolada_values_keep_null_and_exact_decimals() {
        let v = parse_kolada(
            br#"{"values":[{"kpi":"N00945","municipality":"1860","period":"2009","values":[{"gender":"T","count":1,"status":"","value":12.3},{"gender":"K","count":0,"status":"","value":null}]}]}"#,
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].value, Some(Decimal::new(123, 1)));
        assert_eq!(v[1].value, None);
        assert!(parse_kolada(br#"[{"kpi":"N1","municipality":"18","period":"2009"}]"#).is_err());
    }
}

//! The demo `kompass dev` seeds once its services are up: about thirty
//! fictional municipalities with published results on the built-in 2015
//! revision, Östra kommun with a published evaluation (full report texts) and
//! one in SCORING for the demo evaluator, Västra kommun with a self-assessment
//! in progress, and an improvement project.
//!
//! Everything goes through the services' public gRPC APIs with the demo
//! users' tokens, so every rule of the services applies. Points are derived
//! from fixed seeds (no clock, no randomness), and each step first looks at
//! what exists, so a second start on the same data dir writes nothing, and a
//! start interrupted midway is completed by the next one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use kompass_proto::assessment::v1 as apb;
use kompass_proto::projects::v1 as ppb;
use kompass_proto::reporting::v1 as rpb;
use kompass_proto::tenancy::v1 as tpb;
use tonic::transport::Channel;

use apb::evaluation::State;

const FRAMEWORK: &str = "frameworks/kommunkompassen/versions/2015";
/// Marks every historic import as invented, in the title shown on every
/// page and in the evaluator names.
const DEMO_MARK: &str = "fiktiva demodata";
const DEMO_EVALUATORS: [&str; 2] = ["Demoutvärderare A (fiktiv)", "Demoutvärderare B (fiktiv)"];

/// A fictional municipality: tenant id, name, code, population, named in
/// comparisons (public). The names are invented so that no real
/// municipality is shown with invented results; the codes are in the 99xx
/// range, which no Swedish county uses.
pub struct Municipality {
    pub id: &'static str,
    pub name: &'static str,
    pub code: &'static str,
    pub population: i64,
    pub named: bool,
}

const fn m(
    id: &'static str,
    name: &'static str,
    code: &'static str,
    population: i64,
    named: bool,
) -> Municipality {
    Municipality {
        id,
        name,
        code,
        population,
        named,
    }
}

pub const MUNICIPALITIES: &[Municipality] = &[
    m("bjorkvika", "Björkvika kommun", "9903", 6_200, true),
    m("norrfjalla", "Norrfjälla kommun", "9904", 3_900, true),
    m("sjohamra", "Sjöhamra kommun", "9905", 27_400, true),
    m("ekbacka", "Ekbacka kommun", "9906", 14_800, true),
    m("lindasa", "Lindåsa kommun", "9907", 58_300, true),
    m("granvika", "Granvika kommun", "9908", 186_200, false),
    m("stenmora", "Stenmora kommun", "9909", 121_500, true),
    m("ljungsalva", "Ljungsälva kommun", "9910", 33_700, true),
    m(
        "vasterbrinken",
        "Västerbrinken kommun",
        "9911",
        71_200,
        true,
    ),
    m("ostermyra", "Östermyra kommun", "9912", 11_600, true),
    m("hagaberga", "Hagaberga kommun", "9913", 46_900, true),
    m("tallasa", "Tallåsa kommun", "9914", 7_800, true),
    m("backhamra", "Bäckhamra kommun", "9915", 19_300, false),
    m("ronnvika", "Rönnvika kommun", "9916", 131_700, true),
    m("forsmora", "Forsmora kommun", "9917", 88_600, true),
    m("sandhamra", "Sandhamra kommun", "9918", 5_400, true),
    m("kvarnsalva", "Kvarnsälva kommun", "9919", 16_900, true),
    m("furulida", "Furulida kommun", "9920", 38_200, true),
    m("almhojda", "Almhöjda kommun", "9921", 152_800, true),
    m("skogsvalla", "Skogsvalla kommun", "9922", 12_700, true),
    m("dalsbrunna", "Dalsbrunna kommun", "9923", 8_600, false),
    m("myrtorpa", "Myrtorpa kommun", "9924", 2_700, true),
    m("asbrunna", "Åsbrunna kommun", "9925", 64_500, true),
    m("klippvika", "Klippvika kommun", "9926", 108_400, true),
    m("hallmora", "Hällmora kommun", "9927", 30_600, true),
    m("vitvalla", "Vitvalla kommun", "9928", 99_400, true),
    m("ormbacka", "Ormbacka kommun", "9929", 10_200, true),
    m("angsmora", "Ängsmora kommun", "9930", 43_100, false),
    m("lovhamra", "Lövhamra kommun", "9931", 17_500, true),
    m("korpfjalla", "Korpfjälla kommun", "9932", 4_600, true),
];

/// Years on the 2015 revision (in use 2016–2019) a municipality was
/// evaluated in: one to three, from its position in the list.
pub fn years(index: usize) -> Vec<i32> {
    let first = 2016 + (index % 3) as i32;
    let mut ys = vec![first];
    if index % 4 != 3 {
        let next = first + 1 + (index % 2) as i32;
        if next <= 2019 {
            ys.push(next);
        }
    }
    if index.is_multiple_of(6) && ys.last().is_some_and(|y| *y < 2019) {
        ys.push(2019);
    }
    ys
}

/// The historic imports (tenant, year) the demo holds: Västra kommun's 2017
/// result and every fictional municipality's.
pub fn historic() -> Vec<(&'static str, i32)> {
    let mut out = vec![("vastra", 2017)];
    for (i, m) in MUNICIPALITIES.iter().enumerate() {
        out.extend(years(i).into_iter().map(|y| (m.id, y)));
    }
    out
}

// ---------------------------------------------------------------- points

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// splitmix64: a fixed, well-spread function of its input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn spread(seed: u64, salt: &str, width: u64) -> i64 {
    (mix(seed ^ fnv(salt)) % width) as i64
}

/// Points in hundredths from a decimal string with at most two decimals
/// ("15", "12.5", "16.80").
pub fn centi(s: &str) -> anyhow::Result<i64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 2 {
        bail!("{s:?} has more than two decimals");
    }
    let int: i64 = int.parse().with_context(|| format!("points {s:?}"))?;
    let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
    Ok(int * 100 + frac)
}

/// "16.80" from 1680.
pub fn points_text(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}

/// Points per question (hundredths) for `who` in `year`. Evaluators judge a
/// question as a whole percentage of its maximum (84 % of 20 = 16.80); a
/// municipality has a general level, stronger and weaker areas, improves a
/// little between evaluations, and the grand total stays within 350–650.
/// `questions` is (area id, question id, maximum in hundredths).
pub fn scores(who: &str, year: i32, questions: &[(String, String, i64)]) -> Vec<(String, i64)> {
    let seed = fnv(who);
    let level = 47 + spread(seed, "level", 28) + i64::from(year - 2016);
    let pct = |shift: i64, area: &str, q: &str| {
        let area_bias = spread(seed, &format!("area {area}"), 25) - 12;
        let noise = spread(seed, &format!("{year} {q}"), 19) - 9;
        (level + area_bias + noise + shift).clamp(8, 100)
    };
    let at = |shift: i64| -> Vec<(String, i64)> {
        questions
            .iter()
            .map(|(a, q, max)| (q.clone(), max * pct(shift, a, q) / 100))
            .collect()
    };
    let mut shift = 0;
    loop {
        let s = at(shift);
        let total: i64 = s.iter().map(|(_, p)| p).sum();
        match total {
            t if t < 35_500 => shift += 1,
            t if t > 64_500 => shift -= 1,
            _ => return s,
        }
    }
}

// ---------------------------------------------------------------- Östra's texts

struct AreaTexts {
    general: &'static str,
    headings: &'static [&'static str],
    strengths: &'static [&'static str],
    /// (text, question ids)
    opportunities: &'static [(&'static str, &'static [&'static str])],
}

/// The report texts of Östra kommun's published evaluation, one entry per
/// area of the 2015 revision, one heading text per heading.
const OSTRA_TEXTS: [AreaTexts; 8] = [
    AreaTexts {
        general: "Östra kommun har under senare år tagit flera steg för att öppna den politiska processen för invånarna. Information om beslut och resultat är lätt att hitta, medan dialogen med invånarna ännu bygger mycket på enskilda nämnders initiativ.",
        headings: &[
            "Kommunfullmäktige antog 2018 en demokratistrategi med mål för information och delaktighet; den följs upp årligen i årsredovisningen.",
            "Kallelser, protokoll och webbsända sammanträden finns på webbplatsen. Kommunen publicerar en lättläst sammanfattning av budgeten.",
            "Medborgardialoger genomförs inför större planbeslut, men återkopplingen till deltagarna om vad dialogen ledde till är inte systematisk.",
            "Det finns en antagen policy mot mutor och jäv; utbildning ges till nya chefer men inte till förtroendevalda.",
        ],
        strengths: &[
            "Webbsända fullmäktigesammanträden med textning och arkiv",
            "Lättläst budgetsammanfattning som delas ut till alla hushåll",
        ],
        opportunities: &[
            (
                "Återkoppla systematiskt till invånarna vad medborgardialogerna har lett till",
                &["1.4"],
            ),
            ("Erbjud etikutbildning även för förtroendevalda", &["1.5"]),
        ],
    },
    AreaTexts {
        general: "Brukarfokus är uttalat i kommunens vision och de flesta förvaltningar mäter brukarnas nöjdhet. Resultaten används dock olika mycket i verksamhetsutvecklingen.",
        headings: &[
            "En kommunövergripande servicepolicy anger vad invånarna kan förvänta sig av kommunen.",
            "Kontaktcenter svarar på de flesta frågor direkt; svarstider följs upp varje månad.",
            "Webbplatsen beskriver tjänsterna utförligt och har tillgänglighetsredogörelse.",
            "Valfrihet finns inom hemtjänst och förskola; information om utförarna är jämförbar.",
            "Brukarundersökningar görs inom skola, äldreomsorg och bygglov, men sammanställs inte kommunövergripande.",
            "Synpunkter och klagomål registreras i ett gemensamt system; analysen av dem är ännu begränsad.",
        ],
        strengths: &[
            "Kontaktcenter med uppföljda svarstider",
            "Gemensamt system för synpunkter och klagomål",
        ],
        opportunities: &[(
            "Sammanställ brukarundersökningarna kommunövergripande och använd dem i budgetdialogen",
            &["2.4"],
        )],
    },
    AreaTexts {
        general: "Styrmodellen är väl känd bland politiker och chefer. De politiska målen är få och mätbara, och uppföljningen sker i en gemensam struktur.",
        headings: &[
            "Styrmodellen beskriver hur vision, mål och uppdrag hänger ihop från fullmäktige till enhet.",
            "Fullmäktige har fastställt tolv mål med indikatorer och målvärden för mandatperioden.",
            "Nämnderna får delårsrapporter och årsredovisning med analys av måluppfyllelsen.",
            "Delegationsordningarna är uppdaterade; rollfördelningen beskrivs i ett gemensamt dokument.",
            "Presidierna och förvaltningsledningarna möts regelbundet för dialog om uppdrag och resultat.",
        ],
        strengths: &[
            "Få och mätbara politiska mål med tydliga indikatorer",
            "Regelbundna dialogmöten mellan presidier och förvaltningsledningar",
        ],
        opportunities: &[(
            "Fördjupa analysen av orsaker i uppföljningen, inte bara måluppfyllelsen",
            &["3.3"],
        )],
    },
    AreaTexts {
        general: "Chefer har tydliga uppdrag och stort ansvar för sina enheter. Ledarutvecklingen är ambitiös men samarbetet över förvaltningsgränserna kan stärkas.",
        headings: &[
            "Ledarpolicyn beskriver förväntningar på chefer och medarbetare och revideras vart fjärde år.",
            "Enhetscheferna har ansvar för budget, personal och verksamhetens organisation.",
            "Tvärsektoriella uppdrag ges främst i projektform; ansvaret efter projektens slut är ibland otydligt.",
            "Varje chef har ett skriftligt uppdrag som följs upp i årliga samtal.",
            "Kommunledningen informerar chefer månatligen i chefsforum.",
            "Ett chefsprogram för nya chefer och ett för erfarna genomförs varje år.",
        ],
        strengths: &[
            "Skriftliga chefsuppdrag som följs upp årligen",
            "Chefsprogram för både nya och erfarna chefer",
        ],
        opportunities: &[(
            "Tydliggör ansvaret för tvärsektoriella frågor efter att projekt har avslutats",
            &["4.3"],
        )],
    },
    AreaTexts {
        general: "Kommunen följer kostnader och resultat noga och jämför sig med andra. Sambandet mellan resurser och resultat syns i budgetprocessen men kan göras tydligare för nämnderna.",
        headings: &[
            "En strategi för effektivitet antogs 2017 och kopplas till den årliga budgetprocessen.",
            "Budgetunderlagen redovisar kostnader per brukare för de större verksamheterna.",
            "Interna kontrollplaner finns för alla nämnder och följs upp två gånger per år.",
            "Resultatdialoger hålls mellan nämnd och förvaltning inför budgetarbetet.",
            "Kommunen använder nyckeltal från den nationella databasen och deltar i ett jämförelsenätverk.",
            "Samverkan med grannkommunerna finns inom räddningstjänst, IT och upphandling.",
        ],
        strengths: &[
            "Kostnad per brukare redovisas i budgetunderlagen",
            "Aktivt deltagande i ett jämförelsenätverk",
        ],
        opportunities: &[(
            "Använd jämförelserna för att sätta målvärden, inte bara för att beskriva läget",
            &["5.5"],
        )],
    },
    AreaTexts {
        general: "Östra kommun arbetar målmedvetet med att vara en attraktiv arbetsgivare. Kompetensförsörjningen är en utmaning inom vård och skola.",
        headings: &[
            "Personalpolitiska programmet anger mål för kompetensförsörjning, hälsa och lönebildning.",
            "Rekryteringen sker med kompetensbaserad metod och introduktion för alla nyanställda.",
            "Medarbetarsamtal med individuell utvecklingsplan hålls med nästan alla medarbetare.",
            "Lönekriterierna är kända och kopplade till verksamhetens mål.",
            "Medarbetarundersökningen görs vartannat år och följs upp på varje arbetsplats.",
            "En plan för mångfald finns, men uppföljningen av den är begränsad.",
        ],
        strengths: &[
            "Medarbetarundersökningen följs upp på varje arbetsplats",
            "Kompetensbaserad rekrytering med gemensam introduktion",
        ],
        opportunities: &[("Följ upp mångfaldsplanen med mätbara mål", &["6.6"])],
    },
    AreaTexts {
        general: "Förbättringsarbetet är väl utvecklat i vissa förvaltningar och i sin linda i andra. Ett gemensamt ramverk för kvalitetsarbete saknas ännu.",
        headings: &[
            "Det finns en kvalitetspolicy men ingen gemensam strategi för ständiga förbättringar.",
            "Avvikelsehantering finns inom vård och omsorg; i övriga verksamheter används den sällan.",
            "Kommunen deltar i regionala nätverk och studiebesök, men lärdomarna sprids inte systematiskt.",
            "En idébank för medarbetarnas förslag har startats inom samhällsbyggnad.",
        ],
        strengths: &["Väl fungerande avvikelsehantering inom vård och omsorg"],
        opportunities: &[
            (
                "Ta fram en kommunövergripande strategi för ständiga förbättringar",
                &["7.1"],
            ),
            (
                "Sprid avvikelsehanteringen till alla verksamheter",
                &["7.2"],
            ),
        ],
    },
    AreaTexts {
        general: "Kommunen tar en aktiv roll som samhällsbyggare och samarbetar brett med föreningsliv, kulturliv och näringsliv. Arbetet med social hållbarhet har fått en tydligare plats de senaste åren.",
        headings: &[
            "Översiktsplanen och en tillväxtstrategi anger inriktningen för samhällsbyggandet.",
            "En överenskommelse med den idéburna sektorn reglerar samverkan och stöd.",
            "Kulturrådet samordnar kommunens samarbete med kulturlivet.",
            "Ett näringslivsråd träffas kvartalsvis; företagslotsen ger snabba besked.",
            "Kommunen har ett vänortssamarbete och deltar i ett EU-projekt om landsbygdsutveckling.",
            "Miljöprogrammet följs upp årligen och en plan för social hållbarhet antogs 2019.",
        ],
        strengths: &[
            "Överenskommelse med den idéburna sektorn",
            "Företagslots som ger snabba besked",
        ],
        opportunities: &[(
            "Koppla planen för social hållbarhet till nämndernas mål och budget",
            &["8.7"],
        )],
    },
];

// ---------------------------------------------------------------- seeding

/// Tokens of the demo users.
#[derive(Clone)]
pub struct Tokens {
    pub operator: String,
    pub eva: String,
    pub anna: String,
    pub bertil: String,
    pub analyst: String,
}

/// What the demo holds, printed by `kompass dev`.
pub struct Summary {
    pub municipalities: usize,
    pub published: usize,
    pub public: usize,
    pub written: usize,
}

#[derive(Clone)]
struct Clients {
    tenants: tpb::tenant_service_client::TenantServiceClient<Channel>,
    frameworks: apb::framework_service_client::FrameworkServiceClient<Channel>,
    evaluations: apb::evaluation_service_client::EvaluationServiceClient<Channel>,
    scoring: apb::scoring_service_client::ScoringServiceClient<Channel>,
    narratives: apb::narrative_service_client::NarrativeServiceClient<Channel>,
    projects: ppb::project_service_client::ProjectServiceClient<Channel>,
    reporting: rpb::reporting_service_client::ReportingServiceClient<Channel>,
}

fn req<T>(token: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Ok(v) = format!("Bearer {token}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

async fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(url.to_string())?.connect().await?)
}

#[derive(Clone)]
struct Seeder {
    c: Clients,
    t: Tokens,
    /// (area id, question id, maximum in hundredths) in framework order.
    questions: Vec<(String, String, i64)>,
    /// Writes made, over all clones.
    written: Arc<AtomicUsize>,
}

/// Seeds the demo through the running services at `urls` (tenancy,
/// assessment, projects, reporting) and waits until reporting shows every
/// published result.
pub async fn seed(urls: [String; 4], tokens: Tokens) -> anyhow::Result<Summary> {
    let [t, a, p, r] = urls;
    let (t, a, p, r) = (
        channel(&t).await?,
        channel(&a).await?,
        channel(&p).await?,
        channel(&r).await?,
    );
    let c = Clients {
        tenants: tpb::tenant_service_client::TenantServiceClient::new(t),
        frameworks: apb::framework_service_client::FrameworkServiceClient::new(a.clone()),
        evaluations: apb::evaluation_service_client::EvaluationServiceClient::new(a.clone()),
        scoring: apb::scoring_service_client::ScoringServiceClient::new(a.clone()),
        narratives: apb::narrative_service_client::NarrativeServiceClient::new(a),
        projects: ppb::project_service_client::ProjectServiceClient::new(p),
        reporting: rpb::reporting_service_client::ReportingServiceClient::new(r),
    };
    let mut s = Seeder {
        c,
        t: tokens,
        questions: vec![],
        written: Arc::default(),
    };
    s.load_framework().await?;
    s.tenants().await.context("demo municipalities")?;
    // The three strands touch different tenant databases, so they run at
    // once; most of the time is the disk committing.
    let (mut h, mut o, mut v) = (s.clone(), s.clone(), s.clone());
    tokio::try_join!(
        async { h.historic().await.context("historic results") },
        async {
            let published = o
                .ostra_published()
                .await
                .context("Östra's published evaluation")?;
            o.ostra_scoring(&published)
                .await
                .context("Östra's evaluation in scoring")?;
            o.project(&published)
                .await
                .context("the improvement project")
        },
        async {
            v.vastra_self_assessment()
                .await
                .context("Västra's self-assessment")
        },
    )?;
    let expected = historic().len() + 1;
    let public = s.wait_for_reporting(expected).await?;
    Ok(Summary {
        municipalities: MUNICIPALITIES.len() + 2,
        published: expected,
        public,
        written: s.written.load(Ordering::Relaxed),
    })
}

impl Seeder {
    fn wrote(&self) {
        self.written.fetch_add(1, Ordering::Relaxed);
    }

    async fn load_framework(&mut self) -> anyhow::Result<()> {
        let fw = self
            .c
            .frameworks
            .get_framework_version(req(
                &self.t.operator,
                apb::GetFrameworkVersionRequest {
                    name: FRAMEWORK.into(),
                },
            ))
            .await?
            .into_inner();
        for a in &fw.areas {
            for q in &a.questions {
                self.questions
                    .push((a.id.clone(), q.id.clone(), centi(&q.max_points)?));
            }
        }
        Ok(())
    }

    async fn tenants(&mut self) -> anyhow::Result<()> {
        let existing: Vec<String> = self
            .c
            .tenants
            .list_tenants(req(
                &self.t.operator,
                tpb::ListTenantsRequest {
                    page_size: 1000,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner()
            .tenants
            .into_iter()
            .map(|t| t.name)
            .collect();
        // Onboarding is mostly waiting for the disk (a database per tenant,
        // migrated), so a few run at once.
        let missing: Vec<&Municipality> = MUNICIPALITIES
            .iter()
            .filter(|m| !existing.contains(&format!("tenants/{}", m.id)))
            .collect();
        for chunk in missing.chunks(6) {
            let mut set = tokio::task::JoinSet::new();
            for m in chunk {
                let mut client = self.c.tenants.clone();
                let r = req(
                    &self.t.operator,
                    tpb::CreateTenantRequest {
                        tenant_id: m.id.into(),
                        tenant: Some(tpb::Tenant {
                            display_name: m.name.into(),
                            country: tpb::Country::Se as i32,
                            municipality_code: m.code.into(),
                            population: m.population,
                            named_in_comparisons: m.named,
                            ..Default::default()
                        }),
                        database_server: String::new(),
                    },
                );
                let id = m.id;
                set.spawn(async move {
                    client
                        .create_tenant(r)
                        .await
                        .with_context(|| format!("creating {id}"))
                });
            }
            while let Some(r) = set.join_next().await {
                r??;
                self.wrote();
            }
        }
        Ok(())
    }

    async fn evaluations(
        &mut self,
        token: &str,
        tenant: &str,
    ) -> anyhow::Result<Vec<apb::Evaluation>> {
        Ok(self
            .c
            .evaluations
            .list_evaluations(req(
                token,
                apb::ListEvaluationsRequest {
                    parent: format!("tenants/{tenant}"),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .evaluations)
    }

    fn csv(&self, who: &str, year: i32) -> String {
        let mut csv = String::from("question,points\n");
        for (q, p) in scores(who, year, &self.questions) {
            csv.push_str(&format!("{q},{}\n", points_text(p)));
        }
        csv
    }

    /// Historic results, imported by the operator (the only one who puts
    /// external results from before the platform on record).
    async fn historic(&mut self) -> anyhow::Result<()> {
        let mut by_tenant: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, y) in historic() {
            by_tenant.entry(t).or_default().push(y);
        }
        let operator = self.t.operator.clone();
        for (tenant, years) in by_tenant {
            let titles: Vec<String> = self
                .evaluations(&operator, tenant)
                .await?
                .into_iter()
                .map(|e| e.title)
                .collect();
            for (i, year) in years.into_iter().enumerate() {
                let title = format!("Kommunkompassen {year} ({DEMO_MARK})");
                if titles.contains(&title) {
                    continue;
                }
                // Evaluations in the autumn, a little later each cycle.
                let date = format!("{year}-{:02}-{:02}", 9 + (i % 3), 10 + (fnv(tenant) % 15));
                let csv = self.csv(tenant, year).into_bytes();
                self.c
                    .evaluations
                    .import_evaluation(req(
                        &operator,
                        apb::ImportEvaluationRequest {
                            parent: format!("tenants/{tenant}"),
                            title,
                            kind: apb::EvaluationKind::External as i32,
                            framework_version: FRAMEWORK.into(),
                            evaluation_date: date,
                            evaluator_names: DEMO_EVALUATORS.map(String::from).to_vec(),
                            csv,
                            source: "Fiktiva demodata (kompass dev): inget verkligt resultat"
                                .into(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .with_context(|| format!("importing {tenant} {year}"))?;
                self.wrote();
            }
        }
        Ok(())
    }

    async fn find_or_create(
        &mut self,
        token: &str,
        tenant: &str,
        evaluation: apb::Evaluation,
    ) -> anyhow::Result<apb::Evaluation> {
        let token = token.to_string();
        if let Some(e) = self
            .evaluations(&token, tenant)
            .await?
            .into_iter()
            .find(|e| e.title == evaluation.title)
        {
            return Ok(e);
        }
        self.wrote();
        Ok(self
            .c
            .evaluations
            .create_evaluation(req(
                &token,
                apb::CreateEvaluationRequest {
                    parent: format!("tenants/{tenant}"),
                    evaluation: Some(evaluation),
                },
            ))
            .await?
            .into_inner())
    }

    async fn assign_lead(&mut self, ev: &apb::Evaluation) -> anyhow::Result<()> {
        let assigned = self
            .c
            .evaluations
            .list_assignments(req(
                &self.t.operator,
                apb::ListAssignmentsRequest {
                    parent: ev.name.clone(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .assignments
            .iter()
            .any(|a| a.user == "users/eva");
        if !assigned {
            self.c
                .evaluations
                .create_assignment(req(
                    &self.t.operator,
                    apb::CreateAssignmentRequest {
                        parent: ev.name.clone(),
                        assignment: Some(apb::Assignment {
                            user: "users/eva".into(),
                            role: apb::EvaluatorRole::Lead as i32,
                            ..Default::default()
                        }),
                    },
                ))
                .await?;
            self.wrote();
        }
        Ok(())
    }

    async fn transition(
        &mut self,
        token: &str,
        ev: &apb::Evaluation,
        to: State,
    ) -> anyhow::Result<apb::Evaluation> {
        self.wrote();
        Ok(self
            .c
            .evaluations
            .transition_evaluation(req(
                token,
                apb::TransitionEvaluationRequest {
                    name: ev.name.clone(),
                    to_state: to as i32,
                    etag: ev.etag.clone(),
                    reason: String::new(),
                },
            ))
            .await?
            .into_inner())
    }

    /// Sets the caller's own scores of `wanted` questions that have none yet.
    async fn score(
        &mut self,
        token: &str,
        ev: &apb::Evaluation,
        wanted: &[(String, i64)],
    ) -> anyhow::Result<()> {
        let mut own: HashMap<String, apb::Score> = HashMap::new();
        let mut page = String::new();
        loop {
            let r = self
                .c
                .scoring
                .list_scores(req(
                    token,
                    apb::ListScoresRequest {
                        parent: ev.name.clone(),
                        page_size: 1000,
                        page_token: page,
                    },
                ))
                .await?
                .into_inner();
            own.extend(r.scores.into_iter().map(|s| (s.question.clone(), s)));
            if r.next_page_token.is_empty() {
                break;
            }
            page = r.next_page_token;
        }
        for (q, p) in wanted {
            let current = own.get(q);
            if current.is_some_and(|s| !s.points.is_empty()) {
                continue;
            }
            self.c
                .scoring
                .update_score(req(
                    token,
                    apb::UpdateScoreRequest {
                        score: Some(apb::Score {
                            name: format!("{}/scores/{q}", ev.name),
                            points: points_text(*p),
                            etag: current.map(|s| s.etag.clone()).unwrap_or_default(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["points"]),
                    },
                ))
                .await
                .with_context(|| format!("scoring {q}"))?;
            self.wrote();
        }
        Ok(())
    }

    /// Östra kommun's 2019 evaluation, the whole way: created by the
    /// operator, the demo evaluator assigned as lead, scored, agreed, texts
    /// written and published by her.
    async fn ostra_published(&mut self) -> anyhow::Result<apb::Evaluation> {
        let operator = self.t.operator.clone();
        let eva = self.t.eva.clone();
        let mut ev = self
            .find_or_create(
                &operator,
                "ostra",
                apb::Evaluation {
                    title: "Kommunkompassen 2019".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FRAMEWORK.into(),
                    evaluation_date: "2019-11-14".into(),
                    ..Default::default()
                },
            )
            .await?;
        let points = scores("ostra", 2019, &self.questions);
        loop {
            match State::try_from(ev.state).unwrap_or(State::Unspecified) {
                State::Draft => {
                    self.assign_lead(&ev).await?;
                    ev = self.transition(&eva, &ev, State::Fieldwork).await?;
                }
                State::Fieldwork => ev = self.transition(&eva, &ev, State::Scoring).await?,
                State::Scoring => {
                    self.score(&eva, &ev, &points).await?;
                    ev = self.transition(&eva, &ev, State::Consensus).await?;
                }
                State::Consensus => {
                    self.agree(&eva, &ev, &points).await?;
                    self.texts(&eva, &ev).await?;
                    self.wrote();
                    ev = self
                        .c
                        .evaluations
                        .publish_evaluation(req(
                            &eva,
                            apb::PublishEvaluationRequest {
                                name: ev.name.clone(),
                                etag: ev.etag.clone(),
                            },
                        ))
                        .await?
                        .into_inner()
                        .evaluation
                        .context("published evaluation")?;
                }
                // Archived by hand later: the demo leaves it as it is.
                State::Published | State::Archived => return Ok(ev),
                State::Unspecified => bail!("{} has no state", ev.name),
            }
        }
    }

    async fn agree(
        &mut self,
        token: &str,
        ev: &apb::Evaluation,
        points: &[(String, i64)],
    ) -> anyhow::Result<()> {
        let agreed: HashMap<String, apb::AgreedScore> = self
            .c
            .scoring
            .list_agreed_scores(req(
                token,
                apb::ListAgreedScoresRequest {
                    parent: ev.name.clone(),
                    page_size: 1000,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner()
            .agreed_scores
            .into_iter()
            .map(|a| (a.question.clone(), a))
            .collect();
        for (q, p) in points {
            let Some(a) = agreed.get(q) else {
                bail!("no consensus row for question {q}");
            };
            if !a.points.is_empty() {
                continue;
            }
            self.c
                .scoring
                .update_agreed_score(req(
                    token,
                    apb::UpdateAgreedScoreRequest {
                        agreed_score: Some(apb::AgreedScore {
                            name: a.name.clone(),
                            points: points_text(*p),
                            etag: a.etag.clone(),
                            ..Default::default()
                        }),
                        update_mask: mask(&["points"]),
                    },
                ))
                .await
                .with_context(|| format!("agreeing {q}"))?;
            self.wrote();
        }
        Ok(())
    }

    async fn texts(&mut self, token: &str, ev: &apb::Evaluation) -> anyhow::Result<()> {
        let narratives = self
            .c
            .narratives
            .list_narratives(req(
                token,
                apb::ListNarrativesRequest {
                    parent: ev.name.clone(),
                    page_size: 1000,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner()
            .narratives;
        let existing: Vec<String> = self
            .c
            .narratives
            .list_improvement_opportunities(req(
                token,
                apb::ListImprovementOpportunitiesRequest {
                    parent: ev.name.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .improvement_opportunities
            .into_iter()
            .map(|o| o.text)
            .collect();
        for (i, texts) in OSTRA_TEXTS.iter().enumerate() {
            let area = (i + 1).to_string();
            let n = narratives
                .iter()
                .find(|n| n.area == area)
                .with_context(|| format!("no narrative for area {area}"))?;
            if n.general_text.is_empty() {
                self.c
                    .narratives
                    .update_narrative(req(
                        token,
                        apb::UpdateNarrativeRequest {
                            narrative: Some(apb::Narrative {
                                name: n.name.clone(),
                                general_text: texts.general.into(),
                                heading_texts: texts
                                    .headings
                                    .iter()
                                    .enumerate()
                                    .map(|(h, t)| apb::HeadingText {
                                        heading: h as i32 + 1,
                                        text: t.to_string(),
                                    })
                                    .collect(),
                                strengths: texts.strengths.iter().map(|s| s.to_string()).collect(),
                                etag: n.etag.clone(),
                                ..Default::default()
                            }),
                            update_mask: mask(&["general_text", "heading_texts", "strengths"]),
                        },
                    ))
                    .await
                    .with_context(|| format!("texts of area {area}"))?;
                self.wrote();
            }
            for (text, questions) in texts.opportunities {
                if existing.iter().any(|e| e == text) {
                    continue;
                }
                self.c
                    .narratives
                    .create_improvement_opportunity(req(
                        token,
                        apb::CreateImprovementOpportunityRequest {
                            parent: ev.name.clone(),
                            improvement_opportunity: Some(apb::ImprovementOpportunity {
                                area: area.clone(),
                                text: text.to_string(),
                                questions: questions.iter().map(|q| q.to_string()).collect(),
                                ..Default::default()
                            }),
                        },
                    ))
                    .await?;
                self.wrote();
            }
        }
        Ok(())
    }

    /// Östra kommun's next cycle: the demo evaluator leads it and has scored
    /// the first four areas so far.
    async fn ostra_scoring(&mut self, previous: &apb::Evaluation) -> anyhow::Result<()> {
        let operator = self.t.operator.clone();
        let eva = self.t.eva.clone();
        let mut ev = self
            .find_or_create(
                &operator,
                "ostra",
                apb::Evaluation {
                    title: "Kommunkompassen 2026".into(),
                    kind: apb::EvaluationKind::External as i32,
                    framework_version: FRAMEWORK.into(),
                    evaluation_date: "2026-11-19".into(),
                    previous_evaluation: previous.name.clone(),
                    ..Default::default()
                },
            )
            .await?;
        let so_far: Vec<(String, i64)> = scores("ostra", 2026, &self.questions)
            .into_iter()
            .filter(|(q, _)| ["1.", "2.", "3.", "4."].iter().any(|a| q.starts_with(a)))
            .collect();
        loop {
            match State::try_from(ev.state).unwrap_or(State::Unspecified) {
                State::Draft => {
                    self.assign_lead(&ev).await?;
                    ev = self.transition(&eva, &ev, State::Fieldwork).await?;
                }
                State::Fieldwork => ev = self.transition(&eva, &ev, State::Scoring).await?,
                State::Scoring => {
                    self.assign_lead(&ev).await?;
                    return self.score(&eva, &ev, &so_far).await;
                }
                // Moved on by hand (in the console, say): left as it is.
                State::Consensus | State::Published | State::Archived => return Ok(()),
                State::Unspecified => bail!("{} has no state", ev.name),
            }
        }
    }

    /// Västra kommun scores itself: the quality strategist has done the
    /// first three areas.
    async fn vastra_self_assessment(&mut self) -> anyhow::Result<()> {
        let bertil = self.t.bertil.clone();
        let mut ev = self
            .find_or_create(
                &bertil,
                "vastra",
                apb::Evaluation {
                    title: "Självskattning 2026".into(),
                    kind: apb::EvaluationKind::SelfAssessment as i32,
                    framework_version: FRAMEWORK.into(),
                    ..Default::default()
                },
            )
            .await?;
        if ev.state == State::Draft as i32 {
            ev = self.transition(&bertil, &ev, State::Scoring).await?;
        }
        if ev.state != State::Scoring as i32 {
            // Moved on by hand: left as it is.
            return Ok(());
        }
        let so_far: Vec<(String, i64)> = scores("vastra-self", 2026, &self.questions)
            .into_iter()
            .filter(|(q, _)| ["1.", "2.", "3."].iter().any(|a| q.starts_with(a)))
            .collect();
        self.score(&bertil, &ev, &so_far).await
    }

    /// Östra's improvement project on citizen dialogue, addressing the
    /// first improvement opportunity of the published evaluation.
    async fn project(&mut self, published: &apb::Evaluation) -> anyhow::Result<()> {
        const TITLE: &str = "Återkoppling från medborgardialoger";
        let anna = self.t.anna.clone();
        let opportunity = self
            .c
            .narratives
            .list_improvement_opportunities(req(
                &anna,
                apb::ListImprovementOpportunitiesRequest {
                    parent: published.name.clone(),
                    page_size: 1000,
                    area: "1".into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .improvement_opportunities
            .into_iter()
            .find(|o| o.questions.iter().any(|q| q == "1.4"))
            .context("Östra's opportunity on citizen dialogue")?;
        let existing = self
            .c
            .projects
            .list_projects(req(
                &anna,
                ppb::ListProjectsRequest {
                    parent: "tenants/ostra".into(),
                    page_size: 1000,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner()
            .projects
            .into_iter()
            .find(|p| p.title == TITLE);
        let project = match existing {
            Some(p) => p,
            None => {
                self.wrote();
                self.c
                    .projects
                    .create_project(req(&anna, demo_project(TITLE, published, &opportunity)))
                    .await?
                    .into_inner()
            }
        };
        let full = self
            .c
            .projects
            .get_project(req(
                &anna,
                ppb::GetProjectRequest {
                    name: project.name.clone(),
                    view: ppb::ProjectView::Full as i32,
                },
            ))
            .await?
            .into_inner();
        if full.milestones.is_empty() {
            self.c
                .projects
                .create_milestone(req(
                    &anna,
                    ppb::CreateMilestoneRequest {
                        parent: project.name.clone(),
                        milestone: Some(ppb::Milestone {
                            title: "Rutin för återkoppling beslutad".into(),
                            description: "Kommunstyrelsen beslutar om en gemensam rutin för hur deltagarna i en medborgardialog får veta vad dialogen ledde till.".into(),
                            due_date: "2027-03-31".into(),
                            responsible: "users/anna".into(),
                            status: ppb::WorkStatus::InProgress as i32,
                            ..Default::default()
                        }),
                    },
                ))
                .await?;
            self.wrote();
        }
        if full.risks.is_empty() {
            self.c
                .projects
                .create_risk(req(
                    &anna,
                    ppb::CreateRiskRequest {
                        parent: project.name.clone(),
                        risk: Some(ppb::Risk {
                            title: "Nämnderna prioriterar inte återkopplingen".into(),
                            description: "Utan uppföljning i nämndernas internkontroll riskerar rutinen att bli en pappersprodukt.".into(),
                            probability: ppb::Probability::Medium as i32,
                            consequence: ppb::Consequence::Significant as i32,
                            mitigations: vec![
                                "Återkopplingen följs upp i internkontrollplanen".into(),
                                "Presidierna informeras om rutinen vid dialogmötena".into(),
                            ],
                            owner: "users/anna".into(),
                            ..Default::default()
                        }),
                    },
                ))
                .await?;
            self.wrote();
        }
        Ok(())
    }

    /// Waits (at most 30 s) until reporting has read every published result
    /// from the event stream, so every page shows the demo from the first
    /// request. Returns how many are public.
    async fn wait_for_reporting(&mut self, expected: usize) -> anyhow::Result<usize> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let all = self
                .c
                .reporting
                .list_published_results(req(
                    &self.t.analyst,
                    rpb::ListPublishedResultsRequest {
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner()
                .results;
            if all.len() >= expected {
                // Names are shown only for municipalities that agreed to be named.
                return Ok(all
                    .iter()
                    .filter(|r| !r.tenant_display_name.is_empty())
                    .count());
            }
            if Instant::now() > deadline {
                bail!(
                    "reporting shows {} of {expected} published results after 30 s",
                    all.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn demo_project(
    title: &str,
    published: &apb::Evaluation,
    opportunity: &apb::ImprovementOpportunity,
) -> ppb::CreateProjectRequest {
    let person = |user: &str, name: &str, role: &str| ppb::Person {
        user: user.into(),
        display_name: name.into(),
        role: role.into(),
    };
    ppb::CreateProjectRequest {
        parent: "tenants/ostra".into(),
        project: Some(ppb::Project {
            title: title.into(),
            kind: ppb::project::Kind::Project as i32,
            start_date: "2026-09-01".into(),
            end_date: "2027-12-31".into(),
            plan: Some(ppb::Plan {
                background: "Utvärderingen 2019 visade att medborgardialoger genomförs inför större beslut, men att deltagarna sällan får veta vad dialogen ledde till.".into(),
                purpose: "Att invånare som deltar i en dialog alltid får återkoppling om hur deras synpunkter har använts.".into(),
                effect_goal: "Fler invånare upplever att det är meningsfullt att delta i kommunens dialoger.".into(),
                result_goals: vec![ppb::Goal {
                    title: "Återkoppling efter varje medborgardialog".into(),
                    indicator: "Andel dialoger med skriftlig återkoppling inom tre månader".into(),
                    baseline: "20 %".into(),
                    target: "100 %".into(),
                    target_date: "2027-12-31".into(),
                    ..Default::default()
                }],
                strategies: vec!["En gemensam mall och rutin för alla förvaltningar".into()],
                delimitations: vec!["Omfattar inte synpunkts- och klagomålshanteringen".into()],
                prerequisites: vec!["Kommunstyrelsen avsätter tid i förvaltningarnas uppdrag".into()],
                budget_lines: vec![ppb::BudgetLine {
                    description: "Utbildning av dialogledare".into(),
                    amount: "45000.00".into(),
                    currency: ppb::Currency::Sek as i32,
                    funder: "Kommunstyrelsen".into(),
                }],
            }),
            organisation: Some(ppb::Organisation {
                owner: Some(person("users/anna", "Anna Kvalitetsstrateg", "projektägare")),
                project_manager: Some(person("users/anna", "Anna Kvalitetsstrateg", "projektledare")),
                working_group: vec![
                    person("", "Karin Dialogsamordnare", "dialogsamordnare"),
                    person("", "Erik Kommunikatör", "kommunikatör"),
                ],
                ..Default::default()
            }),
            improvement_opportunities: vec![opportunity.name.clone()],
            questions: vec![format!("{}/questions/1.4", published.name)],
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin_questions() -> Vec<(String, String, i64)> {
        // The maxima of the 2015 revision, area by area.
        let maxima: [&[i64]; 8] = [
            &[15, 20, 25, 30, 10],
            &[15, 25, 20, 20, 20],
            &[15, 25, 25, 20, 15],
            &[15, 10, 20, 15, 20, 20],
            &[15, 25, 15, 15, 20, 10],
            &[15, 20, 25, 15, 15, 10],
            &[15, 25, 20, 20, 20],
            &[15, 15, 15, 15, 10, 15, 15],
        ];
        maxima
            .iter()
            .enumerate()
            .flat_map(|(a, qs)| {
                qs.iter().enumerate().map(move |(q, max)| {
                    (
                        (a + 1).to_string(),
                        format!("{}.{}", a + 1, q + 1),
                        max * 100,
                    )
                })
            })
            .collect()
    }

    #[test]
    fn demo_points_are_plausible_and_fixed() {
        let qs = builtin_questions();
        assert_eq!(qs.len(), 45);
        let mut totals = vec![];
        for (t, y) in historic()
            .into_iter()
            .chain([("ostra", 2019), ("ostra", 2026)])
        {
            let s = scores(t, y, &qs);
            assert_eq!(s, scores(t, y, &qs), "deterministic");
            for ((q, p), (_, _, max)) in s.iter().zip(&qs) {
                assert!((0..=*max).contains(p), "{t} {y} {q}: {p} of {max}");
            }
            let total: i64 = s.iter().map(|(_, p)| p).sum();
            assert!((35_000..=65_000).contains(&total), "{t} {y}: {total}");
            totals.push(total);
        }
        // Results vary: not one level for everybody.
        let (lo, hi) = (totals.iter().min().unwrap(), totals.iter().max().unwrap());
        assert!(hi - lo > 10_000, "{lo}..{hi}");
        assert!(historic().len() >= 45, "{}", historic().len());
    }

    #[test]
    fn points_are_written_with_two_decimals() {
        assert_eq!(points_text(1680), "16.80");
        assert_eq!(points_text(5), "0.05");
        assert_eq!(centi("12.5").unwrap(), 1250);
        assert_eq!(centi("15").unwrap(), 1500);
        assert!(centi("1.234").is_err());
    }

    #[test]
    fn ostra_has_a_text_for_every_heading() {
        let headings = [4, 6, 5, 6, 6, 6, 4, 6];
        for (t, n) in OSTRA_TEXTS.iter().zip(headings) {
            assert_eq!(t.headings.len(), n);
            assert!(!t.strengths.is_empty() && !t.opportunities.is_empty());
        }
    }
}

//! Every template renders in every language from small data, tagged, and
//! shows an injection attempt literally. The services' own tests render the
//! documents from real data end to end.

use kompass_documents::{Lang, Template, render};
use serde_json::json;

const INJECTION: &str = r#"#panic("x") [*b*] $x^2$ \ #{1+1} #set"#;

fn text_of(pdf: &[u8]) -> (String, String) {
    let p = std::env::temp_dir().join(format!(
        "kompass-documents-{}-{:?}.pdf",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::write(&p, pdf).unwrap();
    let text = std::process::Command::new("pdftotext")
        .arg(&p)
        .arg("-")
        .output()
        .expect("poppler-utils must be installed");
    let info = std::process::Command::new("pdfinfo")
        .arg(&p)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&p);
    (
        String::from_utf8(text.stdout).unwrap(),
        String::from_utf8(info.stdout).unwrap(),
    )
}

fn project() -> serde_json::Value {
    json!({
        "name": "tenants/ostra/projects/p1", "title": "Saman om ein betre kommune",
        "kind": 1, "phase": 3, "outcome": 0, "start_date": "2026-01-01", "end_date": "2027-12-31",
        "plan": {
            "background": INJECTION, "purpose": "Bättre dialog.", "effect_goal": "Delaktighet.",
            "result_goals": [{"id": "1", "title": "Digital dialog", "indicator": "Andel", "baseline": "20 %",
                "target": "60 %", "target_date": "2027-12-31",
                "sub_goals": [{"id": "1.1", "title": "Delmål", "indicator": "", "baseline": "", "target": "", "target_date": "", "sub_goals": []}]}],
            "strategies": ["Börja smått"], "delimitations": [], "prerequisites": ["Beslut i KS"],
            "budget": [{"description": "Utbildning", "amount": "85000.50", "currency": 1, "funder": "KS"}],
        },
        "organisation": {
            "owner": {"name": "Anna", "role": "beställare"}, "project_manager": {"name": "Pia", "role": ""},
            "steering_group": [{"name": "Kommundirektören", "role": "ordförande"}],
            "operational_group": [], "working_group": [],
            "reference_groups": [{"title": "Medborgarpanel", "members": [{"name": "Extern", "role": ""}]}],
        },
        "improvement_opportunities": [], "questions": ["1.4"],
        "milestones": [{"number": 1, "title": "Kartläggning", "description": "", "due_date": "2026-02-01",
            "responsible": "Pia", "status": 2, "overdue": true,
            "activities": [{"number": "1.1", "title": "Intervjuer", "due_date": "2026-01-20", "responsible": "Pia", "status": 3, "overdue": false}]}],
        "risks": [{"title": "Låg delaktighet", "description": "", "probability": 3, "consequence": 2, "value": 6,
            "mitigations": ["Tidig information"], "owner": "Anna"}],
        "communications": [{"measure": "APT", "target_group": "Medarbetare", "when": "v. 12", "status": 1, "remarks": ""}],
        "decisions": [{"from": 1, "to": 2, "verdict": 1, "decision": "Gå vidare", "decided_by": "Anna", "date": "2026-01-05"}],
    })
}

#[test]
fn project_documents_and_comparison_render_in_every_language() {
    for lang in [Lang::Sv, Lang::En, Lang::Nb] {
        let plan = render(Template::ProjectPlan, &json!({"project": project()}), lang)
            .unwrap_or_else(|e| panic!("plan {lang:?}: {e}"));
        let (text, info) = text_of(&plan);
        assert!(info.contains("Tagged:          yes"), "{info}");
        assert!(text.contains(INJECTION), "{text}");
        assert!(text.contains("Låg delaktighet"));
        let status = render(
            Template::StatusReport,
            &json!({"project": project(), "report": {
                "period": "2026-02", "light": 2, "summary": INJECTION, "phase": 4, "author": "Pia", "date": "2026-02-28",
                "milestones": [{"number": 1, "title": "Kartläggning", "due_date": "2026-02-01", "status": 2, "overdue": true, "light": 3, "comment": "Sen"}],
                "goals": [{"id": "1", "title": "Digital dialog", "indicator": "", "baseline": "", "target": "60 %", "target_date": "", "light": 1, "comment": ""}],
            }}),
            lang,
        )
        .unwrap_or_else(|e| panic!("status {lang:?}: {e}"));
        let (text, info) = text_of(&status);
        assert!(info.contains("Tagged:          yes"), "{info}");
        assert!(text.contains(INJECTION), "{text}");
        let stat = |id: &str, title: &str| {
            json!({"id": id, "title": title, "max_points": "100", "count": 6,
            "mean": "54.1234", "display_mean": "54", "median": "55", "q1": "40", "q3": "66", "min": "30", "max": "80", "bar": 54.1})
        };
        let cmp = render(
            Template::NationalComparison,
            &json!({
                "framework": "Kommunkompassen 2015", "framework_version": "frameworks/kommunkompassen/versions/2015",
                "tenant_count": 6, "country": "", "from_year": "", "to_year": "", "population": "",
                "total": stat("", ""), "areas": [stat("1", "Offentlighet och demokrati")],
                "questions": [stat("1.1", "Finns en plan?")],
                "histograms": [{"id": "", "title": "", "bins": [{"lower": "0", "upper": "100", "count": 6}]}],
                "ranking": [{"rank": 1, "name": "Östra kommun", "total": "612.50", "display_total": "613"}],
            }),
            lang,
        )
        .unwrap_or_else(|e| panic!("comparison {lang:?}: {e}"));
        let (text, info) = text_of(&cmp);
        assert!(info.contains("Tagged:          yes"), "{info}");
        assert!(text.contains("Östra kommun"));
        assert!(text.contains("54"));
        // Withheld figures: the reason and the named ranking, no statistics.
        let reason = format!("Gruppen har bara 3 kommuner. {INJECTION}");
        let withheld = render(
            Template::NationalComparison,
            &json!({
                "framework": "Kommunkompassen 2015", "framework_version": "frameworks/kommunkompassen/versions/2015",
                "tenant_count": 3, "country": "NO", "from_year": "2016", "to_year": "2019", "population": "",
                "suppressed": true, "suppressed_reason": reason, "unnamed_excluded": 2,
                "total": null, "areas": [], "questions": [], "histograms": [],
                "ranking": [{"rank": 1, "name": "Vestre kommune", "total": "500.00", "display_total": "500"}],
            }),
            lang,
        )
        .unwrap_or_else(|e| panic!("withheld comparison {lang:?}: {e}"));
        let (text, _) = text_of(&withheld);
        let flat = text.replace('\n', " ");
        assert!(flat.contains(&reason), "{flat}");
        assert!(flat.contains(": 2."), "unnamed_excluded missing: {flat}");
        assert!(text.contains("Vestre kommune"));
        assert!(!text.contains("Q1"), "statistics shown although withheld");
    }
}

//! `kompass tenant import FILE.csv` from the real binary against real
//! services on PostgreSQL.

use std::process::Command;

use kompass_config::ServiceKind;
use kompass_proto::tenancy::v1 as tpb;
use kompass_tests::{TestEnv, authed};

/// Runs the binary off the test's runtime thread, which serves the services.
async fn import(env: &TestEnv, file: &std::path::Path) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kompass"));
    cmd.args(["tenant", "import"])
        .arg(file)
        .args([
            "--concurrency",
            "2",
            "--addr",
            &env.url(ServiceKind::Tenancy),
        ])
        .args(["--token", &env.token("operator", &["operator"])])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn imports_a_file_reports_existing_rows_and_refuses_a_bad_file_whole() {
    let env = TestEnv::start().await;
    let dir = std::env::temp_dir().join(format!("kompass-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // A bad row on line 3: nothing is created, not even line 2's tenant.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "id,name,country,code\nalby,Alby,SE,0114\nbyn,Byn,SE,12\n",
    )
    .unwrap();
    let (ok, out) = import(&env, &bad).await;
    assert!(!ok, "{out}");
    assert!(out.contains("line 3"), "{out}");
    assert!(out.contains("municipality_code"), "{out}");
    assert!(env.tenant_ids().await.is_empty());

    let good = dir.join("rollout.csv");
    std::fs::write(
        &good,
        "id,name,country,code,population,named\n\
         alby,Alby kommun,SE,0114,41000,true\n\
         \"byn\",\"Byn, norra\",SE,0115,9000,false\n\
         oslo,Oslo,NO,0301,700000,yes\n\
         aarhus,Aarhus,DK,751,,\n",
    )
    .unwrap();
    let (ok, out) = import(&env, &good).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("4 row(s): 4 created, 0 already existed, 0 failed"),
        "{out}"
    );
    assert_eq!(env.tenant_ids().await, ["aarhus", "alby", "byn", "oslo"]);
    let byn = env
        .tenants()
        .await
        .get_tenant(authed(
            &env.token("operator", &["operator"]),
            tpb::GetTenantRequest {
                name: "tenants/byn".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(byn.display_name, "Byn, norra");
    assert_eq!(byn.population, 9000);
    assert_eq!(byn.state, tpb::tenant::State::Active as i32);
    assert_eq!(env.tenant_databases().await.len(), 4);

    // Again, with one new row: the four are reported, the new one created.
    std::fs::write(
        &good,
        format!(
            "{}kiruna,Kiruna,SE,2584,22000,true\n",
            std::fs::read_to_string(&good).unwrap()
        ),
    )
    .unwrap();
    let (ok, out) = import(&env, &good).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("5 row(s): 1 created, 4 already existed, 0 failed"),
        "{out}"
    );
    assert!(out.contains("alby already exists"), "{out}");
    assert_eq!(env.tenant_ids().await.len(), 5);

    let _ = std::fs::remove_dir_all(&dir);
    env.cleanup().await;
}

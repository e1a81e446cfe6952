//! The test OpenID provider as a program, for tests in another process (the
//! browser tests): `kompass-oidc-fake CLIENT_ID CLIENT_SECRET` prints
//! `issuer http://127.0.0.1:PORT` and serves until stdin closes or it is
//! killed. `POST /test/next-user` (JSON `sub`, `email`, `email_verified`,
//! `name`) says who signs in next.

use std::io::Write;

use kompass_oidc_fake::FakeProvider;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let client_id = args.next().unwrap_or_else(|| "kompass-console".into());
    let client_secret = args.next().unwrap_or_else(|| "console-secret".into());
    let idp = FakeProvider::start(&client_id, &client_secret).await;
    println!("issuer {}", idp.issuer());
    std::io::stdout().flush().ok();
    // Until the parent goes away.
    let mut sink = vec![];
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
}

//! Private mode (one company, a personal API token, no Marketplace) end to end on SQLite; the
//! Postgres suite runs the same scenario.

mod helpers;

#[tokio::test]
async fn private_mode_runs_one_company_with_an_api_token() {
    if let Err(e) = helpers::private_mode::scenario(None).await {
        panic!("{e:#}");
    }
}

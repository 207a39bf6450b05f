//! The sign-in race of the done-when list, shared by the SQLite and Postgres test binaries: 60
//! sign-ins at once from one address, 59 wrong and the right one last.

use dealbridge_app::console_bootstrap::{FIRST_ACCOUNT, PASSWORD_FILE};
use dealbridge_web::login_throttle::PER_ACCOUNT_FROM_ADDRESS;

use super::{browser, csrf_in, TestApp};

const WRONG: usize = 59;

/// Fires the 59 wrong guesses together, spread over `instances` (addresses of app instances sharing
/// `app`'s store; `app`'s own when empty); once the store shows all of them reserved (most still in
/// Argon2), fires the right password. At most the per-account limit's number may be verified
/// (401), everything else must be refused (429), the right one included, and no sign-in may
/// happen.
pub async fn parallel_sign_ins(app: &TestApp, instances: &[String]) -> Result<(), String> {
    let instances = if instances.is_empty() {
        vec![app.address.clone()]
    } else {
        instances.to_vec()
    };
    let password = std::fs::read_to_string(app.data_path().join(PASSWORD_FILE))
        .map_err(|e| e.to_string())?
        .trim()
        .to_string();
    let mut forms = Vec::new();
    for n in 0..=WRONG {
        let address = instances[n % instances.len()].clone();
        let client = browser();
        let page = client
            .get(format!("{address}/console/login"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let csrf = csrf_in(&page.text().await.map_err(|e| e.to_string())?);
        forms.push((address, client, csrf));
    }
    let right = forms.pop().ok_or("no browser for the right password")?;
    let wrong: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(n, form)| tokio::spawn(post(form, format!("wrong-{n}"))))
        .collect();
    wait_until_reserved(app, WRONG as u32).await?;
    let right = tokio::spawn(post(right, password));

    let mut verified = 0;
    for answer in futures_join(wrong).await? {
        match answer? {
            401 => verified += 1,
            429 => {}
            other => return Err(format!("a wrong guess answered {other}")),
        }
    }
    let right = right.await.map_err(|e| e.to_string())??;
    // Reservations are exact: the limit's number is verified, not one more (nor none at all,
    // which would mean the guesses never reached the check).
    if verified != PER_ACCOUNT_FROM_ADDRESS as usize {
        return Err(format!(
            "{verified} guesses were verified; the limit is {PER_ACCOUNT_FROM_ADDRESS}"
        ));
    }
    if right != 429 {
        return Err(format!(
            "the right password answered {right} while over the limit"
        ));
    }
    let account = app
        .store
        .staff_account_by_email(FIRST_ACCOUNT)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the account is gone")?;
    if account.last_login_at.is_some() {
        return Err("the account signed in while over the limit".into());
    }
    Ok(())
}

async fn post(
    (address, client, csrf): (String, reqwest::Client, String),
    password: String,
) -> Result<u16, String> {
    let answer = client
        .post(format!("{address}/console/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", FIRST_ACCOUNT),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(answer.status().as_u16())
}

/// Polls the address's attempt counter until `n` attempts are reserved.
async fn wait_until_reserved(app: &TestApp, n: u32) -> Result<(), String> {
    for _ in 0..600 {
        let window = app
            .store
            .sign_in_failures("address:127.0.0.1", chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        if window.is_some_and(|w| w.failures >= n) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Err(format!("{n} attempts were never reserved"))
}

async fn futures_join(
    tasks: Vec<tokio::task::JoinHandle<Result<u16, String>>>,
) -> Result<Vec<Result<u16, String>>, String> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.map_err(|e| e.to_string())?);
    }
    Ok(answers)
}

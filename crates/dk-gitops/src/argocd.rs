//! An app's sync and health from Argo CD's REST API (`GET /api/v1/applications/{name}`).

use serde_json::Value;

/// `Synced (Healthy)`, `OutOfSync (Progressing)`, `Not deployed` (no such application), or
/// `Unknown (…)` when Argo CD cannot be asked.
pub fn app_status(server: &str, token: Option<&str>, app: &str) -> String {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(format!(
        "{}/api/v1/applications/{app}",
        server.trim_end_matches('/')
    ));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .and_then(|response| response.json::<Value>());
    match answer {
        Ok(app) => {
            let sync = app["status"]["sync"]["status"]
                .as_str()
                .unwrap_or("Unknown");
            let health = app["status"]["health"]["status"]
                .as_str()
                .unwrap_or("Unknown");
            format!("{sync} ({health})")
        }
        Err(err) if err.status().is_some_and(|s| s.as_u16() == 404) => "Not deployed".into(),
        Err(err) => format!("Unknown (Argo CD: {})", err.without_url()),
    }
}

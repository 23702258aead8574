//! An app's sync and health from Argo CD's REST API (`GET /api/v1/applications/{name}`).

use std::io::Read;

use serde_json::Value;

/// The largest answer read from Argo CD.
const MAX_BODY: u64 = 4 << 20;
/// The longest sync or health status shown.
const MAX_STATUS: usize = 40;

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
        .and_then(reqwest::blocking::Response::error_for_status);
    match answer {
        Ok(response) => {
            let mut bytes = Vec::new();
            let _ = response.take(MAX_BODY).read_to_end(&mut bytes);
            let app: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            // What Argo CD says is printed: no escapes, no novels.
            let field = |value: &Value| {
                let text = crate::strip_controls(value.as_str().unwrap_or("Unknown"));
                text.chars().take(MAX_STATUS).collect::<String>()
            };
            format!(
                "{} ({})",
                field(&app["status"]["sync"]["status"]),
                field(&app["status"]["health"]["status"])
            )
        }
        Err(err) if err.status().is_some_and(|s| s.as_u16() == 404) => "Not deployed".into(),
        Err(err) => format!("Unknown (Argo CD: {})", err.without_url()),
    }
}

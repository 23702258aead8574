//! `dk lineage NAME` against a team's `dk lineage serve` (`lineage.server`): one graph for the
//! whole team, read over HTTP.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::graph::{Direction, Neighbourhood};

/// The answer of `GET /api/v1/dk/lineage`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Found {
    pub neighbourhoods: Vec<Neighbourhood>,
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the lineage server {url}: {message}")]
    Unreachable { url: String, message: String },
    #[error("the lineage server {url} answered {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
}

/// The neighbourhoods of every job or dataset `name` names, as the server's store has them.
pub async fn neighbourhoods(
    server: &str,
    token: Option<&str>,
    name: &str,
    direction: Direction,
    depth: usize,
    timeout: Duration,
) -> Result<Vec<Neighbourhood>, RemoteError> {
    let base = server.trim_end_matches('/').to_owned();
    let unreachable = |err: reqwest::Error| RemoteError::Unreachable {
        url: base.clone(),
        message: err.without_url().to_string(),
    };
    let direction = match direction {
        Direction::Upstream => "upstream",
        Direction::Downstream => "downstream",
        Direction::Both => "both",
    };
    let url = reqwest::Url::parse_with_params(
        &format!("{base}/api/v1/dk/lineage"),
        &[
            ("name", name),
            ("direction", direction),
            ("depth", &depth.to_string()),
        ],
    )
    .map_err(|err| RemoteError::Unreachable {
        url: base.clone(),
        message: format!("not a URL: {err}"),
    })?;
    let mut request = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(unreachable)?
        .get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        return Err(RemoteError::Refused {
            url: base,
            status: status.as_u16(),
            message,
        });
    }
    let found: Found = response.json().await.map_err(unreachable)?;
    Ok(found.neighbourhoods)
}

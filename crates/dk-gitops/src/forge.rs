//! Where promotions become pull requests. `git`: a branch per promotion, approvals as
//! SSH-signed commits verified against the base branch's allowed signers, merged by dk.
//! `github`: the GitHub REST API (pulls, reviews, labels, merge), also GitHub Enterprise and
//! Gitea through `gitops.apiUrl`. `gitlab`: the GitLab REST API (merge requests, approvals,
//! merge). Listings follow the forges' pagination. Branches are pushed with git in every case.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::GitOpsError;
use crate::branch::{BRANCH_PREFIX, PrId};
use crate::repo::WorkingCopy;

/// An open promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// `#12` on a forge, the branch with the git provider.
    pub id: String,
    pub branch: String,
    pub title: String,
    pub labels: Vec<String>,
    pub url: Option<String>,
    /// Who approved it.
    pub approvals: Vec<String>,
}

impl PullRequest {
    /// The value of a `key:value` label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
    }
}

pub trait Forge {
    /// Opens the pull request of a pushed branch.
    fn open(
        &self,
        wc: &WorkingCopy,
        branch: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<PullRequest, GitOpsError>;
    /// The open pull request of `branch`, if any.
    fn find(&self, wc: &WorkingCopy, branch: &str) -> Result<Option<PullRequest>, GitOpsError>;
    /// A pull request by number or branch.
    fn get(&self, wc: &WorkingCopy, id: &PrId) -> Result<PullRequest, GitOpsError>;
    /// Every open promotion.
    fn list(&self, wc: &WorkingCopy) -> Result<Vec<PullRequest>, GitOpsError>;
    /// Records an approval signed with the SSH `key` (else the user's `user.signingKey`); only
    /// the git provider: a forge's reviews are made on it.
    fn approve(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        key: Option<&Path>,
    ) -> Result<(), GitOpsError>;
    /// Closes a pull request without merging it; a forge keeps `reason` as a comment on it
    /// first (the git provider deletes the branch, so there is nowhere to keep it).
    fn close(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        reason: Option<&str>,
    ) -> Result<(), GitOpsError>;
    /// Merges; returns the merge commit.
    fn merge(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        message: &str,
    ) -> Result<String, GitOpsError>;
}

/// The git provider: any remote, no API.
#[derive(Debug, Default)]
pub struct GitForge;

const LABELS_TRAILER: &str = "Promotion-Labels";

impl GitForge {
    fn read(&self, wc: &WorkingCopy, branch: &str) -> Result<PullRequest, GitOpsError> {
        let message = wc.description(branch)?;
        let title = message.lines().next().unwrap_or_default().to_owned();
        let labels = message
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{LABELS_TRAILER}: ")))
            .map(|labels| labels.split(", ").map(str::to_owned).collect())
            .unwrap_or_default();
        Ok(PullRequest {
            id: branch.to_owned(),
            branch: branch.to_owned(),
            title,
            labels,
            url: None,
            approvals: wc
                .approvals(branch)?
                .into_iter()
                .map(|approval| approval.principal)
                .collect(),
        })
    }
}

impl Forge for GitForge {
    fn open(
        &self,
        wc: &WorkingCopy,
        branch: &str,
        _title: &str,
        _body: &str,
        _labels: &[String],
    ) -> Result<PullRequest, GitOpsError> {
        // The branch is the pull request: its first commit carries the title, body and labels.
        self.read(wc, branch)
    }

    fn find(&self, wc: &WorkingCopy, branch: &str) -> Result<Option<PullRequest>, GitOpsError> {
        if wc.branch_exists(branch)? {
            Ok(Some(self.read(wc, branch)?))
        } else {
            Ok(None)
        }
    }

    fn get(&self, wc: &WorkingCopy, id: &PrId) -> Result<PullRequest, GitOpsError> {
        let found = match id {
            PrId::Branch(branch) => self.find(wc, &branch.to_string())?,
            PrId::Number(_) => None,
        };
        found.ok_or_else(|| {
            GitOpsError::Invalid(format!(
                "no open promotion `{id}` (the git provider names them by branch: `dk promote list`)"
            ))
        })
    }

    fn list(&self, wc: &WorkingCopy) -> Result<Vec<PullRequest>, GitOpsError> {
        wc.branches(BRANCH_PREFIX)?
            .iter()
            .map(|branch| self.read(wc, branch))
            .collect()
    }

    fn approve(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        key: Option<&Path>,
    ) -> Result<(), GitOpsError> {
        wc.approve(&pr.branch, &format!("Approve {}", pr.title), key)
    }

    fn close(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        _reason: Option<&str>,
    ) -> Result<(), GitOpsError> {
        wc.delete_branch(&pr.branch)
    }

    fn merge(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        message: &str,
    ) -> Result<String, GitOpsError> {
        wc.merge(&pr.branch, message)
    }
}

/// Forges count approvals made on them; dk does not approve on anyone's behalf.
/// A pull request asked for by number that is no longer open: there is nothing to approve,
/// merge or close.
fn not_open(id: &PrId, state: &str) -> GitOpsError {
    GitOpsError::Invalid(format!(
        "{id} is {} (not open): `dk promote list` shows the open promotions",
        crate::strip_controls(state)
    ))
}

fn approve_on_the_forge(pr: &PullRequest, how: &str, counted_from: &str) -> GitOpsError {
    let url = pr
        .url
        .as_deref()
        .map(|u| format!(" ({u})"))
        .unwrap_or_default();
    GitOpsError::Invalid(format!(
        "approve {} {how}{url}: approvals are counted from {counted_from}",
        pr.id
    ))
}

/// The labels trailer the git provider keeps in a promotion's first commit.
pub fn labels_trailer(labels: &[String]) -> String {
    format!("{LABELS_TRAILER}: {}", labels.join(", "))
}

/// How a forge takes its token.
#[derive(Debug, Clone, Copy)]
enum TokenHeader {
    /// `Authorization: Bearer …` (GitHub, Gitea).
    Bearer,
    /// `PRIVATE-TOKEN: …` (GitLab).
    PrivateToken,
}

/// Redirects are followed only within the origin they start from. GitLab's token travels in a
/// header of its own (`PRIVATE-TOKEN`), which reqwest, unlike `Authorization`, keeps on a
/// redirect to another host: a forge, a proxy or anyone on an `http://` path could answer 302
/// and collect it. A redirect elsewhere is not followed, and its 3xx is reported as an error.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous()[0].origin();
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if attempt.url().origin() == from {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// A forge's REST API below `base`, with its token.
#[derive(Debug)]
struct RestApi {
    base: String,
    token: Option<String>,
    header: TokenHeader,
    /// Where the token comes from (`GITHUB_TOKEN`, …), for messages.
    token_variable: &'static str,
    client: reqwest::blocking::Client,
}

impl RestApi {
    fn new(
        base: &str,
        token: Option<String>,
        header: TokenHeader,
        token_variable: &'static str,
    ) -> RestApi {
        RestApi {
            base: base.trim_end_matches('/').to_owned(),
            token,
            header,
            token_variable,
            client: reqwest::blocking::Client::builder()
                .redirect(same_origin_redirects())
                .build()
                .expect("an HTTP client (its TLS provider loads)"),
        }
    }

    fn error(&self, message: String) -> GitOpsError {
        GitOpsError::Forge {
            message,
            token_variable: self.token_variable,
        }
    }

    /// [`RestApi::request`], its answer read as `T` (`what` names it in errors).
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<T, GitOpsError> {
        serde_json::from_value(self.request(method, path, body)?)
            .map_err(|err| self.error(format!("{what}: {err}")))
    }

    /// `METHOD base+path` with a JSON body; the JSON answer, or the forge's message.
    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, GitOpsError> {
        let url = format!("{}{path}", self.base);
        self.send(method, &url, body).map(|(value, _)| value)
    }

    /// Every item of a paginated listing below `path`: 100 a
    /// page, following the forge's next page (`Link: <…>; rel="next"` on GitHub and Gitea,
    /// `X-Next-Page` on GitLab) up to [`MAX_PAGES`] pages.
    fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<Vec<T>, GitOpsError> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{path}{separator}per_page=100", self.base);
        let mut items = Vec::new();
        for _ in 0..MAX_PAGES {
            let (page, next) = self.send(reqwest::Method::GET, &url, None)?;
            let page: Vec<T> =
                serde_json::from_value(page).map_err(|err| self.error(format!("{what}: {err}")))?;
            items.extend(page);
            match next {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
        Err(self.error(format!(
            "{what}: more than {MAX_PAGES} pages; dk stops there"
        )))
    }

    /// The next page's URL from a response's headers. It must stay on the API's origin: the
    /// token goes with every request, and a forge must not send it elsewhere.
    fn next_page(&self, url: &str, headers: &reqwest::header::HeaderMap) -> Option<String> {
        let link = headers
            .get_all(reqwest::header::LINK)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .find_map(|part| {
                let (target, params) = part.split_once(';')?;
                params
                    .split(';')
                    .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"))
                    .then(|| {
                        target
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_owned()
                    })
            });
        let next = match link {
            Some(link) => link,
            None => {
                let page = headers.get("x-next-page")?.to_str().ok()?.trim();
                if page.is_empty() || !page.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let mut next = reqwest::Url::parse(url).ok()?;
                let query: Vec<(String, String)> = next
                    .query_pairs()
                    .filter(|(key, _)| key != "page")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                next.query_pairs_mut()
                    .clear()
                    .extend_pairs(query)
                    .append_pair("page", page);
                next.to_string()
            }
        };
        let (next_url, base) = (
            reqwest::Url::parse(&next).ok()?,
            reqwest::Url::parse(&self.base).ok()?,
        );
        (next_url.origin() == base.origin()).then_some(next)
    }

    fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> Result<(Value, Option<String>), GitOpsError> {
        let shown = shown_url(url);
        let mut request = self
            .client
            .request(method.clone(), url)
            .header("Accept", "application/vnd.github+json, application/json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .header("User-Agent", concat!("dk/", env!("CARGO_PKG_VERSION")));
        request = match (&self.token, self.header) {
            (Some(token), TokenHeader::Bearer) => request.bearer_auth(token),
            (Some(token), TokenHeader::PrivateToken) => request.header("PRIVATE-TOKEN", token),
            (None, _) => request,
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().map_err(|err| {
            let err = self.sanitize(&err.without_url().to_string());
            self.error(format!("{method} {shown}: {err}"))
        })?;
        let status = response.status();
        let next = self.next_page(url, response.headers());
        let text = read_capped(response, MAX_BODY);
        if !status.is_success() {
            let hint = if status.as_u16() == 401 || status.as_u16() == 403 {
                " (check the token and its access)"
            } else {
                ""
            };
            let message = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| {
                    let field = v.get("message").or_else(|| v.get("error"))?;
                    Some(match field {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    })
                })
                .map(|m| format!(": {}", self.sanitize(&m)))
                .unwrap_or_default();
            return Err(self.error(format!("{method} {shown}: {status}{message}{hint}")));
        }
        Ok((serde_json::from_slice(&text).unwrap_or(Value::Null), next))
    }

    /// What a forge said, fit to print: control characters (terminal escapes) removed, the
    /// token masked even when the forge echoes it, at most [`MAX_MESSAGE`] characters.
    fn sanitize(&self, text: &str) -> String {
        let mut clean = crate::strip_controls(text);
        if let Some(token) = self.token.as_deref().filter(|t| !t.is_empty()) {
            clean = clean.replace(token, "***");
        }
        if clean.chars().count() > MAX_MESSAGE {
            clean = clean.chars().take(MAX_MESSAGE).collect::<String>() + "…";
        }
        clean
    }
}

/// The most pages of one listing dk reads (100 items a page).
const MAX_PAGES: usize = 100;
/// The most of a forge's error message dk shows.
const MAX_MESSAGE: usize = 200;
/// The largest answer dk reads from a forge.
const MAX_BODY: u64 = 16 << 20;

/// A URL as errors show it: no user or password, no query.
fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.to_string()
        }
        Err(_) => "(the forge's API URL)".to_owned(),
    }
}

/// At most `limit` bytes of a response body; a forge's answer can be anything.
fn read_capped(response: reqwest::blocking::Response, limit: u64) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    let _ = response.take(limit).read_to_end(&mut bytes);
    bytes
}

/// The GitHub REST API (and compatible forges).
#[derive(Debug)]
pub struct GitHubForge {
    api: RestApi,
    owner: String,
    repo: String,
}

#[derive(Debug, Deserialize)]
struct ApiPull {
    number: u64,
    /// `open` or `closed` (merged or not).
    #[serde(default)]
    state: String,
    title: String,
    html_url: Option<String>,
    head: ApiRef,
    #[serde(default)]
    labels: Vec<ApiLabel>,
}

#[derive(Debug, Deserialize)]
struct ApiRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Debug, Deserialize)]
struct ApiLabel {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ApiReview {
    user: Option<ApiUser>,
    state: String,
}

#[derive(Debug, Deserialize)]
struct ApiUser {
    login: String,
}

impl GitHubForge {
    /// `repo_url` is the repository's git URL (`https://github.com/OWNER/REPO.git`); `api` the
    /// API base (`https://api.github.com`, or a GitHub Enterprise or Gitea `…/api/v3`/`…/api/v1`).
    pub fn new(
        repo_url: &str,
        api: &str,
        token: Option<String>,
        token_variable: &'static str,
    ) -> Result<GitHubForge, GitOpsError> {
        let path = repo_url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplitn(3, ['/', ':'])
            .take(2)
            .collect::<Vec<_>>();
        let [repo, owner] = path[..] else {
            return Err(GitOpsError::Invalid(format!(
                "gitops.repo `{repo_url}` does not name OWNER/REPO"
            )));
        };
        Ok(GitHubForge {
            api: RestApi::new(api, token, TokenHeader::Bearer, token_variable),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, GitOpsError> {
        let path = format!("/repos/{}/{}{path}", self.owner, self.repo);
        self.api.request(method, &path, body)
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<T, GitOpsError> {
        let path = format!("/repos/{}/{}{path}", self.owner, self.repo);
        self.api.call(method, &path, body, what)
    }

    fn pull(&self, api: ApiPull) -> Result<PullRequest, GitOpsError> {
        let reviews: Vec<ApiReview> = self.api.list(
            &format!(
                "/repos/{}/{}/pulls/{}/reviews",
                self.owner, self.repo, api.number
            ),
            "reviews",
        )?;
        // A reviewer's latest review counts: a later "changes requested" withdraws an approval.
        let mut latest: Vec<(String, String)> = Vec::new();
        for review in reviews {
            let Some(user) = review.user else { continue };
            if review.state == "COMMENTED" {
                continue;
            }
            latest.retain(|(login, _)| *login != user.login);
            latest.push((user.login, review.state));
        }
        let mut approvals: Vec<String> = latest
            .into_iter()
            .filter(|(_, state)| state == "APPROVED")
            .map(|(login, _)| crate::strip_controls(&login))
            .collect();
        approvals.sort();
        Ok(PullRequest {
            id: format!("#{}", api.number),
            branch: api.head.name,
            title: api.title,
            labels: api.labels.into_iter().map(|l| l.name).collect(),
            url: api.html_url.as_deref().map(crate::strip_controls),
            approvals,
        })
    }

    fn number(id: &str) -> Option<u64> {
        id.trim_start_matches('#').parse().ok()
    }

    fn open_pulls(&self) -> Result<Vec<ApiPull>, GitOpsError> {
        self.api.list(
            &format!("/repos/{}/{}/pulls?state=open", self.owner, self.repo),
            "pulls",
        )
    }
}

impl Forge for GitHubForge {
    fn open(
        &self,
        wc: &WorkingCopy,
        branch: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<PullRequest, GitOpsError> {
        let created: ApiPull = self.call(
            reqwest::Method::POST,
            "/pulls",
            Some(json!({"title": title, "head": branch, "base": wc.base, "body": body})),
            "pull request",
        )?;
        self.request(
            reqwest::Method::POST,
            &format!("/issues/{}/labels", created.number),
            Some(json!({ "labels": labels })),
        )?;
        self.get(wc, &PrId::Number(created.number))
    }

    fn find(&self, _wc: &WorkingCopy, branch: &str) -> Result<Option<PullRequest>, GitOpsError> {
        let found = self
            .open_pulls()?
            .into_iter()
            .find(|pull| pull.head.name == branch);
        found.map(|pull| self.pull(pull)).transpose()
    }

    fn get(&self, wc: &WorkingCopy, id: &PrId) -> Result<PullRequest, GitOpsError> {
        match id {
            PrId::Number(number) => {
                let pull: ApiPull = self.call(
                    reqwest::Method::GET,
                    &format!("/pulls/{number}"),
                    None,
                    "pull request",
                )?;
                if pull.state != "open" {
                    return Err(not_open(id, &pull.state));
                }
                self.pull(pull)
            }
            PrId::Branch(branch) => self.find(wc, &branch.to_string())?.ok_or_else(|| {
                GitOpsError::Invalid(format!("no open pull request for branch `{id}`"))
            }),
        }
    }

    fn list(&self, _wc: &WorkingCopy) -> Result<Vec<PullRequest>, GitOpsError> {
        self.open_pulls()?
            .into_iter()
            .filter(|pull| pull.head.name.starts_with(&format!("{BRANCH_PREFIX}/")))
            .map(|pull| self.pull(pull))
            .collect()
    }

    fn approve(
        &self,
        _wc: &WorkingCopy,
        pr: &PullRequest,
        _key: Option<&Path>,
    ) -> Result<(), GitOpsError> {
        Err(approve_on_the_forge(
            pr,
            "with a review on the forge",
            "its reviews",
        ))
    }

    fn close(
        &self,
        _wc: &WorkingCopy,
        pr: &PullRequest,
        reason: Option<&str>,
    ) -> Result<(), GitOpsError> {
        let number = Self::number(&pr.id).expect("a forge pull request has a number");
        // A pull request's comments are its issue's.
        if let Some(reason) = reason {
            self.request(
                reqwest::Method::POST,
                &format!("/issues/{number}/comments"),
                Some(json!({"body": reason})),
            )?;
        }
        self.request(
            reqwest::Method::PATCH,
            &format!("/pulls/{number}"),
            Some(json!({"state": "closed"})),
        )
        .map(drop)
    }

    fn merge(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        message: &str,
    ) -> Result<String, GitOpsError> {
        let number = Self::number(&pr.id).expect("a forge pull request has a number");
        let merged = self.request(
            reqwest::Method::PUT,
            &format!("/pulls/{number}/merge"),
            Some(json!({"commit_title": message, "merge_method": "merge"})),
        )?;
        wc.fetch()?;
        Ok(merged["sha"].as_str().unwrap_or_default().to_owned())
    }
}

/// The GitLab REST API (v4): merge requests, their approvals, merge.
#[derive(Debug)]
pub struct GitLabForge {
    api: RestApi,
    /// The project's path, URL-encoded (`group%2Frepo`): GitLab's project id in URLs.
    project: String,
}

#[derive(Debug, Deserialize)]
struct ApiMergeRequest {
    iid: u64,
    /// `opened`, `closed`, `merged` or `locked`.
    #[serde(default)]
    state: String,
    title: String,
    web_url: Option<String>,
    source_branch: String,
    #[serde(default)]
    labels: Vec<String>,
}

impl GitLabForge {
    /// `repo_url` is the project's git URL (`https://gitlab.com/GROUP/REPO.git`); `api` the API
    /// base (`https://gitlab.com/api/v4`).
    pub fn new(
        repo_url: &str,
        api: &str,
        token: Option<String>,
    ) -> Result<GitLabForge, GitOpsError> {
        let trimmed = repo_url.trim_end_matches('/').trim_end_matches(".git");
        let path = match trimmed.split_once("://") {
            Some((_, rest)) => rest.split_once('/').map(|(_, path)| path),
            None => trimmed.split_once(':').map(|(_, path)| path),
        }
        .filter(|path| path.contains('/'))
        .ok_or_else(|| {
            GitOpsError::Invalid(format!(
                "gitops.repo `{repo_url}` does not name GROUP/PROJECT"
            ))
        })?;
        Ok(GitLabForge {
            api: RestApi::new(api, token, TokenHeader::PrivateToken, "GITLAB_TOKEN"),
            project: path.replace('/', "%2F"),
        })
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, GitOpsError> {
        let path = format!("/projects/{}{path}", self.project);
        self.api.request(method, &path, body)
    }

    fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<T, GitOpsError> {
        let path = format!("/projects/{}{path}", self.project);
        self.api.call(method, &path, body, what)
    }

    fn merge_request(&self, api: ApiMergeRequest) -> Result<PullRequest, GitOpsError> {
        let approvals = self.request(
            reqwest::Method::GET,
            &format!("/merge_requests/{}/approvals", api.iid),
            None,
        )?;
        let mut approved: Vec<String> = approvals["approved_by"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["user"]["username"].as_str().map(crate::strip_controls))
            .collect();
        approved.sort();
        approved.dedup();
        Ok(PullRequest {
            id: format!("!{}", api.iid),
            branch: api.source_branch,
            title: api.title,
            labels: api.labels,
            url: api.web_url.as_deref().map(crate::strip_controls),
            approvals: approved,
        })
    }

    fn open_requests(&self) -> Result<Vec<ApiMergeRequest>, GitOpsError> {
        self.api.list(
            &format!("/projects/{}/merge_requests?state=opened", self.project),
            "merge requests",
        )
    }
}

impl Forge for GitLabForge {
    fn open(
        &self,
        wc: &WorkingCopy,
        branch: &str,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<PullRequest, GitOpsError> {
        let created: ApiMergeRequest = self.call(
            reqwest::Method::POST,
            "/merge_requests",
            Some(json!({
                "source_branch": branch,
                "target_branch": wc.base,
                "title": title,
                "description": body,
                "labels": labels.join(","),
            })),
            "merge request",
        )?;
        self.merge_request(created)
    }

    fn find(&self, _wc: &WorkingCopy, branch: &str) -> Result<Option<PullRequest>, GitOpsError> {
        let found = self
            .open_requests()?
            .into_iter()
            .find(|mr| mr.source_branch == branch);
        found.map(|mr| self.merge_request(mr)).transpose()
    }

    fn get(&self, wc: &WorkingCopy, id: &PrId) -> Result<PullRequest, GitOpsError> {
        match id {
            PrId::Number(iid) => {
                let mr: ApiMergeRequest = self.call(
                    reqwest::Method::GET,
                    &format!("/merge_requests/{iid}"),
                    None,
                    "merge request",
                )?;
                if mr.state != "opened" {
                    return Err(not_open(id, &mr.state));
                }
                self.merge_request(mr)
            }
            PrId::Branch(branch) => self.find(wc, &branch.to_string())?.ok_or_else(|| {
                GitOpsError::Invalid(format!("no open merge request for branch `{id}`"))
            }),
        }
    }

    fn list(&self, _wc: &WorkingCopy) -> Result<Vec<PullRequest>, GitOpsError> {
        self.open_requests()?
            .into_iter()
            .filter(|mr| mr.source_branch.starts_with(&format!("{BRANCH_PREFIX}/")))
            .map(|mr| self.merge_request(mr))
            .collect()
    }

    fn approve(
        &self,
        _wc: &WorkingCopy,
        pr: &PullRequest,
        _key: Option<&Path>,
    ) -> Result<(), GitOpsError> {
        Err(approve_on_the_forge(pr, "on GitLab", "its approvals API"))
    }

    fn close(
        &self,
        _wc: &WorkingCopy,
        pr: &PullRequest,
        reason: Option<&str>,
    ) -> Result<(), GitOpsError> {
        let iid = pr.id.trim_start_matches('!');
        if let Some(reason) = reason {
            self.request(
                reqwest::Method::POST,
                &format!("/merge_requests/{iid}/notes"),
                Some(json!({"body": reason})),
            )?;
        }
        self.request(
            reqwest::Method::PUT,
            &format!("/merge_requests/{iid}"),
            Some(json!({"state_event": "close"})),
        )
        .map(drop)
    }

    fn merge(
        &self,
        wc: &WorkingCopy,
        pr: &PullRequest,
        message: &str,
    ) -> Result<String, GitOpsError> {
        let iid = pr.id.trim_start_matches('!');
        let merged = self.request(
            reqwest::Method::PUT,
            &format!("/merge_requests/{iid}/merge"),
            Some(json!({"merge_commit_message": message})),
        )?;
        wc.fetch()?;
        Ok(merged["merge_commit_sha"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(token: &str) -> RestApi {
        RestApi::new(
            "https://forge.example/api/v3",
            Some(token.to_owned()),
            TokenHeader::Bearer,
            "GITHUB_TOKEN",
        )
    }

    /// A server on loopback that answers every request with `answer`, and the request heads it
    /// received (at most `count` connections).
    fn server(answer: String, count: usize) -> (String, std::thread::JoinHandle<Vec<String>>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let heads = std::thread::spawn(move || {
            let mut heads = Vec::new();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
            while heads.len() < count && std::time::Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = std::io::BufReader::new(&stream);
                let mut head = String::new();
                while reader.read_line(&mut head).unwrap_or(0) > 2 && !head.ends_with("\r\n\r\n") {}
                (&stream).write_all(answer.as_bytes()).unwrap();
                heads.push(head);
            }
            heads
        });
        (address, heads)
    }

    #[test]
    fn a_redirect_to_another_origin_does_not_carry_the_token() {
        let (elsewhere, collected) = server(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]".into(),
            1,
        );
        let (forge, _) = server(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: {elsewhere}/api/v4/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            ),
            1,
        );
        let api = RestApi::new(
            &format!("{forge}/api/v4"),
            Some("glpat-secret-token".into()),
            TokenHeader::PrivateToken,
            "GITLAB_TOKEN",
        );
        let err = api
            .request(reqwest::Method::GET, "/projects", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("302"), "{err}");
        let heads = collected.join().unwrap();
        assert!(
            heads
                .iter()
                .all(|head| !head.contains("glpat-secret-token")),
            "{heads:?}"
        );
        assert!(
            heads.is_empty(),
            "the other origin was contacted: {heads:?}"
        );
    }

    #[test]
    fn forge_messages_are_stripped_masked_and_cut() {
        let api = api("tok123");
        assert_eq!(
            api.sanitize("bad \u{1b}[31mred\u{1b}[0m\u{1b}]0;title\u{7} tok\u{1b}[1m123\n"),
            "bad red ***"
        );
        let long = api.sanitize(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), MAX_MESSAGE + 1);
    }

    #[test]
    fn next_pages_stay_on_the_forge() {
        let api = api("t");
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            reqwest::header::LINK,
            "<https://forge.example/api/v3/x?page=2>; rel=\"next\", <https://forge.example/api/v3/x?page=9>; rel=\"last\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            api.next_page("https://forge.example/api/v3/x", &headers)
                .as_deref(),
            Some("https://forge.example/api/v3/x?page=2")
        );
        headers.insert(
            reqwest::header::LINK,
            "<https://evil.example/steal?page=2>; rel=\"next\""
                .parse()
                .unwrap(),
        );
        assert_eq!(
            api.next_page("https://forge.example/api/v3/x", &headers),
            None
        );
        let mut gitlab = reqwest::header::HeaderMap::new();
        gitlab.insert("x-next-page", "3".parse().unwrap());
        assert_eq!(
            api.next_page(
                "https://forge.example/api/v3/x?state=opened&per_page=100&page=2",
                &gitlab
            )
            .as_deref(),
            Some("https://forge.example/api/v3/x?state=opened&per_page=100&page=3")
        );
        gitlab.insert("x-next-page", "".parse().unwrap());
        assert_eq!(
            api.next_page("https://forge.example/api/v3/x", &gitlab),
            None
        );
    }
}

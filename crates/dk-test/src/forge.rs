//! A fake forge for GitOps tests: real bare repositories served over git's smart HTTP protocol
//! (`git http-backend` as CGI) and the part of the GitHub REST API dk uses, as GitHub documents
//! it (pulls: create, list, get, close, merge; reviews: list, create; issue labels: add), and of
//! the GitLab REST API v4 (merge requests: create, list, get, close, merge; approvals: get,
//! approve), over
//! the same pull requests. It runs on loopback, one thread per connection, and answers
//! `Connection: close`. Listings paginate as the real APIs do: `per_page` (default 30, at most
//! 100) and `page`, with a `Link: <…>; rel="next"` header on GitHub and `X-Next-Page` (and
//! `X-Page`, `X-Per-Page`, `X-Total`) on GitLab.
//!
//! - git: `http://127.0.0.1:PORT/OWNER/REPO.git`
//! - GitHub API: `http://127.0.0.1:PORT/api/v3` (a token's login is the token: `Bearer alice`)
//! - GitLab API: `http://127.0.0.1:PORT/api/v4` (`PRIVATE-TOKEN: alice`)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Pull {
    number: u64,
    title: String,
    body: String,
    head: String,
    base: String,
    labels: Vec<String>,
    state: &'static str,
    merged: bool,
    reviews: Vec<(String, String)>,
    /// Comments (GitLab: notes), oldest first.
    comments: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    pulls: BTreeMap<(String, String), Vec<Pull>>,
    /// Answers the next API request whose method and path end match, once.
    failures: Vec<Failure>,
}

#[derive(Debug, Clone)]
struct Failure {
    method: String,
    path_end: String,
    status: u16,
    body: Vec<u8>,
}

/// The fake forge; stops with the test process.
#[derive(Debug)]
pub struct FakeForge {
    port: u16,
    root: PathBuf,
    state: Arc<Mutex<State>>,
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

fn read_request(stream: &TcpStream) -> std::io::Result<Request> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (target, String::new()),
    };
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            headers.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let mut request = Request {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
    {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(request)
}

fn respond(stream: &mut TcpStream, status: u16, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (key, value) in headers {
        head.push_str(&format!("{key}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        _ => "Status",
    }
}

fn json_response(stream: &mut TcpStream, status: u16, value: &Value) {
    let body = serde_json::to_vec(value).expect("JSON");
    respond(
        stream,
        status,
        &[("Content-Type".into(), "application/json".into())],
        &body,
    );
}

/// Runs git in `dir` with a fixed identity: its trimmed stdout, or its stderr.
pub fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=forge", "-c", "user.email=forge@localhost"])
        .args(args)
        .output()
        .map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl FakeForge {
    /// Starts the forge with its repositories under `root`.
    pub fn start(root: &Path) -> FakeForge {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the forge");
        let port = listener.local_addr().expect("address").port();
        let forge = FakeForge {
            port,
            root: root.to_owned(),
            state: Arc::new(Mutex::new(State::default())),
        };
        let (root, state) = (forge.root.clone(), forge.state.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, state) = (root.clone(), state.clone());
                std::thread::spawn(move || serve(stream, &root, &state, port));
            }
        });
        forge
    }

    /// Creates `owner/repo` as a bare repository whose `main` holds `seed`'s commits.
    pub fn create_repo(&self, owner: &str, repo: &str, seed: &Path) -> String {
        let bare = self.root.join(owner).join(format!("{repo}.git"));
        std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
        let status = Command::new("git")
            .args(["clone", "-q", "--bare"])
            .arg(seed)
            .arg(&bare)
            .status()
            .unwrap();
        assert!(status.success());
        git(&bare, &["config", "http.receivepack", "true"]).unwrap();
        self.git_url(owner, repo)
    }

    pub fn git_url(&self, owner: &str, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{owner}/{repo}.git", self.port)
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v3", self.port)
    }

    pub fn gitlab_api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v4", self.port)
    }

    /// The pull requests of `owner/repo`, as the API shows them.
    pub fn pulls(&self, owner: &str, repo: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .pulls
            .get(&(owner.to_owned(), repo.to_owned()))
            .map(|pulls| {
                pulls
                    .iter()
                    .map(|p| pull_json(p, owner, repo, self.port))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The comments on pull request `number` of `owner/repo` (GitLab: its notes), oldest first.
    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .pulls
            .get(&(owner.to_owned(), repo.to_owned()))
            .and_then(|pulls| pulls.iter().find(|p| p.number == number))
            .map(|pull| pull.comments.clone())
            .unwrap_or_default()
    }

    /// A review, as `POST /repos/{owner}/{repo}/pulls/{number}/reviews` by `login` would add it.
    pub fn review(&self, owner: &str, repo: &str, number: u64, login: &str, event: &str) {
        let mut state = self.state.lock().unwrap();
        let pull = state
            .pulls
            .get_mut(&(owner.to_owned(), repo.to_owned()))
            .and_then(|pulls| pulls.iter_mut().find(|p| p.number == number))
            .expect("a pull request");
        pull.reviews.push((login.to_owned(), review_state(event)));
    }
}

impl FakeForge {
    /// Adds an open pull request of `head` (which need not exist as a branch) without git:
    /// many pull requests for pagination tests. Returns its number.
    pub fn add_pull(&self, owner: &str, repo: &str, head: &str, title: &str) -> u64 {
        let mut state = self.state.lock().unwrap();
        let pulls = state
            .pulls
            .entry((owner.to_owned(), repo.to_owned()))
            .or_default();
        let number = pulls.len() as u64 + 1;
        pulls.push(Pull {
            number,
            title: title.to_owned(),
            body: String::new(),
            head: head.to_owned(),
            base: "main".to_owned(),
            labels: Vec::new(),
            state: "open",
            merged: false,
            reviews: Vec::new(),
            comments: Vec::new(),
        });
        number
    }

    /// The next API request with `method` whose path ends with `path_end` gets `status` and
    /// `body` instead of its answer (once): a forge that fails, or says something hostile.
    pub fn fail_next(&self, method: &str, path_end: &str, status: u16, body: &[u8]) {
        self.state.lock().unwrap().failures.push(Failure {
            method: method.to_owned(),
            path_end: path_end.to_owned(),
            status,
            body: body.to_vec(),
        });
    }
}

/// One page of `items` as `per_page` and `page` in `query` select it (GitHub's and GitLab's
/// defaults and limit), with the headers that lead to the next page.
fn paginate(
    items: Vec<Value>,
    query: &str,
    url: &str,
    gitlab: bool,
) -> (Value, Vec<(String, String)>) {
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse::<usize>().ok())
    };
    let per_page = param("per_page").unwrap_or(30).clamp(1, 100);
    let page = param("page").unwrap_or(1).max(1);
    let total = items.len();
    let pages = total.div_ceil(per_page).max(1);
    let list: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut headers = Vec::new();
    if page < pages {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.starts_with("page=") && !pair.is_empty())
            .collect();
        let mut next = kept.join("&");
        if !next.is_empty() {
            next.push('&');
        }
        let link = format!(
            "<{url}?{next}page={}>; rel=\"next\", <{url}?{next}page={pages}>; rel=\"last\"",
            page + 1
        );
        if gitlab {
            headers.push(("X-Next-Page".to_owned(), (page + 1).to_string()));
        } else {
            headers.push(("Link".to_owned(), link));
        }
    } else if gitlab {
        headers.push(("X-Next-Page".to_owned(), String::new()));
    }
    if gitlab {
        headers.push(("X-Page".to_owned(), page.to_string()));
        headers.push(("X-Per-Page".to_owned(), per_page.to_string()));
        headers.push(("X-Total".to_owned(), total.to_string()));
    }
    (Value::Array(list), headers)
}

fn page_response(
    stream: &mut TcpStream,
    items: Vec<Value>,
    request: &Request,
    port: u16,
    gitlab: bool,
) {
    let url = format!("http://127.0.0.1:{port}{}", request.path);
    let (page, mut headers) = paginate(items, &request.query, &url, gitlab);
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    respond(
        stream,
        200,
        &headers,
        &serde_json::to_vec(&page).expect("JSON"),
    );
}

fn review_state(event: &str) -> String {
    match event {
        "APPROVE" => "APPROVED".into(),
        "REQUEST_CHANGES" => "CHANGES_REQUESTED".into(),
        _ => "COMMENTED".into(),
    }
}

fn pull_json(pull: &Pull, owner: &str, repo: &str, port: u16) -> Value {
    json!({
        "number": pull.number,
        "title": pull.title,
        "body": pull.body,
        "state": pull.state,
        "merged": pull.merged,
        "html_url": format!("http://127.0.0.1:{port}/{owner}/{repo}/pull/{}", pull.number),
        "head": {"ref": pull.head},
        "base": {"ref": pull.base},
        "labels": pull.labels.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
    })
}

fn serve(mut stream: TcpStream, root: &Path, state: &Mutex<State>, port: u16) {
    let Ok(request) = read_request(&stream) else {
        return;
    };
    if !request.path.starts_with("/api/") {
        return cgi(&mut stream, root, &request, &request.path);
    }
    let failure = {
        let mut guard = state.lock().unwrap();
        let found = guard
            .failures
            .iter()
            .position(|f| f.method == request.method && request.path.ends_with(&f.path_end));
        found.map(|at| guard.failures.remove(at))
    };
    if let Some(failure) = failure {
        return respond(
            &mut stream,
            failure.status,
            &[("Content-Type".into(), "application/json".into())],
            &failure.body,
        );
    }
    if let Some(path) = request.path.strip_prefix("/api/v4/projects/") {
        return gitlab(&mut stream, root, state, &request, path, port);
    }
    let Some(path) = request.path.strip_prefix("/api/v3/repos/") else {
        return json_response(&mut stream, 404, &json!({"message": "Not Found"}));
    };
    let Some(login) = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
    else {
        return json_response(
            &mut stream,
            401,
            &json!({"message": "Requires authentication"}),
        );
    };
    let parts: Vec<&str> = path.split('/').collect();
    let (owner, repo) = (
        parts[0].to_owned(),
        parts.get(1).copied().unwrap_or_default().to_owned(),
    );
    let bare = root.join(&owner).join(format!("{repo}.git"));
    if !bare.exists() {
        return json_response(&mut stream, 404, &json!({"message": "Not Found"}));
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let mut guard = state.lock().unwrap();
    let pulls = guard
        .pulls
        .entry((owner.clone(), repo.clone()))
        .or_default();
    let number = |text: &str| text.parse::<u64>().ok();
    match (request.method.as_str(), &parts[2..]) {
        ("GET", ["pulls"]) => {
            let wanted = if request.query.contains("state=all") {
                None
            } else {
                Some("open")
            };
            let list: Vec<Value> = pulls
                .iter()
                .filter(|p| wanted.is_none_or(|w| p.state == w))
                .map(|p| pull_json(p, &owner, &repo, port))
                .collect();
            page_response(&mut stream, list, &request, port, false);
        }
        ("POST", ["pulls"]) => {
            let head = body["head"].as_str().unwrap_or_default().to_owned();
            let base = body["base"].as_str().unwrap_or_default().to_owned();
            if git(
                &bare,
                &["rev-parse", "--verify", &format!("refs/heads/{head}")],
            )
            .is_err()
            {
                return json_response(
                    &mut stream,
                    422,
                    &json!({"message": "Validation Failed", "errors": [{"field": "head", "code": "invalid"}]}),
                );
            }
            if git(&bare, &["rev-list", "--count", &format!("{base}..{head}")])
                .is_ok_and(|count| count == "0")
            {
                return json_response(
                    &mut stream,
                    422,
                    &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("No commits between {base} and {head}")}]}),
                );
            }
            if pulls.iter().any(|p| p.head == head && p.state == "open") {
                return json_response(
                    &mut stream,
                    422,
                    &json!({"message": format!("A pull request already exists for {owner}:{head}.")}),
                );
            }
            let pull = Pull {
                number: pulls.len() as u64 + 1,
                title: body["title"].as_str().unwrap_or_default().to_owned(),
                body: body["body"].as_str().unwrap_or_default().to_owned(),
                head,
                base,
                labels: Vec::new(),
                state: "open",
                merged: false,
                reviews: Vec::new(),
                comments: Vec::new(),
            };
            let answer = pull_json(&pull, &owner, &repo, port);
            pulls.push(pull);
            json_response(&mut stream, 201, &answer);
        }
        (method, ["pulls", n, rest @ ..]) | (method, ["issues", n, rest @ ..]) => {
            let Some(pull) = number(n).and_then(|n| pulls.iter_mut().find(|p| p.number == n))
            else {
                return json_response(&mut stream, 404, &json!({"message": "Not Found"}));
            };
            match (method, parts[2], rest) {
                ("GET", "pulls", []) => {
                    json_response(&mut stream, 200, &pull_json(pull, &owner, &repo, port))
                }
                ("PATCH", "pulls", []) => {
                    if body["state"] == "closed" && !pull.merged {
                        pull.state = "closed";
                    }
                    json_response(&mut stream, 200, &pull_json(pull, &owner, &repo, port))
                }
                ("GET", "pulls", ["reviews"]) => {
                    let reviews: Vec<Value> = pull
                        .reviews
                        .iter()
                        .enumerate()
                        .map(|(id, (user, state))| json!({"id": id + 1, "user": {"login": user}, "state": state}))
                        .collect();
                    page_response(&mut stream, reviews, &request, port, false);
                }
                ("POST", "pulls", ["reviews"]) => {
                    let state = review_state(body["event"].as_str().unwrap_or("COMMENT"));
                    pull.reviews.push((login.clone(), state.clone()));
                    json_response(
                        &mut stream,
                        200,
                        &json!({"user": {"login": login}, "state": state}),
                    );
                }
                ("POST", "issues", ["comments"]) => {
                    let text = body["body"].as_str().unwrap_or_default().to_owned();
                    pull.comments.push(text.clone());
                    json_response(
                        &mut stream,
                        201,
                        &json!({"id": pull.comments.len(), "body": text, "user": {"login": login}}),
                    );
                }
                ("POST", "issues", ["labels"]) => {
                    for label in body["labels"].as_array().into_iter().flatten() {
                        if let Some(label) = label.as_str()
                            && !pull.labels.iter().any(|l| l == label)
                        {
                            pull.labels.push(label.to_owned());
                        }
                    }
                    let labels: Vec<Value> = pull
                        .labels
                        .iter()
                        .map(|name| json!({"name": name}))
                        .collect();
                    json_response(&mut stream, 200, &Value::Array(labels));
                }
                ("PUT", "pulls", ["merge"]) => {
                    if pull.state != "open" {
                        return json_response(
                            &mut stream,
                            405,
                            &json!({"message": "Pull Request is not mergeable"}),
                        );
                    }
                    let message = body["commit_title"]
                        .as_str()
                        .unwrap_or("Merge pull request")
                        .to_owned();
                    match merge(&bare, &pull.base, &pull.head, &message) {
                        Ok(sha) => {
                            pull.state = "closed";
                            pull.merged = true;
                            json_response(
                                &mut stream,
                                200,
                                &json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
                            );
                        }
                        Err(err) => json_response(
                            &mut stream,
                            405,
                            &json!({"message": format!("Pull Request is not mergeable: {err}")}),
                        ),
                    }
                }
                _ => json_response(&mut stream, 404, &json!({"message": "Not Found"})),
            }
        }
        _ => json_response(&mut stream, 404, &json!({"message": "Not Found"})),
    }
}

fn merge_request_json(pull: &Pull, owner: &str, repo: &str, port: u16) -> Value {
    json!({
        "iid": pull.number,
        "title": pull.title,
        "description": pull.body,
        "state": if pull.merged { "merged" } else if pull.state == "open" { "opened" } else { "closed" },
        "web_url": format!("http://127.0.0.1:{port}/{owner}/{repo}/-/merge_requests/{}", pull.number),
        "source_branch": pull.head,
        "target_branch": pull.base,
        "labels": pull.labels,
    })
}

/// The GitLab merge-request API over the same pull requests.
fn gitlab(
    stream: &mut TcpStream,
    root: &Path,
    state: &Mutex<State>,
    request: &Request,
    path: &str,
    port: u16,
) {
    let Some(login) = request.header("private-token").map(str::to_owned) else {
        return json_response(stream, 401, &json!({"message": "401 Unauthorized"}));
    };
    let parts: Vec<&str> = path.split('/').collect();
    let project = parts[0].replace("%2F", "/");
    let Some((owner, repo)) = project
        .split_once('/')
        .map(|(o, r)| (o.to_owned(), r.to_owned()))
    else {
        return json_response(stream, 404, &json!({"message": "404 Project Not Found"}));
    };
    let bare = root.join(&owner).join(format!("{repo}.git"));
    if !bare.exists() {
        return json_response(stream, 404, &json!({"message": "404 Project Not Found"}));
    }
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let mut guard = state.lock().unwrap();
    let pulls = guard
        .pulls
        .entry((owner.clone(), repo.clone()))
        .or_default();
    match (request.method.as_str(), &parts[1..]) {
        ("GET", ["merge_requests"]) => {
            let list: Vec<Value> = pulls
                .iter()
                .filter(|p| !request.query.contains("state=opened") || p.state == "open")
                .map(|p| merge_request_json(p, &owner, &repo, port))
                .collect();
            page_response(stream, list, request, port, true);
        }
        ("POST", ["merge_requests"]) => {
            let head = body["source_branch"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if git(
                &bare,
                &["rev-parse", "--verify", &format!("refs/heads/{head}")],
            )
            .is_err()
            {
                return json_response(
                    stream,
                    422,
                    &json!({"message": ["Source branch does not exist"]}),
                );
            }
            if let Some(open) = pulls.iter().find(|p| p.head == head && p.state == "open") {
                return json_response(
                    stream,
                    409,
                    &json!({"message": [format!("Another open merge request already exists for this source branch: !{}", open.number)]}),
                );
            }
            let pull = Pull {
                number: pulls.len() as u64 + 1,
                title: body["title"].as_str().unwrap_or_default().to_owned(),
                body: body["description"].as_str().unwrap_or_default().to_owned(),
                head,
                base: body["target_branch"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                labels: body["labels"]
                    .as_str()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                state: "open",
                merged: false,
                reviews: Vec::new(),
                comments: Vec::new(),
            };
            let answer = merge_request_json(&pull, &owner, &repo, port);
            pulls.push(pull);
            json_response(stream, 201, &answer);
        }
        (method, ["merge_requests", iid, rest @ ..]) => {
            let Some(pull) = iid
                .parse::<u64>()
                .ok()
                .and_then(|n| pulls.iter_mut().find(|p| p.number == n))
            else {
                return json_response(stream, 404, &json!({"message": "404 Not found"}));
            };
            match (method, rest) {
                ("GET", []) => {
                    json_response(stream, 200, &merge_request_json(pull, &owner, &repo, port))
                }
                ("PUT", []) => {
                    if body["state_event"] == "close" && !pull.merged {
                        pull.state = "closed";
                    }
                    json_response(stream, 200, &merge_request_json(pull, &owner, &repo, port))
                }
                ("GET", ["approvals"]) => {
                    let mut approved: Vec<&str> = pull
                        .reviews
                        .iter()
                        .filter(|(_, state)| state == "APPROVED")
                        .map(|(user, _)| user.as_str())
                        .collect();
                    approved.dedup();
                    let approved: Vec<Value> = approved
                        .iter()
                        .map(|u| json!({"user": {"username": u}}))
                        .collect();
                    json_response(
                        stream,
                        200,
                        &json!({"iid": pull.number, "approved_by": approved}),
                    );
                }
                ("POST", ["notes"]) => {
                    let text = body["body"].as_str().unwrap_or_default().to_owned();
                    pull.comments.push(text.clone());
                    json_response(
                        stream,
                        201,
                        &json!({"id": pull.comments.len(), "body": text}),
                    );
                }
                ("POST", ["approve"]) => {
                    pull.reviews.push((login, "APPROVED".into()));
                    json_response(stream, 201, &json!({"iid": pull.number}));
                }
                ("PUT", ["merge"]) => {
                    if pull.state != "open" {
                        return json_response(
                            stream,
                            405,
                            &json!({"message": "405 Method Not Allowed"}),
                        );
                    }
                    let message = body["merge_commit_message"]
                        .as_str()
                        .unwrap_or("Merge")
                        .to_owned();
                    match merge(&bare, &pull.base, &pull.head, &message) {
                        Ok(sha) => {
                            pull.state = "closed";
                            pull.merged = true;
                            let mut answer = merge_request_json(pull, &owner, &repo, port);
                            answer["merge_commit_sha"] = json!(sha);
                            json_response(stream, 200, &answer);
                        }
                        Err(err) => json_response(
                            stream,
                            406,
                            &json!({"message": format!("Branch cannot be merged: {err}")}),
                        ),
                    }
                }
                _ => json_response(stream, 404, &json!({"message": "404 Not found"})),
            }
        }
        _ => json_response(stream, 404, &json!({"message": "404 Not found"})),
    }
}

/// Merges `head` into `base` of a bare repository through a temporary clone, as a forge's merge
/// button does.
fn merge(bare: &Path, base: &str, head: &str, message: &str) -> Result<String, String> {
    let work = tempfile::tempdir().map_err(|err| err.to_string())?;
    let dir = work.path().join("w");
    let status = Command::new("git")
        .args(["clone", "-q", "-b", base])
        .arg(bare)
        .arg(&dir)
        .status()
        .map_err(|err| err.to_string())?;
    if !status.success() {
        return Err("clone failed".into());
    }
    git(
        &dir,
        &[
            "merge",
            "-q",
            "--no-ff",
            "-m",
            message,
            &format!("origin/{head}"),
        ],
    )?;
    git(
        &dir,
        &["push", "-q", "origin", &format!("HEAD:refs/heads/{base}")],
    )?;
    git(&dir, &["rev-parse", "HEAD"])
}

/// `git http-backend` as CGI.
fn cgi(stream: &mut TcpStream, root: &Path, request: &Request, path: &str) {
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", &request.query)
        .env("REMOTE_USER", "dk")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(kind) = request.header("content-type") {
        command.env("CONTENT_TYPE", kind);
    }
    if let Some(encoding) = request.header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    if let Some(protocol) = request.header("git-protocol") {
        command.env("GIT_PROTOCOL", protocol);
    }
    let Ok(mut child) = command.spawn() else {
        return respond(stream, 500, &[], b"cannot run git http-backend");
    };
    let body = request.body.clone();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let output = child.wait_with_output().expect("git http-backend output");
    let _ = writer.join();
    let text = output.stdout;
    let split = text
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| text.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else {
        return respond(stream, 500, &[], &text);
    };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&text[..end]).lines() {
        if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case("status") {
                status = value
                    .trim()
                    .split(' ')
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(200);
            } else {
                headers.push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }
    respond(stream, status, &headers, &text[end + gap..]);
}

/// A throwaway ed25519 key for signed approvals, made by `ssh-keygen` in `dir`: the private
/// key's path, and the allowed-signers line that names `principal` for it.
pub fn ssh_key(dir: &Path, principal: &str) -> (PathBuf, String) {
    std::fs::create_dir_all(dir).expect("key folder");
    let path = dir.join(principal);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", principal, "-f"])
        .arg(&path)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(status.success(), "ssh-keygen");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("public key");
    (
        path,
        format!("{principal} namespaces=\"git\" {}", public.trim()),
    )
}

//! The web UI's side of `dk lineage serve` without a browser: the embedded assets, the security
//! headers and host check, JSON errors, graph caps against hostile events, and the PII flows
//! query. The browser tests are in crates/dk-cli/tests/ui.rs.

mod common;

use serde_json::{Value, json};

use common::server::TestServer;
use dk_lineage::server::DEFAULT_TIMEOUT;
use dk_lineage::ui::{ASSETS, INDEX_HTML, MAX_GRAPH_NODES};

fn event(job: &str, inputs: Value, outputs: Value) -> String {
    json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-26T10:00:00Z",
        "run": {"runId": uuid_for(job)},
        "job": {"namespace": "n", "name": job},
        "inputs": inputs, "outputs": outputs,
        "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    })
    .to_string()
}

fn uuid_for(job: &str) -> String {
    let digits: u64 = job.bytes().map(u64::from).sum();
    format!("01a22e4e-0000-7000-8000-{digits:012}")
}

fn tagged(name: &str, pii: &[&str], classification: &str) -> Value {
    let mut tags = vec![json!({"key": "classification", "value": classification, "source": "dk"})];
    tags.extend(
        pii.iter()
            .map(|f| json!({"key": "pii", "value": "true", "field": f, "source": "dk"})),
    );
    json!({"namespace": "n", "name": name, "facets": {
        "schema": {"_producer": "p", "_schemaURL": "s", "fields": [{"name": "id", "type": "int"}, {"name": "email", "type": "string"}]},
        "tags": {"_producer": "p", "_schemaURL": "s", "tags": tags},
    }})
}

async fn get(server: &TestServer, path: &str, host: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.url));
    if let Some(host) = host {
        request = request.header("host", host);
    }
    request.send().await.unwrap()
}

#[test]
fn the_assets_are_small_and_never_inline_script_style_or_html_from_data() {
    let total: usize = INDEX_HTML.len()
        + ASSETS
            .iter()
            .map(|(_, _, bytes)| bytes.len())
            .sum::<usize>();
    assert!(total < 1 << 20, "{total} bytes");
    assert!(!INDEX_HTML.contains("<script>") && !INDEX_HTML.contains("style="));
    assert!(
        !INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"),
        "no CDN"
    );
    let script = std::str::from_utf8(ASSETS[0].2).unwrap();
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!script.contains(forbidden), "{forbidden}");
    }
}

crate::on_both_stores! {
async fn answers_carry_the_policy_other_hosts_are_refused_and_bad_queries_answer_json(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let page = get(&server, "/lineage/job/n/x", None).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let asset = get(&server, "/ui/app.js", None).await;
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(get(&server, "/ui/nope.js", None).await.status(), 404);

    // A page of attacker.example resolving its name to 127.0.0.1 sends that name as Host.
    let port = server.url.rsplit(':').next().unwrap().to_owned();
    for host in [
        "attacker.example",
        &format!("attacker.example:{port}"),
        "127.0.0.1.nip.io",
    ] {
        let refused = get(&server, "/api/v1/namespaces", Some(host)).await;
        assert_eq!(refused.status(), 421, "{host}");
    }
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        assert_eq!(
            get(&server, "/api/v1/namespaces", Some(&host))
                .await
                .status(),
            200,
            "{host}"
        );
    }

    for path in [
        "/api/v1/lineage",
        "/api/v1/lineage?nodeId=job:n:x&depth=many",
        "/api/v1/ui/graph?kind=job",
        "/api/v1/ui/graph?kind=nope&namespace=n&name=x",
    ] {
        let answer = get(&server, path, None).await;
        assert_eq!(answer.status(), 400, "{path}");
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["code"], 400, "{path}: {body}");
        assert!(body["message"].is_string(), "{path}: {body}");
    }
    let missing = get(
        &server,
        "/api/v1/ui/graph?kind=job&namespace=n&name=x",
        None,
    )
    .await;
    assert_eq!(missing.status(), 404);
    server.stop().await;
}
}

// One unauthenticated event naming thousands of outputs, and a dataset whose column lineage
// names tens of thousands of input fields: reads answer with capped graphs and say so.
crate::on_both_stores! {
async fn a_huge_event_is_drawn_in_part(backend: Backend) {
    let server = TestServer::start_on(backend, None, 8 << 20, DEFAULT_TIMEOUT).await;
    let outputs: Vec<Value> = (0..3000)
        .map(|i| json!({"namespace": "n", "name": format!("out-{i:05}")}))
        .collect();
    let status = server
        .post(
            event(
                "fanout",
                json!([{"namespace": "n", "name": "in"}]),
                json!(outputs),
            ),
            None,
        )
        .await;
    assert_eq!(status, 201);
    let inputs: Vec<Value> = (0..20_000)
        .map(|i| json!({"namespace": "n", "name": "in", "field": format!("f{i}")}))
        .collect();
    let columns: serde_json::Map<String, Value> = (0..50)
        .map(|i| {
            (
                format!("c{i}"),
                json!({"inputFields": inputs[i * 400..(i + 1) * 400]}),
            )
        })
        .collect();
    let wide = json!([{"namespace": "n", "name": "wide", "facets": {"columnLineage": {
        "_producer": "p", "_schemaURL": "s", "fields": columns}}}]);
    assert_eq!(
        server
            .post(
                event("widen", json!([{"namespace": "n", "name": "in"}]), wide),
                None
            )
            .await,
        201
    );

    let graph = server
        .get("/api/v1/ui/graph?kind=job&namespace=n&name=fanout&depth=2")
        .await;
    assert_eq!(graph["truncated"], true);
    assert_eq!(graph["nodes"].as_array().unwrap().len(), MAX_GRAPH_NODES);
    assert!(
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "job:n:fanout")
    );

    let marquez = server
        .get("/api/v1/lineage?nodeId=job:n:fanout&depth=2")
        .await;
    assert!(marquez["graph"].as_array().unwrap().len() <= dk_lineage::graph::MAX_NODES);

    let columns = server
        .get("/api/v1/column-lineage?nodeId=dataset:n:wide&depth=1")
        .await;
    let count = columns["graph"].as_array().unwrap().len();
    assert!(count <= 2 * dk_lineage::ui::MAX_COLUMN_EDGES, "{count}");
    server.stop().await;
}
}

crate::on_both_stores! {
async fn every_pii_flow_comes_from_one_query(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    for (job, input, output) in [
        (
            "clean",
            tagged("customers", &["email"], "confidential"),
            tagged("customers_clean", &["email"], "confidential"),
        ),
        (
            "stats",
            tagged("customers_clean", &["email"], "confidential"),
            tagged("stats", &[], "internal"),
        ),
    ] {
        assert_eq!(
            server
                .post(event(job, json!([input]), json!([output])), None)
                .await,
            201
        );
    }
    assert_eq!(
        server
            .post(
                event(
                    "load",
                    json!([]),
                    json!([tagged("leads", &["email", "id"], "restricted")])
                ),
                None
            )
            .await,
        201
    );
    let flows = server.get("/api/v1/ui/governance").await;
    let rows: Vec<(String, Value, Value, Option<String>)> = flows["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["source"]["name"].as_str().unwrap().to_owned(),
                f["source"]["piiFields"].clone(),
                f["job"]["name"].clone(),
                f["target"]["name"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                "customers".into(),
                json!(["email"]),
                json!("clean"),
                Some("customers_clean".into())
            ),
            (
                "customers_clean".into(),
                json!(["email"]),
                json!("stats"),
                Some("stats".into())
            ),
            ("leads".into(), json!(["email", "id"]), Value::Null, None),
        ]
    );
    assert_eq!(
        flows["flows"][0]["source"]["classification"],
        "confidential"
    );
    assert_eq!(flows["flows"][1]["target"]["classification"], "internal");
    assert_eq!(flows["truncated"], false);
    let first = server.with_store(|store| store.pii_flows(1).unwrap());
    assert_eq!((first.flows.len(), first.truncated), (1, true));
    server.stop().await;
}
}

crate::on_both_stores! {
async fn an_expanded_dataset_has_its_fields_and_the_columns_they_derive_from(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let mut output = tagged("customers_clean", &["email"], "confidential");
    output["facets"]["columnLineage"] = json!({"_producer": "p", "_schemaURL": "s", "fields": {
        "email": {"inputFields": [{"namespace": "n", "name": "customers", "field": "email"}]},
    }});
    let input = tagged("customers", &["email"], "confidential");
    assert_eq!(
        server
            .post(event("clean", json!([input]), json!([output])), None)
            .await,
        201
    );
    let base = "/api/v1/ui/graph?kind=job&namespace=n&name=clean&depth=1";
    let closed = server.get(base).await;
    let node = |graph: &Value, id: &str| {
        graph["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone()
    };
    let clean = node(&closed, "dataset:n:customers_clean");
    assert_eq!(
        (&clean["pii"], &clean["classification"]),
        (&json!(1), &json!("confidential"))
    );
    assert_eq!(clean["fields"], json!([]));
    assert_eq!(closed["columnEdges"], json!([]));
    // Left to right: input, job, output.
    let x = |id: &str| node(&closed, id)["x"].as_f64().unwrap();
    assert!(
        x("dataset:n:customers") < x("job:n:clean")
            && x("job:n:clean") < x("dataset:n:customers_clean")
    );

    let open = server
        .get(&format!("{base}&expand=dataset:n:customers_clean"))
        .await;
    let clean = node(&open, "dataset:n:customers_clean");
    let fields: Vec<(&str, bool)> = clean["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["pii"].as_bool().unwrap()))
        .collect();
    assert_eq!(fields, [("id", false), ("email", true)]);
    assert!(clean["height"].as_f64() > node(&open, "dataset:n:customers")["height"].as_f64());
    assert_eq!(
        open["columnEdges"],
        json!([{"from": "dataset:n:customers", "fromField": "email", "to": "dataset:n:customers_clean", "toField": "email"}])
    );
    server.stop().await;
}
}

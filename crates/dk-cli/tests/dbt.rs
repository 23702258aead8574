//! dbt projects as dk packages, on a realistic project written for these tests
//! (`tests/fixtures/dbt-shop`: seeds, sources, staging views, marts, schema and singular tests, a
//! snapshot, a macro, `meta` PII tags, DuckDB and PostgreSQL targets). dbt is the real one of
//! `scripts/test-services` (DK_TEST_TOOLS_BIN); without it the tests say SKIPPED.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Run, bundled, context, run_ok, run_with};
use dk_test::sink::HttpSink;
use dk_test::{TestContext, copy_tree, service};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt-shop")
}

/// The tools venv's bin directory (dbt, dbt-ol, its Python with duckdb).
fn tools_bin() -> Option<String> {
    service("DK_TEST_TOOLS_BIN", "pipeline tools (dbt-duckdb)")
}

/// The shop project copied to `work/<dir>`, as a user's checkout is: no `target/`, no database.
fn shop(ctx: &TestContext, dir: &str) -> PathBuf {
    let to = ctx.work().join(dir);
    copy_tree(&fixture(), &to, &[]);
    to
}

/// The manifests a person writes to wrap the shop by hand: one store, the raw customers the
/// project reads (a seed of its own) and the `customers` mart.
fn wrap_by_hand(ctx: &TestContext, dir: &str, dbt: &str) {
    ctx.write(
        format!("{dir}/dk.yaml"),
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: shop\nspec:\n  runtime: dbt\n  owner: analytics@example.com\n  inputs:\n    - dataset: raw-customers\n  outputs:\n    - dataset: customers\n{dbt}"
        ),
    );
    ctx.write(
        format!("{dir}/store/warehouse.yaml"),
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: warehouse\nspec:\n  connector: duckdb\n  connection:\n    path: data/shop.duckdb\n",
    );
    ctx.write(
        format!("{dir}/dataset/raw-customers.yaml"),
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: raw-customers\nspec:\n  store: warehouse\n  table: main_raw.raw_customers\n  owner: analytics@example.com\n  classification: confidential\n  retention:\n    days: 365\n  schema:\n    - name: id\n      type: integer\n    - name: email\n      type: string\n      pii: true\n",
    );
    ctx.write(
        format!("{dir}/dataset/customers.yaml"),
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: customers\nspec:\n  store: warehouse\n  table: main.customers\n  owner: analytics@example.com\n  classification: confidential\n  retention:\n    days: 365\n  schema:\n    - name: customer_id\n      type: integer\n    - name: first_name\n      type: string\n      pii: true\n",
    );
}

/// One value from the shop's DuckDB file, through the tools' Python.
fn duckdb_value(bin: &str, database: &Path, sql: &str) -> String {
    let output = std::process::Command::new(format!("{bin}/python"))
        .args([
            "-c",
            "import duckdb,sys; print(duckdb.connect(sys.argv[1], read_only=True).execute(sys.argv[2]).fetchone()[0])",
        ])
        .arg(database)
        .arg(sql)
        .output()
        .expect("python");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A directory holding only `python3`: the system one without site-packages (`-S`), so that it
/// has no duckdb whatever the machine installed.
fn bare_python(ctx: &TestContext) -> String {
    let dir = ctx.root().join("bare-python");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("python3");
    let system = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("python3 (CI has it)");
    std::fs::write(&script, format!("#!/bin/sh\nexec {system} -S \"$@\"\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir.display().to_string()
}

/// `dk run` builds the dbt way on a fresh copy: the seeds load, staging views and marts build, the
/// snapshot is taken and the tests pass, under the profile name `dbt_project.yml` gives
/// (`shop_analytics`, unedited), although the first `python3` on PATH has no duckdb.
#[test]
fn dk_run_is_dbt_build_under_the_projects_own_profile() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    let dir = shop(&ctx, "shop");
    wrap_by_hand(&ctx, "shop", "");
    let path = format!("{}:{bin}:/usr/bin:/bin", bare_python(&ctx));
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let result = run_with(&ctx, &env, &["run", "shop"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains(" build "), "{}", result.stderr);
    assert!(
        result.stderr.contains("--profile shop_analytics"),
        "{}",
        result.stderr
    );
    assert_eq!(
        ctx.read("shop/dbt_project.yml"),
        std::fs::read_to_string(fixture().join("dbt_project.yml")).unwrap(),
        "dk edited dbt_project.yml"
    );
    let database = dir.join("data/shop.duckdb");
    for (sql, want) in [
        ("select count(*) from main_raw.raw_customers", "4"),
        ("select count(*) from main.stg_customers", "4"),
        ("select count(*) from main.customers", "4"),
        ("select count(*) from main.customers_snapshot", "4"),
        (
            "select table_type from information_schema.tables where table_name = 'stg_orders'",
            "VIEW",
        ),
        (
            "select lifetime_value from main.customers where customer_id = 1",
            "40.00",
        ),
    ] {
        assert_eq!(duckdb_value(&bin, &database, sql), want, "{sql}");
    }
}

/// `spec.dbt.select` narrows the build to what it names (here a model and its upstream seed),
/// and `spec.dbt.command: run` runs models only.
#[test]
fn spec_dbt_chooses_the_command_and_the_selection() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    let dir = shop(&ctx, "shop");
    wrap_by_hand(&ctx, "shop", "  dbt:\n    select: +stg_customers\n");
    let path = format!("{bin}:/usr/bin:/bin");
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let result = run_with(&ctx, &env, &["run", "shop"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(
        result.stderr.contains(" build ") && result.stderr.contains("--select +stg_customers"),
        "{}",
        result.stderr
    );
    let built = "select count(*) from information_schema.tables where table_name in ('raw_customers', 'stg_customers', 'raw_orders', 'stg_orders', 'customers')";
    let database = dir.join("data/shop.duckdb");
    assert_eq!(duckdb_value(&bin, &database, built), "2");

    ctx.write(
        "shop/dk.yaml",
        ctx.read("shop/dk.yaml").replace(
            "select: +stg_customers",
            "command: run\n    select: stg_customers",
        ),
    );
    let result = run_with(&ctx, &env, &["run", "shop"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(
        result.stderr.contains(" run ") && result.stderr.contains("--select stg_customers"),
        "{}",
        result.stderr
    );

    ctx.write(
        "shop/dk.yaml",
        ctx.read("shop/dk.yaml")
            .replace("command: run", "command: deploy"),
    );
    let typo = run_ok(&ctx, &["lint", "shop"], 1);
    assert!(
        typo.transcript().contains("deploy") && typo.transcript().contains("build"),
        "{}",
        typo.transcript()
    );
}

/// `dk test` on a fresh copy: nothing was ever built, and the tests still find their models.
#[test]
fn dk_test_passes_on_a_fresh_copy() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    shop(&ctx, "shop");
    wrap_by_hand(&ctx, "shop", "  dbt:\n    command: run\n");
    let path = format!("{bin}:/usr/bin:/bin");
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let tested = run_with(&ctx, &env, &["test", "shop"]);
    assert_eq!(tested.code, 0, "{}", tested.transcript());
    assert!(tested.stderr.contains(" build "), "{}", tested.stderr);
}

/// Seeding DuckDB with a Python that lacks duckdb says which module is missing from which
/// interpreter, instead of "check that the store is reachable".
#[test]
fn seeding_duckdb_without_the_module_names_the_module_and_the_python() {
    let ctx = context();
    let bare = bare_python(&ctx);
    shop(&ctx, "shop");
    wrap_by_hand(&ctx, "shop", "");
    ctx.write(
        "shop/dataset/promotions.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: promotions\nspec:\n  store: warehouse\n  table: main.promotions\n  classification: internal\n  schema:\n    - name: code\n      type: string\n  dev:\n    seed:\n      inline:\n        - {code: SPRING}\n",
    );
    let text = ctx
        .read("shop/dk.yaml")
        .replace("inputs:\n", "inputs:\n    - dataset: promotions\n");
    ctx.write("shop/dk.yaml", text);
    let env = [("PATH", bare.as_str())];
    let result = run_with(&ctx, &env, &["dev", "seed", "shop"]);
    assert_eq!(result.code, 1, "{}", result.transcript());
    let text = result.transcript();
    assert!(
        text.contains("has no `duckdb` module") && text.contains(&format!("{bare}/python3")),
        "{text}"
    );
    assert!(text.contains("pip install duckdb"), "{text}");
    assert!(!text.contains("reachable"), "{text}");
}

/// Every file of the fixture, with its bytes: dk must leave dbt's files as they were.
fn dbt_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![fixture()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(fixture()).unwrap().to_path_buf();
                files.push((
                    relative.clone(),
                    std::fs::read(dir.join(&relative)).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

/// `dk init --from-dbt` adopts the project in place with no hand edits: it lints, runs the dbt
/// way, and a re-run after `dbt docs generate` fills in the catalog's types while keeping what a
/// person changed and never touching a file dk did not write.
#[test]
fn dk_init_from_dbt_adopts_the_project_and_re_runs_keep_human_edits() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    let dir = shop(&ctx, "shop");
    let before = dbt_files(&fixture());
    let path = format!("{bin}:/usr/bin:/bin");
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];

    let adopted = run_with(&ctx, &env, &["init", "--from-dbt", "shop", "-o", "json"]);
    assert_eq!(adopted.code, 0, "{}", adopted.transcript());
    let report = adopted.json();
    let created: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["action"] == "created")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for want in [
        "dk.yaml",
        "store/shop-analytics-dev.yaml",
        "store/shop-analytics-prod.yaml",
        "dataset/shop-customers.yaml",
        "dataset/raw-customers.yaml",
        "dataset/customers.yaml",
        "dataset/country-revenue.yaml",
        "dataset/orders.yaml",
    ] {
        assert!(created.contains(&want), "{want} not created: {report:#}");
    }
    assert!(
        !created.iter().any(|f| f.contains("stg-")),
        "staging models are inside the boundary: {report:#}"
    );
    assert_eq!(dbt_files(&dir), before, "dk changed a dbt file");
    let prod = ctx.read("shop/store/shop-analytics-prod.yaml");
    assert!(prod.contains("password: ${SHOP_PG_PASSWORD}"), "{prod}");
    let customers = ctx.read("shop/dataset/customers.yaml");
    assert!(customers.starts_with("# Generated by `dk init --from-dbt`"));
    for want in [
        "table: main.customers",
        "classification: confidential",
        "owner: analytics@example.com",
        "- name: first_name\n      type: string\n      pii: true",
        "- name: lifetime_value\n      type: decimal",
        "description: MD5 of the lower-cased e-mail address.",
    ] {
        assert!(customers.contains(want), "{want}:\n{customers}");
    }
    let raw = ctx.read("shop/dataset/raw-customers.yaml");
    assert!(raw.contains("classification: confidential"), "{raw}");

    // Column lineage from the compiled SQL, through the staging views: the hash masks, the
    // aggregate masks, and string_agg carries the first names' PII into country_revenue.
    for want in [
        "- name: first_name\n      type: string\n      pii: true\n      from: shop-customers.first_name",
        "from: shop-customers.email\n      masking: hash",
        "from: shop-payments.amount_cents\n      masking: aggregate",
    ] {
        assert!(customers.contains(want), "{want}:\n{customers}");
    }
    let revenue = ctx.read("shop/dataset/country-revenue.yaml");
    assert!(
        revenue.contains(
            "- name: first_names\n      type: unknown\n      from: customers.first_name\n"
        ),
        "{revenue}"
    );
    let lint = run_ok(&ctx, &["lint", "shop"], 1);
    let text = lint.transcript();
    assert!(
        text.contains("DK304")
            && text.contains("field `first_names` is derived from PII customers.first_name"),
        "{text}"
    );
    // Its columns come from confidential data unmasked, so it is adopted as confidential: no
    // DK305 (a user's adopted project failed its own lint on the classification dk wrote).
    assert!(!text.contains("DK305"), "{text}");
    assert!(
        revenue.contains("classification: confidential"),
        "{revenue}"
    );
    let warned = adopted.json()["warnings"].to_string();
    assert!(
        warned.contains("model.shop.country_revenue: type `unknown`"),
        "{warned}"
    );

    // The person's answer: the first names are PII, so the data set is confidential.
    ctx.write(
        "shop/dataset/country-revenue.yaml",
        revenue
            .replace("classification: internal", "classification: confidential")
            .replace(
                "      from: customers.first_name\n",
                "      from: customers.first_name\n      pii: true\n",
            ),
    );
    run_ok(&ctx, &["lint", "shop"], 0);
    let result = run_with(&ctx, &env, &["run", "shop"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains(" build "), "{}", result.stderr);
    // The artifact holds the project, not what dbt and dk produced from it.
    ctx.write(
        "shop/dbt_packages/dbt_utils/dbt_project.yml",
        "name: dbt_utils\n",
    );
    assert!(dir.join("target/manifest.json").is_file() && dir.join("logs").is_dir());
    let entries = bundled(&ctx, "shop");
    assert!(
        entries.iter().any(|e| e == "dbt_project.yml")
            && entries.iter().any(|e| e == "models/marts/customers.sql"),
        "{entries:?}"
    );
    for excluded in ["target/", "logs/", "dbt_packages/", "data/"] {
        assert!(
            !entries.iter().any(|e| e.starts_with(excluded)),
            "{excluded} bundled: {entries:?}"
        );
    }
    let events = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let validator = dk_test::openlineage::OpenLineageValidator::new();
    let complete = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        // dk's own; dbt-ol's, when it is installed, are checked in `dbt_ol_and_dk_...` below.
        .filter(|e| e["job"]["name"] == "shop")
        .inspect(|e| validator.assert_valid(e))
        .find(|e| e["eventType"] == "COMPLETE")
        .expect("a COMPLETE event")
        .clone();
    let lineage = complete["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|o| {
            o["facets"]["columnLineage"]["fields"]["email_hash"]["inputFields"].as_array()
        })
        .unwrap_or_else(|| panic!("no columnLineage for email_hash: {complete:#}"));
    assert_eq!(lineage[0]["field"], "email", "{complete:#}");

    // A person's edits, and a file of their own where dk would write one.
    ctx.write(
        "shop/dataset/customers.yaml",
        customers
            .replace(
                "classification: confidential",
                "classification: restricted  # legal, 2026-11",
            )
            .replace(
                "from: shop-customers.email\n      masking: hash",
                "from: shop-customers.email\n      masking: tokenize",
            )
            .replace(
                "  owner: analytics@example.com\n",
                "  owner: analytics@example.com\n  retention:\n    days: 90\n",
            ),
    );
    let mine = "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: orders\nspec:\n  store: shop-analytics-dev\n  table: main.orders\n  classification: internal\n  schema:\n    - name: order_id\n      type: integer\n";
    ctx.write("shop/dataset/orders.yaml", mine);
    let docs = std::process::Command::new(format!("{bin}/dbt"))
        .args(["docs", "generate", "--profiles-dir", "."])
        .current_dir(&dir)
        .env("DO_NOT_TRACK", "1")
        .output()
        .expect("dbt docs generate");
    assert!(
        docs.status.success(),
        "{}",
        String::from_utf8_lossy(&docs.stdout)
    );

    let again = run_with(&ctx, &env, &["init", "--from-dbt", "shop", "-o", "json"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    let actions: std::collections::BTreeMap<String, String> = again.json()["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(actions["dataset/orders.yaml"], "kept", "{actions:?}");
    assert_eq!(
        actions["dataset/raw-customers.yaml"], "updated",
        "{actions:?}"
    );
    assert_eq!(actions["dk.yaml"], "unchanged", "{actions:?}");
    assert_eq!(ctx.read("shop/dataset/orders.yaml"), mine);
    let raw = ctx.read("shop/dataset/raw-customers.yaml");
    assert!(
        raw.contains("- name: email\n      type: string\n      pii: true"),
        "the catalog's type was not filled in:\n{raw}"
    );
    let revenue = ctx.read("shop/dataset/country-revenue.yaml");
    assert!(
        revenue.contains("classification: confidential")
            && revenue.contains("- name: first_names\n      type: string\n      from: customers.first_name\n      pii: true"),
        "{revenue}"
    );
    // The person raised customers to restricted; what derives from it must follow.
    let lint = run_ok(&ctx, &["lint", "shop"], 1);
    assert!(
        lint.transcript()
            .contains("classification confidential is lower than restricted"),
        "{}",
        lint.transcript()
    );
    let customers = ctx.read("shop/dataset/customers.yaml");
    for want in [
        "classification: restricted  # legal, 2026-11",
        "masking: tokenize",
        "days: 90",
        "# Generated by `dk init --from-dbt`",
    ] {
        assert!(customers.contains(want), "{want} lost:\n{customers}");
    }
    assert_eq!(dbt_files(&dir), before, "dk changed a dbt file");
}

/// The (namespace, name) of every dataset of `events` on `sides` (inputs, outputs).
fn identities<'a>(
    events: impl Iterator<Item = &'a Value>,
    sides: &'static [&'static str],
) -> BTreeSet<(String, String)> {
    events
        .flat_map(|e| {
            sides
                .iter()
                .flat_map(move |side| e[*side].as_array().cloned().unwrap_or_default())
        })
        .map(|d| {
            (
                d["namespace"].as_str().unwrap_or_default().to_owned(),
                d["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `dk init --from-dbt shop`, then the person's answer to DK304/DK305 (see above), so that the
/// package runs.
fn adopt(ctx: &TestContext, env: &[(&str, &str)]) {
    let adopted = run_with(ctx, env, &["init", "--from-dbt", "shop"]);
    assert_eq!(adopted.code, 0, "{}", adopted.transcript());
    ctx.write(
        "shop/dataset/country-revenue.yaml",
        ctx.read("shop/dataset/country-revenue.yaml")
            .replace("classification: internal", "classification: confidential")
            .replace(
                "      from: customers.first_name\n",
                "      from: customers.first_name\n      pii: true\n",
            ),
    );
}

/// A directory holding only a link to the tools' `dbt`: dbt without dbt-ol.
fn dbt_without_dbt_ol(ctx: &TestContext, bin: &str) -> String {
    let dir = ctx.root().join("dbt-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(format!("{bin}/dbt"), dir.join("dbt")).unwrap();
    dir.display().to_string()
}

/// dk's own events (not dbt-ol's) in the local store.
fn dk_events(ctx: &TestContext) -> Vec<Value> {
    let stored = run_ok(ctx, &["lineage", "events", "-o", "json"], 0).json();
    stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .filter(|e| {
            e["producer"]
                .as_str()
                .unwrap()
                .starts_with("https://datakit")
        })
        .collect()
}

/// Every seed, model and snapshot the shop builds.
const BUILT: [&str; 10] = [
    "raw_customers",
    "raw_orders",
    "raw_payments",
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "customers",
    "orders",
    "country_revenue",
    "customers_snapshot",
];

/// The jobs of the child runs that completed under the dk run `run_id`, each checked to name
/// that run (job `shop`) as its parent.
fn child_jobs<'a>(events: &'a [Value], run_id: &Value) -> Vec<&'a Value> {
    let children: Vec<&Value> = events
        .iter()
        .filter(|e| e["run"]["runId"] != *run_id)
        .collect();
    for child in &children {
        assert_eq!(
            child["run"]["facets"]["parent"]["run"]["runId"], *run_id,
            "{child:#}"
        );
        assert_eq!(child["run"]["facets"]["parent"]["job"]["name"], "shop");
    }
    let jobs: BTreeSet<&str> = children
        .iter()
        .filter(|e| e["eventType"] == "COMPLETE")
        .map(|e| e["job"]["name"].as_str().unwrap())
        .collect();
    let want: BTreeSet<String> = BUILT.iter().map(|m| format!("shop.{m}")).collect();
    assert_eq!(
        jobs,
        want.iter().map(String::as_str).collect(),
        "{children:#?}"
    );
    children
}

/// dk's events after the run `result` reports, each valid OpenLineage, every built model a child
/// job of that run; with the COMPLETE event of the staging view `shop.stg_orders`.
fn events_and_staging(ctx: &TestContext, result: &Run) -> (Vec<Value>, Value) {
    let run_id = result.json()["runs"][0]["runId"].clone();
    let validator = dk_test::openlineage::OpenLineageValidator::new();
    let events = dk_events(ctx);
    for event in &events {
        validator.assert_valid(event);
    }
    let staging = child_jobs(&events, &run_id)
        .into_iter()
        .find(|e| e["job"]["name"] == "shop.stg_orders" && e["eventType"] == "COMPLETE")
        .expect("the staging view's COMPLETE")
        .clone();
    (events, staging)
}

/// Runs the shop with dbt-ol (on PATH in `env`) and checks that every dataset its nested events
/// name is one of `ours` (same namespace and name), the shop's three sources aside: dbt-ol names
/// a source by its dbt name (`<schema>.customers`), not its `identifier` (`raw_customers`, the
/// table that exists), which dk names.
fn dbt_ol_names_what_dk_names(
    ctx: &TestContext,
    env: &[(&str, &str)],
    ours: &BTreeSet<(String, String)>,
    source_schema: &str,
) {
    let result = run_with(ctx, env, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains("dbt-ol build"), "{}", result.stderr);
    let stored = run_ok(ctx, &["lineage", "events", "-o", "json"], 0).json();
    let nested: Vec<&Value> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| {
            !e["producer"]
                .as_str()
                .unwrap()
                .starts_with("https://datakit")
        })
        .collect();
    assert!(nested.len() > 10, "{stored:#}");
    let dbt_ol = identities(nested.into_iter(), &["inputs", "outputs"]);
    let sources = ["customers", "orders", "payments"].map(|t| format!("{source_schema}.{t}"));
    let missing: Vec<_> = dbt_ol
        .difference(ours)
        .filter(|(_, name)| !sources.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "dbt-ol names these tables, dk does not name them the same: {missing:?}\ndk: {ours:?}"
    );
}

/// Without dbt-ol, every seed, model (the staging views too) and snapshot a run builds is a child
/// job of the package's run, named `shop.<model>`, from `run_results.json` and the manifest, its
/// datasets named as dk names tables. Then, with dbt-ol, every dataset of its nested events is
/// one of those (same namespace and name), sources aside (see docs/dbt.md).
#[test]
fn every_model_built_is_a_child_job_and_dbt_ol_names_the_same_tables() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    shop(&ctx, "shop");
    let with_ol = format!("{bin}:/usr/bin:/bin");
    let without_ol = format!("{}:/usr/bin:/bin", dbt_without_dbt_ol(&ctx, &bin));
    adopt(&ctx, &[("PATH", with_ol.as_str()), ("DO_NOT_TRACK", "1")]);
    let env = [("PATH", without_ol.as_str()), ("DO_NOT_TRACK", "1")];
    let result = run_with(&ctx, &env, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains("dbt build"), "{}", result.stderr);
    let (events, staging) = events_and_staging(&ctx, &result);
    assert_eq!(staging["outputs"][0]["name"], "shop.main.stg_orders");
    assert_eq!(staging["inputs"][0]["name"], "shop.main_raw.raw_orders");
    let found = run_ok(&ctx, &["lineage", "shop.stg_orders", "-o", "json"], 0).stdout;
    assert!(found.contains("shop.main.stg_orders"), "{found}");
    let view = run_ok(&ctx, &["lineage", "shop.main.stg_orders", "-o", "json"], 0).stdout;
    assert!(view.contains("shop.orders"), "downstream: {view}");

    // dbt-ol's nested events name the same tables (it emits its own jobs, dk none).
    let ours = identities(events.iter(), &["inputs", "outputs"]);
    let env = [("PATH", with_ol.as_str()), ("DO_NOT_TRACK", "1")];
    dbt_ol_names_what_dk_names(&ctx, &env, &ours, "shop.main_raw");
}

/// A PostgreSQL database of one test's own, dropped when the test ends, passed or failed.
struct Database {
    url: String,
    name: String,
    config: postgres::Config,
}

impl Database {
    fn create(url: &str, name: &str) -> Database {
        let (config, _) = common::fresh_database(url, name);
        Database {
            url: url.to_owned(),
            name: name.to_owned(),
            config,
        }
    }

    fn value(&self, sql: &str) -> String {
        let mut client = self.config.connect(postgres::NoTls).expect("connect");
        let row = client
            .query_one(sql, &[])
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        row.get(0)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// The same shop on the real PostgreSQL: its project's own `prod` target (pointed at a database
/// of the test's own and made the default, as a team points its checkout at its warehouse) is
/// adopted, `dk test` passes on the empty database, `dk run` builds everything with `dbt build`
/// (the password only through the environment), every model is a child job named
/// `postgres://host:port` / `database.schema.table` as the OpenLineage naming spec says, and
/// dbt-ol's nested events name every table the same way.
#[test]
fn the_shop_runs_on_postgresql_with_the_names_dbt_ol_gives() {
    let Some(bin) = tools_bin() else { return };
    let Some(url) = service("DK_TEST_POSTGRES_URL", "PostgreSQL") else {
        return;
    };
    let ctx = context();
    let database = Database::create(&url, "dk_dbt_shop");
    let port = database.config.get_ports().first().copied().unwrap_or(5432);
    let user = database.config.get_user().unwrap_or("postgres").to_owned();
    let password = database
        .config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap_or_else(|| "shop-pg-secret-value".to_owned());
    shop(&ctx, "shop");
    let profiles = ctx.read("shop/profiles.yml");
    let mut pointed = profiles.replace("target: dev", "target: prod");
    for (from, to) in [
        ("host: localhost", "host: 127.0.0.1".to_owned()),
        ("port: 5432", format!("port: {port}")),
        ("user: analytics", format!("user: {user}")),
        ("dbname: shop", format!("dbname: {}", database.name)),
    ] {
        assert!(pointed.contains(from), "the fixture changed: {profiles}");
        pointed = pointed.replace(from, &to);
    }
    ctx.write("shop/profiles.yml", pointed);
    let with_ol = format!("{bin}:/usr/bin:/bin");
    let without_ol = format!("{}:/usr/bin:/bin", dbt_without_dbt_ol(&ctx, &bin));
    let env_with = [
        ("PATH", with_ol.as_str()),
        ("DO_NOT_TRACK", "1"),
        ("SHOP_PG_PASSWORD", password.as_str()),
    ];
    let env = [
        ("PATH", without_ol.as_str()),
        ("DO_NOT_TRACK", "1"),
        ("SHOP_PG_PASSWORD", password.as_str()),
    ];
    adopt(&ctx, &env_with);
    let store = ctx.read("shop/store/shop-analytics-prod.yaml");
    assert!(
        store.contains("password: ${SHOP_PG_PASSWORD}") && !store.contains(&password),
        "{store}"
    );
    let customers = ctx.read("shop/dataset/customers.yaml");
    assert!(
        customers.contains("store: shop-analytics-prod")
            && customers.contains("table: analytics.customers"),
        "{customers}"
    );

    let tested = run_with(&ctx, &env, &["test", "shop"]);
    assert_eq!(tested.code, 0, "{}", tested.transcript());
    assert!(tested.stderr.contains(" build "), "{}", tested.stderr);

    let result = run_with(&ctx, &env, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains("dbt build"), "{}", result.stderr);
    assert!(!result.transcript().contains(&password));
    for (sql, want) in [
        (
            "select count(*)::text from analytics_raw.raw_customers",
            "4",
        ),
        ("select count(*)::text from analytics.customers", "4"),
        (
            "select count(*)::text from analytics.customers_snapshot",
            "4",
        ),
        (
            "select table_type::text from information_schema.tables where table_schema = 'analytics' and table_name = 'stg_orders'",
            "VIEW",
        ),
        (
            "select lifetime_value::text from analytics.customers where customer_id = 1",
            "40.00",
        ),
    ] {
        assert_eq!(database.value(sql), want, "{sql}");
    }
    let (events, staging) = events_and_staging(&ctx, &result);
    let namespace = format!("postgres://127.0.0.1:{port}");
    assert_eq!(staging["outputs"][0]["namespace"], namespace.as_str());
    assert_eq!(
        staging["outputs"][0]["name"],
        format!("{}.analytics.stg_orders", database.name)
    );
    assert_eq!(
        staging["inputs"][0]["name"],
        format!("{}.analytics_raw.raw_orders", database.name)
    );

    let ours = identities(events.iter(), &["inputs", "outputs"]);
    dbt_ol_names_what_dk_names(
        &ctx,
        &env_with,
        &ours,
        &format!("{}.analytics_raw", database.name),
    );
}

/// A project that names its own `target-path`: `dk init --from-dbt` reads the manifest there,
/// `dk run` the run results (every model a child job), and `dk build` leaves it out.
#[test]
fn the_projects_own_target_path_is_read_and_left_out() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    let dir = shop(&ctx, "shop");
    let project = ctx.read("shop/dbt_project.yml");
    assert!(project.contains("target-path: target\n"), "{project}");
    ctx.write(
        "shop/dbt_project.yml",
        project.replace("target-path: target\n", "target-path: build/dbt\n"),
    );
    let without_ol = format!("{}:/usr/bin:/bin", dbt_without_dbt_ol(&ctx, &bin));
    let env = [("PATH", without_ol.as_str()), ("DO_NOT_TRACK", "1")];
    adopt(&ctx, &env);
    assert!(
        ctx.read("shop/dataset/customers.yaml")
            .contains("from: shop-customers.email")
    );
    let result = run_with(&ctx, &env, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(dir.join("build/dbt/run_results.json").is_file() && !dir.join("target").exists());
    events_and_staging(&ctx, &result);
    ctx.write("shop/build/notes.md", "kept\n");
    let entries = bundled(&ctx, "shop");
    assert!(entries.iter().any(|e| e == "build/notes.md"), "{entries:?}");
    assert!(
        !entries.iter().any(|e| e.starts_with("build/dbt/")),
        "{entries:?}"
    );
}

/// With openlineage-dbt on PATH, dk runs dbt-ol with its file transport in the run's folder:
/// none of its events reach the terminal; they are recorded (valid, nested under the dk run) in
/// dk's store and delivered with dk's own. Each model dk's events name as an output is
/// named the same (namespace and name) in dbt-ol's events nested under the dk run: one graph,
/// not two. (dbt-ol emits no seed events, and names a source by its dbt name rather than its
/// `identifier`, so those two are not compared.)
#[test]
fn dbt_ol_and_dk_name_each_table_the_same() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    shop(&ctx, "shop");
    let path = format!("{bin}:/usr/bin:/bin");
    let sink = HttpSink::start();
    let url = sink.url();
    let env = [
        ("PATH", path.as_str()),
        ("DO_NOT_TRACK", "1"),
        ("OPENLINEAGE_URL", url.as_str()),
    ];
    adopt(&ctx, &env);
    // Without a backend, dbt-ol's client fell back to printing every event on the terminal.
    let local = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let result = run_with(&ctx, &local, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains("dbt-ol build"), "{}", result.stderr);
    for stream in [&result.stdout, &result.stderr] {
        assert!(!stream.contains("eventType"), "{}", result.transcript());
    }
    let local_run = result.json()["runs"][0]["runId"].clone();
    let stored = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let validator = dk_test::openlineage::OpenLineageValidator::new();
    let children: Vec<&Value> = stored["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .filter(|e| e["run"]["runId"] != local_run)
        .inspect(|e| {
            // dbt-ol's custom facets (`dbt_run`, `dbt_version`, ...) have no official schema,
            // which the spec allows; everything else must validate.
            let errors: Vec<String> = validator
                .errors(e)
                .into_iter()
                .filter(|err| !err.contains("facets.dbt_"))
                .collect();
            assert!(errors.is_empty(), "{errors:#?}\n{e:#}");
        })
        .collect();
    assert!(
        children
            .iter()
            .any(|e| e["eventType"] == "COMPLETE"
                && e["outputs"][0]["name"] == "shop.main.customers"),
        "{stored:#}"
    );
    for child in &children {
        assert_eq!(
            child["run"]["facets"]["parent"]["root"]["run"]["runId"], local_run,
            "{child:#}"
        );
    }
    assert!(
        result.json()["runs"][0]["lineage"]["events"]
            .as_u64()
            .unwrap()
            > 2,
        "dbt-ol's events are counted with dk's: {}",
        result.stdout
    );

    let result = run_with(&ctx, &env, &["run", "shop", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    let run_id = result.json()["runs"][0]["runId"].clone();
    let received: Vec<Value> = sink.received().iter().map(|r| r.json()).collect();
    let validator = dk_test::openlineage::OpenLineageValidator::new();
    let ours: Vec<&Value> = received
        .iter()
        .filter(|e| e["run"]["runId"] == run_id)
        .inspect(|e| validator.assert_valid(e))
        .collect();
    let nested: Vec<&Value> = received
        .iter()
        .filter(|e| e["run"]["facets"]["parent"]["root"]["run"]["runId"] == run_id)
        .filter(|e| e["run"]["runId"] != run_id)
        .collect();
    assert!(
        !nested.is_empty(),
        "no dbt-ol event under the dk run: {received:#?}"
    );
    let dk = identities(ours.into_iter(), &["outputs"]);
    let dbt_ol = identities(nested.into_iter(), &["inputs", "outputs"]);
    assert!(
        dk.iter().any(|(_, name)| name == "shop.main.customers"),
        "{dk:?}"
    );
    let missing: Vec<_> = dk.difference(&dbt_ol).collect();
    assert!(
        missing.is_empty(),
        "dk names these models, dbt-ol does not name them the same: {missing:?}\ndbt-ol: {dbt_ol:?}"
    );
}

/// A models-only project (`tests/fixtures/dbt-constants`: no sources, no seeds; its model
/// selects constants) is adopted with no inputs, lints clean and runs: a dbt Transform may
/// produce data from nothing. Its output piped to a file carries none of dbt's colours.
#[test]
fn a_models_only_project_is_adopted_lints_clean_and_runs_without_colours_when_piped() {
    let Some(bin) = tools_bin() else { return };
    let ctx = context();
    let dir = ctx.work().join("constants");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbt-constants"),
        &dir,
        &[],
    );
    let path = format!("{bin}:/usr/bin:/bin");
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let adopted = run_with(&ctx, &env, &["init", "--from-dbt", "constants", "-q"]);
    assert_eq!(adopted.code, 0, "{}", adopted.transcript());
    assert!(
        ctx.read("constants/dk.yaml").contains("inputs: []"),
        "{}",
        ctx.read("constants/dk.yaml")
    );
    let linted = run_with(&ctx, &env, &["lint", "constants"]);
    assert_eq!(linted.code, 0, "{}", linted.transcript());
    assert!(!linted.stdout.contains("DK107"), "{}", linted.stdout);

    // NO_COLOR unset: stdout and stderr are pipes, which is reason enough.
    let output = ctx
        .dk()
        .env_remove("NO_COLOR")
        .envs(env)
        .args(["run", "constants"])
        .output()
        .expect("run dk");
    let ran = Run::from_output(output);
    assert_eq!(ran.code, 0, "{}", ran.transcript());
    assert!(ran.stdout.contains("PASS=1"), "{}", ran.transcript());
    assert!(
        !ran.stdout.contains('\u{1b}') && !ran.stderr.contains('\u{1b}'),
        "dbt's colours went into a pipe:\n{:?}",
        ran.transcript()
    );
    assert_eq!(
        duckdb_value(
            &bin,
            &dir.join("data/constants.duckdb"),
            "select count(*) from main.calendar"
        ),
        "2"
    );
}

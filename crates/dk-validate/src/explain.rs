//! `dk lint --explain CODE`: why each rule exists, a failing example and the fix.
//!
//! Each example is a set of complete files; a test lints every example inside a small valid
//! project and checks that it produces its rule's code, so the examples cannot drift from the
//! rules.

use serde::Serialize;

use crate::rules::{self, Rule};

/// The explanation of one rule.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub struct Explanation {
    /// Shown beside its rule, which names the code already: serialized once, the JSON has no
    /// duplicate key.
    #[serde(skip)]
    pub code: &'static str,
    pub rationale: &'static str,
    /// Files of a package (paths relative to it) that trigger the rule.
    pub example: &'static [(&'static str, &'static str)],
    pub fix: &'static str,
}

/// The explanation of the rule with `code`.
pub fn explain(code: &str) -> Option<(&'static Rule, &'static Explanation)> {
    let rule = rules::by_code(code)?;
    EXPLANATIONS
        .iter()
        .find(|explanation| explanation.code == rule.code)
        .map(|explanation| (rule, explanation))
}

macro_rules! manifest {
    ($kind:literal, $name:literal, $spec:literal) => {
        concat!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: ",
            $kind,
            "\nmetadata:\n  name: ",
            $name,
            "\nspec:\n",
            $spec
        )
    };
}

pub static EXPLANATIONS: &[Explanation] = &[
    Explanation {
        code: "DK001",
        rationale: "A file that is not valid YAML cannot be read at all; nothing in it is checked until it parses.",
        example: &[(
            "dataset/orders.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  store: warehouse\n  table: public.orders\n    classification: internal\n"
            ),
        )],
        fix: "Fix the indentation or quoting at the reported line and column. Values containing `: ` or starting with a special character must be quoted.",
    },
    Explanation {
        code: "DK002",
        rationale: "A field dk does not know is usually a typo, and a typo silently loses a setting (a schedule that never runs). dk keeps it out of the model and tells you.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  sechdule:\n    cron: \"0 2 * * *\"\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Rename the field as suggested (`schedule`), or remove it.",
    },
    Explanation {
        code: "DK003",
        rationale: "A value of the wrong type cannot be used: `replicas: many` has no number of workers.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  replicas: many\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Write a value of the type the message names.",
    },
    Explanation {
        code: "DK004",
        rationale: "Some fields are what a manifest is: a DataSet without a store does not say where its data lives.",
        example: &[(
            "dataset/orders.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  table: public.orders\n  classification: internal\n"
            ),
        )],
        fix: "Add the missing field named in the message.",
    },
    Explanation {
        code: "DK005",
        rationale: "Runtimes, modes, formats, classifications, masking and capabilities are closed sets; dk must know how to treat each value.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: python\n  owner: data-team\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use one of the listed values (here `generic-python`).",
    },
    Explanation {
        code: "DK006",
        rationale: "The apiVersion says which manifest format a file follows; dk reads datakit.infoblox.dev/v1alpha1.",
        example: &[(
            "dataset/orders.yaml",
            "apiVersion: data.infoblox.com/v1alpha1\nkind: DataSet\nmetadata:\n  name: orders\nspec:\n  store: warehouse\n  table: public.orders\n  classification: internal\n",
        )],
        fix: "Set `apiVersion: datakit.infoblox.dev/v1alpha1`.",
    },
    Explanation {
        code: "DK007",
        rationale: "Every document must be a manifest of a known kind (Transform, DataSet, DataSetGroup, Store, Connector), or dk cannot know what it defines.",
        example: &[(
            "dataset/orders.yaml",
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Dataset\nmetadata:\n  name: orders\nspec:\n  store: warehouse\n  table: public.orders\n  classification: internal\n",
        )],
        fix: "Use the exact kind name (`DataSet`).",
    },
    Explanation {
        code: "DK008",
        rationale: "Folders tell people where to look: a Store inside dataset/ is found by dk but not by a reader.",
        example: &[(
            "dataset/cache.yaml",
            manifest!(
                "Store",
                "cache",
                "  connector: postgres\n  connection:\n    host: localhost\n"
            ),
        )],
        fix: "Move the file to the folder of its kind (store/).",
    },
    Explanation {
        code: "DK009",
        rationale: "A manifest that cannot be read (permissions, not UTF-8) is invisible to every other check.",
        example: &[],
        fix: "Make the file readable and UTF-8 encoded.",
    },
    Explanation {
        code: "DK010",
        rationale: "dk.yaml is the package's Transform: the unit that is built, run, governed and deployed.",
        example: &[(
            "dk.yaml",
            manifest!(
                "DataSet",
                "orders-copy",
                "  store: warehouse\n  table: public.orders_copy\n  classification: internal\n"
            ),
        )],
        fix: "Put the Transform in dk.yaml (create one with `dk init`), and other kinds in their folders.",
    },
    Explanation {
        code: "DK011",
        rationale: "Names are how manifests refer to each other; two manifests of one kind with one name make every reference ambiguous.",
        example: &[(
            "dataset/orders-again.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  store: warehouse\n  table: public.orders\n  classification: internal\n"
            ),
        )],
        fix: "Rename or delete one of them.",
    },
    Explanation {
        code: "DK012",
        rationale: "An override (`--set`, `-f`) that does not fit the manifest would be silently lost.",
        example: &[],
        fix: "Point the override at a mapping key (`spec.inputs[0].dataset=x`, not `spec.inputs.dataset=x`).",
    },
    Explanation {
        code: "DK013",
        rationale: "Organisation policies decide what passes; a policy file dk cannot read must not silently stop being enforced.",
        example: &[(
            ".dk/policies.yaml",
            "policies:\n  require_clasification: true\n",
        )],
        fix: "Fix the key or value named in the message; see docs/governance.md for the policy keys.",
    },
    Explanation {
        code: "DK014",
        rationale: "A few hundred bytes of valid YAML can expand, alias by alias, into billions of values (a \"billion laughs\" bomb) and exhaust the memory of the machine that lints it. dk refuses a YAML text over 4 MiB, nested deeper than 64 levels, or expanding to more than 100000 nodes or 16 MiB of values once every alias is copied; it stops at the alias that crosses the limit, before the copy is made.",
        example: &[(
            "dataset/laughs.yaml",
            "a0: &a0 \"lol\"\na1: &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\na2: &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]\na3: &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]\na4: &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]\na5: &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]\na6: &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]\na7: &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]\na8: &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]\na9: &a9 [*a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8, *a8]\n",
        )],
        fix: "Write repeated values out instead of nesting aliases, split a very large file, and flatten deep nesting. Manifests dk writes never come near these limits.",
    },
    Explanation {
        code: "DK101",
        rationale: "Names become Kubernetes objects, OCI repositories and lineage jobs, which all require DNS labels.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "Orders_Daily",
                "  runtime: generic-python\n  owner: data-team\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use lowercase letters, digits and '-' (`orders-daily`).",
    },
    Explanation {
        code: "DK102",
        rationale: "Package versions order releases and promotions; only semantic versions compare reliably.",
        example: &[(
            "dk.yaml",
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: orders-daily\n  version: v1.0\nspec:\n  runtime: generic-python\n  owner: data-team\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n",
        )],
        fix: "Write MAJOR.MINOR.PATCH without a leading v (`1.0.0`).",
    },
    Explanation {
        code: "DK103",
        rationale: "A schedule that does not parse never runs; the orchestrator would only fail at deployment.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  schedule:\n    cron: \"61 * * * *\"\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use five fields: minute hour day-of-month month day-of-week (`0 2 * * *` is 02:00 daily).",
    },
    Explanation {
        code: "DK104",
        rationale: "Timeouts are enforced by dk run and by Kubernetes; an unreadable one is no timeout at all.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  timeout: 30 minutes\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Write a number and a unit: `30m`, `1h30m`, `90s`.",
    },
    Explanation {
        code: "DK105",
        rationale: "A DataSet says where its data is with exactly one locator: a table, an object prefix, a topic or a file path.",
        example: &[(
            "dataset/orders.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  store: warehouse\n  table: public.orders\n  topic: orders\n  classification: internal\n"
            ),
        )],
        fix: "Keep the one locator that matches the store's technology.",
    },
    Explanation {
        code: "DK106",
        rationale: "A schema field declared twice makes column lineage and classification ambiguous.",
        example: &[(
            "dataset/orders.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  store: warehouse\n  table: public.orders\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n    - name: id\n      type: string\n"
            ),
        )],
        fix: "Rename or remove the duplicate field.",
    },
    Explanation {
        code: "DK107",
        rationale: "Lineage, governance and the pipeline graph are built from inputs and outputs; a Transform without them is invisible to all three.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  inputs: []\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "List at least one input and one output dataset. A dbt Transform may list no inputs: a project without sources and seeds builds its models from constants and reads nothing.",
    },
    Explanation {
        code: "DK108",
        rationale: "An input or output selects DataSets either by name or by labels; both at once, or neither, is ambiguous.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  inputs:\n    - dataset: orders\n      tags: {tier: gold}\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Keep `dataset: NAME`, or `tags:` (with an optional semver `version` range).",
    },
    Explanation {
        code: "DK109",
        rationale: "Resources become Kubernetes requests; invalid quantities are rejected at deployment.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  resources:\n    memory: 2GB\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use Kubernetes quantities: cpu `500m` or `2`, memory `512Mi` or `2Gi`.",
    },
    Explanation {
        code: "DK110",
        rationale: "dk sets DK_* and OPENLINEAGE_* for the pipeline (the runtime contract); a package must not shadow them, and names must be valid.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  env:\n    - name: DK_RUN_ID\n      value: fixed\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use another name; read dk's values from the environment instead.",
    },
    Explanation {
        code: "DK111",
        rationale: "dbt runs and CloudQuery syncs are batch jobs; they cannot keep running as a stream.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: dbt\n  mode: streaming\n  owner: data-team\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use mode: batch, or a generic-python / generic-go runtime for streaming.",
    },
    Explanation {
        code: "DK112",
        rationale: "`schedule` is shorthand for a trigger with policy schedule; setting both, or a schedule trigger without a cron, leaves when to run undefined.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  schedule:\n    cron: \"0 * * * *\"\n  trigger:\n    policy: manual\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Keep one of them.",
    },
    Explanation {
        code: "DK113",
        rationale: "A streaming Transform runs continuously; a schedule on it is ignored, which is probably not what was meant.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  mode: streaming\n  owner: data-team\n  schedule:\n    cron: \"0 * * * *\"\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Remove the schedule, or use mode: batch.",
    },
    Explanation {
        code: "DK114",
        rationale: "Column lineage (`from`) names a field of another DataSet as dataset.field; anything else cannot be followed.",
        example: &[(
            "dataset/orders-summary.yaml",
            manifest!(
                "DataSet",
                "orders-summary",
                "  store: warehouse\n  table: public.orders_summary\n  classification: internal\n  schema:\n    - name: total\n      type: decimal\n      from: ordersamount\n"
            ),
        )],
        fix: "Write `from: orders.amount`.",
    },
    Explanation {
        code: "DK115",
        rationale: "Secrets are resolved from the environment at run time so that they never live in a package, an artifact or a Git repository.",
        example: &[(
            "store/warehouse.yaml",
            manifest!(
                "Store",
                "warehouse",
                "  connector: postgres\n  connection:\n    host: localhost\n  secrets:\n    password: hunter2\n"
            ),
        )],
        fix: "Write `password: ${PGPASSWORD}` and export that variable where dk runs.",
    },
    Explanation {
        code: "DK116",
        rationale: "A password written in `connection` ends up in packages, artifacts and Git history.",
        example: &[(
            "store/warehouse.yaml",
            manifest!(
                "Store",
                "warehouse",
                "  connector: postgres\n  connection:\n    host: localhost\n    password: hunter2\n"
            ),
        )],
        fix: "Move it to `spec.secrets` as an `${ENV_VAR}` reference.",
    },
    Explanation {
        code: "DK117",
        rationale: "A DataSetGroup bundles DataSets of one store, so that they can be read and written together.",
        example: &[
            (
                "store/lake.yaml",
                manifest!(
                    "Store",
                    "lake",
                    "  connector: s3\n  connection:\n    bucket: events\n"
                ),
            ),
            (
                "dataset/events.yaml",
                manifest!(
                    "DataSet",
                    "events",
                    "  store: lake\n  prefix: events/\n  classification: internal\n"
                ),
            ),
            (
                "dataset-group/all.yaml",
                manifest!(
                    "DataSetGroup",
                    "all",
                    "  store: warehouse\n  datasets:\n    - orders\n    - events\n"
                ),
            ),
        ],
        fix: "Keep only DataSets of the group's store in it.",
    },
    Explanation {
        code: "DK118",
        rationale: "A built-in connector reads only the connection keys it knows. A typo (`hostname:` for `host:`) or a value of the wrong type (`path: []`) would otherwise be ignored, and the run would silently fall back to a default such as localhost or the current folder.",
        example: &[(
            "store/warehouse.yaml",
            manifest!(
                "Store",
                "warehouse",
                "  connector: postgres\n  connection:\n    hostname: db.internal\n"
            ),
        )],
        fix: "Rename the key as suggested (`host`), or give the value the type the table in docs/manifests.md names. Custom connectors accept any key (an unknown one is a DK002 warning).",
    },
    Explanation {
        code: "DK119",
        rationale: "Everything in a package that is not ignored is bundled into its artifact and published; a key or token in it is leaked to everyone who can pull.",
        example: &[(".env", "PGPASSWORD=hunter2\n")],
        fix: "Ignore the file in .dkignore (or .gitignore) and pass secrets as ${ENV_VAR} references; a file that must travel is allowed by dk.yaml's spec.build.allow (gitignore-style globs).",
    },
    Explanation {
        code: "DK120",
        rationale: "A link's target does not travel with the artifact, and `dk pull` refuses links that lead out of the folder: `l0 -> .` and `l1 -> l0/..` each look inside, together they reach the package's parent.",
        // A symlink cannot be written as an example file.
        example: &[],
        fix: "Copy the file into the package, point the link at a path inside it, or ignore the link in .dkignore.",
    },
    Explanation {
        code: "DK121",
        rationale: "dk installs a package's requirements.txt with pip on every machine that runs it. pip reads options from that file: `--index-url`, `--extra-index-url` and `--find-links` point it at another index, `-r`/`-c` pull in other files, `-e` and URL or VCS requirements install whatever an address serves. A pulled package could so redirect dk's pip and run code from anywhere; `dk run`, `dk test` and `dk build` refuse it (exit 2).",
        example: &[(
            "requirements.txt",
            "--extra-index-url https://pypi.example.net/simple\nrequests==2.32.3\n",
        )],
        fix: "Keep only requirement specifiers (name, extras, version, markers, --hash, --require-hashes). Set a private index or mirror in pip's own configuration on the machine (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, pip.conf), which dk's pip honours.",
    },
    Explanation {
        code: "DK201",
        rationale: "A reference to a DataSet that does not exist breaks runs, lineage and deployment.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  owner: data-team\n  inputs:\n    - dataset: ordrs\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Use the suggested name, or define the DataSet in dataset/ (package or project root).",
    },
    Explanation {
        code: "DK202",
        rationale: "A DataSet whose Store does not exist has no connection details: it cannot be read or written.",
        example: &[(
            "dataset/orders.yaml",
            manifest!(
                "DataSet",
                "orders",
                "  store: warehose\n  table: public.orders\n  classification: internal\n"
            ),
        )],
        fix: "Use the suggested name, or define the Store in store/.",
    },
    Explanation {
        code: "DK203",
        rationale: "A Store's Connector says what technology it is; without it dk cannot connect.",
        example: &[(
            "store/warehouse.yaml",
            manifest!(
                "Store",
                "warehouse",
                "  connector: postgress\n  connection:\n    host: localhost\n"
            ),
        )],
        fix: "Use a built-in connector (postgres, s3, kafka, file, sqlite, duckdb) or define one in connector/.",
    },
    Explanation {
        code: "DK204",
        rationale: "Column lineage that points nowhere breaks lineage graphs and PII tracking.",
        example: &[(
            "dataset/orders-summary.yaml",
            manifest!(
                "DataSet",
                "orders-summary",
                "  store: warehouse\n  table: public.orders_summary\n  classification: internal\n  schema:\n    - name: total\n      type: decimal\n      from: orders.amnt\n"
            ),
        )],
        fix: "Name an existing dataset and one of its schema fields.",
    },
    Explanation {
        code: "DK205",
        rationale: "A connector declares whether it can be read (source) or written (destination); writing to a read-only one fails at run time.",
        example: &[
            (
                "connector/readonly-pg.yaml",
                manifest!(
                    "Connector",
                    "readonly-pg",
                    "  type: postgres\n  capabilities: [source]\n"
                ),
            ),
            (
                "store/warehouse.yaml",
                manifest!(
                    "Store",
                    "warehouse",
                    "  connector: readonly-pg\n  connection:\n    host: localhost\n"
                ),
            ),
        ],
        fix: "Add the missing capability to the connector, or use another store.",
    },
    Explanation {
        code: "DK301",
        rationale: "Personal data must be protected by its classification: confidential or restricted data gets access control and retention; internal or public data does not.",
        example: &[(
            "dataset/orders-summary.yaml",
            manifest!(
                "DataSet",
                "orders-summary",
                "  store: warehouse\n  table: public.orders_summary\n  classification: internal\n  schema:\n    - name: email\n      type: string\n      pii: true\n"
            ),
        )],
        fix: "Set `classification: confidential` (or restricted), or drop the PII field.",
    },
    Explanation {
        code: "DK302",
        rationale: "What a pipeline produces must say how sensitive it is; unclassified outputs are where governance gaps start.",
        example: &[(
            "dataset/orders-summary.yaml",
            manifest!(
                "DataSet",
                "orders-summary",
                "  store: warehouse\n  table: public.orders_summary\n"
            ),
        )],
        fix: "Add `classification:` (public, internal, confidential or restricted).",
    },
    Explanation {
        code: "DK303",
        rationale: "Sensitive data must not be kept forever: confidential and restricted data declares how long it is kept. A warning by default; `require_retention: true` in .dk/policies.yaml makes it an error.",
        example: &[(
            "dataset/orders-summary.yaml",
            manifest!(
                "DataSet",
                "orders-summary",
                "  store: warehouse\n  table: public.orders_summary\n  classification: confidential\n"
            ),
        )],
        fix: "Add `retention: {days: N}`.",
    },
    Explanation {
        code: "DK304",
        rationale: "PII stays PII when it is copied: a field derived from a PII field (along `from`, across packages) carries it, unless a masking (hash, redact, tokenize, aggregate) removes it.",
        example: &[
            (
                "dataset/orders.yaml",
                manifest!(
                    "DataSet",
                    "orders",
                    "  store: warehouse\n  table: public.orders\n  classification: confidential\n  retention:\n    days: 365\n  schema:\n    - name: amount\n      type: decimal\n    - name: email\n      type: string\n      pii: true\n"
                ),
            ),
            (
                "dataset/orders-summary.yaml",
                manifest!(
                    "DataSet",
                    "orders-summary",
                    "  store: warehouse\n  table: public.orders_summary\n  classification: confidential\n  retention:\n    days: 365\n  schema:\n    - name: buyer\n      type: string\n      from: orders.email\n"
                ),
            ),
        ],
        fix: "Mark the field `pii: true`, or declare how it is masked (`masking: hash`).",
    },
    Explanation {
        code: "DK305",
        rationale: "Deriving data must not silently lower its protection: an output is classified at least as high as the data its unmasked fields come from.",
        example: &[
            (
                "dataset/orders.yaml",
                manifest!(
                    "DataSet",
                    "orders",
                    "  store: warehouse\n  table: public.orders\n  classification: confidential\n  retention:\n    days: 365\n  schema:\n    - name: amount\n      type: decimal\n"
                ),
            ),
            (
                "dataset/orders-summary.yaml",
                manifest!(
                    "DataSet",
                    "orders-summary",
                    "  store: warehouse\n  table: public.orders_summary\n  classification: internal\n  schema:\n    - name: total\n      type: decimal\n      from: orders.amount\n"
                ),
            ),
        ],
        fix: "Raise the classification, or mask the fields that carry the sensitive data.",
    },
    Explanation {
        code: "DK306",
        rationale: "Every package needs someone to answer for it: incidents, access requests and deprecations go to the owner.",
        example: &[(
            "dk.yaml",
            manifest!(
                "Transform",
                "orders-daily",
                "  runtime: generic-python\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n"
            ),
        )],
        fix: "Set `spec.owner` to a team or an address.",
    },
    Explanation {
        code: "DK307",
        rationale: "Organisations route ownership through a directory; owners that do not follow its pattern reach nobody.",
        example: &[(
            ".dk/policies.yaml",
            "policies:\n  owner_pattern: \"^[a-z-]+@example\\\\.com$\"\n",
        )],
        fix: "Use an owner matching the pattern (e.g. `data-team@example.com`).",
    },
    Explanation {
        code: "DK308",
        rationale: "Data-protection rules cap how long personal data may be kept.",
        example: &[
            (
                ".dk/policies.yaml",
                "policies:\n  max_pii_retention_days: 730\n",
            ),
            (
                "dataset/orders.yaml",
                manifest!(
                    "DataSet",
                    "orders",
                    "  store: warehouse\n  table: public.orders\n  classification: confidential\n  retention:\n    days: 3650\n  schema:\n    - name: email\n      type: string\n      pii: true\n"
                ),
            ),
        ],
        fix: "Lower `retention.days` to the policy's maximum or less.",
    },
    Explanation {
        code: "DK309",
        rationale: "Tags such as `gdpr` drive access reviews and audits of sensitive data; the policy makes them mandatory.",
        example: &[
            (
                ".dk/policies.yaml",
                "policies:\n  confidential_required_tags: [gdpr]\n",
            ),
            (
                "dataset/orders.yaml",
                manifest!(
                    "DataSet",
                    "orders",
                    "  store: warehouse\n  table: public.orders\n  classification: confidential\n  retention:\n    days: 365\n"
                ),
            ),
        ],
        fix: "Add the required tags under `spec.tags`.",
    },
];

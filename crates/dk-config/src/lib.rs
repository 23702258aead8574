//! Layered configuration for dk.
//!
//! Values come from, lowest to highest: built-in defaults < system (`/etc/dk/config.yaml`) <
//! user (`$DK_HOME/config.yaml`) < repo (`<git root>/.dk/config.yaml`) < environment variables <
//! command-line flags. Every value remembers the layer it came from, so `dk config get` and
//! `dk config list` can say why a setting has the value it has.
//!
//! Keys are declared once in [`keys::KEYS`]; environment variables once in [`env::ENV_VARS`].
//! Writing a value edits the YAML file in place, keeping the comments a human wrote.

pub mod doctor;
pub mod env;
pub mod keys;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use dk_manifest::yaml::{self, Location, Node, Seg};

use crate::env::Env;
use crate::keys::{KeyError, Match, lookup};

/// A config file dk can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    System,
    User,
    Repo,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::System, Scope::User, Scope::Repo];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::System => "system",
            Scope::User => "user",
            Scope::Repo => "repo",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Default,
    File(Scope),
    Env(&'static str),
    Flag,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Default => f.write_str("default"),
            Layer::File(scope) => write!(f, "{scope}"),
            Layer::Env(var) => write!(f, "env {var}"),
            Layer::Flag => f.write_str("flag"),
        }
    }
}

impl Serialize for Layer {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot find the home directory: set DK_HOME or HOME")]
    NoHome,
    #[error("cannot read config file: {source}")]
    Read { source: dk_fs::FsError },
    #[error("cannot write config file: {source}")]
    Write { source: dk_fs::FsError },
    #[error("invalid config file: {0}")]
    Syntax(#[from] yaml::SyntaxError),
    #[error("config file over dk's YAML limits: {0}")]
    Limits(yaml::SyntaxError),
    #[error("{location}: invalid value for `{key}`: {reason}")]
    Invalid {
        location: Location,
        key: String,
        reason: String,
    },
    #[error("{path}: a config file must hold a mapping of keys")]
    NotAMapping { path: PathBuf },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("`--config {0}`: expected KEY=VALUE")]
    FlagSyntax(String),
    #[error("not inside a git repository, so there is no repo config")]
    NotInRepo,
    #[error(transparent)]
    Edit(#[from] yaml::EditError),
    #[error(
        "`dev.charts.{name}` is no built-in chart ({}), so it is a custom service, and it has neither an image nor a chart",
        keys::DEV_CHARTS.join(", ")
    )]
    CustomChart { name: String },
}

/// The files behind each scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub dk_home: PathBuf,
    pub system: PathBuf,
    pub user: PathBuf,
    /// `<git root>/.dk/config.yaml`, when the working directory is inside a git repository.
    pub repo: Option<PathBuf>,
}

impl Paths {
    /// Finds the config files for a process running in `cwd` with environment `env`.
    pub fn discover(env: &Env, cwd: &Path) -> Result<Paths, ConfigError> {
        let dk_home = match (env.get(env::DK_HOME), env.get(env::HOME)) {
            (Some(home), _) => PathBuf::from(home),
            (None, Some(home)) => Path::new(home).join(".dk"),
            (None, None) => return Err(ConfigError::NoHome),
        };
        let system = env
            .get(env::DK_SYSTEM_CONFIG)
            .map_or_else(|| PathBuf::from("/etc/dk/config.yaml"), PathBuf::from);
        let repo = git_root(cwd).map(|root| root.join(".dk").join("config.yaml"));
        Ok(Paths {
            user: dk_home.join("config.yaml"),
            dk_home,
            system,
            repo,
        })
    }

    pub fn file(&self, scope: Scope) -> Result<&Path, ConfigError> {
        match scope {
            Scope::System => Ok(&self.system),
            Scope::User => Ok(&self.user),
            Scope::Repo => self.repo.as_deref().ok_or(ConfigError::NotInRepo),
        }
    }
}

/// The nearest ancestor-or-self of `dir` holding `.git` (a directory, or a file for worktrees).
pub fn git_root(dir: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(dir).ok()?;
    absolute
        .ancestors()
        .find(|candidate| candidate.join(".git").exists())
        .map(Path::to_path_buf)
}

/// A key in a config file that dk does not know (a warning: a typo must not stop dk).
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownKey {
    pub key: String,
    pub location: Location,
    pub suggestion: Option<String>,
}

#[derive(Debug, Clone)]
struct LayerValues {
    layer: Layer,
    path: Option<PathBuf>,
    values: Json,
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Setting {
    pub key: String,
    pub value: Json,
    /// `default`, `system`, `user`, `repo`, `env VAR` or `flag`.
    #[schemars(with = "String")]
    pub source: Layer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// The resolved configuration of one dk invocation.
#[derive(Debug, Clone)]
pub struct Config {
    pub paths: Paths,
    layers: Vec<LayerValues>,
    pub unknown_keys: Vec<UnknownKey>,
}

fn split_key(key: &str) -> Vec<&str> {
    key.split('.').collect()
}

fn get_path<'a>(json: &'a Json, parts: &[&str]) -> Option<&'a Json> {
    parts.iter().try_fold(json, |value, part| value.get(part))
}

fn insert_path(json: &mut Json, parts: &[&str], value: Json) {
    let mut target = json;
    for part in &parts[..parts.len() - 1] {
        if !target.get(part).is_some_and(Json::is_object) {
            target[part] = Json::Object(Default::default());
        }
        target = &mut target[part];
    }
    target[parts[parts.len() - 1]] = value;
}

/// Mappings merge; anything else from `top` replaces.
fn deep_merge(base: &mut Json, top: &Json) {
    match (base, top) {
        (Json::Object(base), Json::Object(top)) => {
            for (key, value) in top {
                match base.get_mut(key) {
                    Some(existing) => deep_merge(existing, value),
                    None => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, top) => *base = top.clone(),
    }
}

impl Config {
    /// Loads every layer. `flags` are `KEY=VALUE` pairs from `--config`.
    pub fn load(paths: Paths, env: &Env, flags: &[String]) -> Result<Config, ConfigError> {
        let mut unknown_keys = Vec::new();
        let mut layers = vec![LayerValues {
            layer: Layer::Default,
            path: None,
            values: defaults(),
        }];
        for scope in Scope::ALL {
            let Ok(path) = paths.file(scope) else {
                continue;
            };
            let values = read_layer_file(path, &mut unknown_keys)?;
            layers.push(LayerValues {
                layer: Layer::File(scope),
                path: Some(path.to_owned()),
                values,
            });
        }
        for var in env::ENV_VARS {
            if let (Some(key), Some(text)) = (var.key, env.get(var.name)) {
                let spec = keys::spec_for(key)?;
                let mut values = Json::Object(Default::default());
                insert_path(
                    &mut values,
                    &split_key(key),
                    keys::parse_value(key, spec, text)?,
                );
                layers.push(LayerValues {
                    layer: Layer::Env(var.name),
                    path: None,
                    values,
                });
            }
        }
        let mut flag_values = Json::Object(Default::default());
        for flag in flags {
            let (key, value) = parse_flag(flag)?;
            insert_path(&mut flag_values, &split_key(&key), value);
        }
        layers.push(LayerValues {
            layer: Layer::Flag,
            path: None,
            values: flag_values,
        });
        Ok(Config {
            paths,
            layers,
            unknown_keys,
        })
    }

    /// The effective value of a key or section and the highest layer that set it. Unknown keys
    /// are an error (with a suggestion); known keys that nothing sets are `Ok(None)`.
    pub fn get(&self, key: &str) -> Result<Option<Setting>, ConfigError> {
        self.get_from(key, |_| true)
    }

    /// The effective text of a string, choice or duration key.
    pub fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.get(key)?.and_then(|setting| match setting.value {
            Json::String(text) => Some(text),
            _ => None,
        }))
    }

    /// The effective value of a duration key (values were checked when read).
    pub fn duration(&self, key: &str) -> Result<Option<std::time::Duration>, ConfigError> {
        Ok(self
            .string(key)?
            .and_then(|text| dk_manifest::units::parse_duration(&text).ok()))
    }

    /// The value of a key or section in one config file only.
    pub fn get_in(&self, scope: Scope, key: &str) -> Result<Option<Setting>, ConfigError> {
        self.get_from(key, |layer| layer == Layer::File(scope))
    }

    fn get_from(
        &self,
        key: &str,
        wanted: impl Fn(Layer) -> bool,
    ) -> Result<Option<Setting>, ConfigError> {
        let parts = split_key(key);
        if lookup(&parts) == Match::Unknown {
            return Err(ConfigError::Key(KeyError::Unknown {
                key: key.to_owned(),
                suggestion: keys::suggest_key(&parts),
            }));
        }
        let mut merged: Option<Json> = None;
        let mut source = None;
        for layer in self.layers.iter().filter(|layer| wanted(layer.layer)) {
            if let Some(value) = get_path(&layer.values, &parts) {
                match &mut merged {
                    Some(existing) => deep_merge(existing, value),
                    None => merged = Some(value.clone()),
                }
                source = Some(layer);
            }
        }
        Ok(merged.zip(source).map(|(value, layer)| Setting {
            key: key.to_owned(),
            value,
            source: layer.layer,
            path: layer.path.clone(),
        }))
    }

    /// Every effective leaf setting, sorted by key.
    pub fn list(&self) -> Vec<Setting> {
        self.list_from(|_| true)
    }

    /// The settings of one config file only.
    pub fn list_scope(&self, scope: Scope) -> Vec<Setting> {
        self.list_from(|layer| layer == Layer::File(scope))
    }

    /// Leaf settings of the wanted layers; a higher layer replaces a lower one's value.
    fn list_from(&self, wanted: impl Fn(Layer) -> bool) -> Vec<Setting> {
        let mut settings: Vec<Setting> = Vec::new();
        for layer in self.layers.iter().filter(|layer| wanted(layer.layer)) {
            let mut leaves = Vec::new();
            flatten(&layer.values, &mut Vec::new(), &mut leaves);
            for (key, value) in leaves {
                let setting = Setting {
                    key,
                    value,
                    source: layer.layer,
                    path: layer.path.clone(),
                };
                match settings
                    .iter_mut()
                    .find(|existing| existing.key == setting.key)
                {
                    Some(existing) => *existing = setting,
                    None => settings.push(setting),
                }
            }
        }
        settings.sort_by(|a, b| a.key.cmp(&b.key));
        settings
    }
}

/// A custom service of the dev stack: `dev.charts.<name>` with a name that is no built-in chart.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomChart {
    pub name: String,
    /// What the compose runtime runs.
    pub image: Option<String>,
    /// What the k3d runtime installs.
    pub chart: Option<String>,
    pub version: Option<String>,
    /// Helm values (k3d).
    pub values: Option<Json>,
}

impl Config {
    /// The custom services, by name. One with neither an image nor a chart is an error.
    pub fn custom_charts(&self) -> Result<Vec<CustomChart>, ConfigError> {
        let Some(charts) = self.get("dev.charts")? else {
            return Ok(Vec::new());
        };
        let Json::Object(charts) = charts.value else {
            return Ok(Vec::new());
        };
        let mut custom = Vec::new();
        for (name, chart) in charts {
            if keys::DEV_CHARTS.contains(&name.as_str()) {
                continue;
            }
            let text = |key: &str| chart.get(key).and_then(Json::as_str).map(str::to_owned);
            let found = CustomChart {
                image: text("image"),
                chart: text("chart"),
                version: text("version"),
                values: chart.get("values").cloned(),
                name,
            };
            if found.image.is_none() && found.chart.is_none() {
                return Err(ConfigError::CustomChart { name: found.name });
            }
            custom.push(found);
        }
        Ok(custom)
    }
}

/// The custom chart a key sets something of other than what makes it one (its image or chart).
fn custom_chart_setting(key: &str) -> Option<&str> {
    match key.split('.').collect::<Vec<_>>()[..] {
        ["dev", "charts", name, setting, ..]
            if !keys::DEV_CHARTS.contains(&name) && !["image", "chart"].contains(&setting) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// Reads a `--config KEY=VALUE` flag.
pub fn parse_flag(flag: &str) -> Result<(String, Json), ConfigError> {
    let (key, text) = flag
        .split_once('=')
        .ok_or_else(|| ConfigError::FlagSyntax(flag.to_owned()))?;
    let spec = keys::spec_for(key)?;
    Ok((key.to_owned(), keys::parse_value(key, spec, text)?))
}

fn defaults() -> Json {
    let mut values = Json::Object(Default::default());
    for spec in keys::KEYS {
        if let Some(text) = spec.default {
            let source = yaml::Source::new(yaml::Origin::Builtin, text);
            if let Ok(Some(node)) = yaml::parse_document(&source) {
                insert_path(&mut values, &split_key(spec.pattern), node.to_json());
            }
        }
    }
    values
}

/// Splits a layer into leaf settings: keys of the table, and the scalars inside `**` subtrees.
fn flatten(json: &Json, prefix: &mut Vec<String>, out: &mut Vec<(String, Json)>) {
    let Json::Object(map) = json else { return };
    for (key, value) in map {
        prefix.push(key.clone());
        let parts: Vec<&str> = prefix.iter().map(String::as_str).collect();
        let free_form = matches!(lookup(&parts), Match::Key(spec) if spec.pattern.ends_with("**"));
        match (lookup(&parts), value) {
            (Match::Section, Json::Object(_)) => flatten(value, prefix, out),
            (Match::Key(_), Json::Object(inner)) if free_form && !inner.is_empty() => {
                flatten(value, prefix, out)
            }
            _ => out.push((prefix.join("."), value.clone())),
        }
        prefix.pop();
    }
}

fn read_layer_file(path: &Path, unknown: &mut Vec<UnknownKey>) -> Result<Json, ConfigError> {
    let source = yaml::Source::file(path, read_existing(path)?);
    let node = yaml::parse_document(&source).map_err(|err| {
        if err.is_limit() {
            ConfigError::Limits(err)
        } else {
            ConfigError::Syntax(err)
        }
    })?;
    let mut values = Json::Object(Default::default());
    match node {
        None => {}
        Some(node) if node.as_map().is_some() => {
            check_tree(&node, &mut Vec::new(), &mut values, unknown)?
        }
        Some(node)
            if node
                .as_scalar()
                .is_some_and(|s| s.kind == yaml::ScalarKind::Null) => {}
        Some(_) => {
            return Err(ConfigError::NotAMapping {
                path: path.to_owned(),
            });
        }
    }
    Ok(values)
}

fn check_tree(
    node: &Node,
    prefix: &mut Vec<String>,
    values: &mut Json,
    unknown: &mut Vec<UnknownKey>,
) -> Result<(), ConfigError> {
    for entry in node.as_map().unwrap_or_default() {
        prefix.push(entry.key.clone());
        let parts: Vec<&str> = prefix.iter().map(String::as_str).collect();
        match lookup(&parts) {
            Match::Key(spec) => {
                let value = keys::check_node(spec, &entry.value).map_err(|reason| {
                    ConfigError::Invalid {
                        location: entry.value.location(),
                        key: prefix.join("."),
                        reason,
                    }
                })?;
                insert_path(values, &parts, value);
            }
            Match::Section if entry.value.as_map().is_some() => {
                check_tree(&entry.value, prefix, values, unknown)?;
            }
            // An empty section (`lineage:` with nothing under it) sets nothing.
            Match::Section
                if entry
                    .value
                    .as_scalar()
                    .is_some_and(|s| s.kind == yaml::ScalarKind::Null) => {}
            Match::Section => {
                return Err(ConfigError::Invalid {
                    location: entry.value.location(),
                    key: prefix.join("."),
                    reason: format!(
                        "expected a mapping of keys, found {}",
                        entry.value.kind_name()
                    ),
                });
            }
            Match::Unknown => unknown.push(UnknownKey {
                key: prefix.join("."),
                location: yaml::Location::new(entry.value.source.clone(), entry.key_pos),
                suggestion: keys::suggest_key(&parts),
            }),
        }
        prefix.pop();
    }
    Ok(())
}

/// The outcome of writing a config file.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Written {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
    pub scope: Scope,
    pub path: PathBuf,
    /// False when the file had to be re-rendered and lost its comments.
    pub layout_preserved: bool,
}

fn key_segments(key: &str) -> Vec<Seg> {
    key.split('.').map(Seg::from).collect()
}

/// The largest config file dk reads; config files hold a few keys.
pub const CONFIG_MAX_BYTES: u64 = 1 << 20;

/// The text of a config file; a missing file is an empty one. Only a regular file is read, so a
/// FIFO or a link to a device is an error rather than a hang; a file over the cap is a limit.
fn read_existing(path: &Path) -> Result<String, ConfigError> {
    match dk_fs::read_to_string(path, CONFIG_MAX_BYTES) {
        Ok(text) => Ok(text),
        Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(String::new()),
        Err(dk_fs::FsError::TooLarge { limit, .. }) => {
            Err(ConfigError::Limits(yaml::SyntaxError::limit(
                format!("the file is larger than {limit} bytes"),
                Location::file_start(yaml::Source::file(path, "")),
            )))
        }
        Err(source) => Err(ConfigError::Read { source }),
    }
}

/// Sets `key` to `value` (read according to the key's kind) in the file of `scope`.
pub fn set(paths: &Paths, scope: Scope, key: &str, value: &str) -> Result<Written, ConfigError> {
    let spec = keys::spec_for(key)?;
    let json = keys::parse_value(key, spec, value)?;
    if let Some(name) = custom_chart_setting(key) {
        let config = Config::load(paths.clone(), &Env::default(), &[])?;
        let prefix = format!("dev.charts.{name}");
        if config.get(&format!("{prefix}.image"))?.is_none()
            && config.get(&format!("{prefix}.chart"))?.is_none()
        {
            return Err(ConfigError::CustomChart {
                name: name.to_owned(),
            });
        }
    }
    let path = paths.file(scope)?;
    let edited = yaml::set_value(&read_existing(path)?, &key_segments(key), &json)?;
    dk_fs::write_atomic(path, edited.text.as_bytes())
        .map_err(|source| ConfigError::Write { source })?;
    Ok(Written {
        key: key.to_owned(),
        value: Some(json),
        scope,
        path: path.to_owned(),
        layout_preserved: edited.layout_preserved,
    })
}

/// Removes `key` from the file of `scope`; `None` when the file did not set it.
pub fn unset(paths: &Paths, scope: Scope, key: &str) -> Result<Option<Written>, ConfigError> {
    let parts = split_key(key);
    let path = paths.file(scope)?;
    // An unknown key that is in the file (a typo `dk doctor` warned about) can be removed; one
    // that is not is refused with the key it was probably meant to be.
    let Some(edited) = yaml::remove_value(&read_existing(path)?, &key_segments(key))? else {
        if lookup(&parts) == Match::Unknown {
            return Err(ConfigError::Key(KeyError::Unknown {
                key: key.to_owned(),
                suggestion: keys::suggest_key(&parts),
            }));
        }
        return Ok(None);
    };
    dk_fs::write_atomic(path, edited.text.as_bytes())
        .map_err(|source| ConfigError::Write { source })?;
    Ok(Some(Written {
        key: key.to_owned(),
        value: None,
        scope,
        path: path.to_owned(),
        layout_preserved: edited.layout_preserved,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        paths: Paths,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        let env = Env::from_pairs([
            ("HOME", dir.path().to_str().unwrap()),
            (
                "DK_SYSTEM_CONFIG",
                dir.path().join("etc/config.yaml").to_str().unwrap(),
            ),
        ]);
        let paths = Paths::discover(&env, &repo.join("sub")).unwrap();
        assert_eq!(
            paths.repo.as_deref(),
            Some(repo.join(".dk/config.yaml").as_path())
        );
        Fixture { _dir: dir, paths }
    }

    fn load(fixture: &Fixture, env: &[(&str, &str)], flags: &[&str]) -> Config {
        let flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        Config::load(
            fixture.paths.clone(),
            &Env::from_pairs(env.iter().copied()),
            &flags,
        )
        .unwrap()
    }

    #[test]
    fn an_unknown_key_in_the_file_can_be_unset_and_one_that_is_not_is_refused() {
        let f = fixture();
        std::fs::create_dir_all(f.paths.user.parent().unwrap()).unwrap();
        std::fs::write(
            &f.paths.user,
            "lineage:\n  endpiont: http://x\n  namespace: shop\n",
        )
        .unwrap();
        assert_eq!(load(&f, &[], &[]).unknown_keys.len(), 1);
        let removed = unset(&f.paths, Scope::User, "lineage.endpiont").unwrap();
        assert!(removed.is_some());
        let config = load(&f, &[], &[]);
        assert!(config.unknown_keys.is_empty());
        assert_eq!(
            config.string("lineage.namespace").unwrap().as_deref(),
            Some("shop")
        );
        let err = unset(&f.paths, Scope::User, "lineage.endpiont").unwrap_err();
        assert!(
            matches!(&err, ConfigError::Key(key) if key.suggestion() == Some("lineage.endpoint")),
            "{err}"
        );
    }

    #[test]
    fn layers_override_in_order_and_report_their_source() {
        let f = fixture();
        set(&f.paths, Scope::System, "registry", "system.io").unwrap();
        set(&f.paths, Scope::User, "registry", "user.io").unwrap();
        let config = load(&f, &[], &[]);
        let setting = config.get("registry").unwrap().unwrap();
        assert_eq!(setting.value, Json::from("user.io"));
        assert_eq!(setting.source, Layer::File(Scope::User));
        set(&f.paths, Scope::Repo, "registry", "repo.io").unwrap();
        assert_eq!(
            load(&f, &[], &[])
                .get("registry")
                .unwrap()
                .unwrap()
                .value
                .as_str(),
            Some("repo.io")
        );
        let config = load(&f, &[("DK_REGISTRY", "env.io")], &[]);
        assert_eq!(
            config.get("registry").unwrap().unwrap().source,
            Layer::Env("DK_REGISTRY")
        );
        let config = load(&f, &[("DK_REGISTRY", "env.io")], &["registry=flag.io"]);
        assert_eq!(
            config.get("registry").unwrap().unwrap().value,
            Json::from("flag.io")
        );
        assert_eq!(config.get("registry").unwrap().unwrap().source, Layer::Flag);
    }

    #[test]
    fn defaults_are_the_lowest_layer() {
        let f = fixture();
        let config = load(&f, &[], &[]);
        let provider = config.get("gitops.provider").unwrap().unwrap();
        assert_eq!(
            (provider.value, provider.source),
            (Json::from("git"), Layer::Default)
        );
        assert_eq!(config.get("registry").unwrap(), None);
        assert!(config.get("regsitry").is_err());
    }

    #[test]
    fn faq_chart_keys_round_trip() {
        let f = fixture();
        set(
            &f.paths,
            Scope::User,
            "dev.charts.redpanda.version",
            "25.2.0",
        )
        .unwrap();
        set(
            &f.paths,
            Scope::User,
            "dev.charts.postgres.values.primary.resources.limits.memory",
            "1Gi",
        )
        .unwrap();
        let text = std::fs::read_to_string(&f.paths.user).unwrap();
        assert_eq!(
            text,
            "dev:\n  charts:\n    redpanda:\n      version: 25.2.0\n    postgres:\n      values:\n        primary:\n          resources:\n            limits:\n              memory: 1Gi\n"
        );
        let config = load(&f, &[], &[]);
        assert_eq!(
            config
                .get("dev.charts.redpanda.version")
                .unwrap()
                .unwrap()
                .value
                .as_str(),
            Some("25.2.0")
        );
        let keys: Vec<String> = config
            .list_scope(Scope::User)
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(
            keys,
            [
                "dev.charts.postgres.values.primary.resources.limits.memory",
                "dev.charts.redpanda.version"
            ]
        );
        let section = config.get("dev.charts.postgres").unwrap().unwrap();
        assert_eq!(
            section.value["values"]["primary"]["resources"]["limits"]["memory"],
            "1Gi"
        );
    }

    #[test]
    fn a_custom_chart_needs_an_image_or_a_chart() {
        let f = fixture();
        let err = set(&f.paths, Scope::User, "dev.charts.mailpit.version", "v1").unwrap_err();
        assert!(
            matches!(&err, ConfigError::CustomChart { name } if name == "mailpit"),
            "{err}"
        );
        set(
            &f.paths,
            Scope::Repo,
            "dev.charts.mailpit.image",
            "axllent/mailpit",
        )
        .unwrap();
        set(&f.paths, Scope::User, "dev.charts.mailpit.version", "v1.21").unwrap();
        let charts = load(&f, &[], &[]).custom_charts().unwrap();
        assert_eq!(
            charts,
            [CustomChart {
                name: "mailpit".into(),
                image: Some("axllent/mailpit".into()),
                chart: None,
                version: Some("v1.21".into()),
                values: None,
            }]
        );
        // Written by hand without either: refused where the stack is planned.
        std::fs::write(
            &f.paths.user,
            "dev:\n  charts:\n    other:\n      version: v1\n",
        )
        .unwrap();
        assert!(matches!(
            load(&f, &[], &[]).custom_charts(),
            Err(ConfigError::CustomChart { name }) if name == "other"
        ));
    }

    #[test]
    fn unset_removes_and_reports_absence() {
        let f = fixture();
        std::fs::create_dir_all(f.paths.user.parent().unwrap()).unwrap();
        std::fs::write(
            &f.paths.user,
            "# mine\nregistry: a.io\nlineage:\n  endpoint: http://x\n",
        )
        .unwrap();
        assert!(
            unset(&f.paths, Scope::User, "lineage.endpoint")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            std::fs::read_to_string(&f.paths.user).unwrap(),
            "# mine\nregistry: a.io\n"
        );
        assert!(
            unset(&f.paths, Scope::User, "lineage.endpoint")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn files_are_checked_with_locations() {
        let f = fixture();
        std::fs::create_dir_all(f.paths.user.parent().unwrap()).unwrap();
        std::fs::write(
            &f.paths.user,
            "regsitry: a.io\ngitops:\n  provider: gihub\n",
        )
        .unwrap();
        let err = Config::load(f.paths.clone(), &Env::default(), &[]).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("config.yaml:3:13: invalid value for `gitops.provider`"),
            "{message}"
        );
        std::fs::write(&f.paths.user, "regsitry: a.io\nlineage:\n").unwrap();
        let config = Config::load(f.paths.clone(), &Env::default(), &[]).unwrap();
        assert_eq!(config.unknown_keys.len(), 1);
        assert_eq!(
            config.unknown_keys[0].suggestion.as_deref(),
            Some("registry")
        );
        assert_eq!(config.unknown_keys[0].location.pos, yaml::Pos::new(1, 1));
    }

    #[test]
    fn repo_scope_needs_a_repository() {
        let dir = tempfile::tempdir().unwrap();
        let env = Env::from_pairs([("DK_HOME", dir.path().to_str().unwrap())]);
        let paths = Paths::discover(&env, dir.path()).unwrap();
        assert!(matches!(
            set(&paths, Scope::Repo, "registry", "x"),
            Err(ConfigError::NotInRepo)
        ));
        assert!(matches!(
            Paths::discover(&Env::default(), dir.path()),
            Err(ConfigError::NoHome)
        ));
    }

    #[test]
    fn oversized_bombed_and_special_config_files_are_errors_not_exhaustion() {
        let f = fixture();
        let user = &f.paths.user;
        std::fs::create_dir_all(user.parent().unwrap()).unwrap();
        let load = || Config::load(f.paths.clone(), &Env::from_pairs([]), &[]);
        let mut bomb = String::from("a0: &a0 lol\n");
        for level in 1..=9 {
            let aliases = vec![format!("*a{}", level - 1); 9].join(", ");
            bomb.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
        }
        std::fs::write(user, bomb).unwrap();
        let err = load().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Limits(limit) if limit.location.pos.line == 7),
            "{err}"
        );
        std::fs::write(user, "#".repeat(CONFIG_MAX_BYTES as usize + 1)).unwrap();
        assert!(matches!(load().unwrap_err(), ConfigError::Limits(_)));
        std::fs::remove_file(user).unwrap();
        std::os::unix::fs::symlink("/dev/zero", user).unwrap();
        let err = load().unwrap_err();
        assert!(
            matches!(&err, ConfigError::Read { .. })
                && err.to_string().contains("not a regular file"),
            "{err}"
        );
    }
}

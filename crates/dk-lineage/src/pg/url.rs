//! A PostgreSQL connection URL that never shows its password.

use std::str::FromStr;

/// `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?...]`. Displayed (and debugged) without
/// its password, so that it can be printed, logged and put in reports.
#[derive(Clone)]
pub struct PgUrl {
    config: postgres::Config,
}

impl PgUrl {
    /// Whether `text` is meant as a PostgreSQL URL (rather than a path).
    pub fn is_postgres(text: &str) -> bool {
        ["postgresql://", "postgres://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
    }

    /// Parses a `postgresql://` (or `postgres://`) URL. The error never repeats the text, which
    /// may hold a password.
    pub fn parse(text: &str) -> Result<PgUrl, String> {
        if !PgUrl::is_postgres(text) {
            return Err("not a postgresql:// URL".into());
        }
        let config = postgres::Config::from_str(text)
            .map_err(|err| format!("not a valid PostgreSQL URL: {err}"))?;
        if config.get_hosts().is_empty() {
            return Err("the PostgreSQL URL names no host".into());
        }
        if config.get_user().is_none() {
            return Err(
                "the PostgreSQL URL names no user (postgresql://USER@HOST/DATABASE)".into(),
            );
        }
        Ok(PgUrl { config })
    }

    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// The URL with this password (PGPASSWORD, or a line of ~/.pgpass).
    pub fn with_password(mut self, password: &str) -> PgUrl {
        self.config.password(password);
        self
    }

    /// The same server and user, another database.
    pub fn with_database(&self, database: &str) -> PgUrl {
        let mut config = self.config.clone();
        config.dbname(database);
        PgUrl { config }
    }

    pub(crate) fn config(&self) -> &postgres::Config {
        &self.config
    }

    fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(host)) => host.clone(),
            Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        }
    }

    fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    fn database(&self) -> &str {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("")
    }

    /// The password of the first line of a `.pgpass` file that matches this URL
    /// (`hostname:port:database:username:password`, `*` matching anything, `\` escaping `:`
    /// and `\`), as libpq reads it.
    pub fn pgpass_password(&self, pgpass: &str) -> Option<String> {
        let wanted = [
            self.host(),
            self.port().to_string(),
            self.database().to_owned(),
            self.config.get_user().unwrap_or("").to_owned(),
        ];
        pgpass
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let fields = pgpass_fields(line);
                if fields.len() != 5 {
                    return None;
                }
                let matches = fields[..4]
                    .iter()
                    .zip(&wanted)
                    .all(|(field, want)| field == "*" || field == want);
                matches.then(|| fields[4].clone())
            })
    }
}

/// The fields of a `.pgpass` line, unescaped.
fn pgpass_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

impl std::fmt::Display for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgresql://{}@{}:{}/{}",
            self.config.get_user().unwrap_or(""),
            self.host(),
            self.port(),
            self.database()
        )
    }
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let url = PgUrl::parse("postgresql://dk:s3cret@db.example:6543/lineage").unwrap();
        assert!(url.has_password());
        assert_eq!(url.to_string(), "postgresql://dk@db.example:6543/lineage");
        assert!(!format!("{url:?}").contains("s3cret"));
        let err = PgUrl::parse("postgresql://dk:s3cret@db.example:notaport/x").unwrap_err();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(PgUrl::parse("/home/me/lineage.db").is_err());
    }

    #[test]
    fn pgpass_lines_match_as_libpq_reads_them() {
        let url = PgUrl::parse("postgresql://dk@db:5432/lineage").unwrap();
        let pgpass = "# comment\nother:5432:*:dk:wrong\ndb:5432:lineage:dk:pa\\:ss\n*:*:*:*:any\n";
        assert_eq!(url.pgpass_password(pgpass).as_deref(), Some("pa:ss"));
        let elsewhere = PgUrl::parse("postgresql://me@x/y").unwrap();
        assert_eq!(elsewhere.pgpass_password(pgpass).as_deref(), Some("any"));
        assert_eq!(url.pgpass_password("db:5432:lineage:dk"), None);
    }
}

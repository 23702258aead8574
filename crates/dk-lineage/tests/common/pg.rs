//! A fresh PostgreSQL database per test, on the server `scripts/test-services` runs, dropped
//! when the test ends.

use dk_lineage::pg::PgUrl;

/// The store a test server keeps its lineage in.
pub enum Backend {
    Sqlite,
    Postgres(Box<TestDb>),
}

impl Backend {
    /// A fresh database, or `None` (SKIPPED printed) without PostgreSQL.
    pub fn postgres() -> Option<Backend> {
        TestDb::create().map(|db| Backend::Postgres(Box::new(db)))
    }
}

/// A database of its own, dropped (connections and all) with this.
pub struct TestDb {
    pub url: PgUrl,
    admin: postgres::Config,
    config: postgres::Config,
    name: String,
}

/// Runs blocking PostgreSQL work on a thread of its own: the `postgres` client runs its own
/// runtime, which cannot start on a test's async threads.
pub fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().unwrap())
}

impl TestDb {
    pub fn create() -> Option<TestDb> {
        let base = dk_test::service("DK_TEST_POSTGRES_URL", "PostgreSQL")?;
        let url = PgUrl::parse(&base).expect("DK_TEST_POSTGRES_URL is a postgresql:// URL");
        let name = format!("dk_lineage_{}", dk_lineage::event::new_run_id().simple());
        let admin: postgres::Config = base.parse().unwrap();
        off_runtime(|| {
            let mut client = admin.connect(postgres::NoTls).unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        });
        let mut config = admin.clone();
        config.dbname(&name);
        Some(TestDb {
            url: url.with_database(&name),
            admin,
            config,
            name,
        })
    }

    /// Runs `work` with a client of the test's database, on a thread of its own.
    pub fn with_client<T: Send>(&self, work: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        off_runtime(|| work(&mut self.config.connect(postgres::NoTls).unwrap()))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        off_runtime(|| {
            if let Ok(mut client) = self.admin.connect(postgres::NoTls) {
                let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
                let _ = client.batch_execute(&drop);
            }
        });
    }
}

/// Runs each `async fn NAME(backend: Backend)` as two tests, `NAME::sqlite` and
/// `NAME::postgres` (skipped without PostgreSQL): the same assertions on both stores.
#[macro_export]
macro_rules! on_both_stores {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: Backend) $body:block $($rest:tt)*) => {
        mod $name {
            use super::*;
            $(#[$meta])*
            async fn check($backend: common::pg::Backend) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                check(common::pg::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = common::pg::Backend::postgres() {
                    check(backend).await
                }
            }
        }
        $crate::on_both_stores!($($rest)*);
    };
    () => {};
}

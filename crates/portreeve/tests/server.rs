//! `portreeve server` and its tokens, each test run twice: on SQLite in the
//! state directory (the default, no `--database`), and on a PostgreSQL
//! database of its own over the Unix socket. The server listens on a port
//! the kernel picks on the loopback of a namespace the test made (so they
//! need root); requests are plain HTTP/1.1 written here.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use support::{
    Daemon, Home, Netns, assert_exit, assert_matches_schema, assert_ok, stdout, testkit,
};

/// Where Debian's PostgreSQL listens.
const PG_SOCKET_DIR: &str = "/var/run/postgresql";

/// The PostgreSQL role the tests connect as: peer authentication on the
/// socket admits the operating-system user of the same name, and the
/// PostgreSQL tests run as root. Made once if missing; it owns only the
/// tests' own databases, each dropped when its test ends.
const PG_ROLE: &str = "root";

/// A database one test made for itself.
enum TestDatabase {
    /// `<state>/server.db`, the default.
    Sqlite { file: std::path::PathBuf },
    /// `portreeve_test_<pid>_<n>` in the local cluster, dropped on drop.
    Postgres { name: String },
}

static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// A new PostgreSQL database, or `None` (the test skipped) where the
    /// cluster cannot be reached.
    fn postgres(test: &str) -> Option<TestDatabase> {
        let ready = testkit::privileged(test, &["psql", "pg_isready", "runuser"])
            && testkit::skip_unless(
                test,
                Command::new("pg_isready")
                    .args(["-q", "-h", PG_SOCKET_DIR])
                    .status()
                    .is_ok_and(|s| s.success()),
                format_args!(
                    "PostgreSQL does not answer on {PG_SOCKET_DIR} (pg_ctlcluster 15 main start)"
                ),
            );
        if !ready {
            return None;
        }
        let name = format!(
            "portreeve_test_{}_{}",
            std::process::id(),
            NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
        );
        as_postgres(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_ROLE}') \
             THEN CREATE ROLE {PG_ROLE} LOGIN; END IF; END $$"
        ));
        as_postgres(&format!("CREATE DATABASE {name} OWNER {PG_ROLE}"));
        Some(TestDatabase::Postgres { name })
    }

    /// The `--database` arguments that name it.
    fn args(&self) -> Vec<String> {
        match self {
            TestDatabase::Sqlite { .. } => vec![],
            TestDatabase::Postgres { name } => vec![
                "--database".into(),
                format!("postgres:///{name}?host={PG_SOCKET_DIR}&user={PG_ROLE}"),
            ],
        }
    }

    /// `sql`'s rows as its database's own client prints them: one line a
    /// row, columns joined by `|`.
    fn query(&self, sql: &str) -> String {
        let out = match self {
            TestDatabase::Sqlite { file } => {
                support::run(Command::new("sqlite3").arg(file).arg(sql))
            }
            TestDatabase::Postgres { name } => support::run(
                Command::new("psql")
                    .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                    .args(["-h", PG_SOCKET_DIR, "-U", PG_ROLE, "-d", name, "-c", sql]),
            ),
        };
        assert_ok(&out);
        stdout(&out)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { name } = self {
            as_postgres(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// Runs `sql` in the cluster as its superuser, `postgres`.
fn as_postgres(sql: &str) {
    assert_ok(&support::run(
        Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-h", PG_SOCKET_DIR, "-c", sql]),
    ));
}

/// Runs `body` with a fresh home on SQLite, then on PostgreSQL where it is
/// reachable; skips without root (the server runs in a namespace).
fn on_each_database(test: &str, body: impl Fn(&Home, &TestDatabase)) {
    if !testkit::privileged(test, &["ip"]) {
        return;
    }
    let home = Home::new();
    body(
        &home,
        &TestDatabase::Sqlite {
            file: home.state().join("server.db"),
        },
    );
    if let Some(db) = TestDatabase::postgres(test) {
        body(&Home::new(), &db);
    }
}

/// `portreeve server ARGS…` on `db`.
fn server_cmd(home: &Home, db: &TestDatabase, args: &[&str]) -> Output {
    let mut all: Vec<String> = vec!["server".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(db.args());
    home.run(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A new token's secret, checking it is the one line on standard output.
fn create_token(home: &Home, db: &TestDatabase, extra: &[&str]) -> String {
    let mut args = vec!["token", "create"];
    args.extend(extra);
    let out = server_cmd(home, db, &args);
    assert_ok(&out);
    let text = stdout(&out);
    let secret = text.strip_suffix('\n').expect("one line");
    assert!(
        secret.len() == 68
            && secret.starts_with("prt_")
            && secret[4..].chars().all(|c| c.is_ascii_hexdigit()),
        "standard output is not one token: {text:?}"
    );
    secret.to_owned()
}

/// A running `portreeve server --listen 127.0.0.1:0` in a namespace of its
/// own.
struct RunningServer {
    daemon: Daemon,
    ns: Netns,
    address: SocketAddr,
    /// Kept open: the server's standard output stays writable.
    _stdout: BufReader<ChildStdout>,
}

impl RunningServer {
    fn start(home: &Home, db: &TestDatabase) -> RunningServer {
        let ns = Netns::bare();
        let mut cmd = home.command(ns.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.args(["server", "--listen", "127.0.0.1:0"])
            .args(db.args())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut daemon = Daemon(cmd.spawn().unwrap());
        let mut out = BufReader::new(daemon.0.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                // It exited (standard output closed): say why.
                let mut why = String::new();
                daemon
                    .0
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut why)
                    .unwrap();
                panic!("the server did not start: {line:?} {why}")
            })
            .parse()
            .unwrap();
        RunningServer {
            daemon,
            ns,
            address,
            _stdout: out,
        }
    }

    /// GET `path` with `token` as bearer: the status, the headers and the
    /// JSON body.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String, serde_json::Value) {
        self.ns.run(|| self.request(path, token))
    }

    fn request(&self, path: &str, token: Option<&str>) -> (u16, String, serde_json::Value) {
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: portreeve\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("a whole HTTP reply");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"));
        (status, head.to_ascii_lowercase(), body)
    }

    fn stop(mut self) {
        self.daemon.stop();
    }
}

#[test]
fn migrations_apply_once_and_a_restart_keeps_tokens_and_tables() {
    on_each_database(
        "migrations_apply_once_and_a_restart_keeps_tokens_and_tables",
        |home, db| {
            let token = create_token(home, db, &["--role", "viewer"]);
            let server = RunningServer::start(home, db);
            let (status, _, hosts) = server.get("/api/v1/hosts", Some(&token));
            assert_eq!((status, hosts), (200, serde_json::json!([])));
            server.stop();

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&token)).0, 200);
            server.stop();
            assert_eq!(
                db.query("SELECT version, name FROM schema_migrations"),
                "1|tokens_and_hosts\n"
            );
            assert_eq!(db.query("SELECT COUNT(*) FROM hosts"), "0\n");
            assert_eq!(db.query("SELECT COUNT(*) FROM api_tokens"), "1\n");
        },
    );
}

#[test]
fn a_created_token_authenticates_and_no_listing_shows_it_or_its_hash() {
    on_each_database(
        "a_created_token_authenticates_and_no_listing_shows_it_or_its_hash",
        |home, db| {
            let admin = create_token(home, db, &["--role", "admin", "--name", "ops team"]);
            let enroll = create_token(home, db, &["--role", "enroll", "--ttl", "1h"]);
            assert_ne!(admin, enroll);
            let hashes = db.query("SELECT token_hash FROM api_tokens");
            assert_eq!(hashes.lines().count(), 2);

            let table = server_cmd(home, db, &["token", "list"]);
            let json = server_cmd(home, db, &["token", "list", "--format", "json"]);
            for out in [&table, &json] {
                assert_ok(out);
                let text = stdout(out);
                for secret in [&admin, &enroll] {
                    assert!(!text.contains(&secret[4..]), "a token is listed: {text}");
                }
                for hash in hashes.lines() {
                    assert!(!text.contains(hash), "a hash is listed: {text}");
                }
            }
            assert!(stdout(&table).contains("ops team"), "{}", stdout(&table));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
            assert_matches_schema(&doc, "docs/schema/server-tokens.v1.json");
            let roles: Vec<_> = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["role"].clone())
                .collect();
            assert_eq!(roles.len(), 2);
            assert!(roles.contains(&"admin".into()) && roles.contains(&"enroll".into()));

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&admin)).0, 200);
            server.stop();
        },
    );
}

#[test]
fn no_live_token_gets_401_and_a_role_that_may_not_read_gets_403() {
    on_each_database(
        "no_live_token_gets_401_and_a_role_that_may_not_read_gets_403",
        |home, db| {
            let viewer = create_token(home, db, &["--role", "viewer", "--ttl", "1h"]);
            let enroll = create_token(home, db, &["--role", "enroll"]);
            let revoked = create_token(home, db, &["--role", "admin"]);
            let short = create_token(home, db, &["--role", "operator", "--ttl", "1s"]);
            let list = server_cmd(home, db, &["token", "list", "--format", "json"]);
            assert_ok(&list);
            let doc: serde_json::Value = serde_json::from_str(&stdout(&list)).unwrap();
            let admin_id = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["role"] == "admin")
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned();
            assert_ok(&server_cmd(home, db, &["token", "revoke", &admin_id]));
            let doc: serde_json::Value = serde_json::from_str(&stdout(&server_cmd(
                home,
                db,
                &["token", "list", "--format", "json"],
            )))
            .unwrap();
            let admin = doc["tokens"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == admin_id.as_str())
                .unwrap();
            assert!(admin["revoked"].is_string(), "{admin}");

            let server = RunningServer::start(home, db);
            assert_eq!(server.get("/api/v1/hosts", Some(&viewer)).0, 200);
            std::thread::sleep(Duration::from_millis(2100)); // past `short`'s 1s
            // The viewer's token with its last digit changed.
            let (kept, last) = viewer.split_at(viewer.len() - 1);
            let tampered = format!("{kept}{}", if last == "0" { "1" } else { "0" });
            for (token, why) in [
                (None, "no token"),
                (Some("prt_nonsense"), "not a token"),
                (Some(tampered.as_str()), "a changed token"),
                (Some(revoked.as_str()), "a revoked token"),
                (Some(short.as_str()), "an expired token"),
            ] {
                let (status, head, body) = server.get("/api/v1/hosts", token);
                assert_eq!(status, 401, "{why}: {body}");
                assert!(head.contains("www-authenticate: bearer"), "{why}: {head}");
                assert_eq!(body["error"]["status"], 401, "{why}: {body}");
                assert!(body["error"]["message"].is_string(), "{why}: {body}");
            }
            let (status, _, body) = server.get("/api/v1/hosts", Some(&enroll));
            assert_eq!(status, 403, "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("enroll"),
                "{body}"
            );
            assert_eq!(server.get("/api/v1/hosts", Some(&viewer)).0, 200);
            server.stop();
        },
    );
}

#[test]
fn the_openapi_document_is_public_and_names_every_path_served() {
    if !testkit::privileged(
        "the_openapi_document_is_public_and_names_every_path_served",
        &["ip"],
    ) {
        return;
    }
    let home = Home::new();
    let db = TestDatabase::Sqlite {
        file: home.state().join("server.db"),
    };
    let viewer = create_token(&home, &db, &["--role", "viewer"]);
    let server = RunningServer::start(&home, &db);
    let (status, _, doc) = server.get("/api/v1/openapi.json", None);
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/api/v1/hosts", "/api/v1/openapi.json"]);
    for path in paths {
        assert_eq!(server.get(path, Some(&viewer)).0, 200, "{path}");
    }
    assert_eq!(server.get("/api/v1/nothing", Some(&viewer)).0, 404);
    server.stop();
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let home = Home::new();
    for (args, says) in [
        (&["--role", "root"][..], "`root` is not a role"),
        (
            &["--role", "viewer", "--ttl", "soon"],
            "`soon` is not a duration",
        ),
        (&["--role", "viewer", "--ttl", "500ms"], "at least 1s"),
        (
            &["--role", "viewer", "--database", "/tmp/server.db"],
            "is not a database URL",
        ),
        (
            &["--role", "viewer", "--database", "postgres://h:port/db"],
            "database URL is not valid",
        ),
    ] {
        let mut all = vec!["server", "token", "create"];
        all.extend(args);
        let out = home.run(&all);
        assert_exit(&out, 2, says);
        assert_eq!(stdout(&out), "", "{args:?}");
    }
    assert!(
        !home.state().join("server.db").exists(),
        "a database was written"
    );
    assert_exit(
        &home.run(&["server", "--database", "mysql://x/y"]),
        2,
        "is not a database URL",
    );

    on_each_database("bad_input_exits_2_and_writes_nothing", |home, db| {
        let out = server_cmd(home, db, &["token", "revoke", "0123456789ab"]);
        assert_exit(&out, 2, "no token has the id `0123456789ab`");
    });
}

#[test]
fn a_state_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    std::fs::create_dir(home.state()).unwrap();
    std::fs::set_permissions(home.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = home.run(&["server", "token", "create", "--role", "admin"]);
    assert_exit(&out, 3, "lets others write to it");
    assert_eq!(stdout(&out), "");
    assert!(
        !home.state().join("server.db").exists(),
        "a database was written"
    );
}

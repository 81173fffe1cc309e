//! `portreeve server` for the end-to-end tests: a database of the test's
//! own (SQLite in the state directory, or PostgreSQL over
//! `/var/run/postgresql`), its tokens, and the server running in a network
//! namespace, asked over plain HTTP/1.1 written here.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use portreeve_fleet_protocol::{EnrollRequest, HOST_HEADER, Push, SIGNATURE_HEADER};

use super::{Daemon, Home, Netns, assert_ok, stdout, testkit};

/// Where Debian's PostgreSQL listens.
pub const PG_SOCKET_DIR: &str = "/var/run/postgresql";

/// The PostgreSQL role the tests connect as: peer authentication on the
/// socket admits the operating-system user of the same name, and the
/// PostgreSQL tests run as root. Made once if missing; it owns only the
/// tests' own databases, each dropped when its test ends.
pub const PG_ROLE: &str = "root";

/// A database one test made for itself.
pub enum TestDatabase {
    /// `<state>/server.db`, the default.
    Sqlite { file: std::path::PathBuf },
    /// `portreeve_test_<pid>_<n>` in the local cluster, dropped on drop.
    Postgres { name: String },
}

static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// A new PostgreSQL database, or `None` (the test skipped) where the
    /// cluster cannot be reached.
    pub fn postgres(test: &str) -> Option<TestDatabase> {
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
    pub fn args(&self) -> Vec<String> {
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
    pub fn query(&self, sql: &str) -> String {
        let out = match self {
            TestDatabase::Sqlite { file } => super::run(Command::new("sqlite3").arg(file).arg(sql)),
            TestDatabase::Postgres { name } => super::run(
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
    assert_ok(&super::run(
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
pub fn on_each_database(test: &str, body: impl Fn(&Home, &TestDatabase)) {
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
pub fn server_cmd(home: &Home, db: &TestDatabase, args: &[&str]) -> Output {
    let mut all: Vec<String> = vec!["server".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(db.args());
    home.run(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A new token's secret, checking it is the one line on standard output.
pub fn create_token(home: &Home, db: &TestDatabase, extra: &[&str]) -> String {
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

/// A host enrolled as an agent would be: its own Ed25519 key, and the id
/// the server gave it; it signs what it pushes.
pub struct SigningHost {
    key: SigningKey,
    /// The id the server gave it.
    pub id: String,
    /// The server's policy key the enrollment answered, as the agent pins it.
    pub server_key: Option<String>,
}

impl SigningHost {
    /// A key made from `seed`, enrolled as `name` with `token`; panics
    /// unless that gets 201.
    pub fn enroll(server: &RunningServer, token: &str, name: &str, seed: u8) -> SigningHost {
        let key = SigningKey::from_bytes(&[seed; 32]);
        let (status, body) = enroll_key(server, token, name, &key);
        assert_eq!(status, 201, "{body}");
        let id = body["host_id"].as_str().unwrap().to_owned();
        assert!(
            id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{body}"
        );
        let server_key = body["server_key"].as_str().map(str::to_owned);
        SigningHost {
            key,
            id,
            server_key,
        }
    }

    /// The signature of `body` by this host's key, as the signature
    /// header carries it.
    pub fn sign(&self, body: &[u8]) -> String {
        STANDARD.encode(self.key.sign(body).to_bytes())
    }

    /// A push numbered `seq` that says nothing: no listeners, findings or
    /// drift, and leaves out what may be left out. Tests fill in the rest
    /// with `Push { …, ..host.empty_push(seq) }`.
    pub fn empty_push(&self, seq: u64) -> Push {
        Push {
            host_id: self.id.clone(),
            seq,
            sent_at: jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap(),
            listeners: vec![],
            findings: vec![],
            drift: vec![],
            ledger: None,
            lifecycle: None,
            policy: None,
            grants: None,
            blocks: None,
        }
    }

    /// POSTs `push`, signed: the status and the answer.
    pub fn push(&self, server: &RunningServer, push: &Push) -> (u16, serde_json::Value) {
        let body = serde_json::to_vec(push).unwrap();
        let signature = self.sign(&body);
        let (status, _, reply) = server.send(
            "POST",
            "/api/v1/push",
            &[(HOST_HEADER, &self.id), (SIGNATURE_HEADER, &signature)],
            &body,
        );
        (status, reply)
    }
}

/// A running `portreeve server` in a network namespace.
pub struct RunningServer {
    daemon: Daemon,
    ns: Netns,
    pub address: SocketAddr,
    /// Kept open: the server's standard output stays writable.
    _stdout: BufReader<ChildStdout>,
}

impl RunningServer {
    /// `--listen 127.0.0.1:0` in a namespace of its own.
    pub fn start(home: &Home, db: &TestDatabase) -> RunningServer {
        RunningServer::start_in(home, db, Netns::bare(), "127.0.0.1:0")
    }

    /// `--listen listen` in `ns`.
    pub fn start_in(home: &Home, db: &TestDatabase, ns: Netns, listen: &str) -> RunningServer {
        RunningServer::start_with(home, db, ns, listen, &[])
    }

    /// `--listen listen` and `extra` arguments in `ns`.
    pub fn start_with(
        home: &Home,
        db: &TestDatabase,
        ns: Netns,
        listen: &str,
        extra: &[&str],
    ) -> RunningServer {
        let mut cmd = home.command(ns.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.args(["server", "--listen", listen])
            .args(db.args())
            .args(extra)
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

    /// The namespace it runs in (and is asked in).
    pub fn netns(&self) -> &Netns {
        &self.ns
    }

    /// `portreeve ARGS` as an operator's client inside the server's
    /// namespace, with `home`'s state, `env` set and no token unless `env`
    /// gives one.
    pub fn client(&self, home: &Home, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut cmd = home.command(self.ns.exec(env!("CARGO_BIN_EXE_portreeve")));
        cmd.env_remove("PORTREEVE_TOKEN");
        for (name, value) in env {
            cmd.env(name, value);
        }
        super::run(cmd.args(args))
    }

    /// Proposes `text` as policy `name` with `token` (`reason` "tighten"):
    /// the new version's number.
    pub fn propose(&self, token: &str, name: &str, text: &str) -> u64 {
        let (status, reply) = self.call(
            "POST",
            "/api/v1/policies",
            token,
            &serde_json::json!({"name": name, "text": text, "reason": "tighten"}),
        );
        assert_eq!(status, 201, "{reply}");
        reply["version"].as_u64().unwrap()
    }

    /// Approves policy `name` version `version` with `token` (`reason`
    /// "reviewed"): the status and answer.
    pub fn approve(&self, token: &str, name: &str, version: u64) -> (u16, serde_json::Value) {
        self.call(
            "POST",
            &format!("/api/v1/policies/{name}/{version}/approve"),
            token,
            &serde_json::json!({"reason": "reviewed"}),
        )
    }

    /// `method` `path` with `token` as bearer and `body` as JSON: the
    /// status and the JSON answer.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {token}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let (status, _, answer) = self.send(method, path, &headers, body.to_string().as_bytes());
        (status, answer)
    }

    /// GET `path` with `token` as bearer: the status, the headers and the
    /// JSON body.
    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String, serde_json::Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.send("GET", path, &headers, b"")
    }

    /// `method` `path` with `headers` and `body`: the status, the headers
    /// and the JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, serde_json::Value) {
        self.ns.run(|| self.request(method, path, headers, body))
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, serde_json::Value) {
        let mut stream = TcpStream::connect_timeout(&self.address, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: portreeve\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        // A server that refuses a body may answer before reading all of it.
        let _ = stream.write_all(body);
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").expect("a whole HTTP reply");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"));
        (status, head.to_ascii_lowercase(), body)
    }

    /// Stops the server (SIGTERM, a clean exit); its namespace stays, for
    /// a restart with [`RunningServer::start_in`].
    pub fn stop(mut self) -> Netns {
        self.daemon.stop();
        self.ns
    }
}

/// POST /api/v1/enroll for `key` as `name` with `token`: the status and
/// the body.
pub fn enroll_key(
    server: &RunningServer,
    token: &str,
    name: &str,
    key: &SigningKey,
) -> (u16, serde_json::Value) {
    let request = EnrollRequest {
        host_name: name.into(),
        public_key: STANDARD.encode(key.verifying_key().as_bytes()),
    };
    let auth = format!("Bearer {token}");
    let (status, _, body) = server.send(
        "POST",
        "/api/v1/enroll",
        &[("Authorization", &auth)],
        &serde_json::to_vec(&request).unwrap(),
    );
    (status, body)
}

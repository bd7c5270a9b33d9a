//! Helpers shared by the store tests: temporary files, a manual clock, and plain SQL access to
//! the documented schema, the way another writer of the file (the `SQLAlchemy` adapter, an
//! operator's shell) sees it. Reading rows here does not reuse the store's own row code, so the
//! tests check the schema the module docs promise, not the store against itself.

#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use leasekit_core::store::{ManualClock, SqliteStore, StoreOptions};
use leasekit_core::{Holder, LeaseRecord, LeaseTerms, ResourceKey, TokenDigest, UnixMillis};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{json, Map, Value};

/// 2023-11-14T22:13:20Z, the instant most tests start at.
pub const T0: i64 = 1_700_000_000_000;

/// A store file in its own temporary directory, with a manual clock standing at [`T0`].
pub struct TestFile {
    dir: tempfile::TempDir,
    pub path: PathBuf,
    pub clock: Arc<ManualClock>,
}

impl TestFile {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("leases.db");
        let clock = Arc::new(ManualClock::new(at(T0)));
        Self { dir, path, clock }
    }

    /// The options every test store uses: the manual clock, otherwise the defaults.
    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            clock: self.clock.clone(),
            ..StoreOptions::default()
        }
    }

    pub fn open(&self) -> SqliteStore {
        SqliteStore::open_with(&self.path, self.options()).expect("the store opens")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Moves the clock to `T0 + offset_ms`.
    pub fn set_time(&self, offset_ms: i64) {
        self.clock.set(at(T0 + offset_ms));
    }
}

pub fn at(ms: i64) -> UnixMillis {
    UnixMillis::new(ms).expect("a test instant in range")
}

pub fn key(id: &str) -> ResourceKey {
    ResourceKey::new("project", id).expect("a valid key")
}

pub fn holder(owner: &str, session_id: &str) -> Holder {
    Holder::new(owner, session_id).expect("a valid holder")
}

pub fn terms(interval_ms: i64) -> LeaseTerms {
    LeaseTerms::with_interval(interval_ms).expect("valid terms")
}

/// A plain connection to the file, as any other program would open it.
pub fn raw(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("the file opens");
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

/// Everything stored, as text: the schema version and every row of every table, in key order.
pub fn dump(path: &Path) -> String {
    let conn = raw(path);
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    let mut text = format!("user_version {version}\n");
    let tables = [
        "SELECT * FROM leases ORDER BY scope, resource_id",
        "SELECT * FROM lease_events ORDER BY id",
        "SELECT * FROM sqlite_sequence ORDER BY name",
    ];
    for sql in tables {
        let mut statement = conn.prepare(sql).unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for index in 0..columns {
                let value: rusqlite::types::Value = row.get(index).unwrap();
                write!(text, "{value:?}|").unwrap();
            }
            text.push('\n');
        }
    }
    text
}

/// The record of `key` read with plain SQL from the documented columns, checked by the core's
/// validating record form; vacant when there is no row.
pub fn read_record(conn: &Connection, key: &ResourceKey) -> LeaseRecord {
    let sql = "SELECT fence, state, owner, session_id, token_digest, acquired_at, heartbeat_at,
                      interval_ms, beats, stale_after_ms, expires_at, end_reason, ended_at
               FROM leases WHERE scope = ?1 AND resource_id = ?2";
    let flat = conn
        .query_row(sql, [key.scope.as_str(), key.id.as_str()], |row| {
            let mut flat = Map::new();
            flat.insert("fence".into(), json!(row.get::<_, i64>(0)?));
            flat.insert("state".into(), json!(row.get::<_, String>(1)?));
            let text = ["owner", "session_id"];
            for (offset, name) in text.iter().enumerate() {
                if let Some(value) = row.get::<_, Option<String>>(2 + offset)? {
                    flat.insert((*name).into(), json!(value));
                }
            }
            if let Some(digest) = row.get::<_, Option<Vec<u8>>>(4)? {
                flat.insert("token_digest".into(), json!(hex::encode(digest)));
            }
            let numbers = [
                (5, "acquired_at"),
                (6, "heartbeat_at"),
                (7, "interval_ms"),
                (8, "beats"),
                (12, "ended_at"),
            ];
            for (index, name) in numbers {
                if let Some(value) = row.get::<_, Option<i64>>(index)? {
                    flat.insert(name.into(), json!(value));
                }
            }
            if let Some(reason) = row.get::<_, Option<String>>(11)? {
                flat.insert("end_reason".into(), json!(reason));
            }
            let derived: (Option<i64>, Option<i64>) = (row.get(9)?, row.get(10)?);
            Ok((Value::Object(flat), derived))
        })
        .optional()
        .expect("the row reads");

    let Some((flat, (stale_after_ms, expires_at))) = flat else {
        return LeaseRecord::vacant();
    };
    let record: LeaseRecord =
        serde_json::from_value(flat.clone()).unwrap_or_else(|err| panic!("{flat}: {err}"));
    let lease = match record.state() {
        leasekit_core::LeaseState::Held(lease) | leasekit_core::LeaseState::Ended { lease, .. } => {
            Some(lease)
        }
        leasekit_core::LeaseState::Vacant => None,
    };
    assert_eq!(
        stale_after_ms,
        lease.map(|lease| lease.terms().stale_after_ms())
    );
    assert_eq!(
        expires_at,
        lease.map(|lease| lease.expires_at().as_millis())
    );
    record
}

/// Writes a record in the vectors' flat form (with `token_digest` as hex) as the row of `key`,
/// computing the derived columns as the schema demands.
pub fn write_record(conn: &Connection, key: &ResourceKey, flat: &Value) {
    let get_i64 = |name: &str| flat.get(name).and_then(Value::as_i64);
    let get_str = |name: &str| flat.get(name).and_then(Value::as_str);
    let digest = get_str("token_digest").map(|text| hex::decode(text).expect("hex digest"));
    let stale_after_ms = get_i64("interval_ms")
        .zip(get_i64("beats"))
        .map(|(i, b)| i * b);
    let expires_at = get_i64("heartbeat_at")
        .zip(stale_after_ms)
        .map(|(h, s)| h + s);
    conn.execute(
        "INSERT INTO leases (scope, resource_id, fence, state, owner, session_id, token_digest,
                             acquired_at, heartbeat_at, interval_ms, beats, stale_after_ms,
                             expires_at, end_reason, ended_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        rusqlite::params![
            key.scope.as_str(),
            key.id.as_str(),
            flat["fence"].as_u64().expect("a fence") as i64,
            get_str("state").expect("a state"),
            get_str("owner"),
            get_str("session_id"),
            digest,
            get_i64("acquired_at"),
            get_i64("heartbeat_at"),
            get_i64("interval_ms"),
            get_i64("beats"),
            stale_after_ms,
            expires_at,
            get_str("end_reason"),
            get_i64("ended_at"),
        ],
    )
    .expect("the row is inserted");
}

/// The bytes of the database file and of its write-ahead log (empty when there is none).
pub fn file_bytes(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let main = std::fs::read(path).expect("the database file");
    let log = std::fs::read(PathBuf::from(wal)).unwrap_or_default();
    (main, log)
}

/// The digest of a token text, as the store keeps it.
pub fn digest_hex(token: &str) -> String {
    TokenDigest::of_token(token).unwrap().to_hex()
}

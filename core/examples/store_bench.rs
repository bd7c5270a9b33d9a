//! Store throughput, the bare `SQLite` limit, and sweep cost by table size (issue 8, items 3-4).
//!
//! `bench/run.py` runs this once per benchmark run and reads the JSON it prints. Everything is
//! measured on files in `--dir`, so the store and the limit share a disk and its filesystem:
//!
//! - the store: acquire-heartbeat-release cycles and heartbeats per second, one caller and
//!   `--threads` callers sharing one store, each caller on its own resource;
//! - the limit: one-row `UPDATE` transactions (`BEGIN IMMEDIATE` .. `COMMIT`) through bare
//!   rusqlite with the backend's pragmas, one caller and `--threads` callers sharing one
//!   connection as the store's callers share its writer;
//! - sweep and scale: tables of each `--sizes` leases, 1% of them stale, swept once (ending the
//!   stale ones) and again (nothing to end), and status reads per second on them.
//!
//! Run: `cargo run --release -p leasekit-core --features sqlite --example store_bench -- --help`

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use leasekit_core::store::{SqliteStore, StoreError};
use leasekit_core::{Holder, LeaseTerms, ResourceKey};
use rusqlite::{params, Connection, TransactionBehavior};
use serde_json::{json, Value};

const INTERVAL_MS: i64 = 30_000;
const BEATS: i64 = 3;

#[derive(Parser, Debug)]
#[command(about = "leasekit store throughput, the bare SQLite limit, and sweep cost")]
struct Args {
    /// Directory for the database files (created if missing; its files are replaced).
    #[arg(long)]
    dir: PathBuf,
    /// Seconds each throughput loop runs.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Concurrent callers in the concurrent runs.
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Table sizes for the sweep and status runs, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    sizes: Vec<usize>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let window = Duration::from_secs_f64(args.seconds);

    let store_path = fresh(&args.dir, "store.db")?;
    let store = Arc::new(SqliteStore::open(&store_path)?);
    let store_single = store_run(&store, 1, window)?;
    let store_concurrent = store_run(&store, args.threads, window)?;
    drop(store);
    let schema_single = schema_run(&store_path, window)?;

    let limit_path = fresh(&args.dir, "limit.db")?;
    let limit = Arc::new(Mutex::new(limit_connection(&limit_path, args.threads)?));
    let limit_single = limit_run(&limit, 1, window)?;
    let limit_concurrent = limit_run(&limit, args.threads, window)?;
    drop(limit);

    let mut scale = Vec::new();
    for &size in &args.sizes {
        scale.push(scale_run(&args.dir, size, window)?);
    }

    let report = json!({
        "sqlite_version": rusqlite::version(),
        "threads": args.threads,
        "seconds": args.seconds,
        "store": {"single": store_single, "concurrent": store_concurrent},
        "limit": {"single": limit_single, "concurrent": limit_concurrent},
        "schema_limit": {"single": schema_single},
        "scale": scale,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// A path in `dir` with no database (nor WAL files) left from an earlier run.
fn fresh(dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.clone().into_os_string();
        file.push(suffix);
        match std::fs::remove_file(&file) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    Ok(path)
}

fn key(index: usize) -> ResourceKey {
    ResourceKey::new("bench", &format!("res-{index}")).expect("a bench key is valid")
}

fn terms() -> LeaseTerms {
    LeaseTerms::new(INTERVAL_MS, BEATS).expect("30 s x 3 is valid")
}

/// Runs `work(caller, round)` on `callers` threads for `window`; returns operations per second.
fn timed<F, E>(callers: usize, window: Duration, work: F) -> Result<f64, E>
where
    F: Fn(usize, u64) -> Result<u64, E> + Send + Sync,
    E: Send,
{
    let started = Instant::now();
    let deadline = started + window;
    let work = &work;
    let totals: Vec<Result<u64, E>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..callers)
            .map(|caller| {
                scope.spawn(move || {
                    let mut done = 0;
                    let mut round = 0;
                    while Instant::now() < deadline {
                        done += work(caller, round)?;
                        round += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a bench thread panicked"))
            .collect()
    });

    let elapsed = started.elapsed().as_secs_f64();
    let mut operations = 0;
    for total in totals {
        operations += total?;
    }
    Ok(operations as f64 / elapsed)
}

fn store_run(store: &SqliteStore, callers: usize, window: Duration) -> Result<Value, StoreError> {
    let cycles_per_s = timed(callers, window, |caller, _| {
        let resource = key(caller);
        let holder = Holder::new("bench", &format!("cycle-{caller}"))?;
        let granted = store.acquire(&resource, &holder, terms(), false, false)?;
        let token = granted.token.expect("a free resource is granted");
        store.heartbeat(&resource, token.expose())?;
        store.release(&resource, token.expose())?;
        Ok::<u64, StoreError>(1)
    })?;

    let tokens = (0..callers)
        .map(|caller| {
            let holder = Holder::new("bench", &format!("beat-{caller}"))?;
            let granted = store.acquire(&key(1000 + caller), &holder, terms(), false, false)?;
            Ok(granted.token.expect("a free resource is granted"))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let heartbeats_per_s = timed(callers, window, |caller, _| {
        store.heartbeat(&key(1000 + caller), tokens[caller].expose())?;
        Ok::<u64, StoreError>(1)
    })?;
    // The heartbeat leases stay held, for schema_run to update their rows.
    Ok(json!({
        "callers": callers,
        "cycles_per_s": cycles_per_s,
        "heartbeats_per_s": heartbeats_per_s,
    }))
}

/// The backend's pragmas on a bare connection.
fn bare_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Bare one-row heartbeat `UPDATE`s of a held lease in the store's own file: the same table,
/// index, checks and triggers as the store, without the store's code (read, decide, hash).
/// The gap between this and the plain limit is the schema's cost; the gap between this and
/// the store's heartbeats is the store's own work.
fn schema_run(path: &Path, window: Duration) -> rusqlite::Result<Value> {
    let conn = Mutex::new(bare_connection(path)?);
    let resource_id = key(1000).id.as_str().to_owned();
    let updates_per_s = timed(1, window, |_, _| {
        let mut conn = conn
            .lock()
            .expect("no bench thread panics holding the connection");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE leases SET heartbeat_at = ?1, expires_at = ?1 + stale_after_ms
             WHERE scope = 'bench' AND resource_id = ?2 AND state = 'held'",
            params![unix_ms(), resource_id],
        )?;
        assert_eq!(changed, 1, "the heartbeat lease is held");
        tx.commit()?;
        Ok::<u64, rusqlite::Error>(1)
    })?;
    Ok(json!({"callers": 1, "updates_per_s": updates_per_s}))
}

/// A bare connection with the backend's pragmas and one row per caller.
fn limit_connection(path: &Path, callers: usize) -> rusqlite::Result<Connection> {
    let conn = bare_connection(path)?;
    conn.execute_batch("CREATE TABLE beats (id INTEGER PRIMARY KEY, heartbeat_at INTEGER)")?;
    for caller in 0..callers {
        conn.execute("INSERT INTO beats VALUES (?1, 0)", params![caller])?;
    }
    Ok(conn)
}

fn limit_run(
    conn: &Mutex<Connection>,
    callers: usize,
    window: Duration,
) -> rusqlite::Result<Value> {
    let updates_per_s = timed(callers, window, |caller, _| {
        let mut conn = conn
            .lock()
            .expect("no bench thread panics holding the connection");
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE beats SET heartbeat_at = ?1 WHERE id = ?2",
            params![unix_ms(), caller],
        )?;
        tx.commit()?;
        Ok::<u64, rusqlite::Error>(1)
    })?;
    Ok(json!({"callers": callers, "updates_per_s": updates_per_s}))
}

type Error = Box<dyn std::error::Error>;

fn unix_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    since.as_millis() as i64
}

/// Fills a store with `size` held leases, every hundredth stale, then sweeps and reads it.
fn scale_run(dir: &Path, size: usize, window: Duration) -> Result<Value, Error> {
    let path = fresh(dir, &format!("scale-{size}.db"))?;
    drop(SqliteStore::open(&path)?);
    let stale = fill(&path, size)?;

    let store = SqliteStore::open(&path)?;
    let started = Instant::now();
    let swept = store.sweep()?;
    let sweep_ms = started.elapsed().as_secs_f64() * 1e3;
    assert_eq!(
        swept.expired.len(),
        stale,
        "the sweep ends exactly the stale leases"
    );

    let started = Instant::now();
    let idle = store.sweep()?;
    let idle_sweep_ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(
        idle.expired.is_empty(),
        "a second sweep finds nothing stale"
    );

    // A prime stride visits the keys spread over the whole table, not a hot corner of it.
    let status_reads_per_s = timed(1, window, |_, round| {
        let index = (round as usize).wrapping_mul(7_919) % size;
        store.status(&key(index))?;
        Ok::<u64, StoreError>(1)
    })?;
    drop(store);
    std::fs::remove_file(&path)?;

    Ok(json!({
        "leases": size,
        "stale": stale,
        "sweep_ms": sweep_ms,
        "sweep_batches": swept.batches,
        "idle_sweep_ms": idle_sweep_ms,
        "status_reads_per_s": status_reads_per_s,
    }))
}

/// Inserts `size` held leases in one transaction; returns how many of them are stale.
fn fill(path: &Path, size: usize) -> rusqlite::Result<usize> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tx = conn.transaction()?;
    let now = unix_ms();
    let mut stale = 0;
    {
        let mut insert = tx.prepare(
            "INSERT INTO leases (scope, resource_id, fence, state, owner, session_id,
                token_digest, acquired_at, heartbeat_at, interval_ms, beats, stale_after_ms,
                expires_at)
             VALUES ('bench', ?1, 1, 'held', 'owner', 'tab', ?2, ?3, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for index in 0..size {
            let is_stale = index % 100 == 0;
            stale += usize::from(is_stale);
            let heartbeat_at = if is_stale { now - 3_600_000 } else { now };
            let stale_after = INTERVAL_MS * BEATS;
            let digest = [(index % 251) as u8; 32];
            insert.execute(params![
                format!("res-{index}"),
                &digest[..],
                heartbeat_at,
                INTERVAL_MS,
                BEATS,
                stale_after,
                heartbeat_at + stale_after,
            ])?;
        }
    }
    tx.commit()?;
    Ok(stale)
}

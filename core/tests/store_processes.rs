//! Several processes on one file: racing acquirers, and a writer killed mid-loop.
//!
//! The test binary spawns itself: the ignored test `child_process_role` runs the child's part
//! when `LEASEKIT_CHILD_ROLE` names it. Children report what they committed on standard output,
//! one `LEASEKIT ...` line per commit, printed only after the commit returned.

#![cfg(unix)]

mod store_support;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use leasekit_core::store::SqliteStore;
use leasekit_core::{AcquireOutcome, LeaseTerms, ReleaseOutcome};
use store_support::{holder, key, raw, read_record, TestFile};

const ROLE: &str = "LEASEKIT_CHILD_ROLE";
const PATH: &str = "LEASEKIT_CHILD_PATH";
const INDEX: &str = "LEASEKIT_CHILD_INDEX";
const RACERS: usize = 4;
const ROUNDS: u64 = 500;
const PREFIX: &str = "LEASEKIT ";

fn spawn_child(role: &str, path: &Path, index: usize) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "child_process_role",
            "--ignored",
            "--nocapture",
            "--quiet",
        ])
        .env(ROLE, role)
        .env(PATH, path)
        .env(INDEX, index.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child starts")
}

/// The `LEASEKIT` lines a child printed, without the prefix.
fn reports(child: &mut Child) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| line.strip_prefix(PREFIX).map(str::to_owned))
        .collect()
}

fn report(line: &str) {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{PREFIX}{line}").expect("stdout");
    stdout.flush().expect("stdout");
}

#[test]
#[ignore = "a child process of the other tests in this file"]
fn child_process_role() {
    let role = std::env::var(ROLE).expect("run by the process tests, with LEASEKIT_CHILD_ROLE");
    let path = PathBuf::from(std::env::var(PATH).expect("LEASEKIT_CHILD_PATH"));
    let index: usize = std::env::var(INDEX)
        .expect("LEASEKIT_CHILD_INDEX")
        .parse()
        .unwrap();
    let store = SqliteStore::open(&path).expect("the child opens the store");
    match role.as_str() {
        "racer" => race(&store, &path, index),
        "writer" => write_until_killed(&store),
        "opener" => {
            let target = key(&format!("opened-by-{index}"));
            let acquired = store
                .acquire(
                    &target,
                    &holder("opener", "main"),
                    LeaseTerms::new(10_000, 3).unwrap(),
                    false,
                    false,
                )
                .unwrap();
            report(&format!("grant {}", acquired.outcome.refusal().is_none()));
        }
        other => panic!("unknown role {other}"),
    }
}

/// Acquires the one resource `ROUNDS` times, holds it briefly, releases it. While it holds
/// the lease it owns a marker file created exclusively: a second live holder would find it.
fn race(store: &SqliteStore, path: &Path, index: usize) {
    let contested = key("contested");
    let me = holder(&format!("process-{index}"), "main");
    let terms = LeaseTerms::new(10_000, 3).unwrap();
    let marker = path.with_extension("holder");

    for _ in 0..ROUNDS {
        let (fence, token) = loop {
            let acquired = store.acquire(&contested, &me, terms, false, false).unwrap();
            match acquired.outcome {
                AcquireOutcome::Granted { lease, .. } => {
                    break (lease.fence, acquired.token.unwrap())
                }
                AcquireOutcome::Busy { .. } => std::thread::sleep(Duration::from_micros(200)),
                AcquireOutcome::Renewed { .. } => panic!("renewed a lease it had released"),
            }
        };

        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&marker)
        {
            Ok(_) => report(&format!("grant {fence}")),
            Err(err) => report(&format!(
                "violation second live holder at fence {fence}: {err}"
            )),
        }
        std::thread::sleep(Duration::from_micros(100));
        std::fs::remove_file(&marker).expect("the marker is ours to remove");

        let released = store.release(&contested, token.expose()).unwrap();
        if !matches!(released.outcome, ReleaseOutcome::Released { .. }) {
            report(&format!(
                "violation release at fence {fence}: {:?}",
                released.outcome
            ));
        }
    }
}

/// Grants, beats and releases on fifty resources until the parent kills the process.
fn write_until_killed(store: &SqliteStore) {
    let me = holder("writer", "main");
    let terms = LeaseTerms::new(10_000, 3).unwrap();
    for round in 0u64.. {
        let target = key(&format!("r-{}", round % 50));
        let acquired = store.acquire(&target, &me, terms, false, false).unwrap();
        let token = acquired.token.expect("the writer is alone");
        let fence = match acquired.outcome {
            AcquireOutcome::Granted { lease, .. } | AcquireOutcome::Renewed { lease } => {
                lease.fence
            }
            AcquireOutcome::Busy { .. } => unreachable!("the writer is alone"),
        };
        report(&format!("grant {} {fence}", target.id));
        store.heartbeat(&target, token.expose()).unwrap();
        if round % 3 == 0 {
            store.release(&target, token.expose()).unwrap();
        }
    }
}

#[test]
fn processes_opening_a_new_file_at_once_all_succeed_and_migrate_it_once() {
    for _attempt in 0..5 {
        let file = TestFile::new();
        let mut children: Vec<Child> = (0..RACERS)
            .map(|index| spawn_child("opener", &file.path, index))
            .collect();
        for child in &mut children {
            let lines = reports(child);
            let status = child.wait().unwrap();
            assert!(status.success(), "an opener failed: {status}");
            assert_eq!(lines, ["grant true"]);
        }

        let conn = raw(&file.path);
        let (version, leases): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), count(*) FROM leases",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!((version, leases), (1, RACERS as i64));
    }
}

#[test]
fn four_processes_racing_for_one_resource_never_hold_it_together() {
    let file = TestFile::new();
    drop(file.open()); // create and migrate before the race

    let mut children: Vec<Child> = (0..RACERS)
        .map(|index| spawn_child("racer", &file.path, index))
        .collect();
    let mut seen_by_process = Vec::new();
    for child in &mut children {
        let lines = reports(child);
        let status = child.wait().unwrap();
        assert!(status.success(), "a racer failed: {status}");
        seen_by_process.push(lines);
    }

    let mut all_fences = Vec::new();
    for lines in &seen_by_process {
        let violations: Vec<_> = lines
            .iter()
            .filter(|line| line.starts_with("violation"))
            .collect();
        assert!(violations.is_empty(), "{violations:?}");
        let fences: Vec<u64> = lines
            .iter()
            .map(|line| line.strip_prefix("grant ").unwrap().parse().unwrap())
            .collect();
        assert_eq!(fences.len() as u64, ROUNDS);
        assert!(
            fences.windows(2).all(|pair| pair[0] < pair[1]),
            "each process sees fences rise"
        );
        all_fences.extend(fences);
    }
    all_fences.sort_unstable();
    let total = RACERS as u64 * ROUNDS;
    assert_eq!(
        all_fences,
        (1..=total).collect::<Vec<_>>(),
        "one grant per fence, none lost"
    );

    let conn = raw(&file.path);
    let mut statement = conn
        .prepare(
            "SELECT kind, fence, owner FROM lease_events
             WHERE scope = 'project' AND resource_id = 'contested' ORDER BY id",
        )
        .unwrap();
    let log: Vec<(String, u64, String)> = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get::<_, i64>(1)? as u64, row.get(2)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(log.len() as u64, 2 * total);
    for (position, pair) in log.chunks(2).enumerate() {
        let fence = position as u64 + 1;
        let (granted, released) = (&pair[0], &pair[1]);
        assert_eq!(
            (granted.0.as_str(), granted.1),
            ("acquired", fence),
            "{pair:?}"
        );
        assert_eq!(
            (released.0.as_str(), released.1),
            ("released", fence),
            "{pair:?}"
        );
        assert_eq!(
            granted.2, released.2,
            "the holder that was granted released: {pair:?}"
        );
    }
    assert_eq!(read_record(&conn, &key("contested")).fence(), total);
}

#[test]
fn a_writer_killed_mid_loop_leaves_a_sound_file_with_every_reported_grant() {
    let file = TestFile::new();
    drop(file.open());

    let mut child = spawn_child("writer", &file.path, 0);
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut committed = Vec::new();
    while committed.len() < 300 {
        let line = lines
            .next()
            .expect("the writer reports")
            .expect("readable output");
        if let Some(grant) = line.strip_prefix(PREFIX) {
            committed.push(grant.to_owned());
        }
    }
    child.kill().expect("SIGKILL");
    // Lines already printed before the kill are grants committed before it, too.
    committed.extend(
        lines
            .map_while(Result::ok)
            .filter_map(|line| line.strip_prefix(PREFIX).map(str::to_owned)),
    );
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed by SIGKILL, not finished: {status}"
    );

    let conn = raw(&file.path);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    let mut last_fence: BTreeMap<String, u64> = BTreeMap::new();
    for grant in &committed {
        let (resource, fence) = grant
            .strip_prefix("grant ")
            .unwrap()
            .split_once(' ')
            .unwrap();
        let fence: u64 = fence.parse().unwrap();
        let logged: i64 = conn
            .query_row(
                "SELECT count(*) FROM lease_events WHERE resource_id = ?1 AND fence = ?2
                 AND kind IN ('acquired', 'renewed')",
                (resource, fence as i64),
                |row| row.get(0),
            )
            .unwrap();
        assert!(
            logged >= 1,
            "grant {resource} {fence} was reported but is not in the log"
        );
        last_fence.insert(resource.to_owned(), fence);
    }
    for (resource, fence) in &last_fence {
        let stored = read_record(&conn, &key(resource)).fence();
        assert!(
            stored >= *fence,
            "{resource}: stored fence {stored} < reported {fence}"
        );
    }

    let reopened = file.open();
    let after = reopened
        .acquire(
            &key("r-0"),
            &holder("survivor", "s"),
            store_support::terms(30_000),
            false,
            true,
        )
        .unwrap();
    assert!(
        matches!(after.outcome, AcquireOutcome::Granted { .. }),
        "the file is usable"
    );
}

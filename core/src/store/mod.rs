//! Durable leases: the core's rules over a `SQLite` file, plus what every store needs (tokens
//! and clocks).
//!
//! The rules in [`crate::rules`] decide; this module only reads a row, asks the rules, and
//! writes their decision back in the same transaction, so the store cannot disagree with the
//! browser or the Python side about who holds a lease. With the `tokens` feature alone it
//! offers [`LeaseToken`] and the clocks, for stores written elsewhere (the `SQLAlchemy` adapter
//! mints its tokens through the Python binding); the `sqlite` feature adds [`SqliteStore`].
//!
//! # Transaction model
//!
//! Every change (acquire, heartbeat, release, each sweep batch, each prune batch) is one
//! `BEGIN IMMEDIATE` transaction: take the write lock, read `now` from the store's [`Clock`],
//! read the row, apply the rule, write the row and its events, commit. Taking the write lock
//! first means two acquirers can never both decide on the same old row, and reading the clock
//! under the lock means decisions are stamped in commit order. A crash at any instant leaves
//! the old state or the new one, never a mix, and an error (bad input, a value out of range, a
//! row that breaks the model) rolls the transaction back, so it changes nothing.
//!
//! A refused operation (busy, lost, expired, already released) is an outcome and writes
//! nothing. Heartbeats update the row only; every other change appends one event per
//! transition (a grant on a stale lease appends `expired` then `acquired`).
//!
//! # Concurrency
//!
//! [`SqliteStore`] is `Send + Sync`. It holds two connections: writes are serialised on one
//! behind a mutex; `status`, `history`, `holders` and the sweep's scan use the other, which is
//! query-only and never takes the write lock. The file runs in WAL mode, so readers in any
//! process see the last commit without blocking writers. Several processes may open the same
//! file: they queue on `SQLite`'s write lock, waiting up to `busy_timeout` (5 s by default)
//! before an operation fails with `storage_failure`. Because every writer takes the lock at
//! `BEGIN`, `SQLite` never has to abort a transaction that already read (no `SQLITE_BUSY` in the
//! middle of a decision). Opening retries within the same timeout too: processes that open a
//! new file at once race to switch it to WAL, and `SQLite` does not wait for that lock itself.
//!
//! # Schema (version 1, in `PRAGMA user_version`)
//!
//! All times are UTC milliseconds since the Unix epoch as `SQLite` integers, within
//! ±(2^53 - 1). The full DDL is [`schema::SCHEMA_V1`]; its `CHECK` constraints and triggers
//! enforce the rules below on every writer, not only on this one.
//!
//! `leases`, one row per resource, primary key `(scope, resource_id)`, `WITHOUT ROWID`:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `scope` | TEXT | the kind of resource: a lowercase word (`project`, `deployment`) |
//! | `resource_id` | TEXT | the id, `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` |
//! | `fence` | INTEGER | last fence handed out: 1 at the first grant, +1 per grant, never lower |
//! | `state` | TEXT | `held` (a lease, live or stale), `released` (tombstone), `vacant` (pruned) |
//! | `owner` | TEXT | the current or last holder's principal; NULL when vacant |
//! | `session_id` | TEXT | that holder's session; NULL when vacant |
//! | `token_digest` | BLOB | SHA-256 of the holder's token, 32 bytes; NULL when vacant |
//! | `acquired_at` | INTEGER | when this holder was granted the lease |
//! | `heartbeat_at` | INTEGER | the last heartbeat (or the grant, or a renewing acquire) |
//! | `interval_ms` | INTEGER | the heartbeat interval, 1000 to 86400000 |
//! | `beats` | INTEGER | missed intervals before stale, 2 to 10 |
//! | `stale_after_ms` | INTEGER | always `interval_ms * beats` |
//! | `expires_at` | INTEGER | always `heartbeat_at + stale_after_ms`; live while `now <=` it |
//! | `end_reason` | TEXT | `released`, `expired`, `taken_over` or `forced`; only when `released` |
//! | `ended_at` | INTEGER | when the lease ended; only when `released` |
//!
//! A `held` row is stale once `now > expires_at`; a stale lease stays `held` until a sweep or
//! the next acquirer ends it. Indexes: `leases_held_by_expiry (expires_at, scope, resource_id)
//! WHERE state = 'held'` serves sweeps ([`schema::SWEEP_CANDIDATES_SQL`]); `leases_released_by_end
//! (ended_at) WHERE state = 'released'` serves pruning.
//!
//! `lease_events`, append-only, one row per transition:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `id` | INTEGER PRIMARY KEY AUTOINCREMENT | commit order; never reused, even after a prune |
//! | `at` | INTEGER | when the transition was decided |
//! | `scope`, `resource_id` | TEXT | the resource; a foreign key to `leases` |
//! | `kind` | TEXT | `acquired`, `renewed`, `taken_over`, `forced`, `released` or `expired` |
//! | `owner`, `session_id` | TEXT | the holder concerned: the new one of a grant, else the old |
//! | `fence` | INTEGER | the fence of the lease concerned |
//! | `actor` | TEXT | the owner who caused it; NULL when the sweeper did |
//!
//! Guard triggers: `leases` rows are never deleted and their fence never goes down;
//! `lease_events` rows are never updated, and deleted only while their resource is `vacant`
//! (that is, by pruning). Other writers must update rows in place (`UPDATE` or an upsert),
//! not `INSERT OR REPLACE`, which would delete behind the triggers' back.
//!
//! Migrations run forward only, inside an immediate transaction, when a file with a lower
//! `user_version` is opened. A file with a higher one is refused with `schema_too_new`: the
//! code that wrote it knows rules this build does not. The store owns the `user_version` of
//! its file; give it a file of its own, or make sure nothing else uses that pragma.
//!
//! # Writing these tables from another program
//!
//! The `SQLAlchemy` adapter (or any other writer) keeps the same promises only if it works the
//! same way: open the file with the pragmas above and `foreign_keys=ON`; begin every change
//! with `BEGIN IMMEDIATE`; read the row (no row means a vacant record with fence 0); let the
//! core decide through its binding, never by a rule of its own; write every column of the
//! decided record (`stale_after_ms` and `expires_at` included) with an upsert on
//! `(scope, resource_id)`, then insert its events in order, then commit. `token_digest` is the
//! raw 32-byte SHA-256 of the token text, not its hex. A sweep by another writer must end a row
//! only with an `UPDATE ... WHERE` on the `fence`, `token_digest`, `heartbeat_at` and
//! `stale_after_ms` it read, as [`SqliteStore::sweep`] does.
//!
//! # Pruning
//!
//! Tombstones stay, so that the fence of a resource never goes back. The one deletion is
//! [`SqliteStore::prune_tombstones`]: each `released` row that ended before the given instant
//! becomes `vacant` (holder columns cleared, scope, id and fence kept) and its events are
//! deleted. The next grant of that resource still gets `fence + 1`, and event ids keep
//! growing. Held leases, live or stale, are never pruned.
//!
//! # What answers contain
//!
//! Tokens are minted by [`LeaseToken::generate`] (32 bytes of OS randomness, URL-safe base64)
//! and only their digest is stored. An acquire hands the token back when it grants or renews;
//! no other answer ([`Status`], [`HistoryEntry`], [`Holders`], [`SweepReport`]) contains a
//! token or a digest.

// With `tokens` alone the SQLite items named above are not built; their links are meant for
// the full documentation.
#![cfg_attr(not(feature = "sqlite"), allow(rustdoc::broken_intra_doc_links))]

mod clock;
mod token;

#[cfg(feature = "sqlite")]
mod error;
#[cfg(feature = "sqlite")]
mod options;
#[cfg(feature = "sqlite")]
mod report;
#[cfg(feature = "sqlite")]
mod rows;
#[cfg(feature = "sqlite")]
pub mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use clock::{Clock, ManualClock, SystemClock};
pub use token::{EntropyError, LeaseToken, TOKEN_BYTES};

#[cfg(feature = "sqlite")]
pub use error::StoreError;
#[cfg(feature = "sqlite")]
pub use options::{
    StoreOptions, Synchronous, DEFAULT_BATCH_SIZE, DEFAULT_BUSY_TIMEOUT, MAX_BUSY_TIMEOUT,
};
#[cfg(feature = "sqlite")]
pub use report::{
    Acquired, Answer, ExpiredLease, HeldResource, HistoryEntry, Holders, PruneReport, Status,
    SweepReport,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{ConnectionSettings, SqliteStore, MAX_HISTORY_LIMIT};

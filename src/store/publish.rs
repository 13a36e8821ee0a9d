//! The publish queue tables: jobs (one per package × publisher), connection test results
//! and the record of which packages had their automatic publishing decided.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::StoreError;
use crate::model::{JobState, Progress, PublishJob, PublishTestResult};
use crate::sys::time::now_ms;

const JOB_COLUMNS: &str = "id, package_id, publisher_id, state, bytes_done, bytes_total, attempts, \
     last_error, last_code, url, remote_id, next_attempt_at, created_at, updated_at, finished_at";

fn job_from(row: &Row) -> rusqlite::Result<PublishJob> {
    let state: String = row.get(3)?;
    let next: i64 = row.get(11)?;
    let state = JobState::parse(&state).unwrap_or(JobState::Failed);
    Ok(PublishJob {
        id: row.get(0)?,
        media_package_id: row.get(1)?,
        publisher_id: row.get(2)?,
        state,
        progress: Progress {
            done: row.get::<_, i64>(4)?.max(0) as u64,
            total: row.get::<_, i64>(5)?.max(0) as u64,
        },
        attempts: row.get::<_, i64>(6)?.clamp(0, i64::from(u32::MAX)) as u32,
        last_error: row.get(7)?,
        last_code: row.get(8)?,
        url: row.get(9)?,
        remote_id: row.get(10)?,
        next_attempt_at: (state == JobState::Queued && next > 0).then_some(next),
        created_at: row.get(12)?,
        updated_at: row.get(13)?,
        finished_at: row.get(14)?,
    })
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<PublishJob>, StoreError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM publish_jobs WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], job_from)
        .optional()?)
}

/// The job of a package for a publisher, if one exists.
pub(crate) fn find(
    conn: &Connection,
    package_id: &str,
    publisher_id: &str,
) -> Result<Option<PublishJob>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM publish_jobs WHERE package_id = ?1 AND publisher_id = ?2"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([package_id, publisher_id], job_from)
        .optional()?)
}

/// Jobs, newest first, optionally of one package and/or in one state.
pub(crate) fn list(
    conn: &Connection,
    package_id: Option<&str>,
    state: Option<JobState>,
    limit: i64,
) -> Result<Vec<PublishJob>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM publish_jobs
         WHERE (?1 IS NULL OR package_id = ?1) AND (?2 IS NULL OR state = ?2)
         ORDER BY created_at DESC, id DESC LIMIT ?3"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![package_id, state.map(JobState::as_str), limit],
        job_from,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What happened when a job was asked for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Enqueued {
    /// A new job.
    Created(PublishJob),
    /// A failed or cancelled job queued again with the new configuration.
    Requeued(PublishJob),
    /// A queued, running or finished job left as it is: never a second upload.
    Existing(PublishJob),
}

/// Queues `package × publisher` unless it already is (the pair is the idempotency key).
#[expect(
    clippy::expect_used,
    reason = "invariant: the row was just inserted; the row was just updated"
)]
pub(crate) fn enqueue(
    tx: &Connection,
    new_id: &str,
    package_id: &str,
    publisher_id: &str,
    config: &str,
) -> Result<Enqueued, StoreError> {
    let now = now_ms();
    if let Some(existing) = find(tx, package_id, publisher_id)? {
        if matches!(existing.state, JobState::Failed | JobState::Cancelled) {
            tx.prepare_cached(
                "UPDATE publish_jobs SET state = 'queued', config = ?2, attempts = 0,
                 last_error = NULL, last_code = NULL, next_attempt_at = 0, updated_at = ?3,
                 finished_at = NULL WHERE id = ?1",
            )?
            .execute(params![existing.id, config, now])?;
            let job = get(tx, &existing.id)?.expect("the row was just updated");
            return Ok(Enqueued::Requeued(job));
        }
        return Ok(Enqueued::Existing(existing));
    }
    tx.prepare_cached(
        "INSERT INTO publish_jobs (id, package_id, publisher_id, state, config, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?5)",
    )?
    .execute(params![new_id, package_id, publisher_id, config, now])?;
    Ok(Enqueued::Created(
        get(tx, new_id)?.expect("the row was just inserted"),
    ))
}

/// The queued job due first at `now`, with its configuration.
pub(crate) fn next_due(
    conn: &Connection,
    now: i64,
) -> Result<Option<(PublishJob, String)>, StoreError> {
    let sql = format!(
        "SELECT {JOB_COLUMNS}, config FROM publish_jobs
         WHERE state = 'queued' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, created_at, id LIMIT 1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([now], |r| Ok((job_from(r)?, r.get(15)?)))
        .optional()?)
}

/// When the earliest queued job becomes due (ms), if any is queued.
pub(crate) fn earliest_due(conn: &Connection) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT MIN(next_attempt_at) FROM publish_jobs WHERE state = 'queued'")?
        .query_row([], |r| r.get(0))?)
}

/// Starts an attempt.
pub(crate) fn mark_running(tx: &Connection, id: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE publish_jobs SET state = 'running', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1",
    )?
    .execute(params![id, now_ms()])?;
    Ok(())
}

/// How an attempt ended.
#[derive(Debug, Clone)]
pub(crate) struct Outcome<'a> {
    pub state: JobState,
    pub done: u64,
    pub total: u64,
    pub error: Option<(&'a str, &'a str)>,
    pub url: Option<&'a str>,
    pub remote_id: Option<&'a str>,
    pub next_attempt_at: i64,
}

pub(crate) fn finish_attempt(
    tx: &Connection,
    id: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let now = now_ms();
    let finished = outcome.state.is_final().then_some(now);
    tx.prepare_cached(
        "UPDATE publish_jobs SET state = ?2, bytes_done = ?3, bytes_total = ?4, last_code = ?5,
         last_error = ?6, url = COALESCE(?7, url), remote_id = COALESCE(?8, remote_id),
         next_attempt_at = ?9, updated_at = ?10, finished_at = ?11 WHERE id = ?1",
    )?
    .execute(params![
        id,
        outcome.state.as_str(),
        outcome.done as i64,
        outcome.total as i64,
        outcome.error.map(|e| e.0),
        outcome.error.map(|e| e.1),
        outcome.url,
        outcome.remote_id,
        outcome.next_attempt_at,
        now,
        finished
    ])?;
    Ok(())
}

/// After a crash or restart: attempts that were running are queued again, due now.
pub(crate) fn requeue_interrupted(tx: &Connection) -> Result<usize, StoreError> {
    Ok(tx.execute(
        "UPDATE publish_jobs SET state = 'queued', next_attempt_at = 0, updated_at = ?1
         WHERE state = 'running'",
        [now_ms()],
    )?)
}

/// Cancels a queued job (a running one is stopped by its worker). True when it changed.
pub(crate) fn cancel_queued(tx: &Connection, id: &str) -> Result<bool, StoreError> {
    let now = now_ms();
    Ok(tx.execute(
        "UPDATE publish_jobs SET state = 'cancelled', updated_at = ?2, finished_at = ?2,
         last_code = 'publish.cancelled', last_error = 'cancelled' WHERE id = ?1 AND state = 'queued'",
        params![id, now],
    )? > 0)
}

/// Makes a queued (waiting) or failed job due now.
pub(crate) fn retry_now(tx: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(tx.execute(
        "UPDATE publish_jobs SET state = 'queued', next_attempt_at = 0, updated_at = ?2,
         finished_at = NULL WHERE id = ?1 AND state IN ('queued', 'failed', 'cancelled')",
        params![id, now_ms()],
    )? > 0)
}

pub(crate) fn checkpoint(conn: &Connection, id: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT checkpoint FROM publish_jobs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .flatten())
}

pub(crate) fn save_checkpoint(
    tx: &Connection,
    id: &str,
    checkpoint: &str,
    done: u64,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE publish_jobs SET checkpoint = ?2, bytes_done = ?3, updated_at = ?4 WHERE id = ?1",
    )?
    .execute(params![id, checkpoint, done as i64, now_ms()])?;
    Ok(())
}

/// Whether any job of the package is queued or running (deleting it would lose an upload).
pub(crate) fn package_busy(conn: &Connection, package_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM publish_jobs WHERE package_id = ?1
             AND state IN ('queued', 'running'))",
        )?
        .query_row([package_id], |r| r.get(0))?)
}

/// How many jobs are in each state (states without jobs are absent).
pub(crate) fn counts_by_state(conn: &Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT state, COUNT(*) FROM publish_jobs GROUP BY state")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn delete_package_jobs(tx: &Connection, package_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM publish_jobs WHERE package_id = ?1",
        [package_id],
    )?;
    Ok(())
}

/// Packages every one of whose jobs is done, the last one before `cutoff`: their local
/// media may go.
pub(crate) fn confirmed_before(conn: &Connection, cutoff: i64) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT package_id FROM publish_jobs GROUP BY package_id
         HAVING SUM(state <> 'done') = 0 AND MAX(finished_at) < ?1",
    )?;
    let rows = stmt.query_map([cutoff], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[expect(clippy::expect_used, reason = "invariant: test results serialise")]
pub(crate) fn put_test(tx: &Connection, result: &PublishTestResult) -> Result<(), StoreError> {
    let text = serde_json::to_string(result).expect("test results serialise");
    tx.prepare_cached(
        "INSERT INTO publish_tests (publisher_id, result, tested_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (publisher_id) DO UPDATE SET result = excluded.result,
         tested_at = excluded.tested_at",
    )?
    .execute(params![result.publisher_id, text, result.tested_at])?;
    Ok(())
}

pub(crate) fn tests(conn: &Connection) -> Result<Vec<PublishTestResult>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT result FROM publish_tests ORDER BY publisher_id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        let text = text?;
        out.push(
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                table: "publish_tests",
                message: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

/// Finished packages whose automatic publishing has not been decided yet.
pub(crate) fn undecided(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM media_packages WHERE state IN ('complete', 'partial')
         AND id NOT IN (SELECT package_id FROM publish_decided) ORDER BY created_at",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn mark_decided(tx: &Connection, package_id: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO publish_decided (package_id, decided_at) VALUES (?1, ?2)
         ON CONFLICT (package_id) DO NOTHING",
    )?
    .execute(params![package_id, now_ms()])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_and_publisher_get_one_job_and_a_done_job_is_never_redone() {
        let conn = crate::store::memory();
        let first = enqueue(&conn, "j1", "p1", "s3", "{}").unwrap();
        assert!(matches!(first, Enqueued::Created(_)));
        let again = enqueue(&conn, "j2", "p1", "s3", "{}").unwrap();
        assert!(matches!(again, Enqueued::Existing(ref j) if j.id == "j1"));
        mark_running(&conn, "j1").unwrap();
        let done = Outcome {
            state: JobState::Done,
            done: 10,
            total: 10,
            error: None,
            url: Some("s3://b/k"),
            remote_id: None,
            next_attempt_at: 0,
        };
        finish_attempt(&conn, "j1", &done).unwrap();
        let after = enqueue(&conn, "j3", "p1", "s3", "{}").unwrap();
        assert!(
            matches!(after, Enqueued::Existing(ref j) if j.state == JobState::Done && j.attempts == 1)
        );
        assert_eq!(list(&conn, Some("p1"), None, 10).unwrap().len(), 1);
    }

    #[test]
    fn failed_jobs_are_requeued_and_running_ones_recover_after_a_crash() {
        let conn = crate::store::memory();
        enqueue(&conn, "j1", "p1", "local", "{}").unwrap();
        enqueue(&conn, "j2", "p2", "local", "{}").unwrap();
        mark_running(&conn, "j1").unwrap();
        mark_running(&conn, "j2").unwrap();
        let failed = Outcome {
            state: JobState::Failed,
            done: 0,
            total: 5,
            error: Some(("publish.auth_failed", "denied")),
            url: None,
            remote_id: None,
            next_attempt_at: 0,
        };
        finish_attempt(&conn, "j1", &failed).unwrap();
        assert_eq!(requeue_interrupted(&conn).unwrap(), 1);
        assert_eq!(get(&conn, "j2").unwrap().unwrap().state, JobState::Queued);
        let again = enqueue(&conn, "jx", "p1", "local", "{\"path\":\"/x\"}").unwrap();
        assert!(matches!(again, Enqueued::Requeued(ref j) if j.id == "j1" && j.attempts == 0));
        assert!(package_busy(&conn, "p1").unwrap());
    }

    #[test]
    fn media_may_go_only_when_every_job_of_its_package_is_done_long_enough() {
        let conn = crate::store::memory();
        let done = |id: &str| {
            mark_running(&conn, id).unwrap();
            finish_attempt(
                &conn,
                id,
                &Outcome {
                    state: JobState::Done,
                    done: 1,
                    total: 1,
                    error: None,
                    url: None,
                    remote_id: None,
                    next_attempt_at: 0,
                },
            )
            .unwrap();
        };
        enqueue(&conn, "a1", "pa", "s3", "{}").unwrap();
        enqueue(&conn, "a2", "pa", "local", "{}").unwrap();
        enqueue(&conn, "b1", "pb", "s3", "{}").unwrap();
        done("a1");
        done("b1");
        let later = now_ms() + 1_000;
        assert_eq!(
            confirmed_before(&conn, later).unwrap(),
            ["pb"],
            "pa still uploads to local"
        );
        done("a2");
        let mut both = confirmed_before(&conn, later).unwrap();
        both.sort();
        assert_eq!(both, ["pa", "pb"]);
        assert!(
            confirmed_before(&conn, now_ms() - 60_000)
                .unwrap()
                .is_empty(),
            "not long enough"
        );
    }

    #[test]
    fn the_due_job_is_the_earliest_and_waiting_jobs_are_not_due() {
        let conn = crate::store::memory();
        enqueue(&conn, "a", "p1", "local", "{}").unwrap();
        enqueue(&conn, "b", "p2", "local", "{}").unwrap();
        mark_running(&conn, "a").unwrap();
        let retry = Outcome {
            state: JobState::Queued,
            done: 0,
            total: 0,
            error: Some(("publish.unreachable", "refused")),
            url: None,
            remote_id: None,
            next_attempt_at: 5_000,
        };
        finish_attempt(&conn, "a", &retry).unwrap();
        assert_eq!(next_due(&conn, 1_000).unwrap().unwrap().0.id, "b");
        cancel_queued(&conn, "b").unwrap();
        assert!(next_due(&conn, 1_000).unwrap().is_none());
        assert_eq!(earliest_due(&conn).unwrap(), Some(5_000));
        assert_eq!(next_due(&conn, 5_000).unwrap().unwrap().0.id, "a");
    }
}

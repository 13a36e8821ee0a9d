//! The `graphs` table: graphs saved from the graph builder, as JSON.

use rusqlite::{Connection, OptionalExtension, params};

use super::StoreError;
use crate::model::Graph;
use crate::sys::time::now_ms;

fn decode(text: &str) -> Result<Graph, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table: "graphs",
        message: e.to_string(),
    })
}

pub(crate) fn all(conn: &Connection) -> Result<Vec<Graph>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT graph FROM graphs ORDER BY id")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for text in rows {
        out.push(decode(&text?)?);
    }
    Ok(out)
}

pub(crate) fn get(conn: &Connection, id: &str) -> Result<Option<Graph>, StoreError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT graph FROM graphs WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    text.map(|t| decode(&t)).transpose()
}

#[expect(clippy::expect_used, reason = "invariant: graphs serialise")]
pub(crate) fn put(conn: &Connection, graph: &Graph) -> Result<(), StoreError> {
    let text = serde_json::to_string(graph).expect("graphs serialise");
    conn.prepare_cached(
        "INSERT INTO graphs (id, graph, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET graph = excluded.graph, updated_at = excluded.updated_at",
    )?
    .execute(params![graph.id, text, now_ms()])?;
    Ok(())
}

/// Whether there was a saved graph `id` to delete.
pub(crate) fn delete(conn: &Connection, id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM graphs WHERE id = ?1")?
        .execute([id])?
        > 0)
}

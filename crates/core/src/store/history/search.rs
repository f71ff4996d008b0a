//! Full-text search: an FTS5 index (external content over `messages`) filled a batch at a time.
//!
//! Invariants: the index holds the text messages up to the watermark (`fts_indexed_up_to`) and
//! [`Db::index_pending`] adds everything above it in one statement; what a person types reaches
//! `MATCH` only as quoted words ([`fts_query`]), never as FTS5 syntax.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::Message;
use super::attachments::file_columns;
use super::messages::{MESSAGE_COLUMN_COUNT, message_columns, message_row, to_message};
use crate::Result;
use crate::store::Db;

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SearchHit {
    pub message: Message,
    pub conversation_title: String,
    /// The matching part of the body, with matches between `\u{2}` and `\u{3}`.
    pub snippet: String,
}

impl std::fmt::Debug for SearchHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchHit").field("message", &self.message).finish_non_exhaustive()
    }
}

/// Meta key: the highest message id the full-text index has seen.
pub(super) const META_FTS_INDEXED: &str = "fts_indexed_up_to";

/// The query behind [`Db::search`] (`?1`: an [`fts_query`], `?2`: the limit). Public so the
/// benchmark runs exactly this SQL on a plain copy.
pub const SEARCH_SQL: &str = concat!(
    "SELECT ",
    message_columns!(),
    ", c.title, snippet(messages_fts, 0, char(2), char(3), '…', 12) \
     FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid \
     LEFT JOIN attachments a ON a.message_row = m.id \
     JOIN conversations c ON c.id = m.conversation_id \
     WHERE messages_fts MATCH ?1 ORDER BY messages_fts.rowid DESC LIMIT ?2"
);

/// Turn what a person typed into a safe FTS5 query: every word must occur, the last one as a
/// prefix (search as you type). Quotes keep FTS5 operators in user text from being interpreted.
pub fn fts_query(input: &str) -> Option<String> {
    let words: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut q = words.join(" ");
    q.push('*');
    Some(q)
}

impl Db<'_> {
    /// Add every text message not yet in the full-text index to it, in one statement. Returns
    /// how many were added. Cheap when there are none.
    pub fn index_pending(&self) -> Result<usize> {
        let done: i64 = self.meta(META_FTS_INDEXED)?.and_then(|v| v.parse().ok()).unwrap_or(0);
        let max: i64 =
            self.conn().prepare_cached("SELECT coalesce(max(id), 0) FROM messages")?.query_row([], |r| r.get(0))?;
        if max <= done {
            return Ok(0);
        }
        let n = self
            .conn()
            .prepare_cached(
                "INSERT INTO messages_fts (rowid, body) SELECT id, body FROM messages
                 WHERE id > ?1 AND id <= ?2 AND kind IN ('text', 'file') AND body != ''",
            )?
            .execute(params![done, max])?;
        self.set_meta(META_FTS_INDEXED, &max.to_string())?;
        Ok(n)
    }

    /// Full-text search over every decrypted message; newest first. Call
    /// [`Db::index_pending`] first so the latest messages are included.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(fts) = fts_query(query) else { return Ok(Vec::new()) };
        let mut stmt = self.conn().prepare_cached(SEARCH_SQL)?;
        let rows = stmt
            .query_map(params![fts, limit], |r| {
                Ok((
                    message_row(r)?,
                    r.get::<_, String>(MESSAGE_COLUMN_COUNT)?,
                    r.get::<_, String>(MESSAGE_COLUMN_COUNT + 1)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(m, conversation_title, snippet)| {
                let mut message = to_message(m)?;
                self.add_details(&mut message)?;
                Ok(SearchHit { message, conversation_title, snippet })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn user_text_becomes_a_safe_fts_query() {
        assert_eq!(fts_query("hello wor").as_deref(), Some("\"hello\" \"wor\"*"));
        assert_eq!(fts_query("NEAR(a OR b) \"x").as_deref(), Some("\"NEAR\" \"a\" \"OR\" \"b\" \"x\"*"));
        assert_eq!(fts_query("  ,.; "), None);
    }
}

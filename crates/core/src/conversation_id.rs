//! Which conversation: the one-to-one conversation with a user, or a group's.
//!
//! Invariant: a [`ConversationId`] only ever holds a valid user or group id, and its text is
//! exactly `u:<user id>` or `g:<group id>`, the form profiles store (`conversations.id`,
//! `messages.conversation_id`, `outbox.conversation_id`), backups carry and the UI keys its views
//! by. That text must never change: existing profiles and backups are read with it.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};
use sotto_proto::{GroupId, InvalidId, UserId};

/// A conversation, named by who is in it: serialized, stored and shown as `u:<user id>` or
/// `g:<group id>`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "`u:${string}` | `g:${string}`"))]
#[serde(try_from = "String", into = "String")]
pub enum ConversationId {
    /// The one-to-one conversation with this user.
    Direct(UserId),
    /// This group's conversation.
    Group(GroupId),
}

const DIRECT: &str = "u:";
const GROUP: &str = "g:";

impl ConversationId {
    /// Reads `u:<user id>` or `g:<group id>`; anything else is refused with what was expected
    /// (the prefix, or the user or group id's own rule).
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        if let Some(user) = s.strip_prefix(DIRECT) {
            Ok(ConversationId::Direct(UserId::parse(user)?))
        } else if let Some(group) = s.strip_prefix(GROUP) {
            Ok(ConversationId::Group(GroupId::parse(group)?))
        } else {
            Err(InvalidId { kind: "conversation id", expected: "u:<user id> or g:<group id>" })
        }
    }

    /// The other user of a one-to-one conversation.
    pub fn user(&self) -> Option<&UserId> {
        match self {
            ConversationId::Direct(user) => Some(user),
            ConversationId::Group(_) => None,
        }
    }

    /// The group of a group conversation.
    pub fn group(&self) -> Option<&GroupId> {
        match self {
            ConversationId::Direct(_) => None,
            ConversationId::Group(group) => Some(group),
        }
    }

    /// The prefix and the id, whose concatenation is the text.
    fn parts(&self) -> (&'static str, &str) {
        match self {
            ConversationId::Direct(user) => (DIRECT, user.as_str()),
            ConversationId::Group(group) => (GROUP, group.as_str()),
        }
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, id) = self.parts();
        f.write_str(prefix)?;
        f.write_str(id)
    }
}

impl fmt::Debug for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConversationId({:?})", self.to_string())
    }
}

/// The order of the text (groups before users, then by id), so that anything sorted by
/// conversation (such as the order of `conversation_updated` events after a batch) stays the
/// order it was when ids were strings.
impl Ord for ConversationId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl PartialOrd for ConversationId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for ConversationId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ConversationId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        Self::parse(&s)
    }
}

impl From<ConversationId> for String {
    fn from(id: ConversationId) -> String {
        id.to_string()
    }
}

impl From<UserId> for ConversationId {
    fn from(user: UserId) -> Self {
        ConversationId::Direct(user)
    }
}

impl From<GroupId> for ConversationId {
    fn from(group: GroupId) -> Self {
        ConversationId::Group(group)
    }
}

impl ToSql for ConversationId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for ConversationId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        ConversationId::parse(value.as_str()?).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn user(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn group(s: &str) -> GroupId {
        GroupId::parse(s).unwrap()
    }

    #[test]
    fn text_is_the_stored_form() {
        let direct = ConversationId::Direct(user("bob"));
        let in_group = ConversationId::Group(group("G1abc_-"));
        assert_eq!(direct.to_string(), "u:bob");
        assert_eq!(in_group.to_string(), "g:G1abc_-");
        assert_eq!(ConversationId::parse("u:bob").unwrap(), direct);
        assert_eq!(ConversationId::parse("g:G1abc_-").unwrap(), in_group);
        assert_eq!(direct.user(), Some(&user("bob")));
        assert_eq!(direct.group(), None);
        assert_eq!(in_group.group(), Some(&group("G1abc_-")));
        assert_eq!(in_group.user(), None);
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in
            ["", "bob", "u", "u:", "g:", "x:bob", "U:bob", "u:Bob", "u:Bob Smith", "u:bo", "g:a/b", "g:../x", " u:bob"]
        {
            assert!(ConversationId::parse(bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<ConversationId>(&serde_json::to_string(bad).unwrap()).is_err(), "{bad:?}");
        }
        assert_eq!(ConversationId::parse("x:bob").unwrap_err().kind, "conversation id");
        assert_eq!(ConversationId::parse("u:Bob").unwrap_err().kind, "user id");
        assert_eq!(ConversationId::parse("g:a b").unwrap_err().kind, "group id");
    }

    #[test]
    fn serde_is_the_text() {
        for id in [ConversationId::Direct(user("alice.b")), ConversationId::Group(group("g-1"))] {
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{id}\""));
            assert_eq!(serde_json::from_str::<ConversationId>(&json).unwrap(), id);
        }
    }

    #[test]
    fn sql_is_the_text() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute("CREATE TABLE t (id TEXT)", []).unwrap();
        let id = ConversationId::Group(group("club"));
        db.execute("INSERT INTO t VALUES (?1)", [&id]).unwrap();
        assert_eq!(db.query_row("SELECT id FROM t", [], |r| r.get::<_, String>(0)).unwrap(), "g:club");
        assert_eq!(db.query_row("SELECT id FROM t", [], |r| r.get::<_, ConversationId>(0)).unwrap(), id);
        db.execute("UPDATE t SET id = 'nobody'", []).unwrap();
        assert!(db.query_row("SELECT id FROM t", [], |r| r.get::<_, ConversationId>(0)).is_err());
    }

    #[test]
    fn ordered_as_the_text() {
        let mut ids: Vec<ConversationId> =
            ["u:bob", "g:zz", "u:alice", "g:Aa", "g:a"].iter().map(|s| ConversationId::parse(s).unwrap()).collect();
        ids.sort();
        let mut texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let sorted = texts.clone();
        texts.sort();
        assert_eq!(sorted, texts);
    }
}

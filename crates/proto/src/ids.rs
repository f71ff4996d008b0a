//! Validated identifiers. Each is a string newtype that can only hold a valid value: parsing
//! (from JSON or from a URL path) is the only way to make one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The `kind` of every identifier type, as it appears in [`InvalidId`] messages.
pub const ID_KINDS: [&str; 6] = ["user id", "device id", "group id", "message id", "key id", "blob id"];

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId {
    /// Which kind of identifier ("user id", "device id", ...).
    pub kind: &'static str,
    /// What a valid one looks like.
    pub expected: &'static str,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: expected {}", self.kind, self.expected)
    }
}

impl std::error::Error for InvalidId {}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $expected:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates.
            pub fn parse(s: impl Into<String>) -> Result<Self, InvalidId> {
                let s: String = s.into();
                let check: fn(&str) -> bool = $check;
                if check(&s) {
                    Ok(Self(s))
                } else {
                    Err(InvalidId { kind: $kind, expected: $expected })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(s: String) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, InvalidId> {
                Self::parse(s)
            }
        }
    };
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

id_type!(
    /// A user's id on a server: 3 to 64 characters of `a-z`, `0-9`, `.`, `_`, `-`, starting with
    /// a letter or digit. Lower case only, so "Alice" and "alice" can never be two people.
    UserId,
    "user id",
    "3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit",
    |s| {
        (3..=64).contains(&s.len())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c))
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
    }
);

id_type!(
    /// A device id, assigned by the server at login: 1 to 32 characters of `A-Z`, `a-z`, `0-9`,
    /// `_`, `-`.
    DeviceId,
    "device id",
    "1 to 32 characters of A-Z, a-z, 0-9, '_' or '-'",
    |s| (1..=32).contains(&s.len()) && s.chars().all(is_token_char)
);

id_type!(
    /// A group id, assigned by the server: 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `_`, `-`.
    GroupId,
    "group id",
    "1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
    |s| (1..=64).contains(&s.len()) && s.chars().all(is_token_char)
);

id_type!(
    /// A message id chosen by the sending client (a UUID is a good choice): 8 to 64 characters of
    /// `A-Z`, `a-z`, `0-9`, `_`, `-`. Sends are idempotent on (sender, message id).
    MessageId,
    "message id",
    "8 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
    |s| (8..=64).contains(&s.len()) && s.chars().all(is_token_char)
);

id_type!(
    /// The id of a one-time or fallback key, chosen by the client (vodozemac's key id in base64):
    /// 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `+`, `/`, `=`, `_`, `-`.
    KeyId,
    "key id",
    "1 to 64 characters of A-Z, a-z, 0-9, '+', '/', '=', '_' or '-'",
    |s| (1..=64).contains(&s.len()) && s.chars().all(|c| is_token_char(c) || "+/=".contains(c))
);

id_type!(
    /// A blob (attachment) id, assigned by the server at random: 22 to 64 characters of `A-Z`,
    /// `a-z`, `0-9`, `_`, `-` (the server's are 128 random bits in unpadded base64url).
    BlobId,
    "blob id",
    "22 to 64 characters of A-Z, a-z, 0-9, '_' or '-'",
    |s| (22..=64).contains(&s.len()) && s.chars().all(is_token_char)
);

/// One device of one user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceAddress {
    pub user_id: UserId,
    pub device_id: DeviceId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids() {
        assert!(UserId::parse("alice").is_ok());
        assert!(UserId::parse("a.b-c_9").is_ok());
        assert!(UserId::parse("Alice").is_err());
        assert!(UserId::parse("al").is_err());
        assert!(UserId::parse(".alice").is_err());
        assert!(UserId::parse("ali ce").is_err());
        assert!(UserId::parse("x".repeat(65)).is_err());
        assert!(UserId::parse("é".repeat(3)).is_err());
    }

    #[test]
    fn ids_reject_on_deserialize() {
        let err = serde_json::from_str::<DeviceId>("\"a/b\"").unwrap_err();
        assert!(err.to_string().contains("invalid device id"), "{err}");
        let ok: MessageId = serde_json::from_str("\"0b7c9e2a-1f3d-4c5e\"").unwrap();
        assert_eq!(ok.as_str(), "0b7c9e2a-1f3d-4c5e");
        assert!(MessageId::parse("short").is_err());
    }
}

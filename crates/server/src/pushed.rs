//! Entry frames made once per message, not once per recipient.
//!
//! A group message goes to every member's device with the same body and only a different `seq`.
//! Its `entry` frame is serialized once, cut at the `seq` (the first field, so the cut is always
//! at the same place), and shared: each recipient's socket writes the frame's start, its own
//! `seq` and the shared rest. Building 1,000 entries and serializing each (a clone of the body,
//! then the whole JSON) was most of a fan-out's CPU on the sockets' side.

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use sotto_proto::InboxEntry;

/// How every entry frame starts, up to its `seq`'s digits.
const PREFIX: &str = r#"{"type":"entry","entry":{"seq":"#;

/// One recipient's entry: its `seq` and the frame's shared rest.
#[derive(Debug, Clone)]
pub struct PushedEntry {
    pub seq: u64,
    rest: Arc<str>,
}

/// An entry frame for any `seq`: the entry it is made of (which goes to the other nodes for their
/// sockets: see [`crate::bus::BusEvent::Pushed`]), and its JSON after the `seq`, made when a
/// socket here first needs it — an entry that only crosses to another node is not serialized
/// here.
#[derive(Debug, Clone)]
pub struct EntryFrame {
    entry: InboxEntry,
    /// `None` inside if the JSON did not start as expected (then push nothing and let the
    /// sockets read the store).
    rest: OnceLock<Option<Arc<str>>>,
}

/// [`sotto_proto::ServerFrame::Entry`] serialized from a borrowed entry (the same JSON).
#[derive(Serialize)]
#[serde(tag = "type", rename = "entry")]
struct Frame<'a> {
    entry: &'a InboxEntry,
}

impl EntryFrame {
    /// `entry`'s frame; its `seq` is ignored.
    pub fn new(mut entry: InboxEntry) -> EntryFrame {
        entry.seq = 0;
        EntryFrame { entry, rest: OnceLock::new() }
    }

    /// The entry, with seq 0.
    pub fn entry(&self) -> &InboxEntry {
        &self.entry
    }

    /// The entry, with seq 0, taken out.
    pub fn into_entry(self) -> InboxEntry {
        self.entry
    }

    /// The entry for the recipient whose `seq` this is (`None`: read it from the store).
    pub fn with_seq(&self, seq: u64) -> Option<PushedEntry> {
        let rest = self.rest.get_or_init(|| {
            let text = serde_json::to_string(&Frame { entry: &self.entry }).ok()?;
            Some(text.strip_prefix(PREFIX)?.strip_prefix('0')?.into())
        });
        Some(PushedEntry { seq, rest: rest.clone()? })
    }

    /// Whether its JSON was made.
    #[cfg(test)]
    pub(crate) fn serialized(&self) -> bool {
        self.rest.get().is_some()
    }
}

impl PushedEntry {
    /// The whole frame, as serde would write it.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(PREFIX.len() + 20 + self.rest.len());
        text.push_str(PREFIX);
        let _ = write!(text, "{}", self.seq);
        text.push_str(&self.rest);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_proto::{DeviceId, EntryBody, GroupId, MessageId, ServerFrame, UserId};

    fn entry(seq: u64, body: EntryBody, sender_device: Option<DeviceId>) -> InboxEntry {
        InboxEntry {
            seq,
            message_id: MessageId::parse("message-0001").unwrap(),
            sender_user: UserId::parse("alice").unwrap(),
            sender_device,
            server_ts: 1_767_225_600_000,
            body,
        }
    }

    #[test]
    fn a_spliced_frame_is_what_serde_writes_for_that_seq() {
        let group = EntryBody::Group {
            group_id: GroupId::parse("g7Hk2Lm9Qx").unwrap(),
            // A ciphertext holding what the cut looks for must not move it.
            ciphertext: r#"{"seq":0 "seq":18446744073709551615"#.into(),
        };
        let bodies = [
            (group, Some(DeviceId::parse("Hn7pR2mZc8").unwrap())),
            (EntryBody::Direct { ciphertext: "AwogTo1DNFwLJgvUBQ7G".into() }, None),
        ];
        for (body, device) in bodies {
            let frame = EntryFrame::new(entry(77, body.clone(), device.clone()));
            for seq in [0, 1, 9, 10, 4_294_967_296, u64::MAX] {
                let expected =
                    serde_json::to_string(&ServerFrame::Entry { entry: entry(seq, body.clone(), device.clone()) })
                        .unwrap();
                let pushed = frame.with_seq(seq).unwrap();
                assert_eq!(pushed.seq, seq);
                assert_eq!(pushed.text(), expected);
            }
        }
    }
}

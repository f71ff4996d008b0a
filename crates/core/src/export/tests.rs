//! Readable exports of a real profile database (messages written through the store API, since
//! the export reads nothing else): escaping, exact JSON, scope, day grouping, words for system
//! and undecryptable lines, refusals, cancellation, and file names that stay inside the folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::Path;

use jiff::tz::{Offset, TimeZone};

use super::*;
use crate::store::{MessageKind, MessageStatus, NewMessage};
use crate::{ErrorCode, Undecryptable};

/// 2026-03-04T21:30:00Z, a Wednesday.
const WED_2130_UTC: i64 = 1_772_659_800_000;
const HOUR: i64 = 3_600_000;

struct Fixture {
    _profile: tempfile::TempDir,
    out: tempfile::TempDir,
    client: Client,
}

fn cid(s: &str) -> ConversationId {
    ConversationId::parse(s).unwrap()
}

fn fixture() -> Fixture {
    let profile = tempfile::tempdir().unwrap();
    let client = Client::offline_for_tests(profile.path(), "alice").unwrap();
    Fixture { _profile: profile, out: tempfile::tempdir().unwrap(), client }
}

/// A text in the conversation; alice's own are outgoing and sent.
fn text<'a>(
    conversation_id: &'a ConversationId,
    message_id: &'a str,
    sender: &'a str,
    body: &'a str,
    ts: i64,
) -> NewMessage<'a> {
    let received = NewMessage::received_text(conversation_id, message_id, sender, body, ts);
    if sender == "alice" { NewMessage { status: MessageStatus::Sent, outgoing: true, ..received } } else { received }
}

impl Fixture {
    fn conversation(&self, id: &ConversationId, title: &str) {
        self.client.read(|db| db.ensure_conversation(id, title)).unwrap();
    }

    fn add(&self, messages: &[NewMessage<'_>]) {
        self.client
            .read(|db| {
                for m in messages {
                    let stored = db.insert_message(m)?.expect("a new message");
                    db.touch_for(&stored)?;
                }
                Ok(())
            })
            .unwrap();
    }

    /// An export with a fixed time zone and clock, as [`Client::export_readable`] runs it.
    fn export_in(
        &self,
        tz: TimeZone,
        dir: &Path,
        format: ExportFormat,
        scope: ExportScope,
        progress: &watch::Sender<Progress>,
        cancel: &CancellationToken,
    ) -> Result<ExportSummary> {
        let job = Job {
            // Bob's display name (with what HTML must escape).
            names: std::collections::HashMap::from([("bob".to_owned(), "Bob <B>".to_owned())]),
            format,
            files: crate::profile::ProfilePaths::new(self.client.profile_dir()).files(),
            tz,
            user_id: self.client.user_id().as_str(),
            exported_at: Timestamp::from_millisecond(WED_2130_UTC + 48 * HOUR).unwrap(),
            progress,
            cancel,
        };
        job.run(&mut self.client.reader()?, dir, &scope)
    }

    fn export(&self, name: &str, format: ExportFormat, scope: ExportScope) -> Result<ExportSummary> {
        let dir = self.out.path().join(name);
        self.export_in(TimeZone::UTC, &dir, format, scope, &Progress::unobserved(), &CancellationToken::new())
    }

    /// Every entry under the output folder, relative to it, sorted.
    fn listing(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![self.out.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(self.out.path()).unwrap().to_string_lossy().into_owned());
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn json_file(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

/// The per-conversation files of an export (everything but the index), sorted.
fn pages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("index."))
        .collect();
    names.sort();
    names
}

#[test]
fn html_escapes_bodies_titles_and_user_ids() {
    let f = fixture();
    let title = "<script>alert(\"t\")</script> & 'friends'";
    f.conversation(&cid("g:evil"), title);
    f.add(&[
        text(
            &cid("g:evil"),
            "m1",
            "<b onmouseover=\"x()\">mallory</b>",
            "<script>alert('&')</script> \"quoted\"",
            1000,
        ),
        text(&cid("g:evil"), "m2", "alice", "<img src=x onerror=alert(1)>", 2000),
    ]);
    let summary = f.export("html", ExportFormat::Html, ExportScope::All).unwrap();
    assert_eq!((summary.conversations, summary.messages), (1, 2));
    let dir = f.out.path().join("html");
    let index = read(&dir.join("index.html"));
    let page = read(&dir.join(&pages(&dir)[0]));
    for html in [&index, &page] {
        assert!(!html.to_lowercase().contains("<script"), "no script element, escaped or not:\n{html}");
        assert!(html.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' file:\">"
        ));
        assert!(html.contains("&lt;script&gt;alert(&quot;t&quot;)&lt;&#x2F;script&gt; &amp; &#x27;friends&#x27;"));
    }
    assert!(page.contains("&lt;script&gt;alert(&#x27;&amp;&#x27;)&lt;&#x2F;script&gt; &quot;quoted&quot;"));
    assert!(page.contains("&lt;b onmouseover=&quot;x()&quot;&gt;mallory&lt;&#x2F;b&gt;"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!page.contains("<img") && !page.contains("<b ") && !page.contains("<i>"));
    // The peer comes from the validated id, which cannot carry markup; it is written all the same.
    assert!(page.contains("Group evil"), "{page}");
}

#[test]
fn json_round_trips_bodies_exactly() {
    let f = fixture();
    f.conversation(&cid("u:bob"), "bob");
    let bodies = [
        "héllo wörld — ça va? 你好 👋🏽👨‍👩‍👧",
        "line one\nline two\r\n\ttabbed\n\n",
        "\"quotes\", \\backslashes\\ and </script> & <b>tags</b>",
        "\u{2028}separators\u{2029} and \u{7} a bell",
    ];
    let ids = ["m1", "m2", "m3", "m4"];
    let bob = cid("u:bob");
    let messages: Vec<NewMessage<'_>> = bodies
        .iter()
        .zip(ids)
        .enumerate()
        .map(|(i, (body, id))| {
            let sender = if i % 2 == 0 { "bob" } else { "alice" };
            text(&bob, id, sender, body, 1_700_000_000_123 + i as i64)
        })
        .collect();
    f.add(&messages);
    f.export("json", ExportFormat::Json, ExportScope::All).unwrap();
    let dir = f.out.path().join("json");
    let index = json_file(&dir.join("index.json"));
    assert_eq!(index["format"], FORMAT_NAME);
    assert_eq!(index["version"], 1);
    assert_eq!(index["user_id"], "alice");
    assert_eq!(index["exported_at"], "2026-03-06T21:30:00Z");
    let entry = &index["conversations"][0];
    assert_eq!(entry["id"], "u:bob");
    assert_eq!(entry["kind"], "direct");
    assert_eq!(entry["peer"], "bob");
    assert_eq!(entry["messages"], 4);
    assert_eq!(entry["first_at"], "2023-11-14T22:13:20.123Z");
    let file = entry["file"].as_str().unwrap();
    assert_eq!(pages(&dir), [file]);
    let doc = json_file(&dir.join(file));
    assert_eq!(doc["conversation"]["title"], "bob");
    let exported = doc["messages"].as_array().unwrap();
    let got: Vec<&str> = exported.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(got, bodies);
    assert_eq!(exported[0]["sender"], "bob");
    assert_eq!(
        (exported[0]["sender_name"].as_str(), doc["conversation"]["name"].as_str()),
        (Some("Bob <B>"), Some("Bob <B>"))
    );
    assert_eq!(exported[1]["sender_name"], serde_json::Value::Null, "none for this user's own");
    assert_eq!(exported[0]["outgoing"], false);
    assert_eq!(exported[0]["status"], "received");
    assert_eq!(exported[0]["sent_at"], "2023-11-14T22:13:20.123Z");
    assert_eq!(exported[1]["message_id"], "m2");
    assert_eq!(exported[1]["outgoing"], true);
    assert_eq!(exported[1]["status"], "sent");
    assert_eq!(exported[1]["kind"], "text");
    assert_eq!(exported[1]["reason"], serde_json::Value::Null);
    assert_eq!(exported[1]["server_at"], "2023-11-14T22:13:20.124Z");
}

#[test]
fn one_conversation_or_all_of_them() {
    let f = fixture();
    f.conversation(&cid("u:bob"), "bob");
    f.conversation(&cid("g:g1"), "Book club");
    f.add(&[
        text(&cid("u:bob"), "m1", "bob", "only with bob", 1000),
        text(&cid("u:bob"), "m2", "alice", "a reply to bob", 2000),
        text(&cid("g:g1"), "m3", "carol", "in the book club", 3000),
    ]);

    let one = f.out.path().join("one");
    let (tx, rx) = watch::channel(Progress::default());
    let summary = f
        .client
        .export_readable(
            &one,
            ExportFormat::Html,
            ExportScope::Conversation(cid("u:bob")),
            &tx,
            &CancellationToken::new(),
        )
        .unwrap();
    assert_eq!(summary, ExportSummary { conversations: 1, messages: 2, path: one.clone() });
    assert_eq!(*rx.borrow(), Progress { done: 2, total: 2 });
    let files = pages(&one);
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with("bob-") && files[0].ends_with(".html"), "{files:?}");
    let page = read(&one.join(&files[0]));
    assert!(page.contains("only with bob") && page.contains("a reply to bob"));
    assert!(!read(&one.join("index.html")).contains("Book club"));

    let all = f.export("all", ExportFormat::Json, ExportScope::All).unwrap();
    assert_eq!((all.conversations, all.messages), (2, 3));
    let index = json_file(&f.out.path().join("all").join("index.json"));
    let titles: Vec<&str> =
        index["conversations"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Book club", "bob"], "most recent activity first");
    assert_eq!(pages(&f.out.path().join("all")).len(), 2);

    let err = f.export("none", ExportFormat::Html, ExportScope::Conversation(cid("u:nobody"))).unwrap_err();
    assert_eq!(err.code(), ErrorCode::UnknownConversation);
    let top: Vec<String> = f.listing().into_iter().filter(|p| !p.contains(std::path::MAIN_SEPARATOR)).collect();
    assert_eq!(top, ["all", "one"], "nothing else was created");
}

#[test]
fn messages_are_grouped_by_local_day_with_the_offset_shown() {
    let f = fixture();
    f.conversation(&cid("u:bob"), "bob");
    f.add(&[
        text(&cid("u:bob"), "m1", "bob", "late on wednesday", WED_2130_UTC),
        text(&cid("u:bob"), "m2", "alice", "just after midnight", WED_2130_UTC + HOUR),
        text(&cid("u:bob"), "m3", "bob", "thursday morning", WED_2130_UTC + 10 * HOUR),
    ]);
    let dir = f.out.path().join("days");
    let tz = Offset::constant(2).to_time_zone();
    f.export_in(tz, &dir, ExportFormat::Html, ExportScope::All, &Progress::unobserved(), &CancellationToken::new())
        .unwrap();
    let page = read(&dir.join(&pages(&dir)[0]));
    assert_eq!(page.matches("<section class=\"day\">").count(), 2);
    let order = [
        "<time datetime=\"2026-03-04\">Wednesday, 4 March 2026</time>",
        "<time datetime=\"2026-03-04T23:30:00+02:00\">23:30 <span class=\"offset\">+02:00</span></time>",
        "late on wednesday",
        "<time datetime=\"2026-03-05\">Thursday, 5 March 2026</time>",
        "00:30 <span class=\"offset\">+02:00</span>",
        "just after midnight",
        "09:30",
        "thursday morning",
    ];
    let mut at = 0;
    for needle in order {
        let found = page[at..].find(needle).unwrap_or_else(|| panic!("{needle:?} missing or out of order in:\n{page}"));
        at += found + needle.len();
    }
    // The index shows the range of days in the same zone.
    assert!(read(&dir.join("index.html")).contains("4 Mar 2026 \u{2013} 5 Mar 2026"));
}

#[test]
fn system_undecryptable_failed_and_queued_messages_are_in_words() {
    let f = fixture();
    f.conversation(&cid("g:g1"), "Team");
    f.add(&[
        NewMessage {
            kind: MessageKind::System,
            status: MessageStatus::System,
            sender_device: None,
            server_ts: None,
            ..text(&cid("g:g1"), "m1", "bob", "bob added you.", 1000)
        },
        NewMessage {
            kind: MessageKind::Undecryptable,
            status: MessageStatus::Undecryptable,
            reason: Some(Undecryptable::MissingRoomKey.into()),
            ..text(&cid("g:g1"), "m2", "bob", "", 2000)
        },
        NewMessage {
            kind: MessageKind::Undecryptable,
            status: MessageStatus::Undecryptable,
            reason: Some(Undecryptable::Tampered.into()),
            ..text(&cid("g:g1"), "m3", "carol", "", 3000)
        },
        NewMessage {
            status: MessageStatus::Failed,
            reason: Some(ErrorCode::NoDevices.into()),
            ..text(&cid("g:g1"), "m4", "alice", "did it go?", 4000)
        },
        NewMessage { status: MessageStatus::Queued, ..text(&cid("g:g1"), "m5", "alice", "later", 5000) },
    ]);
    f.export("words", ExportFormat::Html, ExportScope::All).unwrap();
    let dir = f.out.path().join("words");
    let page = read(&dir.join(&pages(&dir)[0]));
    assert!(page.contains("<p class=\"system\"><time datetime=\"1970-01-01T00:00:01+00:00\">00:00 <span class=\"offset\">+00:00</span></time>bob added you.</p>"), "{page}");
    assert!(page.contains("This message could not be decrypted. The key for this message had not arrived."));
    assert!(
        page.contains("This message could not be decrypted. It was changed on the way, so Sotto does not show it.")
    );
    assert!(page.contains("Not sent: they had no devices signed in."));
    assert!(page.contains("Not sent yet: it was still waiting to be sent."));
    assert_eq!(page.matches("<span class=\"sender\">You</span>").count(), 2);
    // Others by their display name (escaped) and id.
    assert!(page.contains("<span class=\"sender\">Bob &lt;B&gt; (bob)</span>"), "{page}");
    for code in ["missing_room_key", "tampered", "no_devices"] {
        assert!(!page.contains(code), "the reason code {code} is not shown");
    }
    // JSON keeps the codes for programs.
    f.export("codes", ExportFormat::Json, ExportScope::All).unwrap();
    let dir = f.out.path().join("codes");
    let doc = json_file(&dir.join(&pages(&dir)[0]));
    let reasons: Vec<&serde_json::Value> = doc["messages"].as_array().unwrap().iter().map(|m| &m["reason"]).collect();
    assert_eq!(
        reasons,
        [
            &serde_json::Value::Null,
            &"missing_room_key".into(),
            &"tampered".into(),
            &"no_devices".into(),
            &serde_json::Value::Null
        ]
    );
    assert_eq!(doc["messages"][0]["kind"], "system");
    assert_eq!(doc["messages"][0]["server_at"], serde_json::Value::Null);
}

#[test]
fn a_target_that_is_not_new_or_empty_is_refused_and_left_as_it_was() {
    let f = fixture();
    f.conversation(&cid("u:bob"), "bob");
    f.add(&[text(&cid("u:bob"), "m1", "bob", "hello", 1000)]);
    let taken = f.out.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("index.html"), "mine").unwrap();
    let err = f.export("taken", ExportFormat::Html, ExportScope::All).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TargetExists);
    assert_eq!(read(&taken.join("index.html")), "mine");
    std::fs::write(f.out.path().join("file"), "a file").unwrap();
    assert_eq!(f.export("file", ExportFormat::Json, ExportScope::All).unwrap_err().code(), ErrorCode::TargetExists);
    assert_eq!(f.listing(), ["file", "taken", &format!("taken{}index.html", std::path::MAIN_SEPARATOR)]);
    // An empty folder is fine; a missing parent is a clear error.
    std::fs::create_dir(f.out.path().join("empty")).unwrap();
    f.export("empty", ExportFormat::Html, ExportScope::All).unwrap();
    assert_eq!(pages(&f.out.path().join("empty")).len(), 1);
    let err = f.export("no/such/parent", ExportFormat::Html, ExportScope::All).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn a_cancelled_export_leaves_no_folder_behind() {
    let f = fixture();
    f.conversation(&cid("u:bob"), "bob");
    let bodies: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
    let ids: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let bob = cid("u:bob");
    let messages: Vec<NewMessage<'_>> = bodies.iter().zip(&ids).map(|(b, id)| text(&bob, id, "bob", b, 1000)).collect();
    f.add(&messages);

    // Cancelled before it starts.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let dir = f.out.path().join("before");
    let err = f.export_in(TimeZone::UTC, &dir, ExportFormat::Html, ExportScope::All, &Progress::unobserved(), &cancel);
    assert!(matches!(err, Err(Error::Cancelled)));
    assert!(f.listing().is_empty());

    // Cancelled while running: holding a borrow of the progress value stops the export at its
    // first progress report (after its staging folder exists) until the borrow ends.
    for format in [ExportFormat::Html, ExportFormat::Json] {
        let (tx, rx) = watch::channel(Progress::default());
        let cancel = CancellationToken::new();
        let dir = f.out.path().join("while");
        let held = rx.borrow();
        std::thread::scope(|s| {
            let export = s.spawn(|| f.export_in(TimeZone::UTC, &dir, format, ExportScope::All, &tx, &cancel));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while f.listing().is_empty() {
                assert!(std::time::Instant::now() < deadline, "the export never started");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let listing = f.listing();
            assert_eq!(listing.len(), 1);
            assert!(listing[0].starts_with(".sotto-export-"), "{listing:?}");
            cancel.cancel();
            drop(held);
            assert!(matches!(export.join().unwrap(), Err(Error::Cancelled)));
        });
        assert!(f.listing().is_empty(), "{:?}", f.listing());
        assert_eq!(rx.borrow().done, 0);
    }
}

#[test]
fn titles_and_ids_cannot_name_files_outside_the_export() {
    let f = fixture();
    let titles = ["../../etc", "/etc/passwd", "..", "C:\\Windows\\system32", "", "Книжный клуб", "a\0b", "../../etc"];
    for (i, title) in titles.iter().enumerate() {
        // Ids cannot hold path characters at all (a group id is letters, digits, '-' and '_').
        let id = cid(&format!("g:dots-{i}"));
        f.conversation(&id, title);
        f.add(&[text(&id, "m1", "../../root", "hi", 1000)]);
    }
    for (name, format) in [("html", ExportFormat::Html), ("json", ExportFormat::Json)] {
        let summary = f.export(name, format, ExportScope::All).unwrap();
        assert_eq!(summary.conversations, titles.len() as u64);
        let files = pages(&f.out.path().join(name));
        assert_eq!(files.len(), titles.len(), "every conversation has its own file: {files:?}");
        for file in &files {
            let stem = file.strip_suffix(&format!(".{}", format.extension())).unwrap();
            assert!(stem.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{file}");
        }
        assert!(files.iter().any(|f| f.starts_with("etc-")), "{files:?}");
        assert!(files.iter().any(|f| f.starts_with("conversation-")), "{files:?}");
    }
    let listing = f.listing();
    assert!(listing.iter().all(|p| p.starts_with("html") || p.starts_with("json")), "{listing:?}");
}

#[test]
fn slugs_keep_ascii_letters_and_digits_only() {
    assert_eq!(slug("../../etc"), "etc");
    assert_eq!(slug("Book Club 2026!"), "book-club-2026");
    assert_eq!(slug("  --  "), "conversation");
    assert_eq!(slug("Книга"), "conversation");
    assert_eq!(slug(&"x".repeat(500)).len(), SLUG_CHARS);
}

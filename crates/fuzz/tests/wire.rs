//! Every wire type against arbitrary bytes and against its snapshots with edits anywhere in
//! the tree: decoded or refused, never a panic, and what decodes reads back as itself.
//! Cases per property: `PROPTEST_CASES` (default 256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::BTreeSet;

use proptest::prelude::*;
use sotto_fuzz::{seeds, wire};

/// The `COVERED` list of the wire snapshot test, read from its source.
fn covered() -> BTreeSet<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/tests/wire.rs");
    let source = std::fs::read_to_string(path).unwrap();
    let start = source.find("const COVERED: &[&str] = &[").expect("wire.rs declares COVERED");
    let list = &source[start..];
    let list = &list[..list.find("];").unwrap()];
    list.lines()
        .filter_map(|line| line.trim().strip_prefix('"').and_then(|l| l.strip_suffix("\",")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_pinned_wire_type_is_fuzzed() {
    let covered = covered();
    assert!(covered.len() > 60, "COVERED was not read: {covered:?}");
    let fuzzed: BTreeSet<String> = wire::TYPES.iter().map(|t| (*t).to_owned()).collect();
    assert_eq!(fuzzed, covered, "sotto_fuzz::wire::TYPES must list exactly the wire snapshot test's COVERED");
}

#[test]
fn every_snapshot_decodes_as_its_type_and_round_trips() {
    let snapshots = seeds::wire().unwrap();
    assert!(snapshots.len() >= wire::TYPES.len());
    for (name, json) in &snapshots {
        let decoded = wire::check(name, json).unwrap_or_else(|| panic!("{name}: not a wire type"));
        assert_eq!(decoded, Ok(true), "{name}: its snapshot must decode");
        // The tagged form the libFuzzer target reads picks the same type.
        let mut tagged = vec![wire::tag_of(name).unwrap()];
        tagged.extend_from_slice(json);
        assert_eq!(wire::check_tagged(&tagged), Ok(true), "{name}");
    }
}

#[test]
fn a_type_that_does_not_read_back_is_a_violation() {
    // A field that is read but never written: what decodes cannot be read again.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
    struct Lossy {
        #[serde(skip_serializing)]
        kept: u32,
    }
    let found = wire::round_trip::<Lossy, _>("Lossy", br#"{"kept":1}"#, wire::same_value::<Lossy>);
    assert!(found.unwrap_err().0.contains("does not decode its own encoding"));
    // A value that reads back as another one.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq)]
    struct Drifting(#[serde(with = "plus_one")] u32);
    mod plus_one {
        pub fn serialize<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(v.wrapping_add(1))
        }
        pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
            serde::Deserialize::deserialize(d)
        }
    }
    let found = wire::round_trip::<Drifting, _>("Drifting", b"1", wire::same_value::<Drifting>);
    assert!(found.unwrap_err().0.contains("reads back as another value"));
    // The real types: an unknown error code reads as `unknown` and is written as `unknown`, the
    // same value; an invalid id is refused; a name that is no wire type is none.
    assert_eq!(wire::check("ErrorCode", br#""from_the_future""#), Some(Ok(true)));
    assert_eq!(wire::check("UserId", br#""Alice""#), Some(Ok(false)));
    assert_eq!(wire::check("NoSuchType", b"{}"), None);
}

proptest! {
    #[test]
    fn arbitrary_bytes_decode_or_are_refused(tag in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut input = vec![tag];
        input.extend_from_slice(&bytes);
        prop_assert_eq!(wire::check_tagged(&input).err(), None);
    }

    #[test]
    fn arbitrary_json_decodes_or_is_refused(tag in any::<u8>(), json in common::json()) {
        let mut input = vec![tag];
        input.extend_from_slice(&serde_json::to_vec(&json).unwrap());
        prop_assert_eq!(wire::check_tagged(&input).err(), None);
    }

    #[test]
    fn edited_snapshots_decode_or_are_refused(pick in any::<usize>(), edits in common::edits()) {
        let snapshots = SNAPSHOTS.with(Clone::clone);
        let (name, json) = &snapshots[pick % snapshots.len()];
        let edited = common::mutate(json, &edits);
        prop_assert_eq!(wire::check(name, &edited).unwrap().err(), None);
    }
}

thread_local! {
    static SNAPSHOTS: Vec<(String, Vec<u8>)> = seeds::wire().unwrap();
}

//! Structured mutation of JSON for the property tests: a valid document (a snapshot, a real
//! payload) with a few edits anywhere in its tree gets much further into a decoder than random
//! bytes do. libFuzzer mutates bytes on its own; these are for proptest.

#![allow(dead_code, reason = "each test file uses part of it")]

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// One edit at one node of a document (nodes counted in pre-order).
#[derive(Debug, Clone)]
pub enum Edit {
    /// The node becomes this value.
    Replace(Value),
    /// The node goes (from its object or array; the root becomes `null`).
    Remove,
    /// An array gets a copy of its first element; a string is doubled; an object gets a copy
    /// of its first field under another name.
    Duplicate,
    /// An object gets this field (others get nothing).
    Insert(String, Value),
}

/// Strings that mean something somewhere in Sotto: ids, keys, prefixes, and the awkward ones.
const WORDS: &[&str] = &[
    "",
    "alice",
    "bob",
    "carol.w",
    "ALICE1",
    "BOB1",
    "BOB2",
    "fuzzgroup",
    "fuzz-000000000001",
    "AAAA",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    // 44 characters: 33 bytes where a key has 32 (vodozemac 0.11 panicked on these).
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
    "sealed:v1:AAAA",
    "text",
    "room_key",
    "group_keys",
    "history",
    "membership",
    "direct",
    "group",
    "entry",
    "inbound_group_session",
    "end",
    "type",
    "é\u{0}\u{202e}",
    "u:alice",
    "g:fuzzgroup",
];

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(u32::MAX)),
        Just(Number::from_f64(1.5).map_or(Value::Null, Value::Number)),
        Just(Number::from_f64(1e300).map_or(Value::Null, Value::Number)),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        2 => proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        1 => (1usize..20_000).prop_map(|n| "A".repeat(n)),
    ]
}

/// Any JSON value, small, made of Sotto's words.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((string(), inner), 0..4)
                .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => json().prop_map(Edit::Replace),
        2 => Just(Edit::Remove),
        1 => Just(Edit::Duplicate),
        1 => (string(), json()).prop_map(|(k, v)| Edit::Insert(k, v)),
    ]
}

/// A few edits, each at a node picked by a number (wrapped to the document's size).
pub fn edits() -> impl Strategy<Value = Vec<(usize, Edit)>> {
    proptest::collection::vec((any::<usize>(), edit()), 1..4)
}

fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

fn apply_here(value: &mut Value, edit: &Edit) {
    match edit {
        Edit::Replace(new) => *value = new.clone(),
        Edit::Remove => *value = Value::Null,
        Edit::Duplicate => match value {
            Value::Array(a) => {
                if let Some(first) = a.first().cloned() {
                    a.push(first);
                }
            }
            Value::String(s) => *s = s.repeat(2),
            Value::Object(o) => {
                if let Some((k, v)) = o.iter().next().map(|(k, v)| (format!("{k}_"), v.clone())) {
                    o.insert(k, v);
                }
            }
            _ => {}
        },
        Edit::Insert(k, v) => {
            if let Value::Object(o) = value {
                o.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Walk to the `target`th node (pre-order) and edit it; a removal takes it out of its parent.
fn visit(value: &mut Value, target: &mut usize, edit: &Edit) -> bool {
    if *target == 0 {
        apply_here(value, edit);
        return true;
    }
    *target -= 1;
    match value {
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *target == 0 && matches!(edit, Edit::Remove) {
                    o.remove(&k);
                    return true;
                }
                if let Some(child) = o.get_mut(&k)
                    && visit(child, target, edit)
                {
                    return true;
                }
            }
            false
        }
        Value::Array(a) => {
            for i in 0..a.len() {
                if *target == 0 && matches!(edit, Edit::Remove) {
                    a.remove(i);
                    return true;
                }
                if let Some(child) = a.get_mut(i)
                    && visit(child, target, edit)
                {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

/// `document` (JSON bytes) with `edits` applied; bytes that are not JSON come back unchanged.
pub fn mutate(document: &[u8], edits: &[(usize, Edit)]) -> Vec<u8> {
    let Ok(mut value) = serde_json::from_slice::<Value>(document) else { return document.to_vec() };
    for (at, edit) in edits {
        let mut target = at % count(&value);
        visit(&mut value, &mut target, edit);
    }
    serde_json::to_vec(&value).unwrap_or_else(|_| document.to_vec())
}

/// Like [`mutate`], for content spliced into an envelope, which may go on after the JSON value
/// (`{...},"state":{...}`): the first value is mutated, the rest kept.
pub fn mutate_prefix(content: &[u8], edits: &[(usize, Edit)]) -> Vec<u8> {
    let mut stream = serde_json::Deserializer::from_slice(content).into_iter::<Value>();
    if stream.next().is_none() {
        return content.to_vec();
    }
    let end = stream.byte_offset();
    let (head, rest) = content.split_at(end);
    let mut out = mutate(head, edits);
    out.extend_from_slice(rest);
    out
}

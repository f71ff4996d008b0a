//! Short authentication strings on vodozemac's `sas`: what two devices show their people to
//! compare (seven emoji, or three four-digit numbers), the commitment that stops the device
//! sending its key last from choosing it, and the MACs that bind each device's keys to the
//! comparison. The emoji are Matrix's table, so the pictures mean the same as elsewhere.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};
use sotto_proto::DeviceAddress;
use vodozemac::Curve25519PublicKey;
use vodozemac::sas::{EstablishedSas, Mac};

/// Matrix's 64 SAS emoji with their English names (spec: "SAS method: emoji").
const EMOJI: [(&str, &str); 64] = [
    ("🐶", "Dog"),
    ("🐱", "Cat"),
    ("🦁", "Lion"),
    ("🐎", "Horse"),
    ("🦄", "Unicorn"),
    ("🐷", "Pig"),
    ("🐘", "Elephant"),
    ("🐰", "Rabbit"),
    ("🐼", "Panda"),
    ("🐓", "Rooster"),
    ("🐧", "Penguin"),
    ("🐢", "Turtle"),
    ("🐟", "Fish"),
    ("🐙", "Octopus"),
    ("🦋", "Butterfly"),
    ("🌷", "Flower"),
    ("🌳", "Tree"),
    ("🌵", "Cactus"),
    ("🍄", "Mushroom"),
    ("🌏", "Globe"),
    ("🌙", "Moon"),
    ("☁️", "Cloud"),
    ("🔥", "Fire"),
    ("🍌", "Banana"),
    ("🍎", "Apple"),
    ("🍓", "Strawberry"),
    ("🌽", "Corn"),
    ("🍕", "Pizza"),
    ("🎂", "Cake"),
    ("❤️", "Heart"),
    ("😀", "Smiley"),
    ("🤖", "Robot"),
    ("🎩", "Hat"),
    ("👓", "Glasses"),
    ("🔧", "Spanner"),
    ("🎅", "Santa"),
    ("👍", "Thumbs Up"),
    ("☂️", "Umbrella"),
    ("⌛", "Hourglass"),
    ("⏰", "Clock"),
    ("🎁", "Gift"),
    ("💡", "Light Bulb"),
    ("📕", "Book"),
    ("✏️", "Pencil"),
    ("📎", "Paperclip"),
    ("✂️", "Scissors"),
    ("🔒", "Lock"),
    ("🔑", "Key"),
    ("🔨", "Hammer"),
    ("☎️", "Telephone"),
    ("🏁", "Flag"),
    ("🚂", "Train"),
    ("🚲", "Bicycle"),
    ("✈️", "Aeroplane"),
    ("🚀", "Rocket"),
    ("🏆", "Trophy"),
    ("⚽", "Ball"),
    ("🎸", "Guitar"),
    ("🎺", "Trumpet"),
    ("🔔", "Bell"),
    ("⚓", "Anchor"),
    ("🎧", "Headphones"),
    ("📁", "Folder"),
    ("📌", "Pin"),
];

/// One emoji of the seven, with its name (for people who cannot tell the pictures apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SasEmoji {
    pub symbol: String,
    pub name: String,
}

/// What both devices show: the same on both, or someone is in between.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ShortAuthString {
    pub emoji: Vec<SasEmoji>,
    /// Three numbers from 1000 to 9191, for devices that compare digits.
    pub decimals: [u16; 3],
}

/// The commitment a device makes to its key before it sees the other's.
pub fn commitment(key: &Curve25519PublicKey, txn: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(key.to_base64().as_bytes());
    hash.update(b"|");
    hash.update(txn.as_bytes());
    vodozemac::base64_encode(hash.finalize())
}

/// The two sides of a verification, in a fixed order (the initiator first), with their keys:
/// everything the shared string and the MACs are bound to.
pub struct Parties<'a> {
    pub txn: &'a str,
    pub initiator: &'a DeviceAddress,
    pub initiator_key: &'a Curve25519PublicKey,
    pub acceptor: &'a DeviceAddress,
    pub acceptor_key: &'a Curve25519PublicKey,
}

impl Parties<'_> {
    fn info(&self) -> String {
        format!(
            "SOTTO_SAS_V1|{}|{}|{}|{}|{}|{}|{}",
            self.initiator.user_id,
            self.initiator.device_id,
            self.initiator_key.to_base64(),
            self.acceptor.user_id,
            self.acceptor.device_id,
            self.acceptor_key.to_base64(),
            self.txn
        )
    }
}

/// The string both people compare.
pub fn short_auth_string(sas: &EstablishedSas, parties: &Parties<'_>) -> ShortAuthString {
    let bytes = sas.bytes(&parties.info());
    let emoji = bytes
        .emoji_indices()
        .iter()
        .filter_map(|&i| EMOJI.get(usize::from(i)))
        .map(|(symbol, name)| SasEmoji { symbol: (*symbol).to_owned(), name: (*name).to_owned() })
        .collect();
    let (a, b, c) = bytes.decimals();
    ShortAuthString { emoji, decimals: [a, b, c] }
}

fn mac_info(txn: &str, from: &DeviceAddress, to: &DeviceAddress, key_id: &str) -> String {
    format!("SOTTO_SAS_MAC_V1|{}|{}|{}|{}|{txn}|{key_id}", from.user_id, from.device_id, to.user_id, to.device_id)
}

const KEY_IDS: &str = "KEY_IDS";

/// The MACs a device sends once its person confirmed the match: one per key it vouches for
/// (`key_id` → key), and one over the sorted key ids.
pub fn macs(
    sas: &EstablishedSas,
    txn: &str,
    from: &DeviceAddress,
    to: &DeviceAddress,
    keys: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, String) {
    let macs = keys
        .iter()
        .map(|(id, key)| (id.clone(), sas.calculate_mac(key, &mac_info(txn, from, to, id)).to_base64()))
        .collect();
    let ids = keys.keys().cloned().collect::<Vec<_>>().join(",");
    let ids_mac = sas.calculate_mac(&ids, &mac_info(txn, from, to, KEY_IDS)).to_base64();
    (macs, ids_mac)
}

/// Checks the MACs `from` sent against the keys this device expects for it (`key_id` → key).
/// Every expected key must be covered, and the list of key ids must be the one sent.
pub fn verify_macs(
    sas: &EstablishedSas,
    txn: &str,
    from: &DeviceAddress,
    to: &DeviceAddress,
    macs: &BTreeMap<String, String>,
    ids_mac: &str,
    expected: &BTreeMap<String, String>,
) -> bool {
    let check = |input: &str, key_id: &str, mac: &str| {
        Mac::from_base64(mac).is_ok_and(|mac| sas.verify_mac(input, &mac_info(txn, from, to, key_id), &mac).is_ok())
    };
    let ids = macs.keys().cloned().collect::<Vec<_>>().join(",");
    if !check(&ids, KEY_IDS, ids_mac) {
        return false;
    }
    expected.iter().all(|(id, key)| macs.get(id).is_some_and(|mac| check(key, id, mac)))
}

#[cfg(test)]
mod tests {
    use sotto_proto::{DeviceId, UserId};
    use vodozemac::sas::Sas;

    use super::*;

    fn addr(user: &str, device: &str) -> DeviceAddress {
        DeviceAddress { user_id: UserId::parse(user).unwrap(), device_id: DeviceId::parse(device).unwrap() }
    }

    #[test]
    fn both_sides_show_the_same_string_and_check_each_others_macs() {
        let (old, new) = (addr("alice", "OLD"), addr("alice", "NEW"));
        let (a, b) = (Sas::new(), Sas::new());
        let (ka, kb) = (a.public_key(), b.public_key());
        let parties = Parties { txn: "t1", initiator: &old, initiator_key: &ka, acceptor: &new, acceptor_key: &kb };
        let (a, b) = (a.diffie_hellman(kb).unwrap(), b.diffie_hellman(ka).unwrap());
        let shown = short_auth_string(&a, &parties);
        assert_eq!(shown, short_auth_string(&b, &parties));
        assert_eq!(shown.emoji.len(), 7, "vodozemac's indices are below 64");
        assert!(shown.decimals.iter().all(|d| (1000..=9191).contains(d)));

        let keys: BTreeMap<String, String> =
            [("ed25519:OLD".to_owned(), "device key".to_owned()), ("master:alice".to_owned(), "master".to_owned())]
                .into();
        let (macs, ids) = super::macs(&a, "t1", &old, &new, &keys);
        assert!(verify_macs(&b, "t1", &old, &new, &macs, &ids, &keys));
        // Another key than the one sent, a key left out, another direction: refused.
        let mut other = keys.clone();
        other.insert("master:alice".into(), "the server's master key".into());
        assert!(!verify_macs(&b, "t1", &old, &new, &macs, &ids, &other));
        let mut fewer = macs.clone();
        fewer.remove("master:alice");
        assert!(!verify_macs(&b, "t1", &old, &new, &fewer, &ids, &keys));
        assert!(!verify_macs(&b, "t1", &new, &old, &macs, &ids, &keys));

        // Someone in between (a third key on one side) shows another string.
        let c = Sas::new();
        let kc = c.public_key();
        let mitm = Parties { txn: "t1", initiator: &old, initiator_key: &ka, acceptor: &new, acceptor_key: &kc };
        assert_ne!(short_auth_string(&c.diffie_hellman(ka).unwrap(), &mitm), shown);
        assert_ne!(commitment(&kb, "t1"), commitment(&kc, "t1"));
    }
}

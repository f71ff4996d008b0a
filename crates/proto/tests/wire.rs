//! The wire format, pinned: one snapshot per serialized type of `sotto-proto` (one per variant of a
//! tagged enum), committed under `tests/snapshots/` as `Type.snap` or `Type-what.snap`.
//!
//! The snapshots ARE the protocol: a change to one is a change of what clients and servers send
//! each other, so it is reviewed as such (`INSTA_UPDATE=always`, then read the diff). Each test
//! also reads the committed JSON back and checks it is the value it was made from, and that it is
//! exactly what `serde_json` sends. The guard at the end fails when a type that derives
//! `Serialize` or `Deserialize` in `src/` has no snapshot here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sotto_proto::routes::{HistoryQuery, InboxQuery};
use sotto_proto::*;

/// Every wire type the tests below pin. The guard compares it with the types declared in `src/`.
const COVERED: &[&str] = &[
    // auth.rs
    "RegisterRequest",
    "LoginRequest",
    "RefreshRequest",
    "ExternalLoginRequest",
    "DeleteDeviceRequest",
    "ChangePasswordRequest",
    "Session",
    "DeviceInfo",
    "DeviceList",
    "AccessClaims",
    "Jwk",
    "Jwks",
    // backup.rs
    "Backup",
    "PutBackupRequest",
    "BackupVersion",
    // profile.rs
    "SealedProfile",
    "PutProfileRequest",
    // blobs.rs
    "CreateBlobRequest",
    "CreatedBlob",
    "BlobUpload",
    // error.rs
    "ErrorCode",
    "ErrorBody",
    "DeviceMismatch",
    // groups.rs
    "Role",
    "GroupMember",
    "GroupInfo",
    "GroupList",
    "GroupAction",
    "GroupChange",
    "SignedGroupChange",
    "GroupLogQuery",
    "GroupLogPage",
    "MembershipChange",
    "MembershipEvent",
    // history.rs
    "GroupHistoryMessage",
    "GroupHistoryPage",
    // ids.rs
    "UserId",
    "DeviceId",
    "GroupId",
    "MessageId",
    "KeyId",
    "BlobId",
    "DeviceAddress",
    // identity.rs
    "UserIdentity",
    "DeviceConfirmation",
    "ConfirmDevicesRequest",
    "ResetIdentityRequest",
    "UserSignature",
    // inbox.rs
    "DevicePayload",
    "SendDirectRequest",
    "SendGroupRequest",
    "SendReceipt",
    "EntryBody",
    "InboxEntry",
    "InboxPage",
    "AckRequest",
    // keys.rs
    "DeviceKeys",
    "ResetDeviceKeysRequest",
    "SignedKey",
    "UploadKeysRequest",
    "KeyCounts",
    "QueryKeysRequest",
    "UserDevices",
    "QueryKeysResponse",
    "ClaimKeysRequest",
    "ClaimedKey",
    "ClaimKeysResponse",
    // routes.rs
    "InboxQuery",
    "HistoryQuery",
    // ws.rs
    "EphemeralTarget",
    "SocketSend",
    "ClientFrame",
    "ServerFrame",
];

const SNAPSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots");

// ---------------------------------------------------------------------------------------------
// How a value is pinned.

/// Asserts the snapshot `name` of `value`, and returns what the committed snapshot reads back as.
fn snapshot<T: Serialize + DeserializeOwned>(name: &str, value: &T) -> T {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_json_snapshot!(name, value));

    let path = format!("{SNAPSHOTS}/{name}.snap");
    let file = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    // A snapshot file is a `---`-fenced header, then the JSON.
    let json = file.splitn(3, "---\n").nth(2).unwrap_or_else(|| panic!("{path}: no snapshot header"));
    let stored: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(stored, serde_json::to_value(value).unwrap(), "{name}: the snapshot is what serde_json sends");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: the snapshot does not read back: {e}"))
}

/// Pins a type that can be compared.
fn pin<T: Serialize + DeserializeOwned + PartialEq + Debug>(name: &str, value: &T) {
    let back = snapshot(name, value);
    assert_eq!(&back, value, "{name} reads back as it was sent");
}

/// Pins a type without `PartialEq` (or without `Debug`, as types holding a secret): what it reads
/// back as must send the same JSON again.
fn pin_json<T: Serialize + DeserializeOwned>(name: &str, value: &T) {
    let back = snapshot(name, value);
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        serde_json::to_value(value).unwrap(),
        "{name} reads back as it was sent"
    );
}

/// A peer that leaves out `#[serde(default)]` fields (an older one) is read as if it sent their
/// defaults, which `value` holds.
fn reads_without<T: Serialize + DeserializeOwned>(value: &T, fields: &[&str]) {
    let mut json = serde_json::to_value(value).unwrap();
    let object = json.as_object_mut().unwrap();
    for field in fields {
        assert!(object.remove(*field).is_some(), "`{field}` is not sent");
    }
    let back: T = serde_json::from_value(json).unwrap_or_else(|e| panic!("without {fields:?}: {e}"));
    assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(value).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Representative values.

const T0_MS: u64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const T0_S: u64 = T0_MS / 1000;
const CURVE25519: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo";
const ED25519: &str = "lEuiRJBit0IG6nUf5pUzWTUEsRVVe/HJkoKuEww9ULI";
const SIGNATURE: &str = "dSO80A01XiigH3uBiDVx/EjzaoycHcjq9lfQX0uWsqxl2giMIiSPR8a4d291W1ihKJL/a+myXS367WT6NAIcBA";
const OLM_CIPHERTEXT: &str = "AwogTo1DNFwLJgvUBQ7G7MiXGv0ZW8BIP8Z4JOjnzIdzH0gSIK4ZbbY8ttcFkXSYg";
const MEGOLM_CIPHERTEXT: &str = "AwgAEnDRtBm3+XNcVdLmZhj2uCi+MJCH3gQJR0Z3SK3fxKSeGbpnVu8ZAwFN1B";
const ACCESS_TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}
fn bob() -> UserId {
    UserId::parse("bob").unwrap()
}
fn carol() -> UserId {
    UserId::parse("carol.w").unwrap()
}
fn dave() -> UserId {
    UserId::parse("dave").unwrap()
}
fn laptop() -> DeviceId {
    DeviceId::parse("Wq3vK9tLx2").unwrap()
}
fn phone() -> DeviceId {
    DeviceId::parse("Hn7pR2mZc8").unwrap()
}
fn alice_phone() -> DeviceId {
    DeviceId::parse("Tb5nQ1wEr4").unwrap()
}
fn carol_device() -> DeviceId {
    DeviceId::parse("Zx8cV7bN6m").unwrap()
}
fn group_id() -> GroupId {
    GroupId::parse("g7Hk2Lm9Qx").unwrap()
}
fn message_id() -> MessageId {
    MessageId::parse("0b7c9e2a-1f3d-4c5e-9a8b-6d2f1e0c3b4a").unwrap()
}
fn key_id() -> KeyId {
    KeyId::parse("AAAAAQ").unwrap()
}
fn address(user_id: UserId, device_id: DeviceId) -> DeviceAddress {
    DeviceAddress { user_id, device_id }
}
fn device_keys() -> DeviceKeys {
    DeviceKeys {
        user_id: alice(),
        device_id: laptop(),
        curve25519: CURVE25519.into(),
        ed25519: ED25519.into(),
        signature: SIGNATURE.into(),
    }
}
fn signed_key() -> SignedKey {
    SignedKey { key_id: key_id(), key: CURVE25519.into(), signature: SIGNATURE.into() }
}
fn group_info() -> GroupInfo {
    GroupInfo {
        group_id: group_id(),
        name: "Climbing".into(),
        version: 4,
        created_ts: T0_MS,
        members: vec![
            GroupMember { user_id: alice(), role: Role::Owner },
            GroupMember { user_id: bob(), role: Role::Admin },
            GroupMember { user_id: carol(), role: Role::Member },
        ],
        invited: vec![dave()],
    }
}
fn membership_event() -> MembershipEvent {
    MembershipEvent {
        group_id: group_id(),
        change: MembershipChange::Added,
        actor: alice(),
        users: vec![carol()],
        group: group_info(),
        signed: Some(signed_change()),
    }
}
fn sample_change() -> GroupChange {
    GroupChange {
        group_id: group_id(),
        seq: 4,
        prev: Some(CURVE25519.into()),
        author: alice(),
        device_id: phone(),
        curve25519: CURVE25519.into(),
        ed25519: ED25519.into(),
        confirmation: SIGNATURE.into(),
        ts: T0_MS,
        action: GroupAction::Add { users: vec![carol()] },
    }
}
fn signed_change() -> SignedGroupChange {
    SignedGroupChange { change: serde_json::to_string(&sample_change()).unwrap(), signature: SIGNATURE.into() }
}
fn direct_entry() -> InboxEntry {
    InboxEntry {
        seq: 42,
        message_id: message_id(),
        sender_user: bob(),
        sender_device: Some(phone()),
        server_ts: T0_MS,
        body: EntryBody::Direct { ciphertext: OLM_CIPHERTEXT.into() },
    }
}
fn group_entry() -> InboxEntry {
    InboxEntry {
        seq: 43,
        message_id: MessageId::parse("5f1d3c7b-8e2a-4b6c-9d0e-1a2b3c4d5e6f").unwrap(),
        sender_user: bob(),
        sender_device: Some(phone()),
        server_ts: T0_MS + 1500,
        body: EntryBody::Group { group_id: group_id(), ciphertext: MEGOLM_CIPHERTEXT.into() },
    }
}
fn history_message() -> GroupHistoryMessage {
    GroupHistoryMessage {
        seq: 120,
        message_id: message_id(),
        sender_user: bob(),
        sender_device: Some(phone()),
        server_ts: T0_MS,
        ciphertext: MEGOLM_CIPHERTEXT.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// auth.rs

#[test]
fn register_request() {
    let full =
        RegisterRequest { user_id: alice(), password: "correct horse".into(), device_name: Some("Laptop".into()) };
    pin_json("RegisterRequest", &full);
    let unset = RegisterRequest { device_name: None, ..full };
    pin_json("RegisterRequest-unset", &unset);
    reads_without(&unset, &["device_name"]);
}

#[test]
fn login_request() {
    let full = LoginRequest {
        user_id: alice(),
        password: "correct horse".into(),
        device_name: Some("Laptop".into()),
        device_id: Some(laptop()),
    };
    pin_json("LoginRequest", &full);
    let unset = LoginRequest { device_name: None, device_id: None, ..full };
    pin_json("LoginRequest-unset", &unset);
    reads_without(&unset, &["device_name"]);
}

#[test]
fn refresh_request() {
    pin_json("RefreshRequest", &RefreshRequest { refresh_token: "rt_5QmZr8Jx2Lc7Vn4Tg9Hb1Kd6".into() });
}

#[test]
fn external_login_request() {
    let full = ExternalLoginRequest { token: ACCESS_TOKEN.into(), device_name: Some("Phone".into()) };
    pin_json("ExternalLoginRequest", &full);
    let unset = ExternalLoginRequest { device_name: None, ..full };
    pin_json("ExternalLoginRequest-unset", &unset);
    reads_without(&unset, &["device_name"]);
}

#[test]
fn delete_device_request() {
    pin_json("DeleteDeviceRequest", &DeleteDeviceRequest { password: "correct horse".into() });
}

#[test]
fn change_password_request() {
    let req = ChangePasswordRequest { current_password: "correct horse".into(), new_password: "battery staple".into() };
    pin_json("ChangePasswordRequest", &req);
}

#[test]
fn session() {
    let session = Session {
        user_id: alice(),
        device_id: laptop(),
        access_token: ACCESS_TOKEN.into(),
        expires_in: 900,
        refresh_token: "rt_5QmZr8Jx2Lc7Vn4Tg9Hb1Kd6".into(),
    };
    pin_json("Session", &session);
}

fn device_info() -> DeviceInfo {
    DeviceInfo { device_id: laptop(), name: Some("Laptop".into()), created_ts: T0_MS, has_keys: true }
}

#[test]
fn device_info_with_and_without_name() {
    pin("DeviceInfo", &device_info());
    let unset = DeviceInfo { device_id: phone(), name: None, created_ts: T0_MS + 60_000, has_keys: false };
    pin("DeviceInfo-unset", &unset);
    reads_without(&unset, &["name"]);
}

#[test]
fn device_list() {
    let other =
        DeviceInfo { device_id: phone(), name: Some("Phone".into()), created_ts: T0_MS + 60_000, has_keys: false };
    pin_json("DeviceList", &DeviceList { devices: vec![device_info(), other] });
}

#[test]
fn access_claims() {
    let claims = AccessClaims {
        iss: "https://chat.example.org".into(),
        sub: "alice".into(),
        dev: "Wq3vK9tLx2".into(),
        iat: T0_S,
        exp: T0_S + 900,
    };
    pin("AccessClaims", &claims);
}

fn jwk() -> Jwk {
    Jwk {
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
        kid: "k1".into(),
        alg: "EdDSA".into(),
        use_: "sig".into(),
    }
}

#[test]
fn jwk_and_jwks() {
    pin("Jwk", &jwk());
    pin("Jwks", &Jwks { keys: vec![jwk()] });
}

// ---------------------------------------------------------------------------------------------
// backup.rs

const BACKUP_BLOB: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNjcnlwdCBzYWx0IDE4Cg";

#[test]
fn backup() {
    pin_json("Backup", &Backup { version: 3, blob: BACKUP_BLOB.into() });
}

#[test]
fn put_backup_request() {
    pin_json("PutBackupRequest", &PutBackupRequest { expected_version: 3, blob: BACKUP_BLOB.into() });
}

#[test]
fn backup_version() {
    pin("BackupVersion", &BackupVersion { version: 4 });
}

// ---------------------------------------------------------------------------------------------
// profile.rs

#[test]
fn sealed_profile() {
    pin_json("SealedProfile", &SealedProfile { ciphertext: BACKUP_BLOB.into() });
}

#[test]
fn put_profile_request() {
    pin_json("PutProfileRequest", &PutProfileRequest { ciphertext: BACKUP_BLOB.into() });
}

// ---------------------------------------------------------------------------------------------
// blobs.rs

fn blob_id() -> BlobId {
    BlobId::parse("q3Yb2l0fUe8sW4kP1xZr9A").unwrap()
}

#[test]
fn create_blob_request() {
    pin("CreateBlobRequest", &CreateBlobRequest { size: 1_048_576, recipients: vec![bob(), carol()] });
}

#[test]
fn created_blob() {
    pin("CreatedBlob", &CreatedBlob { blob_id: blob_id(), part_size: 4_194_304 });
}

#[test]
fn blob_upload() {
    pin("BlobUpload", &BlobUpload { offset: 65_536, size: 1_048_576, complete: false });
}

// ---------------------------------------------------------------------------------------------
// error.rs

/// Every code at once, in declaration order: the list of codes is itself part of the protocol.
#[test]
fn error_codes() {
    pin("ErrorCode", &ErrorCode::ALL.to_vec());
}

fn device_mismatch() -> DeviceMismatch {
    DeviceMismatch { missing: vec![address(bob(), phone())], unknown: vec![address(carol(), carol_device())] }
}

#[test]
fn error_body() {
    let full = ErrorBody {
        code: ErrorCode::DevicesChanged,
        message: "the recipients' devices changed".into(),
        devices: Some(device_mismatch()),
        users: Some(vec![dave()]),
    };
    pin("ErrorBody", &full);
    let unset = ErrorBody {
        code: ErrorCode::NotMember,
        message: "you are not a member of this group".into(),
        devices: None,
        users: None,
    };
    pin("ErrorBody-unset", &unset);
    reads_without(&full, &[]);
}

#[test]
fn device_mismatch_alone() {
    pin("DeviceMismatch", &device_mismatch());
}

// ---------------------------------------------------------------------------------------------
// groups.rs

/// Every role, in declaration order.
#[test]
fn roles() {
    let all = [Role::Member, Role::Admin, Role::Owner];
    for role in all {
        // Exhaustive on purpose: a new role does not compile until it is in `all`.
        match role {
            Role::Member | Role::Admin | Role::Owner => {}
        }
    }
    pin("Role", &all.to_vec());
}

#[test]
fn group_member() {
    pin("GroupMember", &GroupMember { user_id: bob(), role: Role::Admin });
}

#[test]
fn group_info_and_list() {
    pin("GroupInfo", &group_info());
    let nobody_invited = GroupInfo { invited: vec![], ..group_info() };
    pin("GroupInfo-unset", &nobody_invited);
    pin_json("GroupList", &GroupList { groups: vec![group_info()] });
}

#[test]
fn group_actions() {
    use GroupAction::*;
    // Exhaustive on purpose: a new action does not compile until it has a snapshot here.
    fn name(action: &GroupAction) -> &'static str {
        match action {
            Create { .. } => "GroupAction-create",
            Adopt { .. } => "GroupAction-adopt",
            Add { .. } => "GroupAction-add",
            Remove { .. } => "GroupAction-remove",
            Leave => "GroupAction-leave",
            SetRole { .. } => "GroupAction-set_role",
            Dismiss => "GroupAction-dismiss",
            Invite { .. } => "GroupAction-invite",
            Join => "GroupAction-join",
            Decline => "GroupAction-decline",
            Rename { .. } => "GroupAction-rename",
        }
    }
    for action in [
        Create { name: "Climbing".into(), members: vec![bob(), carol()], invited: vec![dave()] },
        Invite { users: vec![dave()] },
        Join,
        Decline,
        Adopt { name: "Climbing".into(), members: group_info().members },
        Add { users: vec![carol()] },
        Remove { user: carol() },
        Leave,
        SetRole { user: bob(), role: Role::Admin },
        Dismiss,
        Rename { name: "sealed:v1:bm9uY2VjaXBoZXJ0ZXh0".into() },
    ] {
        pin(name(&action), &action);
    }
    let nobody_invited = Create { name: "Climbing".into(), members: vec![bob()], invited: vec![] };
    pin("GroupAction-create-unset", &nobody_invited);
}

#[test]
fn group_change() {
    pin("GroupChange", &sample_change());
    let first = GroupChange { seq: 1, prev: None, ..sample_change() };
    pin("GroupChange-unset", &first);
}

#[test]
fn signed_group_change() {
    pin("SignedGroupChange", &signed_change());
    assert!(signed_change().hash_input().starts_with(b"sotto-group-change-v1\n{"));
}

#[test]
fn group_log_query() {
    pin("GroupLogQuery", &GroupLogQuery { after: 3, limit: Some(50) });
    pin("GroupLogQuery-unset", &GroupLogQuery::default());
    reads_without(&GroupLogQuery::default(), &["after"]);
}

#[test]
fn group_log_page() {
    pin_json("GroupLogPage", &GroupLogPage { changes: vec![signed_change()], more: false, group: group_info() });
}

/// Every membership change, in declaration order.
#[test]
fn membership_changes() {
    use MembershipChange::*;
    let all = [
        Created,
        Added,
        Removed,
        Left,
        Dismissed,
        RoleChanged,
        Invited,
        Joined,
        Declined,
        InvitationWithdrawn,
        Renamed,
    ];
    for change in all {
        // Exhaustive on purpose: a new change does not compile until it is in `all`.
        match change {
            Created | Added | Removed | Left | Dismissed | RoleChanged | Invited | Joined | Declined
            | InvitationWithdrawn | Renamed => {}
        }
    }
    pin("MembershipChange", &all.to_vec());
}

#[test]
fn membership_event_alone() {
    pin("MembershipEvent", &membership_event());
    let unsigned = MembershipEvent { signed: None, ..membership_event() };
    pin("MembershipEvent-unset", &unsigned);
}

// ---------------------------------------------------------------------------------------------
// history.rs

#[test]
fn group_history_message() {
    pin("GroupHistoryMessage", &history_message());
    let unset = GroupHistoryMessage { sender_device: None, ..history_message() };
    pin("GroupHistoryMessage-unset", &unset);
    reads_without(&unset, &["sender_device"]);
}

#[test]
fn group_history_page() {
    let older = GroupHistoryMessage {
        seq: 119,
        message_id: MessageId::parse("5f1d3c7b-8e2a-4b6c-9d0e-1a2b3c4d5e6f").unwrap(),
        sender_user: alice(),
        sender_device: Some(laptop()),
        server_ts: T0_MS - 60_000,
        ciphertext: MEGOLM_CIPHERTEXT.into(),
    };
    pin_json("GroupHistoryPage", &GroupHistoryPage { messages: vec![history_message(), older], more: true });
}

// ---------------------------------------------------------------------------------------------
// ids.rs

#[test]
fn ids() {
    pin("UserId", &carol());
    pin("DeviceId", &laptop());
    pin("GroupId", &group_id());
    pin("MessageId", &message_id());
    pin("KeyId", &KeyId::parse("AAAAAQ+/=").unwrap());
    pin("BlobId", &blob_id());
}

#[test]
fn device_address() {
    pin("DeviceAddress", &address(alice(), laptop()));
}

// ---------------------------------------------------------------------------------------------
// inbox.rs

fn device_payload() -> DevicePayload {
    DevicePayload { user_id: bob(), device_id: phone(), ciphertext: OLM_CIPHERTEXT.into() }
}

#[test]
fn device_payload_alone() {
    pin("DevicePayload", &device_payload());
}

#[test]
fn send_direct_request() {
    let own = DevicePayload { user_id: alice(), device_id: alice_phone(), ciphertext: OLM_CIPHERTEXT.into() };
    pin_json(
        "SendDirectRequest",
        &SendDirectRequest { message_id: message_id(), payloads: vec![device_payload(), own] },
    );
}

#[test]
fn send_group_request() {
    let full = SendGroupRequest {
        message_id: message_id(),
        ciphertext: MEGOLM_CIPHERTEXT.into(),
        member_devices: Some(vec![address(bob(), phone()), address(carol(), carol_device())]),
        members: Some(vec![alice(), bob(), carol()]),
    };
    pin_json("SendGroupRequest", &full);
    pin_json("SendGroupRequest-unset", &SendGroupRequest { member_devices: None, members: None, ..full });
}

#[test]
fn send_receipt() {
    pin("SendReceipt", &SendReceipt { message_id: message_id(), server_ts: T0_MS, duplicate: true });
}

#[test]
fn entry_bodies() {
    // Exhaustive on purpose: a new variant does not compile until it has a snapshot here.
    fn name(body: &EntryBody) -> &'static str {
        match body {
            EntryBody::Direct { .. } => "EntryBody-direct",
            EntryBody::Group { .. } => "EntryBody-group",
            EntryBody::Membership(_) => "EntryBody-membership",
        }
    }
    for body in [direct_entry().body, group_entry().body, EntryBody::Membership(Box::new(membership_event()))] {
        pin(name(&body), &body);
    }
}

#[test]
fn inbox_entry() {
    pin("InboxEntry", &direct_entry());
    // Membership events the server makes on a user's behalf have no sending device.
    let unset = InboxEntry {
        seq: 44,
        message_id: MessageId::parse("membership-00000007").unwrap(),
        sender_user: alice(),
        sender_device: None,
        server_ts: T0_MS + 3000,
        body: EntryBody::Membership(Box::new(membership_event())),
    };
    pin("InboxEntry-unset", &unset);
    reads_without(&unset, &["sender_device"]);
}

#[test]
fn inbox_page() {
    pin_json("InboxPage", &InboxPage { entries: vec![direct_entry(), group_entry()], more: true });
}

#[test]
fn ack_request() {
    pin_json("AckRequest", &AckRequest { up_to: 43 });
}

// ---------------------------------------------------------------------------------------------
// keys.rs

#[test]
fn device_keys_alone() {
    pin("DeviceKeys", &device_keys());
}

#[test]
fn reset_device_keys_request() {
    pin_json(
        "ResetDeviceKeysRequest",
        &ResetDeviceKeysRequest { password: "correct horse".into(), keys: device_keys() },
    );
}

#[test]
fn signed_key_alone() {
    pin("SignedKey", &signed_key());
}

#[test]
fn upload_keys_request() {
    let second = SignedKey { key_id: KeyId::parse("AAAAAg").unwrap(), ..signed_key() };
    let fallback = SignedKey { key_id: KeyId::parse("AAAAZg").unwrap(), ..signed_key() };
    let full = UploadKeysRequest { one_time_keys: vec![signed_key(), second], fallback_key: Some(fallback) };
    pin_json("UploadKeysRequest", &full);
    let unset = UploadKeysRequest { one_time_keys: vec![], fallback_key: None };
    pin_json("UploadKeysRequest-unset", &unset);
    reads_without(&unset, &["one_time_keys", "fallback_key"]);
}

#[test]
fn key_counts() {
    pin("KeyCounts", &KeyCounts { one_time_keys: 50, has_fallback: true });
}

#[test]
fn query_keys_request() {
    pin_json("QueryKeysRequest", &QueryKeysRequest { user_ids: vec![alice(), bob()] });
}

fn user_devices() -> UserDevices {
    UserDevices {
        user_id: alice(),
        devices: vec![device_keys()],
        identity: Some(user_identity()),
        confirmations: vec![device_confirmation()],
        verified_by_you: Some(user_signature()),
    }
}

fn user_signature() -> UserSignature {
    UserSignature {
        target: alice(),
        master_key: "bWFzdGVyIGtleSBvZiBhbGljZSwgMzIgYnl0ZXMhIQ".into(),
        signature: "c2lnbmF0dXJlIGJ5IHRoZSB1c2VyLXNpZ25pbmcga2V5".into(),
    }
}

#[test]
fn user_signature_alone() {
    pin("UserSignature", &user_signature());
}

#[test]
fn user_devices_alone() {
    pin("UserDevices", &user_devices());
    // From a server that has no identity for the user (or predates identities).
    let unset = UserDevices { identity: None, confirmations: vec![], verified_by_you: None, ..user_devices() };
    pin("UserDevices-unset", &unset);
    reads_without(&unset, &["identity", "confirmations", "verified_by_you"]);
}

// ---------------------------------------------------------------------------------------------
// identity.rs

fn user_identity() -> UserIdentity {
    UserIdentity {
        user_id: alice(),
        master_key: "bWFzdGVyIGtleSBvZiBhbGljZSwgMzIgYnl0ZXMhIQ".into(),
        self_signing_key: "c2VsZi1zaWduaW5nIGtleSBvZiBhbGljZSwgMzIgYg".into(),
        user_signing_key: "dXNlci1zaWduaW5nIGtleSBvZiBhbGljZSwgMzIgYg".into(),
        signature: "c2lnbmF0dXJlIGJ5IHRoZSBtYXN0ZXIga2V5".into(),
    }
}

fn device_confirmation() -> DeviceConfirmation {
    DeviceConfirmation { device_id: laptop(), signature: "c2lnbmF0dXJlIGJ5IHRoZSBzZWxmLXNpZ25pbmcga2V5".into() }
}

#[test]
fn user_identity_alone() {
    pin("UserIdentity", &user_identity());
}

#[test]
fn device_confirmation_alone() {
    pin("DeviceConfirmation", &device_confirmation());
}

#[test]
fn reset_identity_request() {
    let req = ResetIdentityRequest { password: "correct horse".into(), identity: user_identity() };
    pin_json("ResetIdentityRequest", &req);
    assert!(!format!("{req:?}").contains("correct horse"), "the password never shows in Debug");
}

#[test]
fn confirm_devices_request() {
    pin_json("ConfirmDevicesRequest", &ConfirmDevicesRequest { confirmations: vec![device_confirmation()] });
}

#[test]
fn query_keys_response() {
    let full =
        QueryKeysResponse { users: vec![user_devices()], unknown_users: vec![UserId::parse("mallory").unwrap()] };
    pin_json("QueryKeysResponse", &full);
    let unset = QueryKeysResponse { users: vec![user_devices()], unknown_users: vec![] };
    pin_json("QueryKeysResponse-unset", &unset);
    reads_without(&unset, &["unknown_users"]);
}

#[test]
fn claim_keys_request() {
    pin_json(
        "ClaimKeysRequest",
        &ClaimKeysRequest { devices: vec![address(alice(), laptop()), address(bob(), phone())] },
    );
}

fn claimed_key() -> ClaimedKey {
    ClaimedKey { user_id: alice(), device_id: laptop(), key: signed_key(), fallback: true }
}

#[test]
fn claimed_key_alone() {
    pin("ClaimedKey", &claimed_key());
}

#[test]
fn claim_keys_response() {
    let full = ClaimKeysResponse { keys: vec![claimed_key()], missing: vec![address(bob(), phone())] };
    pin_json("ClaimKeysResponse", &full);
    let unset = ClaimKeysResponse { keys: vec![claimed_key()], missing: vec![] };
    pin_json("ClaimKeysResponse-unset", &unset);
    reads_without(&unset, &["missing"]);
}

// ---------------------------------------------------------------------------------------------
// routes.rs (queries: the JSON here is what the query string is made from)

#[test]
fn inbox_query() {
    pin("InboxQuery", &InboxQuery { after: 41, limit: Some(100) });
    let unset = InboxQuery::default();
    pin("InboxQuery-unset", &unset);
    reads_without(&unset, &["after"]);
}

#[test]
fn history_query() {
    pin("HistoryQuery", &HistoryQuery { before: Some(120), limit: Some(50) });
    pin("HistoryQuery-unset", &HistoryQuery::default());
}

// ---------------------------------------------------------------------------------------------
// ws.rs

#[test]
fn ephemeral_targets() {
    fn name(target: &EphemeralTarget) -> &'static str {
        match target {
            EphemeralTarget::User { .. } => "EphemeralTarget-user",
            EphemeralTarget::Group { .. } => "EphemeralTarget-group",
        }
    }
    for target in [EphemeralTarget::User { user_id: bob() }, EphemeralTarget::Group { group_id: group_id() }] {
        pin(name(&target), &target);
    }
}

fn socket_sends() -> Vec<SocketSend> {
    vec![
        SocketSend::Direct {
            request: SendDirectRequest { message_id: message_id(), payloads: vec![device_payload()] },
        },
        SocketSend::Group {
            group_id: group_id(),
            request: SendGroupRequest {
                message_id: message_id(),
                ciphertext: MEGOLM_CIPHERTEXT.into(),
                member_devices: Some(vec![address(bob(), phone())]),
                members: Some(vec![alice(), bob()]),
            },
        },
    ]
}

#[test]
fn socket_send() {
    fn name(send: &SocketSend) -> &'static str {
        match send {
            SocketSend::Direct { .. } => "SocketSend-direct",
            SocketSend::Group { .. } => "SocketSend-group",
        }
    }
    for send in socket_sends() {
        pin(name(&send), &send);
    }
}

#[test]
fn client_frames() {
    fn name(frame: &ClientFrame) -> &'static str {
        match frame {
            ClientFrame::Ack { .. } => "ClientFrame-ack",
            ClientFrame::Ephemeral { .. } => "ClientFrame-ephemeral",
            ClientFrame::Send { .. } => "ClientFrame-send",
        }
    }
    let frames = [
        ClientFrame::Ack { up_to: 43 },
        ClientFrame::Ephemeral {
            to: EphemeralTarget::Group { group_id: group_id() },
            body: "{\"typing\":true}".into(),
        },
        ClientFrame::Send { sends: socket_sends() },
    ];
    for frame in frames {
        pin(name(&frame), &frame);
    }
}

#[test]
fn server_frames() {
    fn name(frame: &ServerFrame) -> &'static str {
        match frame {
            ServerFrame::Entry { .. } => "ServerFrame-entry",
            ServerFrame::Synced { .. } => "ServerFrame-synced",
            ServerFrame::Ephemeral { .. } => "ServerFrame-ephemeral",
            ServerFrame::Error { .. } => "ServerFrame-error",
            ServerFrame::Sent { .. } => "ServerFrame-sent",
            ServerFrame::SendFailed { .. } => "ServerFrame-send_failed",
        }
    }
    let ephemeral = ServerFrame::Ephemeral {
        from_user: bob(),
        from_device: phone(),
        group_id: Some(group_id()),
        body: "{\"typing\":true}".into(),
    };
    let frames = [
        ServerFrame::Entry { entry: direct_entry() },
        ServerFrame::Synced { up_to: 43 },
        ephemeral,
        ServerFrame::Error { code: ErrorCode::PayloadTooLarge, message: "the frame is larger than 65536 bytes".into() },
        ServerFrame::Sent { receipt: SendReceipt { message_id: message_id(), server_ts: T0_MS, duplicate: false } },
        ServerFrame::SendFailed {
            message_id: message_id(),
            status: 429,
            error: ErrorBody {
                code: ErrorCode::RateLimited,
                message: "Too many requests; slow down and try again shortly.".into(),
                devices: None,
                users: None,
            },
            retry_after_secs: Some(2),
        },
    ];
    for frame in frames {
        pin(name(&frame), &frame);
    }
    // An ephemeral event sent to the user rather than to a group.
    let unset = ServerFrame::Ephemeral {
        from_user: bob(),
        from_device: phone(),
        group_id: None,
        body: "{\"typing\":true}".into(),
    };
    pin("ServerFrame-ephemeral-unset", &unset);
    reads_without(&unset, &["group_id"]);
    // A refused send with nothing to wait for.
    let refused = ServerFrame::SendFailed {
        message_id: message_id(),
        status: 409,
        error: ErrorBody {
            code: ErrorCode::DevicesChanged,
            message: "The recipients' devices have changed: query their keys and send again.".into(),
            devices: Some(DeviceMismatch { missing: vec![address(bob(), phone())], unknown: vec![] }),
            users: None,
        },
        retry_after_secs: None,
    };
    pin("ServerFrame-send_failed-unset", &refused);
}

// ---------------------------------------------------------------------------------------------
// The guard: every wire type declared in `src/` has a snapshot above.

/// Every source file of the crate. `lib.rs`'s modules are checked against this list, so a new
/// module cannot go unread.
const SOURCES: &[(&str, &str)] = &[
    ("lib.rs", include_str!("../src/lib.rs")),
    ("auth.rs", include_str!("../src/auth.rs")),
    ("backup.rs", include_str!("../src/backup.rs")),
    ("blobs.rs", include_str!("../src/blobs.rs")),
    ("error.rs", include_str!("../src/error.rs")),
    ("groups.rs", include_str!("../src/groups.rs")),
    ("history.rs", include_str!("../src/history.rs")),
    ("identity.rs", include_str!("../src/identity.rs")),
    ("ids.rs", include_str!("../src/ids.rs")),
    ("inbox.rs", include_str!("../src/inbox.rs")),
    ("keys.rs", include_str!("../src/keys.rs")),
    ("limits.rs", include_str!("../src/limits.rs")),
    ("profile.rs", include_str!("../src/profile.rs")),
    ("routes.rs", include_str!("../src/routes.rs")),
    ("ws.rs", include_str!("../src/ws.rs")),
];

/// A type of the source that derives `Serialize` or `Deserialize`.
#[derive(Debug, PartialEq, Eq)]
struct WireType {
    name: String,
    file: String,
    /// The variants of an enum (empty for a struct).
    variants: Vec<String>,
    /// An enum with a variant that carries data (a tagged enum): one snapshot per variant.
    tagged: bool,
}

/// The wire types `source` declares: every `pub struct`/`pub enum` whose `#[derive(..)]` names
/// `Serialize` or `Deserialize`, and every `id_type!(..)` invocation. `#[cfg(test)]` modules are
/// left out.
fn wire_types_of(file: &str, source: &str) -> Vec<WireType> {
    let lines: Vec<&str> = source.lines().collect();
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut found = Vec::new();
    let mut derives = String::new();
    let mut in_derive = false;
    let mut cfg_test = false;
    let mut in_test_module = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if in_test_module {
            in_test_module = !line.starts_with('}');
        } else if cfg_test && (t.starts_with("mod ") || t.starts_with("pub mod ")) && t.ends_with('{') {
            in_test_module = true;
            cfg_test = false;
        } else if t == "#[cfg(test)]" {
            cfg_test = true;
        } else if in_derive || t.starts_with("#[derive(") {
            // A derive may span lines (`#[derive(\n    Debug, ...\n)]`).
            derives.push_str(t);
            in_derive = !t.ends_with(")]");
        } else if t.starts_with("#[") || t.starts_with("//") || t.is_empty() {
            // Other attributes and comments stand between a derive and its item.
        } else if t == "id_type!(" {
            let name = lines[i + 1..].iter().map(|l| l.trim()).find(|l| !l.starts_with("//")).unwrap_or_default();
            found.push(WireType { name: ident(name), file: file.into(), variants: vec![], tagged: false });
        } else {
            let item = t.strip_prefix("pub struct ").map(|rest| (rest, false));
            let item = item.or_else(|| t.strip_prefix("pub enum ").map(|rest| (rest, true)));
            if let Some((rest, is_enum)) = item {
                let serde = derives.contains("Serialize") || derives.contains("Deserialize");
                // `$name`: the item a macro declares; `id_type!` invocations are read instead.
                if serde && !rest.starts_with('$') {
                    let mut variants = vec![];
                    let mut tagged = false;
                    if is_enum {
                        for body_line in lines[i + 1..].iter().take_while(|l| !l.starts_with('}')) {
                            let is_variant = body_line.starts_with("    ")
                                && !body_line.starts_with("     ")
                                && body_line.trim_start().starts_with(|c: char| c.is_ascii_uppercase());
                            if is_variant {
                                variants.push(ident(body_line.trim()));
                                tagged |= body_line.contains(['{', '(']);
                            }
                        }
                    }
                    found.push(WireType { name: ident(rest), file: file.into(), variants, tagged });
                }
            }
            derives.clear();
            cfg_test = false;
        }
    }
    found
}

fn wire_types() -> Vec<WireType> {
    SOURCES.iter().flat_map(|(file, source)| wire_types_of(file, source)).collect()
}

/// `RoleChanged` -> `role_changed`, as `rename_all = "snake_case"` writes it.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn every_wire_type_has_a_snapshot() {
    let declared = wire_types();
    let covered: BTreeSet<&str> = COVERED.iter().copied().collect();
    assert_eq!(covered.len(), COVERED.len(), "a name is twice in COVERED");
    let snapshots: Vec<String> = std::fs::read_dir(SNAPSHOTS)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let has_snapshot = |stem: &str| {
        snapshots
            .iter()
            .any(|f| f == &format!("{stem}.snap") || (f.starts_with(&format!("{stem}-")) && f.ends_with(".snap")))
    };

    let mut problems = Vec::new();
    for ty in &declared {
        let (name, file) = (&ty.name, &ty.file);
        if !covered.contains(name.as_str()) {
            problems.push(format!(
                "wire type `{name}` (src/{file}) has no snapshot test: pin it in tests/wire.rs and add it to COVERED"
            ));
        } else if ty.tagged {
            for variant in &ty.variants {
                let stem = format!("{name}-{}", snake(variant));
                if !has_snapshot(&stem) {
                    problems.push(format!("variant `{name}::{variant}` has no snapshot (tests/snapshots/{stem}.snap)"));
                }
            }
        } else if !has_snapshot(name) {
            problems.push(format!("wire type `{name}` has no snapshot (tests/snapshots/{name}.snap)"));
        } else if !ty.variants.is_empty() {
            // A unit enum is pinned as the list of all its values.
            let text = std::fs::read_to_string(format!("{SNAPSHOTS}/{name}.snap")).unwrap();
            for variant in &ty.variants {
                if !text.contains(&format!("\"{}\"", snake(variant))) {
                    problems.push(format!("`{name}::{variant}` is not in tests/snapshots/{name}.snap"));
                }
            }
        }
    }
    let declared_names: BTreeSet<&str> = declared.iter().map(|t| t.name.as_str()).collect();
    for name in covered.difference(&declared_names) {
        problems.push(format!("COVERED names `{name}`, which src/ does not declare as a wire type"));
    }
    for file in &snapshots {
        let stem = file.strip_suffix(".snap").unwrap_or(file);
        let ty = stem.split('-').next().unwrap_or_default();
        if !file.ends_with(".snap") {
            problems.push(format!(
                "tests/snapshots/{file} is not an accepted snapshot (review it, then accept or delete it)"
            ));
        } else if !covered.contains(ty) {
            problems.push(format!("tests/snapshots/{file} belongs to no type in COVERED (left over?)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_module_is_read_by_the_guard() {
    let read: BTreeSet<String> = SOURCES.iter().map(|(file, _)| file.to_string()).collect();
    let lib = SOURCES.iter().find(|(file, _)| *file == "lib.rs").unwrap().1;
    for line in lib.lines() {
        let module = line.trim().trim_start_matches("pub ").strip_prefix("mod ").and_then(|m| m.strip_suffix(';'));
        if let Some(module) = module {
            assert!(read.contains(&format!("{module}.rs")), "src/{module}.rs is not in SOURCES of tests/wire.rs");
        }
    }
}

/// The guard's reader finds what it must, so the guard can fail.
#[test]
fn the_guard_reads_derives_enums_and_ids() {
    let source = r#"
/// Documented.
#[derive(
    Debug, Clone, Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Frame {
    /// A doc.
    Ping { at: u64 },
    Pong,
    #[serde(other)]
    SomethingElse,
}

#[derive(Debug, Clone)]
pub struct NotWire {
    pub x: u64,
}

#[derive(Deserialize)]
pub struct Query(u64);

id_type!(
    /// An id.
    ThingId,
    "thing id",
    "anything",
    |_| true
);

#[cfg(test)]
mod tests {
    #[derive(Serialize)]
    pub struct OnlyInTests;
}

#[derive(Serialize)]
pub struct AfterTheTests;
"#;
    let found = wire_types_of("x.rs", source);
    let names: Vec<&str> = found.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["Frame", "Query", "ThingId", "AfterTheTests"]);
    assert_eq!(found[0].variants, ["Ping", "Pong", "SomethingElse"]);
    assert!(found[0].tagged);
    assert_eq!(snake("RoleChanged"), "role_changed");
    let in_src: Vec<String> = wire_types().into_iter().map(|t| t.name).collect();
    assert!(in_src.len() >= 50, "the reader finds too few wire types in src/: {in_src:?}");
    assert!(in_src.iter().any(|n| n == "KeyId") && in_src.iter().any(|n| n == "ServerFrame"), "{in_src:?}");
}

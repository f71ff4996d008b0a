//! Sending messages and reading the inbox over plain HTTP (the WebSocket in `ws.rs` pushes the
//! same entries).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use sotto_proto::limits::{MAX_CIPHERTEXT_BYTES, MAX_DIRECT_PAYLOADS, MAX_INBOX_PAGE};
use sotto_proto::routes::{self, Endpoint as _, InboxQuery};
use sotto_proto::{
    AckRequest, DeviceAddress, DeviceMismatch, EntryBody, ErrorBody, InboxEntry, InboxPage, SendDirectRequest,
    SendReceipt, UserId,
};
use tracing::instrument;

use crate::auth::Authenticated;
use crate::error::{AppError, AppResult};
use crate::extract::{Json, Query};
use crate::metrics::KindLabels;
use crate::pushed::EntryFrame;
use crate::state::AppState;
use crate::store::{Delivery, DeliveryContent, DeliveryOutcome};

pub fn check_ciphertext(ciphertext: &str) -> AppResult<()> {
    if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_BYTES {
        return Err(AppError::invalid_input(format!("A ciphertext must be 1 to {MAX_CIPHERTEXT_BYTES} bytes.")));
    }
    Ok(())
}

/// Stores a delivery, pushes it to the recipients that are online, and builds the receipt.
pub async fn deliver(state: &AppState, delivery: Delivery, kind: &'static str) -> AppResult<SendReceipt> {
    let message_id = delivery.message_id.clone();
    let server_ts = delivery.server_ts;
    let (sender_user, sender_device) = (delivery.sender_user.clone(), delivery.sender_device.clone());
    let content = Arc::clone(&delivery.content);
    match state.inbox.deliver(delivery).await? {
        DeliveryOutcome::Stored { recipients } => {
            let entry = |body: EntryBody| InboxEntry {
                seq: 0,
                message_id: message_id.clone(),
                sender_user: sender_user.clone(),
                sender_device: sender_device.clone(),
                server_ts,
                body,
            };
            match &*content {
                DeliveryContent::PerDevice(payloads) => {
                    // Frames are made only for devices that may be online (the hub asks for them).
                    let by_device: HashMap<&DeviceAddress, &String> = payloads.iter().map(|(d, c)| (d, c)).collect();
                    state.hub.push(&recipients, |device| {
                        let ciphertext = (*by_device.get(device)?).clone();
                        Some(Arc::new(EntryFrame::new(entry(EntryBody::Direct { ciphertext }))))
                    });
                }
                DeliveryContent::Shared { body, .. } => {
                    // One frame for every member: only the seq differs.
                    let frame = Some(Arc::new(EntryFrame::new(entry((**body).clone()))));
                    state.hub.push(&recipients, |_| frame.clone());
                }
            }
            state.metrics.messages_stored.get_or_create(&KindLabels { kind }).inc();
            state.metrics.inbox_entries.inc_by(recipients.len() as u64);
            Ok(SendReceipt { message_id, server_ts, duplicate: false })
        }
        DeliveryOutcome::Duplicate { server_ts } => {
            state.metrics.duplicate_sends.inc();
            Ok(SendReceipt { message_id, server_ts, duplicate: true })
        }
    }
}

#[utoipa::path(post, path = routes::SendDirect::PATH, tag = "messages", security(("bearer" = [])), request_body = SendDirectRequest,
    responses((status = 200, body = SendReceipt), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody, description = "unknown_user"),
        (status = 409, body = ErrorBody, description = "devices_changed: `devices` lists what to add and drop")))]
#[instrument(skip_all, fields(user = %sender.user_id, device = %sender.device_id, payloads = req.payloads.len()))]
pub async fn send_direct(
    State(state): State<AppState>,
    Authenticated(sender): Authenticated,
    Json(req): Json<SendDirectRequest>,
) -> AppResult<Json<SendReceipt>> {
    Ok(Json(send_direct_from(&state, sender, req).await?))
}

/// A direct send from `sender`, over HTTP or the WebSocket alike.
pub async fn send_direct_from(
    state: &AppState,
    sender: DeviceAddress,
    req: SendDirectRequest,
) -> AppResult<SendReceipt> {
    let given = addressed(&req)?;
    let mut users: Vec<UserId> = given.iter().map(|d| d.user_id.clone()).collect();
    users.push(sender.user_id.clone());
    users.sort();
    users.dedup();
    let keyed = state.devices.keyed_devices_of(&users).await?;
    // A user with a keyed device exists; only the others need a look in the accounts.
    let unproven: Vec<UserId> = users.iter().filter(|u| !keyed.iter().any(|d| d.user_id == **u)).cloned().collect();
    if !unproven.is_empty() {
        let existing = state.accounts.existing_users(&unproven).await?;
        let unknown: Vec<&UserId> = unproven.iter().filter(|u| !existing.contains(u)).collect();
        if !unknown.is_empty() {
            return Err(AppError::unknown_users(&unknown));
        }
    }
    let current: BTreeSet<DeviceAddress> = keyed.into_iter().filter(|d| *d != sender).collect();
    if current != given {
        // A retry of a send that was stored before the devices changed is still a duplicate, not
        // a new message for the new device set.
        if let Some(server_ts) = state.inbox.sent_at(&sender.user_id, &req.message_id).await? {
            state.metrics.duplicate_sends.inc();
            return Ok(SendReceipt { message_id: req.message_id, server_ts, duplicate: true });
        }
        let mismatch = DeviceMismatch {
            missing: current.difference(&given).cloned().collect(),
            unknown: given.difference(&current).cloned().collect(),
        };
        return Err(AppError::DevicesChanged(mismatch));
    }
    let delivery = per_device(state, sender, req);
    deliver(state, delivery, "direct").await
}

/// The devices a request addresses, each once, with ciphertexts of an allowed size.
fn addressed(req: &SendDirectRequest) -> AppResult<BTreeSet<DeviceAddress>> {
    if req.payloads.is_empty() || req.payloads.len() > MAX_DIRECT_PAYLOADS {
        return Err(AppError::invalid_input(format!("Send 1 to {MAX_DIRECT_PAYLOADS} device payloads.")));
    }
    let mut given = BTreeSet::new();
    for p in &req.payloads {
        check_ciphertext(&p.ciphertext)?;
        if !given.insert(DeviceAddress { user_id: p.user_id.clone(), device_id: p.device_id.clone() }) {
            return Err(AppError::invalid_input(format!("Two payloads for device {} of {}.", p.device_id, p.user_id)));
        }
    }
    Ok(given)
}

/// A delivery of each payload to its device, stamped now.
fn per_device(state: &AppState, sender: DeviceAddress, req: SendDirectRequest) -> Delivery {
    Delivery {
        sender_user: sender.user_id,
        sender_device: Some(sender.device_id),
        message_id: req.message_id,
        server_ts: state.clock.unix_millis(),
        content: DeliveryContent::PerDevice(
            req.payloads
                .into_iter()
                .map(|p| (DeviceAddress { user_id: p.user_id, device_id: p.device_id }, p.ciphertext))
                .collect(),
        )
        .into(),
    }
}

#[utoipa::path(post, path = routes::SendToDevice::PATH, tag = "messages", security(("bearer" = [])), request_body = SendDirectRequest,
    responses((status = 200, body = SendReceipt), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "devices_changed: `devices.unknown` names devices that do not exist or have no keys")))]
#[instrument(skip_all, fields(user = %sender.user_id, device = %sender.device_id, payloads = req.payloads.len()))]
pub async fn send_to_device(
    State(state): State<AppState>,
    Authenticated(sender): Authenticated,
    Json(req): Json<SendDirectRequest>,
) -> AppResult<Json<SendReceipt>> {
    let given = addressed(&req)?;
    if given.contains(&sender) {
        return Err(AppError::invalid_input("A device does not send to itself."));
    }
    let mut users: Vec<UserId> = given.iter().map(|d| d.user_id.clone()).collect();
    users.dedup();
    let keyed: BTreeSet<DeviceAddress> = state.devices.keyed_devices_of(&users).await?.into_iter().collect();
    let unknown: Vec<DeviceAddress> = given.difference(&keyed).cloned().collect();
    if !unknown.is_empty() {
        if let Some(server_ts) = state.inbox.sent_at(&sender.user_id, &req.message_id).await? {
            state.metrics.duplicate_sends.inc();
            return Ok(Json(SendReceipt { message_id: req.message_id, server_ts, duplicate: true }));
        }
        return Err(AppError::DevicesChanged(DeviceMismatch { missing: vec![], unknown }));
    }
    let delivery = per_device(&state, sender, req);
    Ok(Json(deliver(&state, delivery, "to_device").await?))
}

#[utoipa::path(get, path = routes::FetchInbox::PATH, tag = "messages", security(("bearer" = [])), params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 400, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id))]
pub async fn fetch_inbox(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Query(q): Query<InboxQuery>,
) -> AppResult<Json<InboxPage>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_INBOX_PAGE).contains(&limit) {
        return Err(AppError::invalid_input(format!("`limit` must be 1 to {MAX_INBOX_PAGE}.")));
    }
    // Entries acked over a socket but not yet committed are already done for this device.
    let after = q.after.max(state.acks.floor(&device));
    let mut entries = state.inbox.fetch(&device, after, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    Ok(Json(InboxPage { entries, more }))
}

#[utoipa::path(post, path = routes::AckInbox::PATH, tag = "messages", security(("bearer" = [])), request_body = AckRequest,
    responses((status = 204), (status = 400, body = ErrorBody)))]
#[instrument(skip_all, fields(user = %device.user_id, device = %device.device_id, up_to = req.up_to))]
pub async fn ack_inbox(
    State(state): State<AppState>,
    Authenticated(device): Authenticated,
    Json(req): Json<AckRequest>,
) -> AppResult<StatusCode> {
    state.inbox.ack(&device, req.up_to).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Whose keys are whose: devices, safety numbers, verification.

use anyhow::Result;

use crate::args::TrustCommand;
use crate::shell::{Invocation, print, user};

pub async fn safety_number(run: &mut Invocation<'_>, u: &str) -> Result<()> {
    let v = run.open()?.verification(&user(u)?).await?;
    print(&serde_json::json!({
        "user_id": u,
        "safety_number": v.safety_number,
        "verified": v.verified,
        "changed_since_verified": v.changed_since_verified,
    }))
}

/// Marks verified at the given number, or (with none, i.e. `--clear`) not verified.
pub async fn verify(run: &mut Invocation<'_>, u: &str, safety_number: Option<&str>) -> Result<()> {
    let v = run.open()?.set_verified(&user(u)?, safety_number).await?;
    print(&serde_json::json!({ "user_id": u, "safety_number": v.safety_number, "verified": v.verified }))
}

/// A user's devices, or this account's own with no user; each with whether its user confirmed it.
pub async fn devices(run: &mut Invocation<'_>, u: Option<&str>) -> Result<()> {
    let client = run.open()?;
    match u {
        Some(u) => print(&client.lookup_users(&[user(u)?]).await?),
        None => {
            let listed = client.own_devices().await?.devices;
            let pinned = client.lookup_users(std::slice::from_ref(client.user_id())).await?;
            let this_confirmed = client.this_device_confirmed()?;
            let devices: Vec<serde_json::Value> = listed
                .iter()
                .map(|d| {
                    let this = &d.device_id == client.device_id();
                    let confirmed = if this {
                        this_confirmed
                    } else {
                        pinned.iter().any(|p| p.device_id == d.device_id.as_str() && p.confirmed)
                    };
                    let mut value = serde_json::to_value(d).unwrap_or_default();
                    if let Some(object) = value.as_object_mut() {
                        object.insert("this_device".into(), this.into());
                        object.insert("confirmed".into(), confirmed.into());
                    }
                    value
                })
                .collect();
            print(&devices)
        }
    }
}

pub async fn trust(run: &mut Invocation<'_>, cmd: &TrustCommand) -> Result<()> {
    match cmd {
        TrustCommand::Accept { user: u } => {
            let v = run.open()?.accept_identity(&user(u)?).await?;
            print(&serde_json::json!({ "user_id": u, "safety_number": v.safety_number, "held": false }))
        }
    }
}

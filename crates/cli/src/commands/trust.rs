//! Whose keys are whose: devices, safety numbers, verification.

use anyhow::Result;

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

/// A user's devices, or this account's own with no user.
pub async fn devices(run: &mut Invocation<'_>, u: Option<&str>) -> Result<()> {
    let client = run.open()?;
    match u {
        Some(u) => print(&client.lookup_users(&[user(u)?]).await?),
        None => print(&client.own_devices().await?.devices),
    }
}

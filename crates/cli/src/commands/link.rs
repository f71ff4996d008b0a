//! Confirming a new device of this account in the terminal: `sotto device confirm DEVICE_ID` on a
//! confirmed device, `sotto device link` on the new one. Both poll the server (as `sync` does)
//! until the verification moves on, print the seven emoji and the numbers on stderr, ask on
//! stdin whether they match what the other device shows, and print the outcome as JSON.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use sotto_core::{Client, ShortAuthString, VerificationState, VerificationView};

use crate::args::{DeviceCommand, VerifyCommand};
use crate::shell::{Invocation, print};

/// How often the server is asked for the next step.
const POLL: Duration = Duration::from_millis(300);

pub async fn contact(run: &mut Invocation<'_>, cmd: &VerifyCommand) -> Result<()> {
    let client = run.open()?;
    let (id, deadline) = match cmd {
        VerifyCommand::Start { user, timeout } => {
            let user = crate::shell::user(user)?;
            let started = client.start_contact_verification(&user).await?;
            eprintln!("Asked {user} to compare emoji with you; they run `sotto verify accept`.");
            (started.id, Instant::now() + Duration::from_secs(*timeout))
        }
        VerifyCommand::Accept { timeout } => {
            eprintln!("Waiting for a contact's request...");
            let deadline = Instant::now() + Duration::from_secs(*timeout);
            let asked = wait(&client, deadline, |list| {
                list.iter().rev().find(|v| matches!(v.state, VerificationState::Requested)).cloned()
            })
            .await?;
            eprintln!("{} asks to compare emoji with you.", asked.user_id);
            client.accept_verification(&asked.id).await?;
            (asked.id, deadline)
        }
        VerifyCommand::Number { .. } | VerifyCommand::Clear { .. } => bail!("not an emoji verification"),
    };
    compare(run, &client, &id, deadline).await
}

pub async fn device(run: &mut Invocation<'_>, cmd: &DeviceCommand) -> Result<()> {
    let client = run.open()?;
    let (id, deadline) = match cmd {
        DeviceCommand::Confirm { device_id, with_history, timeout } => {
            let device_id = sotto_proto::DeviceId::parse(device_id.as_str())?;
            let started = client.start_device_confirmation(&device_id, *with_history).await?;
            eprintln!("Asked device {device_id} to compare emoji; run `sotto device link` there.");
            (started.id, Instant::now() + Duration::from_secs(*timeout))
        }
        DeviceCommand::Link { timeout } => {
            if client.this_device_confirmed()? {
                bail!("this device is confirmed already; confirm others from it with `sotto device confirm`");
            }
            eprintln!(
                "This is device {}. On a device you already use, run `sotto device confirm {}`.",
                client.device_id(),
                client.device_id()
            );
            let deadline = Instant::now() + Duration::from_secs(*timeout);
            let started = wait(&client, deadline, |list| list.iter().rev().find(|v| !v.we_started).cloned()).await?;
            (started.id, deadline)
        }
    };
    compare(run, &client, &id, deadline).await
}

/// Show the emoji once both devices have them, ask, and wait for the end.
async fn compare(run: &mut Invocation<'_>, client: &Client, id: &str, deadline: Instant) -> Result<()> {
    let compared = wait(client, deadline, |list| {
        find(list, id)
            .filter(|v| !matches!(v.state, VerificationState::Waiting | VerificationState::Requested))
            .cloned()
    })
    .await?;
    let sas = match compared.state {
        VerificationState::Compare { sas, .. } => sas,
        other => bail!("the verification stopped: {}", describe(&other)),
    };
    eprintln!("{}", show(&sas));
    eprint!("Does the other device show the same? [y/n] ");
    let answer = run.line("answer (y or n)")?;
    if !answer.trim().eq_ignore_ascii_case("y") {
        client.cancel_verification(id, true).await?;
        bail!("you said they differ: nothing was confirmed (someone may be in between)");
    }
    client.confirm_verification(id).await?;
    eprintln!("Waiting for the other device...");
    let done = wait(client, deadline, |list| {
        find(list, id)
            .filter(|v| matches!(v.state, VerificationState::Done { .. } | VerificationState::Cancelled { .. }))
            .cloned()
    })
    .await?;
    match done.state {
        VerificationState::Done { device_confirmed } => {
            let contact = done.user_id != client.user_id().as_str();
            eprintln!("{}", if contact { "Done: you verified each other." } else { "Done: the device is confirmed." });
            print(&serde_json::json!({
                "user_id": done.user_id,
                "device_id": done.device_id,
                "confirmed": device_confirmed,
                "verified": contact,
                "emoji": sas.emoji.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
                "decimals": sas.decimals,
            }))
        }
        other => bail!("the verification stopped: {}", describe(&other)),
    }
}

fn find<'a>(list: &'a [VerificationView], id: &str) -> Option<&'a VerificationView> {
    list.iter().find(|v| v.id == id)
}

/// Sync until `pick` finds what it waits for in the verifications, or the deadline passes.
async fn wait(
    client: &Client,
    deadline: Instant,
    pick: impl Fn(&[VerificationView]) -> Option<VerificationView>,
) -> Result<VerificationView> {
    loop {
        client.sync().await.context("fetching the next step")?;
        if let Some(found) = pick(&client.verification_list()?) {
            return Ok(found);
        }
        if Instant::now() > deadline {
            bail!("gave up waiting for the other device");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn show(sas: &ShortAuthString) -> String {
    let emoji: Vec<String> = sas.emoji.iter().map(|e| format!("{} {}", e.symbol, e.name)).collect();
    let [a, b, c] = sas.decimals;
    format!("  {}\n  or the numbers {a} {b} {c}", emoji.join("   "))
}

fn describe(state: &VerificationState) -> String {
    match state {
        VerificationState::Cancelled { reason } => match reason.as_str() {
            "mismatch" => "the other side said the emoji differ".into(),
            "cancelled" => "it was cancelled".into(),
            "keys" => "the keys did not check out (someone may be in between)".into(),
            "timeout" => "it took too long".into(),
            other => format!("it was stopped ({other})"),
        },
        other => format!("{other:?}"),
    }
}

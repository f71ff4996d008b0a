//! The account and this device: register, sign in, sign out, devices, passwords, passphrases.

use anyhow::Result;
use sotto_core::{Client, Fingerprint, SignIn};
use sotto_proto::DeviceId;

use crate::args::{Account, AccountCommand};
use crate::shell::{Invocation, print_account};

pub enum SignInKind {
    /// A new account.
    Register,
    /// An existing account, as a new device.
    Login,
}

/// Stdin: the password, then the profile's passphrase (with `--passphrase-stdin`).
pub async fn sign_in(run: &mut Invocation<'_>, a: &Account, kind: SignInKind) -> Result<()> {
    let server = run.server()?;
    let password = run.password(a.password_stdin)?;
    let keys = run.key_options(a.no_keychain)?;
    let sign_in = SignIn {
        server: server.as_str(),
        trust: run.trust()?,
        user_id: &a.user,
        password: &password,
        device_name: a.device_name.as_deref(),
    };
    let client = match kind {
        SignInKind::Register => Client::register(&run.dir, sign_in, keys).await?,
        SignInKind::Login => Client::login(&run.dir, sign_in, keys).await?,
    };
    print_account(&client)
}

pub async fn logout(run: &mut Invocation<'_>) -> Result<()> {
    run.open()?.logout().await?;
    eprintln!("Signed out; the profile was deleted.");
    Ok(())
}

pub async fn trust_server(run: &mut Invocation<'_>, fingerprint: &str) -> Result<()> {
    let fingerprint = Fingerprint::parse(fingerprint)?;
    let client = run.open()?;
    client.trust_server_certificate(fingerprint).await?;
    eprintln!("From now on this profile connects to {} only with the certificate {fingerprint}.", client.server());
    Ok(())
}

pub async fn delete_device(run: &mut Invocation<'_>, device_id: &str, password_stdin: bool) -> Result<()> {
    let client = run.open()?;
    let password = run.password(password_stdin)?;
    client.delete_device(&DeviceId::parse(device_id)?, &password).await?;
    eprintln!("Device {device_id} was removed.");
    Ok(())
}

pub fn set_passphrase(run: &mut Invocation<'_>) -> Result<()> {
    let client = run.open()?;
    let passphrase = run.line("new passphrase")?;
    client.set_passphrase(&passphrase)?;
    eprintln!("The profile can now be unlocked with this passphrase.");
    Ok(())
}

pub async fn account(run: &mut Invocation<'_>, cmd: &AccountCommand) -> Result<()> {
    match cmd {
        AccountCommand::Show => print_account(&run.open()?),
        AccountCommand::Password { password_stdin } => {
            let client = run.open()?;
            if !*password_stdin {
                anyhow::bail!("pass the password on stdin with --password-stdin");
            }
            let current = run.line("current password")?;
            let new = run.line("new password")?;
            client.change_password(&current, &new).await?;
            eprintln!("The password was changed; every device stays signed in.");
            Ok(())
        }
    }
}

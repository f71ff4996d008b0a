//! The command line: every subcommand, flag and argument (clap), and nothing that runs them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sotto", version, about = "A headless Sotto client: end-to-end encrypted messaging from the shell")]
pub struct Cli {
    /// The profile directory (one per account and device).
    #[arg(long, global = true, env = "SOTTO_PROFILE")]
    pub profile: Option<PathBuf>,
    /// The server, for `register` and `login` (e.g. http://127.0.0.1:8448).
    #[arg(long, global = true, env = "SOTTO_SERVER")]
    pub server: Option<String>,
    /// For `register`, `login` and `backup import` over https: trust the server's certificate
    /// with this SHA-256 fingerprint when no authority this computer trusts signed it (a server
    /// someone runs on their own computer). Compare it with the one the server's owner sees
    /// first; the error without this flag shows the fingerprint presented.
    #[arg(long, global = true, env = "SOTTO_TRUST_CERTIFICATE", value_name = "FINGERPRINT")]
    pub trust_certificate: Option<String>,
    /// Read the profile's passphrase from stdin (after the password and the backup passphrase, when
    /// those are read too; before the backup passphrase of `backup export`).
    #[arg(long, global = true)]
    pub passphrase_stdin: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create an account and a profile for this device.
    Register(Account),
    /// Sign in to an existing account as a new device.
    Login(Account),
    /// Sign this device out and delete its profile.
    Logout,
    /// Trust the server's new certificate after a `certificate_changed` error, once its owner
    /// has confirmed they replaced it and the fingerprint matches theirs.
    TrustServer {
        /// The new certificate's SHA-256 fingerprint, as the error showed it.
        fingerprint: String,
    },
    /// Send a text message, or a file with --file, to a user, or to a group with --group.
    Send {
        /// The user id (or, with --group, the group id or name).
        to: String,
        /// The text (not with --file: use --caption).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        #[arg(long)]
        group: bool,
        /// Send this file (encrypted; an image gets a preview).
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// Text to send with the file.
        #[arg(long, requires = "file")]
        caption: Option<String>,
    },
    /// Save a message's file (decrypted) to a new file; fetches it first if needed.
    Download {
        /// The message's `message_id`, as `history` shows it.
        message_id: String,
        /// Where to write it (never over an existing file).
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
    /// Answer a message (it is quoted above the reply).
    Reply {
        /// The message's `message_id`, as `history` shows it.
        message_id: String,
        text: String,
    },
    /// React to a message with an emoji, or take the reaction back with --remove.
    React {
        /// The message's `message_id`, as `history` shows it.
        message_id: String,
        emoji: String,
        #[arg(long)]
        remove: bool,
    },
    /// Change the text of a message you sent (a file's caption), for everyone.
    Edit {
        /// The message's `message_id`, as `history` shows it.
        message_id: String,
        text: String,
    },
    /// Delete a message you sent, for everyone.
    Delete {
        /// The message's `message_id`, as `history` shows it.
        message_id: String,
    },
    /// Mark a conversation read: its senders get read receipts (unless they are turned off).
    Read {
        /// The user id of a one-to-one conversation.
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Mute (for a while, or until unmuted), archive, pin, mark unread, or delete a
    /// conversation; on this device only.
    Conversation {
        #[arg(value_parser = ["mute", "unmute", "archive", "unarchive", "pin", "unpin", "unread", "delete"])]
        action: String,
        /// The user id of a one-to-one conversation.
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
        /// With `mute`: for this many seconds (without it, until unmuted).
        #[arg(long = "for", value_name = "SECONDS")]
        for_secs: Option<u64>,
    },
    /// Make a conversation's messages disappear after SECONDS (for everyone in it), or `off`:
    /// `sotto disappear USER SECONDS|off` or `sotto disappear --group GROUP SECONDS|off`.
    Disappear {
        /// USER then SECONDS|off (with --group, only SECONDS|off). Seconds: 1 to 2419200
        /// (four weeks).
        #[arg(num_args = 1..=2, value_name = "USER SECONDS|off", required = true)]
        args: Vec<String>,
        #[arg(long)]
        group: Option<String>,
    },
    /// Turn read receipts on or off (off: none are sent, and nobody's are shown).
    ReadReceipts {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Your display name and picture, as the people you talk with see them (end-to-end
    /// encrypted), and theirs.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Groups: create, add, remove, leave, list.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Fetch and decrypt what is waiting, send what is queued, then exit.
    Sync,
    /// Stay connected and print every event as a JSON line until stopped.
    Listen,
    /// Print a conversation's messages (oldest first).
    History {
        /// The user id of a one-to-one conversation.
        user: Option<String>,
        #[arg(long)]
        group: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages older than this message `id`.
        #[arg(long)]
        before: Option<i64>,
    },
    /// List conversations, most recent first.
    Conversations,
    /// Search all decrypted messages.
    Search {
        text: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The safety number to compare with a contact, and whether it is marked verified.
    SafetyNumber { user: String },
    /// Verify a contact: compare emoji with them (`start` / `accept`), or mark the safety number
    /// you compared (`number`), or remove the mark (`clear`).
    #[command(subcommand)]
    Verify(VerifyCommand),
    /// A user's devices, their keys and whether the user confirmed each (this account's own
    /// devices with no argument).
    Devices { user: Option<String> },
    /// Confirm a new device of this account by comparing emoji: `confirm` on a confirmed device,
    /// `link` on the new one.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// Contacts' identities: accept a changed one.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Remove another device of this account (needs the password on stdin).
    DeleteDevice {
        device_id: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add or replace a passphrase that unlocks this profile without the system keychain.
    SetPassphrase,
    /// The account: change its password.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Keys: reset this device's identity, or the server key backup of group keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Write conversations as readable files (HTML pages or JSON) into a new or empty folder.
    Export {
        /// The folder to write; it must not exist yet, or be empty.
        dir: PathBuf,
        #[arg(long, value_enum)]
        format: Format,
        /// Only the one-to-one conversation with this user.
        #[arg(long, conflicts_with = "group")]
        conversation: Option<String>,
        /// Only this group (its id or name).
        #[arg(long)]
        group: Option<String>,
    },
    /// Back this profile up to one passphrase-encrypted file (age format), or restore one.
    #[command(subcommand)]
    Backup(BackupCommand),
}

#[derive(Subcommand)]
pub enum KeyBackupCommand {
    /// Turn on key backup and upload this device's group keys. Prints the recovery key ONCE
    /// (keep it safe), or, with --backup-passphrase-stdin, derives the key from a passphrase.
    Enable {
        /// Read a backup passphrase from stdin instead of creating a recovery key.
        #[arg(long)]
        backup_passphrase_stdin: bool,
        /// Overwrite a key backup made with another recovery key (keys only in it are lost).
        #[arg(long)]
        replace: bool,
    },
    /// Restore group keys from the server's key backup onto this device, then read the history
    /// of your groups from the server. Give the recovery key or the passphrase on stdin.
    Restore {
        #[arg(long, conflicts_with = "backup_passphrase_stdin", required_unless_present = "backup_passphrase_stdin")]
        recovery_key_stdin: bool,
        #[arg(long)]
        backup_passphrase_stdin: bool,
    },
    /// Whether key backup is on for this device and how many group keys are in it.
    Status,
}

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Write everything this device holds (keys, sessions, contacts, history) to FILE, encrypted
    /// with a backup passphrase. FILE must not exist. Stdin: the profile's passphrase first (with
    /// --passphrase-stdin), then the backup passphrase.
    Export {
        file: PathBuf,
        /// Read the backup passphrase from stdin.
        #[arg(long)]
        backup_passphrase_stdin: bool,
    },
    /// Restore FILE into a new profile (--profile must not hold one) and sign in to USER's
    /// account on --server. Stdin, one per line: the account password, the backup passphrase,
    /// then the new profile's passphrase (with --passphrase-stdin).
    Import {
        file: PathBuf,
        user: String,
        /// Read the account password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Read the backup passphrase from stdin.
        #[arg(long)]
        backup_passphrase_stdin: bool,
        /// Do not use the system keychain; protect the new profile with a passphrase alone.
        #[arg(long)]
        no_keychain: bool,
    },
}

#[derive(Subcommand)]
pub enum DeviceCommand {
    /// From this (confirmed) device, confirm DEVICE_ID, another device of this account: both
    /// show seven emoji; answer y on both if they match. Run `sotto device link` on the other.
    Confirm {
        device_id: String,
        /// Also copy this device's one-to-one conversations to it (group history comes from the
        /// server either way).
        #[arg(long)]
        with_history: bool,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// On a new device: wait for `sotto device confirm` from one of your confirmed devices, then
    /// compare the emoji (answer y if they match).
    Link {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
}

#[derive(Subcommand)]
pub enum VerifyCommand {
    /// Ask USER to compare emoji with you (they run `sotto verify accept`); answer y if both
    /// show the same. Marks them verified when both confirm.
    Start {
        user: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Wait for a contact's `sotto verify start`, accept it, and compare the emoji.
    Accept {
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Mark USER verified at the safety number you compared (as `safety-number` prints it;
    /// refused if it is not the current one).
    Number { user: String, safety_number: String },
    /// Remove the verified mark of USER.
    Clear { user: String },
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Accept USER's new identity key after it changed: sending to them resumes (they are no
    /// longer marked verified; compare safety numbers to verify them again).
    Accept { user: String },
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// The account this profile belongs to: user, device, server address, profile folder.
    Show,
    /// Change the account password; every device stays signed in. Stdin, one per line: the
    /// current password, then the new one (after the profile's passphrase, with
    /// --passphrase-stdin).
    Password {
        /// Read the current and the new password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// The server key backup that lets a new device read group history: group keys encrypted
    /// with a recovery key only you hold.
    #[command(subcommand)]
    Backup(KeyBackupCommand),
    /// Give this device a new identity (new encryption keys, same device): contacts see that its
    /// keys changed; history stays. Needs the account password on stdin (after the profile's
    /// passphrase, with --passphrase-stdin). Prints the new keys.
    Reset {
        /// Read the account password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Start over with a new identity, when none of your devices can confirm this one and you
    /// have no recovery key: contacts see that your identity key changed, and every other device
    /// of yours must be confirmed again. Needs the account password on stdin.
    StartOver {
        /// Read the account password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Html,
    Json,
}

#[derive(clap::Args)]
pub struct Account {
    pub user: String,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// A name for this device in the account's device list.
    #[arg(long)]
    pub device_name: Option<String>,
    /// Do not use the system keychain; protect the profile with a passphrase alone.
    #[arg(long)]
    pub no_keychain: bool,
}

#[derive(Subcommand)]
pub enum ProfileCommand {
    /// Change your name and/or picture (needs the server).
    Set {
        /// Your display name ("" for none).
        #[arg(long)]
        name: Option<String>,
        /// A picture (JPEG, PNG, GIF or WebP); its middle square is kept, 256 pixels a side.
        #[arg(long, value_name = "PATH", conflicts_with = "no_avatar")]
        avatar: Option<std::path::PathBuf>,
        /// Remove your picture.
        #[arg(long)]
        no_avatar: bool,
    },
    /// Show a profile (yours without USER), after reading any that changed.
    Show {
        user: Option<String>,
        /// Also write the picture (a JPEG) to this file.
        #[arg(long, value_name = "PATH")]
        save_avatar: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group with members. People who never wrote to you are invited instead (unless
    /// the server lets anyone be added); they join when they accept.
    Create { name: String, members: Vec<String> },
    /// Add members (admins only); people who never wrote to you are invited instead.
    Add { group: String, users: Vec<String> },
    /// The groups you are invited to and have not answered.
    Invitations,
    /// Join a group you are invited to.
    Accept { group: String },
    /// Decline an invitation to a group.
    Decline { group: String },
    /// Remove a member, or withdraw an invitation (admins only).
    Remove { group: String, user: String },
    /// Leave a group. An owner hands ownership to an admin (or another member) first; the last
    /// member ends the group.
    Leave { group: String },
    /// Give a member a role (owner only): `member`, `admin`, or `owner` to hand ownership over
    /// (you stay an admin).
    Role {
        group: String,
        user: String,
        #[arg(value_parser = ["member", "admin", "owner"])]
        role: String,
    },
    /// Give the group a new name (admins only).
    Rename { group: String, name: String },
    /// Make a member an admin (owner only).
    Promote { group: String, user: String },
    /// Make an admin a plain member again (owner only).
    Demote { group: String, user: String },
    /// Hand ownership to another member (owner only); you stay an admin.
    Transfer { group: String, user: String },
    /// End a group for everyone (owner only).
    Dismiss { group: String },
    /// The groups this user is in, checked against their members' signed changes.
    List,
}

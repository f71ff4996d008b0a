//! The commands the UI calls, grouped by domain. Each takes state, calls one engine function and
//! maps its error to `{code, message}`; nothing here decides anything the engine should.

pub mod account;
pub mod actions;
pub mod backup;
pub mod contacts;
pub mod controls;
pub mod conversations;
pub mod desktop;
pub mod devices;
pub mod files;
pub mod groups;
pub mod key_backup;
pub mod privacy;
pub mod profile;
pub mod session;
pub mod settings;

use crate::bindings::Signatures;

/// The one list of commands: the invoke handler and the UI's `Commands` table both come from it.
macro_rules! commands {
    ($($module:ident :: $name:ident),* $(,)?) => {
        /// The invoke handler with every command.
        pub fn handler() -> impl Fn(tauri::ipc::Invoke) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($module::$name),*]
        }

        /// Each command's line of the `Commands` table.
        pub fn signatures(out: &mut Signatures) -> Vec<String> {
            vec![$($module::$name::signature(out)),*]
        }
    };
}

commands![
    session::app_status,
    session::check_server,
    session::start_local_server,
    session::set_local_server_network,
    session::register,
    session::login,
    session::unlock,
    session::use_another_account,
    session::sign_out,
    account::change_password,
    account::reset_keys,
    account::reset_identity,
    account::certificate_problem,
    session::move_server,
    account::trust_server_certificate,
    conversations::list_conversations,
    conversations::load_messages,
    conversations::load_messages_after,
    conversations::mark_read,
    conversations::search_messages,
    conversations::send_message,
    conversations::retry_message,
    conversations::set_typing,
    controls::set_muted,
    controls::set_archived,
    controls::set_pinned,
    controls::mark_unread,
    controls::set_draft,
    controls::delete_conversation,
    controls::set_disappearing,
    actions::reply_to_message,
    actions::react_to_message,
    actions::edit_message,
    actions::delete_message,
    actions::message_versions,
    files::send_file,
    files::send_pasted_image,
    files::clipboard_image,
    files::file_preview,
    files::download_file,
    files::save_file,
    files::file_thumbnail,
    files::file_image,
    files::cancel_transfer,
    files::auto_download_limit,
    files::set_auto_download_limit,
    contacts::start_direct,
    contacts::user_devices,
    contacts::verification,
    contacts::set_verified,
    contacts::contact_verified,
    contacts::is_held,
    contacts::accept_identity,
    devices::own_devices,
    devices::delete_device,
    devices::this_device_confirmed,
    devices::start_device_confirmation,
    devices::verification_list,
    devices::confirm_verification,
    devices::start_contact_verification,
    devices::accept_verification,
    devices::cancel_verification,
    groups::create_group,
    groups::group_details,
    groups::add_members,
    groups::remove_member,
    groups::leave_group,
    groups::accept_invitation,
    groups::decline_invitation,
    groups::rename_group,
    groups::set_member_role,
    groups::dismiss_group,
    settings::get_settings,
    settings::set_settings,
    privacy::read_receipts,
    privacy::set_read_receipts,
    profile::get_profiles,
    profile::get_profile,
    profile::set_profile,
    profile::get_avatar,
    desktop::quit,
    desktop::check_for_update,
    desktop::install_update,
    desktop::restart,
    backup::backup_defaults,
    backup::backup_status,
    backup::export_backup,
    backup::export_readable,
    backup::restore_backup,
    backup::cancel_task,
    backup::choose_path,
    key_backup::key_backup_status,
    key_backup::enable_key_backup,
    key_backup::restore_key_backup,
];

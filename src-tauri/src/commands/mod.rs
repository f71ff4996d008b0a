//! The commands the UI calls, grouped by domain. Each takes state, calls one engine function and
//! maps its error to `{code, message}`; nothing here decides anything the engine should.

pub mod contacts;
pub mod conversations;
pub mod groups;
pub mod session;
pub mod settings;

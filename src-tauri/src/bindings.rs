//! TypeScript declarations for every type that crosses the IPC boundary, generated with ts-rs
//! into `ui/src/lib/bindings/`. The test below fails when the committed files are stale;
//! `SOTTO_UPDATE_BINDINGS=1 cargo test -p sotto-app bindings` rewrites them.

use std::path::Path;

use ts_rs::{Config, ExportError, TS};

/// Write the declaration of each IPC type (and the types they use) into `dir`.
pub fn export(dir: &Path) -> Result<(), ExportError> {
    let cfg = Config::new().with_large_int("number").with_out_dir(dir);
    // Commands' results and arguments.
    crate::state::AppStatus::export_all(&cfg)?;
    crate::error::CommandError::export_all(&cfg)?;
    crate::commands::session::SignInRequest::export_all(&cfg)?;
    crate::settings::Settings::export_all(&cfg)?;
    sotto_core::Conversation::export_all(&cfg)?;
    sotto_core::Message::export_all(&cfg)?;
    sotto_core::SearchHit::export_all(&cfg)?;
    sotto_core::DeviceSummary::export_all(&cfg)?;
    sotto_core::LocalGroup::export_all(&cfg)?;
    // Events.
    sotto_core::ClientEvent::export_all(&cfg)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    fn read_dir(dir: &Path) -> BTreeMap<String, String> {
        let Ok(entries) = std::fs::read_dir(dir) else { return BTreeMap::new() };
        entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ts"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            .collect()
    }

    #[test]
    fn bindings_are_up_to_date() {
        let committed_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/bindings");
        let fresh_dir = tempfile::tempdir().unwrap();
        export(fresh_dir.path()).unwrap();
        let fresh = read_dir(fresh_dir.path());
        assert!(fresh.contains_key("AppStatus.ts") && fresh.contains_key("ClientEvent.ts"), "{:?}", fresh.keys());
        if std::env::var_os("SOTTO_UPDATE_BINDINGS").is_some() {
            std::fs::create_dir_all(&committed_dir).unwrap();
            for stale in read_dir(&committed_dir).keys().filter(|k| !fresh.contains_key(*k)) {
                std::fs::remove_file(committed_dir.join(stale)).unwrap();
            }
            for (name, text) in &fresh {
                std::fs::write(committed_dir.join(name), text).unwrap();
            }
        }
        let committed = read_dir(&committed_dir);
        assert!(
            committed == fresh,
            "ui/src/lib/bindings is stale (differs in {:?}); regenerate it with \
             `SOTTO_UPDATE_BINDINGS=1 cargo test -p sotto-app bindings`",
            fresh
                .keys()
                .filter(|k| committed.get(*k) != fresh.get(*k))
                .chain(committed.keys().filter(|k| !fresh.contains_key(*k)))
                .collect::<Vec<_>>()
        );
    }
}

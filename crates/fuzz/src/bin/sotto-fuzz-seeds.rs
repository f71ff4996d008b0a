//! Writes the libFuzzer targets' starting corpora (`fuzz/README.md`): every wire snapshot, real
//! frames and payloads of every kind, a real backup file and its contents, key backups and the
//! recovery key, each prefixed with the byte that tells its target what it is.
//!
//! `cargo run -p sotto-fuzz --bin sotto-fuzz-seeds -- fuzz/corpus`

use std::error::Error;
use std::path::Path;

use sotto_core::fuzzing::{self, Sender};
use sotto_fuzz::engine::PASSPHRASE;
use sotto_fuzz::{Engine, Violation, seeds, wire};

fn write(dir: &Path, target: &str, inputs: &[(u8, Vec<u8>)]) -> Result<(), Box<dyn Error>> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    for (i, (tag, bytes)) in inputs.iter().enumerate() {
        let mut input = vec![*tag];
        input.extend_from_slice(bytes);
        std::fs::write(dir.join(format!("seed-{i:03}")), input)?;
    }
    println!("{}: {} seeds", dir.display(), inputs.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: sotto-fuzz-seeds CORPUS_DIR")?;
    let dir = Path::new(&dir);
    let violation = |e: sotto_core::Error| Violation(e.to_string());

    let mut inputs = Vec::new();
    for (name, json) in seeds::wire()? {
        inputs.push((wire::tag_of(&name).ok_or_else(|| format!("{name} is not a wire type"))?, json));
    }
    write(dir, "wire", &inputs)?;

    let mut engine = Engine::new()?;
    let backup = seeds::backup_plaintext(&mut engine)?;
    let mut inputs: Vec<(u8, Vec<u8>)> = seeds::frames(&mut engine)?.into_iter().map(|f| (0, f)).collect();
    for (from, content) in seeds::olm_contents(&backup) {
        let value: serde_json::Value = serde_json::from_slice(&content)?;
        inputs.push((1, engine.receiver.olm_plaintext_with(Sender::Contact, &value).map_err(violation)?));
        inputs.push((if from == Sender::Contact { 2 } else { 3 }, content));
    }
    for content in seeds::megolm_contents() {
        inputs.push((5, content));
    }
    for (i, action) in seeds::group_actions().into_iter().enumerate() {
        let group = u8::try_from(i % 2).unwrap_or(0);
        inputs.push((6, [&[group][..], &action].concat()));
    }
    for answer in seeds::directory_answers(&engine)? {
        inputs.push((8, answer));
    }
    let text = serde_json::json!({"type": "text", "body": "hello all", "ts": 5});
    inputs.push((4, engine.receiver.group_plaintext_with(&text, None).map_err(violation)?));
    write(dir, "receive", &inputs)?;

    let recovery = fuzzing::recovery_key().map_err(violation)?;
    let mut inputs = vec![
        (0, fuzzing::encrypt_backup(&backup, PASSPHRASE).map_err(violation)?),
        (1, backup.clone()),
        (4, recovery.as_bytes().to_vec()),
    ];
    for contents in seeds::key_backup_plaintexts(&backup) {
        inputs.push((2, fuzzing::seal_key_backup(&recovery, &contents).map_err(violation)?.into_bytes()));
        inputs.push((3, contents));
    }
    write(dir, "backup", &inputs)
}

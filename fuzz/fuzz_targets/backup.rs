//! The backup readers: the first byte picks a backup file, a backup's decrypted contents, a key
//! backup blob, a key backup's decrypted contents or a typed recovery key
//! (`sotto_fuzz::engine::backup_tagged`).
#![no_main]

use std::cell::RefCell;

use sotto_fuzz::Engine;

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::new().expect("setting up the engine"));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ENGINE.with(|engine| {
        if let Err(violation) = sotto_fuzz::engine::backup_tagged(&mut engine.borrow_mut(), data) {
            panic!("{violation}");
        }
    });
});

//! The engine's receive path: the first byte picks a WebSocket frame, an Olm plaintext (whole, or
//! the content of a well-addressed one, from a contact or the user's own device) or a Megolm
//! plaintext (`sotto_fuzz::engine::receive_tagged`).
#![no_main]

use std::cell::RefCell;

use sotto_fuzz::Engine;

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::new().expect("setting up the engine"));
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ENGINE.with(|engine| {
        if let Err(violation) = sotto_fuzz::engine::receive_tagged(&mut engine.borrow_mut(), data) {
            panic!("{violation}");
        }
    });
});

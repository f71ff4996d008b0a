//! Long work the UI started and may cancel (backup export and restore, readable export).
//!
//! The UI names each task with an id of its own choosing and passes it to the command that does
//! the work; `cancel_task` with that id fires the task's [`CancellationToken`]. Progress goes to
//! the UI over the command's Tauri channel. A task is registered only while its command runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sotto_core::Progress;
use sotto_core::progress::{CancellationToken, watch};
use tauri::ipc::Channel;

use crate::error::{CommandError, CommandResult, ErrorCode};

/// Longest task id the UI may choose (it sends a UUID).
const MAX_ID_LEN: usize = 64;

#[derive(Default, Clone)]
pub struct Tasks {
    running: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

/// A registered task; it is forgotten when this is dropped, however the command ended.
#[derive(Debug)]
pub struct Task {
    id: String,
    pub cancel: CancellationToken,
    running: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Ok(mut running) = self.running.lock() {
            running.remove(&self.id);
        }
    }
}

impl Tasks {
    /// Register the task `id`; an id that is running already is refused.
    pub fn start(&self, id: &str) -> CommandResult<Task> {
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(CommandError::new(ErrorCode::InvalidInput, "A task id is 1 to 64 characters."));
        }
        let mut running = self.running.lock().map_err(|_| busy())?;
        if running.contains_key(id) {
            return Err(CommandError::new(ErrorCode::InvalidInput, format!("Task {id} is already running.")));
        }
        let cancel = CancellationToken::new();
        running.insert(id.to_owned(), cancel.clone());
        Ok(Task { id: id.to_owned(), cancel, running: self.running.clone() })
    }

    /// Ask the task `id` to stop. False when no such task runs (it may have just finished).
    pub fn cancel(&self, id: &str) -> bool {
        let token = self.running.lock().ok().and_then(|running| running.get(id).cloned());
        token.inspect(CancellationToken::cancel).is_some()
    }

    /// Stop every task (the profile they work on is closing).
    pub fn cancel_all(&self) {
        if let Ok(running) = self.running.lock() {
            running.values().for_each(CancellationToken::cancel);
        }
    }
}

fn busy() -> CommandError {
    CommandError::new(ErrorCode::Internal, "The app hit an internal error; restart it.")
}

/// A progress sender whose updates reach `channel` (the UI's progress bar) until it is dropped.
/// Call [`ProgressForwarder::finish`] once the work is done so the last update arrives before the
/// command's result.
pub struct ProgressForwarder {
    pub sender: watch::Sender<Progress>,
    forwarder: tauri::async_runtime::JoinHandle<()>,
}

impl ProgressForwarder {
    pub fn new(channel: Channel<Progress>) -> Self {
        let sender = Progress::unobserved();
        let mut updates = sender.subscribe();
        let forwarder = tauri::async_runtime::spawn(async move {
            while updates.changed().await.is_ok() {
                let progress = *updates.borrow_and_update();
                if channel.send(progress).is_err() {
                    // The window went away; the work goes on and ends normally.
                    break;
                }
            }
        });
        ProgressForwarder { sender, forwarder }
    }

    pub async fn finish(self) {
        let ProgressForwarder { sender, forwarder } = self;
        drop(sender);
        let _ = forwarder.await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn a_task_can_be_cancelled_while_it_runs_and_is_forgotten_after() {
        let tasks = Tasks::default();
        let task = tasks.start("export-1").unwrap();
        assert_eq!(tasks.start("export-1").unwrap_err().code, ErrorCode::InvalidInput, "ids are unique while running");
        assert!(!tasks.cancel("another"));
        assert!(tasks.cancel("export-1"));
        assert!(task.cancel.is_cancelled());
        drop(task);
        assert!(!tasks.cancel("export-1"), "a finished task is forgotten");
        let again = tasks.start("export-1").unwrap();
        assert!(!again.cancel.is_cancelled(), "a new task with the same id starts uncancelled");
    }

    #[test]
    fn cancel_all_reaches_every_running_task() {
        let tasks = Tasks::default();
        let (a, b) = (tasks.start("a").unwrap(), tasks.start("b").unwrap());
        tasks.cancel_all();
        assert!(a.cancel.is_cancelled() && b.cancel.is_cancelled());
    }

    #[test]
    fn task_ids_are_bounded() {
        let tasks = Tasks::default();
        assert!(tasks.start("").is_err());
        assert!(tasks.start(&"x".repeat(65)).is_err());
        assert!(tasks.start(&"x".repeat(64)).is_ok());
    }
}

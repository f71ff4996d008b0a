//! Password hashing that holds up under a flood of sign-ins.
//!
//! argon2id is expensive on purpose: each hash fills 19 MiB and takes tens of milliseconds.
//! Run on an unbounded blocking pool, 512 concurrent bogus sign-ins held 512 such buffers at
//! once, and the allocator kept the memory afterwards (8.5 GiB resident, measured). Here a fixed
//! number of hashers (one per core but one by default) each own one buffer, reused for every hash; a
//! request waits for a free hasher, and when the queue is already as long as a second or two of
//! work, it is answered `503 server_busy` with `Retry-After` instead of waiting. Memory is at most
//! `hashers × 19 MiB` for the hashes this server writes, whatever the load (a stored hash with
//! larger parameters grows its hasher's buffer, to at most [`MAX_MEMORY_KIB`]).
//!
//! The hashing itself is the `argon2` crate's, through its caller-provided-memory entry point
//! ([`Argon2::hash_password_into_with_memory`]), with the PHC string parsed and compared
//! (in constant time) by `password-hash`, exactly as [`argon2::PasswordVerifier`] does.
//!
//! A user id that does not exist costs the same as one that does: its attempt is checked against
//! a fixed hash with the same parameters ([`DUMMY_HASH`]), so timing does not tell who has an
//! account.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use axum::http::StatusCode;
use sotto_proto::ErrorCode;

use crate::error::{AppError, AppResult};

/// The stored "hash" of an account that signs in only through an external issuer.
pub const NO_PASSWORD: &str = "!external";

/// argon2id, with the parameters new hashes get ([`Params::default`]), of a random password
/// nobody knows: what a sign-in for a user id without a password is checked against.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c290dG8tZHVtbXktc2FsdA$0Xn0lF1m7J6nYwG0a2H0iC6M3pQ1s3Kk8bq8mJ0hYxM";

/// Requests that may wait for each hasher before more are refused: about a second of work.
const QUEUE_PER_HASHER: usize = 16;
/// What `Retry-After` says when the queue is full.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);
/// A stored hash asking for more memory than this (KiB) is refused rather than computed: no
/// hash this server writes comes near it, and a hasher's buffer must stay bounded.
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// A fixed set of argon2id hashers with their reused memory.
pub struct Passwords {
    hashers: tokio::sync::Semaphore,
    /// Requests waiting for a hasher or hashing.
    queued: AtomicUsize,
    max_queued: usize,
    /// One buffer per hasher, taken while hashing and put back.
    buffers: Mutex<Vec<Vec<Block>>>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("max_queued", &self.max_queued).finish_non_exhaustive()
    }
}

/// The number of hashers when none is configured: one per core the process may use, less one
/// left for everything else (a flood of sign-ins must not slow signed-in devices), at least one.
pub fn default_hashers() -> NonZeroUsize {
    let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
    NonZeroUsize::new(cores.saturating_sub(1)).unwrap_or(NonZeroUsize::MIN)
}

impl Passwords {
    pub fn new(hashers: NonZeroUsize) -> Self {
        Passwords {
            hashers: tokio::sync::Semaphore::new(hashers.get()),
            queued: AtomicUsize::new(0),
            max_queued: hashers.get().saturating_mul(QUEUE_PER_HASHER + 1),
            buffers: Mutex::new(Vec::with_capacity(hashers.get())),
        }
    }

    /// Hashes a new password (argon2id, default parameters, random salt) into a PHC string.
    pub async fn hash(&self, password: String) -> AppResult<String> {
        self.run(move |memory| {
            let salt = SaltString::generate(&mut rand_core::OsRng);
            let params = Params::default();
            let phc = compute(
                password.as_bytes(),
                Algorithm::Argon2id,
                Version::V0x13,
                params.clone(),
                salt.as_salt(),
                memory,
            )
            .and_then(|output| {
                Ok(PasswordHash {
                    algorithm: Algorithm::Argon2id.ident(),
                    version: Some(Version::V0x13.into()),
                    params: ParamsString::try_from(&params)?,
                    salt: Some(salt.as_salt()),
                    hash: Some(output),
                }
                .to_string())
            });
            phc.map_err(|e| AppError::internal(format!("hashing a password: {e}")))
        })
        .await?
    }

    /// Whether `password` matches `stored`. A missing account, and one without a password
    /// ([`NO_PASSWORD`]), is checked against [`DUMMY_HASH`] and never matches.
    pub async fn verify(&self, password: String, stored: Option<String>) -> AppResult<bool> {
        self.run(move |memory| {
            let stored = stored.filter(|h| h != NO_PASSWORD);
            let exists = stored.is_some();
            let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let matches = verify_with(password.as_bytes(), &phc, memory)
                .map_err(|e| AppError::internal(format!("checking a password against its stored hash: {e}")))?;
            Ok(matches && exists)
        })
        .await?
    }

    /// Runs `job` on a blocking thread with a hasher's buffer, once a hasher is free; refuses at
    /// once when the queue is full.
    async fn run<T: Send + 'static>(&self, job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static) -> AppResult<T> {
        let _queued = Queued::enter(&self.queued, self.max_queued).ok_or_else(busy)?;
        let _hasher =
            self.hashers.acquire().await.map_err(|_| AppError::internal("the password hashers are closed"))?;
        let mut buffer =
            self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default();
        let (result, buffer) = tokio::task::spawn_blocking(move || {
            let result = job(&mut buffer);
            (result, buffer)
        })
        .await
        .map_err(|e| AppError::internal(format!("password task: {e}")))?;
        self.buffers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(buffer);
        Ok(result)
    }
}

/// A place in the queue, given back when dropped (also when the request is abandoned).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(counter: &'a AtomicUsize, max: usize) -> Option<Self> {
        counter.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        Some(Queued(counter))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn busy() -> AppError {
    AppError::retry_later(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerBusy,
        "The server is busy checking passwords; try again in a moment.",
        BUSY_RETRY_AFTER,
    )
}

/// What [`argon2::PasswordVerifier::verify_password`] does, on `memory`.
fn verify_with(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> argon2::password_hash::Result<bool> {
    let parsed = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(argon2::password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let computed = compute(password, algorithm, version, params, salt, memory)?;
    // `Output`'s equality is constant-time.
    Ok(computed == expected)
}

/// One argon2 computation with `params` (its output length included) on `memory`, grown to the
/// size the parameters need.
fn compute(
    password: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Salt<'_>,
    memory: &mut Vec<Block>,
) -> argon2::password_hash::Result<Output> {
    if params.m_cost() > MAX_MEMORY_KIB {
        return Err(argon2::password_hash::Error::ParamValueInvalid(
            argon2::password_hash::errors::InvalidValue::TooLong,
        ));
    }
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let argon2 = Argon2::new(algorithm, version, params);
    Output::init_with(output_len, |out| {
        argon2.hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..]).map_err(Into::into)
    })
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier as _;

    use super::*;

    fn pool(hashers: usize) -> Passwords {
        Passwords::new(NonZeroUsize::new(hashers).unwrap())
    }

    #[tokio::test]
    async fn hashes_are_the_libraries_and_the_library_reads_ours() {
        let passwords = pool(1);
        let ours = passwords.hash("correct horse".into()).await.unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horsf", &parsed).is_err());

        let salt = SaltString::generate(&mut rand_core::OsRng);
        let theirs = argon2::PasswordHasher::hash_password(&Argon2::default(), b"battery staple", &salt).unwrap();
        let theirs = theirs.to_string();
        assert!(passwords.verify("battery staple".into(), Some(theirs.clone())).await.unwrap());
        assert!(!passwords.verify("battery stapler".into(), Some(theirs)).await.unwrap());
        assert!(passwords.verify("correct horse".into(), Some(ours.clone())).await.unwrap());
        assert!(!passwords.verify("wrong".into(), Some(ours)).await.unwrap());
    }

    #[tokio::test]
    async fn no_account_and_no_password_never_match() {
        let passwords = pool(1);
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
        assert!(!passwords.verify(NO_PASSWORD.into(), Some(NO_PASSWORD.into())).await.unwrap());
    }

    /// A user id without an account costs what one with an account does: its attempt runs the
    /// same argon2 work (same algorithm, version and parameters as every new hash).
    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        assert_eq!(Algorithm::try_from(dummy.algorithm).unwrap(), Algorithm::Argon2id);
        assert_eq!(dummy.version, Some(Version::V0x13.into()));
        let params = Params::try_from(&dummy).unwrap();
        let default = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(dummy.hash.map(|h| h.len()), Some(Params::DEFAULT_OUTPUT_LEN));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_flood_waits_for_the_hashers_and_the_excess_is_told_to_come_back() {
        const REQUESTS: usize = 60;
        let passwords = std::sync::Arc::new(pool(1));
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.verify("guess".into(), None).await })
            })
            .collect();
        let (mut checked, mut busy) = (0, 0);
        for task in tasks {
            match task.await.unwrap() {
                Ok(false) => checked += 1,
                Err(AppError::RetryLater { status, code, after, .. }) => {
                    assert_eq!(
                        (status, code, after),
                        (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServerBusy, BUSY_RETRY_AFTER)
                    );
                    busy += 1;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(checked > QUEUE_PER_HASHER, "the queue's worth was checked: {checked}");
        assert!(busy > 0, "60 at once is more than one hasher's queue");
        assert_eq!(checked + busy, REQUESTS);
        // One hasher, one buffer, reused.
        let sizes: Vec<usize> = passwords.buffers.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [Params::default().block_count()]);
        // Once the flood is over, requests are taken again.
        assert!(!passwords.verify("guess".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_absurd_memory_is_refused_not_computed() {
        let passwords = pool(1);
        let huge = DUMMY_HASH.replace("m=19456", "m=4194304");
        assert!(matches!(passwords.verify("x".into(), Some(huge)).await, Err(AppError::Internal(_))));
    }
}

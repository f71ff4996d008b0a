//! An S3-compatible object store for the blob store's tests: moto's standalone server
//! (`moto_server`, from PyPI's `moto[server]`: the S3 API over HTTP, objects in memory), started
//! on a free loopback port with one bucket. MinIO is not in the package registries the test
//! machines reach; moto is what `.ci/run` installs.
//!
//! The binary is `$SOTTO_MOTO_SERVER`, else `moto_server` on the `PATH`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Launch, LaunchError, free_port};

/// The bucket every test store has.
pub const BUCKET: &str = "sotto-blobs";

/// A running S3-compatible server, killed when dropped.
pub struct S3Server {
    child: Child,
    url: String,
    http: reqwest::Client,
}

impl S3Server {
    /// Start `moto_server` and create [`BUCKET`].
    pub async fn try_start() -> Result<S3Server, LaunchError> {
        let binary = match std::env::var_os("SOTTO_MOTO_SERVER") {
            Some(path) => PathBuf::from(path),
            None => PathBuf::from("moto_server"),
        };
        let port = free_port()?;
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(LaunchError::io(format!(
                "starting {} (the S3-compatible test server: `pip install 'moto[server]'`, or set SOTTO_MOTO_SERVER)",
                binary.display()
            )))?;
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build()?;
        let server = S3Server { child, url: format!("http://127.0.0.1:{port}"), http };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Creating the bucket is also the readiness probe.
            match server.http.put(format!("{}/{BUCKET}", server.url)).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(server),
                _ if Instant::now() > deadline => {
                    return Err(LaunchError::io("waiting for the S3-compatible test server")(std::io::Error::from(
                        std::io::ErrorKind::TimedOut,
                    )));
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// [`S3Server::try_start`] for tests.
    #[expect(clippy::panic, reason = "test support: a store that does not start fails the test")]
    pub async fn start() -> S3Server {
        match S3Server::try_start().await {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// `launch` with its blobs kept in this store under `prefix`.
    pub fn serve_blobs(&self, launch: Launch, prefix: &str) -> Launch {
        launch
            .args(["--blob-store".to_owned(), format!("s3://{BUCKET}/{prefix}")])
            .env("AWS_ENDPOINT", &self.url)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    }

    /// Every object's key under `prefix` with its bytes, read through the S3 API as any client
    /// would (signed, with the credentials [`S3Server::serve_blobs`] gives the server).
    pub async fn objects(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, LaunchError> {
        use futures_util::TryStreamExt as _;
        use object_store::ObjectStore as _;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.url)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_bucket_name(BUCKET)
            .build()
            .map_err(object_error)?;
        let prefix = object_store::path::Path::from(prefix);
        let listed: Vec<_> = store.list(Some(&prefix)).try_collect().await.map_err(object_error)?;
        let mut out = Vec::new();
        for meta in listed {
            let bytes = store.get(&meta.location).await.map_err(object_error)?.bytes().await.map_err(object_error)?;
            out.push((meta.location.to_string(), bytes.to_vec()));
        }
        out.sort();
        Ok(out)
    }
}

const ACCESS_KEY: &str = "sotto-test";
const SECRET_KEY: &str = "sotto-test-secret";

fn object_error(e: object_store::Error) -> LaunchError {
    LaunchError::io("reading the S3-compatible test server")(std::io::Error::other(e.to_string()))
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

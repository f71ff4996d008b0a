//! Blob bytes in an S3-compatible object store (AWS S3, MinIO, Ceph, Garage, ...), through the
//! `object_store` crate: `--blob-store s3://BUCKET[/PREFIX]`, with the endpoint, region and
//! credentials from the standard `AWS_*` environment variables (`AWS_ENDPOINT`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, `AWS_ALLOW_HTTP`, ...).
//!
//! Each part a client uploads is one object, `PREFIX/<blob id>/<offset as 16 hex digits>`,
//! written with one PUT (so durable once acknowledged) before the committed offset advances.
//! Parts are at most 4 MiB, below S3's 5 MiB minimum for a multipart upload's parts, and a part
//! retried after a crash simply replaces the object at the same offset. Sealing checks that the
//! parts cover the blob exactly; a range is served by ranged GETs of the parts it spans, one part
//! at a time (memory stays at one part). Metadata stays in the server's own [`BlobIndex`], as for
//! the file system.
//!
//! [`BlobIndex`]: crate::store::BlobIndex

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sotto_proto::BlobId;

use super::indexed::{ByteStore, IndexedBlobStore};
use super::{BlobError, BlobReader, BlobResult, BlobRules, PartBody};
use crate::store::BlobIndex;

/// Where an S3 blob store keeps its bytes: `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Reads `s3://BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<S3Location, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| format!("{text}: not an s3://BUCKET[/PREFIX] address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!("{bucket}: not an S3 bucket name (3 to 63 lower-case letters, digits, '-' or '.')"));
        }
        let prefix = prefix.trim_matches('/').to_owned();
        Ok(S3Location { bucket: bucket.to_owned(), prefix })
    }
}

/// Blob bytes as objects in one bucket.
pub struct S3Bytes {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

/// The S3-compatible blob store.
pub type S3BlobStore = IndexedBlobStore<S3Bytes>;

impl S3BlobStore {
    /// The store on `location`, configured from the `AWS_*` environment variables. Nothing is
    /// contacted yet: a wrong endpoint or credentials show at the first upload (and in the log).
    pub fn open(location: &S3Location, index: Arc<dyn BlobIndex>, rules: BlobRules) -> Result<S3BlobStore, String> {
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .build()
            .map_err(|e| format!("the S3 blob store: {e}"))?;
        Ok(IndexedBlobStore::new(S3Bytes { store: Arc::new(store), prefix: location.prefix.clone() }, index, rules))
    }
}

/// One stored part: where it starts, how long it is, and its object.
struct Part {
    offset: u64,
    len: u64,
    path: ObjectPath,
}

impl S3Bytes {
    fn blob_dir(&self, blob: &BlobId) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(blob.as_str())
        } else {
            ObjectPath::from(format!("{}/{}", self.prefix, blob.as_str()))
        }
    }

    fn part_path(&self, blob: &BlobId, offset: u64) -> ObjectPath {
        self.blob_dir(blob).child(format!("{offset:016x}"))
    }

    /// The blob's parts in order (objects with other names are not parts and are ignored).
    async fn parts(&self, blob: &BlobId) -> BlobResult<Vec<Part>> {
        let dir = self.blob_dir(blob);
        let mut parts: Vec<Part> = self
            .store
            .list(Some(&dir))
            .map_err(s3_error)
            .try_filter_map(|meta| async move {
                let name = meta.location.filename().unwrap_or_default();
                let offset = (name.len() == 16).then(|| u64::from_str_radix(name, 16).ok()).flatten();
                Ok(offset.map(|offset| Part { offset, len: meta.size, path: meta.location }))
            })
            .try_collect()
            .await?;
        parts.sort_by_key(|p| p.offset);
        Ok(parts)
    }
}

fn s3_error(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Io(format!("object store: {other}")),
    }
}

#[async_trait]
impl ByteStore for S3Bytes {
    async fn write_part(&self, blob: &BlobId, committed: u64, len: u64, body: &mut PartBody) -> BlobResult<()> {
        // A part is at most the protocol's part size (4 MiB): held in memory for one PUT.
        let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        while let Some(chunk) = body.next().await {
            let got = bytes.len() as u64;
            let chunk = chunk.map_err(|_| BlobError::BodyLength { expected: len, got })?;
            if got + chunk.len() as u64 > len {
                return Err(BlobError::BodyLength { expected: len, got: got + chunk.len() as u64 });
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != len {
            return Err(BlobError::BodyLength { expected: len, got: bytes.len() as u64 });
        }
        self.store
            .put(&self.part_path(blob, committed), PutPayload::from(Bytes::from(bytes)))
            .await
            .map_err(s3_error)?;
        Ok(())
    }

    async fn seal(&self, blob: &BlobId, size: u64) -> BlobResult<()> {
        // The parts must cover the blob exactly: a part left by an attempt that was never
        // committed past (a crash between PUT and recording it) is removed here.
        let mut end = 0u64;
        for part in self.parts(blob).await? {
            if part.offset == end && end + part.len <= size {
                end += part.len;
            } else {
                self.store.delete(&part.path).await.map_err(s3_error)?;
            }
        }
        if end != size {
            return Err(BlobError::Io(format!("the object store holds {end} of the blob's {size} bytes")));
        }
        Ok(())
    }

    async fn open_range(&self, blob: &BlobId, start: u64, len: u64) -> BlobResult<BlobReader> {
        let end = start.saturating_add(len);
        let wanted: Vec<(ObjectPath, std::ops::Range<u64>)> = self
            .parts(blob)
            .await?
            .into_iter()
            .filter(|p| p.offset < end && p.offset + p.len > start)
            .map(|p| {
                let from = start.saturating_sub(p.offset);
                let to = (end - p.offset).min(p.len);
                (p.path, from..to)
            })
            .collect();
        let covered: u64 = wanted.iter().map(|(_, r)| r.end - r.start).sum();
        if covered != len {
            return Err(BlobError::NotFound);
        }
        let store = self.store.clone();
        let stream = futures_util::stream::iter(wanted).then(move |(path, range)| {
            let store = store.clone();
            async move { store.get_range(&path, range).await.map_err(std::io::Error::other) }
        });
        Ok(Box::pin(tokio_util::io::StreamReader::new(stream)))
    }

    async fn remove(&self, blob: &BlobId) -> BlobResult<()> {
        for part in self.parts(blob).await? {
            match self.store.delete(&part.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(s3_error(e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_name_a_bucket_and_a_prefix() {
        assert_eq!(
            S3Location::parse("s3://sotto-blobs/a/b/").unwrap(),
            S3Location { bucket: "sotto-blobs".into(), prefix: "a/b".into() }
        );
        assert_eq!(S3Location::parse("s3://blobs").unwrap().prefix, "");
        assert!(S3Location::parse("https://blobs").is_err());
        assert!(S3Location::parse("s3://Bad_Bucket").is_err());
        assert!(S3Location::parse("s3://ab").is_err());
    }
}

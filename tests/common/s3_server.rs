//! `S3Server`: a moto S3 API server on 127.0.0.1 for the object-store tests
//! and bench, and an `object_store` S3 client for a bucket on it. Part of
//! `tests/common` (feature `object_store`); the bench includes it with `#[path]`.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::ObjectStore;

/// A moto S3 server: the one at `PARQUET_SPILL_S3_ENDPOINT` (started by
/// `scripts/s3_server.sh`), or else one started from `moto_server` on `PATH`
/// and killed when dropped.
pub struct S3Server {
    endpoint: String,
    child: Option<std::process::Child>,
}

impl S3Server {
    /// The server at `PARQUET_SPILL_S3_ENDPOINT`, if set (nothing started).
    pub fn from_env() -> Option<Self> {
        std::env::var("PARQUET_SPILL_S3_ENDPOINT")
            .ok()
            .map(|endpoint| Self {
                endpoint,
                child: None,
            })
    }

    pub fn start() -> Option<Self> {
        if let Some(server) = Self::from_env() {
            return Some(server);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let server = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// Create `bucket` with a plain path-style `PUT /bucket` (object_store
    /// cannot create buckets; moto does not check signatures).
    pub fn create_bucket(&self, bucket: &str) {
        use std::io::{Read, Write};
        let host = self.endpoint.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(host).unwrap();
        write!(
            conn,
            "PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    }

    pub fn store(&self, bucket: &str) -> Arc<dyn ObjectStore> {
        // reqwest is built without a default TLS provider (see Cargo.toml).
        let _ = rustls::crypto::ring::default_provider().install_default();
        Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_bucket_name(bucket)
                .with_region("us-east-1")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()
                .unwrap(),
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

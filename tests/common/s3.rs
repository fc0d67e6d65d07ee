//! An S3-compatible server for tests: moto's server mode (PyPI
//! `moto[server]`, installed by scripts/test), started on a random port and
//! killed when dropped. Nothing leaves the machine.

use std::process::{Child, Command, Stdio};

use super::*;

/// A running moto server.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:port`
    pub endpoint: String,
}

impl S3Server {
    /// Starts moto and waits (up to 60 s) until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let endpoint = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut stderr) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut stderr, &mut err);
                }
                panic!(
                    "moto's S3 server exited ({status}); install it with \
                     `pip install 'moto[server]'` (scripts/test does):\n{err}"
                );
            }
            if client.get(&endpoint).send().await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto did not answer at {endpoint}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { child, endpoint }
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}", self.endpoint))
            .send()
            .await
            .expect("moto answers");
        assert!(
            response.status().is_success(),
            "create bucket {bucket}: {response:?}"
        );
    }

    /// The object keys in `bucket`.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
        let body = reqwest::Client::new()
            .get(format!("{}/{bucket}?list-type=2", self.endpoint))
            .send()
            .await
            .expect("moto answers")
            .text()
            .await
            .expect("a listing");
        body.split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// The settings a client needs, as `AWS_*` environment variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
        ]
    }

    /// A report store in `bucket` under `prefix`, as a server in this
    /// process uses it.
    pub fn store(&self, bucket: &str, prefix: &str) -> headcount::jobs::ReportStore {
        let env: Vec<(String, String)> = self
            .env()
            .into_iter()
            .map(|(key, value)| (key.to_ascii_lowercase(), value))
            .collect();
        let options: Vec<(&str, &str)> = env
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        headcount::jobs::ReportStore::at(&format!("s3://{bucket}/{prefix}"), &options)
            .expect("an S3 report store")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

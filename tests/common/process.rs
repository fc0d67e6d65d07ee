//! `headcount serve` as a real process: started on a random port, read until
//! it says where it listens, killed when the test is done with it.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use super::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_headcount");

/// A running `headcount serve`; killed on drop if it still runs.
pub struct ServeProcess {
    pub child: Child,
    /// `127.0.0.1:port`
    pub addr: String,
    /// Everything it printed (stdout and stderr) until it listened.
    pub printed: String,
    lines: Receiver<String>,
}

impl ServeProcess {
    /// Starts `headcount --database-url <url> serve --listen 127.0.0.1:0
    /// --data-dir <data_dir> <extra>` and waits (up to 60 s) until it
    /// listens; panics with its output if it does not.
    pub async fn start(url: &str, data_dir: &Path, extra: &[&str]) -> Self {
        let mut process = Self::spawn(url, data_dir, extra);
        process.listening().await;
        process
    }

    /// Starts it without waiting (see [`ServeProcess::listening`]).
    pub fn spawn(url: &str, data_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn_with_env(url, data_dir, extra, &[])
    }

    /// Starts it without waiting, with more environment variables.
    pub fn spawn_with_env(
        url: &str,
        data_dir: &Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        let mut child = Command::new(BIN)
            .args(["--database-url", url, "--log-format", "json", "serve"])
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env_remove("HEADCOUNT_DATABASE_URL")
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn headcount serve");
        let (tx, lines) = std::sync::mpsc::channel::<String>();
        for reader in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(reader)
                    .lines()
                    .map_while(Result::ok)
                {
                    let _ = tx.send(line);
                }
            });
        }
        drop(tx);
        Self {
            child,
            addr: String::new(),
            printed: String::new(),
            lines,
        }
    }

    /// Waits (up to 60 s) until it says where it listens; panics with its
    /// output if it does not.
    pub async fn listening(&mut self) {
        let process = self;
        let deadline = Instant::now() + Duration::from_secs(60);
        while process.addr.is_empty() && Instant::now() < deadline {
            let line = tokio::task::block_in_place(|| {
                process.lines.recv_timeout(Duration::from_millis(500))
            });
            let line = match line {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if let Some(rest) = line.split("http://").nth(1) {
                let found = rest.split("/graphql").next().unwrap_or_default();
                if found.starts_with("127.0.0.1:") && !found.ends_with(":0") {
                    process.addr = found.to_owned();
                }
            }
            process.printed.push_str(&line);
            process.printed.push('\n');
        }
        assert!(
            !process.addr.is_empty(),
            "serve never said where it listens:\n{}",
            process.printed
        );
    }

    /// The line that said where it listens, as printed.
    pub fn listen_line(&self) -> &str {
        self.printed
            .lines()
            .find(|line| line.contains(&format!("http://{}/graphql", self.addr)))
            .unwrap_or_default()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

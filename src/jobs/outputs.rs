//! `headcount report`'s output file, written by the worker of its own
//! process beside the stored file while the report is produced, instead of
//! copied out of storage once finished (250 MB for a million changes in
//! CSV: the copy was about a sixth of the command's time).
//!
//! The output is written by a thread of its own, so the second copy of every
//! byte costs the other core rather than the worker's task; it is synced and
//! renamed into place only once the job is recorded done. A job another
//! process's worker claims, or whose output could not be written, is copied
//! out of storage as before (`cli::write`): the output is a convenience, the
//! stored file is the report.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::runtime::RuntimeFlavor;
use tokio::sync::Notify;

/// Chunks waiting for the output's thread; the next write waits for one to
/// be written (each chunk is about `FLUSH_BYTES`).
const CHUNKS_IN_FLIGHT: usize = 4;

/// The outputs this process's workers write beside storage, by job.
#[derive(Clone, Default)]
pub struct Outputs(Arc<Shared>);

#[derive(Default)]
struct Shared {
    jobs: Mutex<HashMap<i64, Wanted>>,
    /// Signalled when an output is delivered or dropped.
    settled: Notify,
}

struct Wanted {
    path: PathBuf,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// No worker of this process has started it.
    Waiting,
    Writing,
    Delivered,
    /// Not delivered (the job was lost to another worker, failed, or the
    /// output could not be written); a later attempt may start it again.
    Dropped,
}

impl Outputs {
    /// Asks a worker of this process that runs `job` to write its file to
    /// `path` as well.
    pub fn want(&self, job: i64, path: PathBuf) {
        let wanted = Wanted {
            path,
            state: State::Waiting,
        };
        self.lock().insert(job, wanted);
    }

    /// Once `job` has finished: whether its file was written to its output
    /// (else it is still to be copied from storage). Waits while a worker
    /// of this process is still writing or moving it; forgets the job.
    pub async fn delivered(&self, job: i64) -> bool {
        loop {
            let settled = self.0.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let mut jobs = self.lock();
                let state = jobs.get(&job).map(|wanted| wanted.state);
                if state != Some(State::Writing) {
                    jobs.remove(&job);
                    return state == Some(State::Delivered);
                }
            }
            settled.await;
        }
    }

    /// The output of `job`, started, when one is wanted and can be created.
    pub(super) fn start(&self, job: i64) -> Option<Output> {
        let path = {
            let mut jobs = self.lock();
            let wanted = jobs.get_mut(&job)?;
            wanted.state = State::Writing;
            wanted.path.clone()
        };
        match Output::create(self.clone(), job, path) {
            Ok(output) => Some(output),
            Err(err) => {
                self.settle(job, State::Dropped);
                tracing::warn!(error = %err, job, "cannot write the report's output as it runs; it will be copied from storage");
                None
            }
        }
    }

    fn settle(&self, job: i64, state: State) {
        if let Some(wanted) = self.lock().get_mut(&job) {
            wanted.state = state;
        }
        self.0.settled.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Wanted>> {
        self.0
            .jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The partial file `path` is written as for `job`, renamed to `path` when
/// complete: job 42's `changes.csv` is written as `changes.csv.42.partial`,
/// so two reports written to one path at once never share a partial file
/// (the last to finish is the one left).
pub fn partial_path(path: &Path, job: i64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{job}.partial"));
    path.with_file_name(name)
}

/// An output being written: its bytes go to a thread that writes them to
/// the partial file.
pub(super) struct Output {
    outputs: Outputs,
    job: i64,
    path: PathBuf,
    partial: PathBuf,
    chunks: Option<SyncSender<Vec<u8>>>,
    thread: Option<JoinHandle<std::io::Result<File>>>,
}

impl Output {
    fn create(outputs: Outputs, job: i64, path: PathBuf) -> std::io::Result<Self> {
        let partial = partial_path(&path, job);
        let mut file = File::create(&partial)?;
        let (chunks, received) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name(format!("report-{job}-output"))
            .spawn(move || {
                for chunk in received {
                    file.write_all(&chunk)?;
                }
                file.sync_all()?;
                Ok(file)
            })?;
        Ok(Self {
            outputs,
            job,
            path,
            partial,
            chunks: Some(chunks),
            thread: Some(thread),
        })
    }

    /// Hands `bytes` to the output's thread (waiting while it is
    /// [`CHUNKS_IN_FLIGHT`] behind). False once its writing has failed.
    pub(super) fn write(&mut self, bytes: &[u8]) -> bool {
        let Some(chunks) = &self.chunks else {
            return false;
        };
        if bytes.is_empty() {
            return true;
        }
        let sent = match chunks.try_send(bytes.to_vec()) {
            Ok(()) => true,
            Err(TrySendError::Disconnected(_)) => false,
            // The thread is behind: wait for it, in a blocking section where
            // the runtime allows one, so its other tasks go on meanwhile.
            Err(TrySendError::Full(chunk)) => {
                let send = || chunks.send(chunk).is_ok();
                match tokio::runtime::Handle::current().runtime_flavor() {
                    RuntimeFlavor::CurrentThread => send(),
                    _ => tokio::task::block_in_place(send),
                }
            }
        };
        if !sent {
            self.chunks = None;
        }
        sent
    }

    /// Why writing stopped, once [`Output::write`] said it had.
    pub(super) fn failure(mut self) -> std::io::Error {
        self.chunks = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(Err(err))) => err,
            _ => std::io::Error::other("the output's thread stopped"),
        }
    }

    /// Writes what is left and syncs the file; the error says why the
    /// output cannot be used.
    pub(super) async fn finish(&mut self) -> std::io::Result<()> {
        self.chunks = None;
        let thread = self.thread.take().expect("an output finishes once");
        let written = tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(std::io::Error::other)?;
        match written {
            Ok(result) => result.map(drop),
            Err(_) => Err(std::io::Error::other("the output's thread panicked")),
        }
    }

    /// Moves the finished file into place, for the job's requester to
    /// find; the file is removed if that fails.
    pub(super) fn deliver(mut self) -> std::io::Result<()> {
        std::fs::rename(&self.partial, &self.path)?;
        self.partial = PathBuf::new();
        self.outputs.settle(self.job, State::Delivered);
        Ok(())
    }
}

impl Drop for Output {
    /// An output not delivered leaves no file.
    fn drop(&mut self) {
        self.chunks = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
            self.outputs.settle(self.job, State::Dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("headcount-out-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_partial_file_keeps_the_name_and_adds_the_job_and_partial() {
        assert_eq!(
            partial_path(Path::new("/tmp/changes.csv"), 42),
            Path::new("/tmp/changes.csv.42.partial")
        );
        assert_eq!(
            partial_path(Path::new("report"), 7),
            Path::new("report.7.partial")
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_delivered_output_holds_every_chunk_in_order() {
        let dir = dir();
        let path = dir.join("out.csv");
        let outputs = Outputs::default();
        assert!(outputs.start(7).is_none(), "no output wanted");
        outputs.want(7, path.clone());
        let mut output = outputs.start(7).expect("started");
        let mut expected = Vec::new();
        for n in 0..50u32 {
            let chunk = format!("row {n}\n").repeat(n as usize * 100);
            assert!(output.write(chunk.as_bytes()));
            expected.extend_from_slice(chunk.as_bytes());
        }
        assert!(!path.exists(), "nothing visible before delivery");
        assert!(partial_path(&path, 7).exists());
        output.finish().await.unwrap();
        // Asked while the worker is still at it: the answer waits for it.
        let asked = tokio::spawn({
            let outputs = outputs.clone();
            async move { outputs.delivered(7).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!asked.is_finished(), "waits while the output is written");
        output.deliver().unwrap();
        assert!(asked.await.unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        assert!(!partial_path(&path, 7).exists());
        assert!(!outputs.delivered(7).await, "forgotten once asked");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_output_not_delivered_leaves_no_file() {
        let dir = dir();
        let path = dir.join("out.ndjson");
        let outputs = Outputs::default();
        outputs.want(3, path.clone());
        let mut output = outputs.start(3).expect("started");
        assert!(output.write(b"{}\n"));
        output.finish().await.unwrap();
        drop(output);
        assert!(!path.exists() && !partial_path(&path, 3).exists());
        assert!(!outputs.delivered(3).await);

        // An output whose directory is missing is not started: the job
        // goes on without it.
        outputs.want(4, dir.join("missing").join("out.csv"));
        assert!(outputs.start(4).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

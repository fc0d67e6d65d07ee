//! A report job's state as one transaction left it. Its notice carries it, so
//! that `reportJobUpdated` pushes every state a job passes through, however
//! quickly they follow each other: reading the job back on each notice would
//! skip the states passed in between two reads (a small job goes from
//! PENDING to SUCCESS in milliseconds).

use super::{JobStatus, ReportJob};
use crate::time::{from_micros, to_micros};

/// What changes while a job waits or runs: its status, which attempt runs it,
/// since when, and how far it got. What is set only when it finishes (the
/// file, the error, the expiry) is read from the job itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobState {
    pub status: JobStatus,
    attempts: i32,
    started_at: Option<i64>,
    /// `f64::to_bits` of the progress, so that a state is `Eq` and `Hash`
    /// like the rest of a notice.
    progress: Option<u64>,
    row_count: Option<i64>,
}

impl JobState {
    pub fn of(job: &ReportJob) -> Self {
        Self {
            status: job.status,
            attempts: job.attempts,
            started_at: job.started_at.map(to_micros),
            progress: job.progress.map(f64::to_bits),
            row_count: job.row_count,
        }
    }

    /// The same attempt with a new status (a worker finishing its job).
    pub fn with_status(self, status: JobStatus) -> Self {
        Self { status, ..self }
    }

    /// The same attempt, further on.
    pub fn with_progress(self, progress: f64, rows: i64) -> Self {
        Self {
            progress: Some(progress.to_bits()),
            row_count: Some(rows),
            ..self
        }
    }

    /// Whether a job reaches this state only after `earlier`: a later attempt,
    /// a later status in the order PENDING, STARTED, finished, or more rows
    /// and progress in the same attempt. Notices may arrive after a read that
    /// already showed their state or a later one; those are not pushed again.
    pub fn is_after(&self, earlier: &JobState) -> bool {
        let key = |s: &JobState| {
            let stage = match s.status {
                JobStatus::Pending => 0,
                JobStatus::Started => 1,
                _ => 2,
            };
            let progress = s.progress.map_or(-1.0, f64::from_bits);
            (s.attempts, stage, s.row_count.unwrap_or(-1), progress)
        };
        key(self) > key(earlier)
    }

    /// `job` as it was in this state, for a state that has not finished: a
    /// waiting or running job differs from another state of itself only in
    /// what this holds.
    pub fn applied_to(&self, job: &ReportJob) -> ReportJob {
        ReportJob {
            status: self.status,
            attempts: self.attempts,
            started_at: self.started_at.map(from_micros),
            progress: self.progress.map(f64::from_bits),
            row_count: self.row_count,
            ..job.clone()
        }
    }

    /// `STARTED.1.1733356800000000.3fe0000000000000.500` (`-` for none): the
    /// form a PostgreSQL notification carries to other replicas.
    pub fn encode(&self) -> String {
        fn part<T: ToString>(value: Option<T>) -> String {
            value.map_or_else(|| "-".to_owned(), |v| v.to_string())
        }
        format!(
            "{}.{}.{}.{}.{}",
            self.status.as_str(),
            self.attempts,
            part(self.started_at),
            part(self.progress.map(|bits| format!("{bits:x}"))),
            part(self.row_count),
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        fn part<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Option<Option<T>> {
            if s == "-" {
                Some(None)
            } else {
                parse(s).map(Some)
            }
        }
        let mut parts = s.split('.');
        let mut next = || parts.next();
        let status = next()?;
        let status = JobStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == status)?;
        let attempts = next()?.parse().ok()?;
        let started_at = part(next()?, |s| s.parse().ok())?;
        let progress = part(next()?, |s| u64::from_str_radix(s, 16).ok())?;
        let row_count = part(next()?, |s| s.parse().ok())?;
        if next().is_some() {
            return None;
        }
        Some(Self {
            status,
            attempts,
            started_at,
            progress,
            row_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(
        status: JobStatus,
        attempts: i32,
        progress: Option<f64>,
        rows: Option<i64>,
    ) -> JobState {
        JobState {
            status,
            attempts,
            started_at: (attempts > 0).then_some(1_733_356_800_123_456),
            progress: progress.map(f64::to_bits),
            row_count: rows,
        }
    }

    #[test]
    fn states_round_trip_through_their_encoding() {
        for s in [
            state(JobStatus::Pending, 0, None, None),
            state(JobStatus::Started, 1, Some(0.0), Some(0)),
            state(JobStatus::Started, 2, Some(500.0 / 1200.0), Some(500)),
            state(JobStatus::Cancelled, 3, Some(1.0), Some(i64::MAX)),
        ] {
            assert_eq!(JobState::decode(&s.encode()), Some(s), "{}", s.encode());
        }
        for bad in [
            "",
            "STARTED",
            "DONE.1.-.-.-",
            "STARTED.1.-.-.-.-",
            "STARTED.x.-.-.-",
        ] {
            assert_eq!(JobState::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_job_moves_forward_through_attempts_statuses_and_progress() {
        let order = [
            state(JobStatus::Pending, 0, None, None),
            state(JobStatus::Started, 1, Some(0.0), Some(0)),
            state(JobStatus::Started, 1, Some(0.4), Some(500)),
            state(JobStatus::Started, 1, Some(0.8), Some(1000)),
            // The lease ran out: claimed again, from the start.
            state(JobStatus::Started, 2, Some(0.0), Some(0)),
            state(JobStatus::Success, 2, Some(1.0), Some(1200)),
        ];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(a.is_after(b), i > j, "{a:?} after {b:?}");
            }
        }
    }
}

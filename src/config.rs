//! Command line and environment: every flag is also read from the
//! `HEADCOUNT_*` variable named beside it, with defaults that just work.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "headcount",
    version,
    about = "GraphQL gateway for user, access and license reporting"
)]
pub struct Cli {
    /// Database URL: sqlite://FILE?mode=rwc, postgres://..., mysql://...
    #[arg(
        long,
        env = "HEADCOUNT_DATABASE_URL",
        default_value = "sqlite://headcount.db?mode=rwc",
        global = true
    )]
    pub database_url: String,

    /// Log format.
    #[arg(long, env = "HEADCOUNT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve GraphQL.
    Serve(ServeArgs),
    /// Apply migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Load data into the database.
    Seed(SeedArgs),
    /// Queue a report on the database, follow it (a progress bar on a
    /// terminal) and write its file.
    Report(ReportCommandArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HEADCOUNT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the bootstrap token (and later, report files) are written.
    #[arg(long, env = "HEADCOUNT_DATA_DIR", default_value = "./headcount-data")]
    pub data_dir: PathBuf,

    /// Browser origins allowed to call the API (comma-separated); none by default.
    #[arg(long, env = "HEADCOUNT_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Proxies (addresses or networks, comma-separated, e.g. 10.0.0.0/8)
    /// whose X-Forwarded-For names the client: for rate limits, failed
    /// sign-ins and the request log. None by default: the peer is the client.
    #[arg(long, env = "HEADCOUNT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Also serve Prometheus metrics on this address, at /metrics, without
    /// authentication (keep it private); on --listen, /metrics needs an
    /// ADMIN token.
    #[arg(long, env = "HEADCOUNT_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Seed demo data first when the database has no realms.
    #[arg(long)]
    pub demo: bool,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub request_log: RequestLogArgs,

    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Report jobs.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report workers in this process (0: queue and serve downloads only).
    #[arg(long, env = "HEADCOUNT_REPORT_WORKERS", default_value_t = 2)]
    pub report_workers: usize,

    /// Days a finished report file is kept before it is deleted.
    #[arg(long, env = "HEADCOUNT_REPORT_RETENTION_DAYS", default_value_t = 7)]
    pub report_retention_days: u32,

    /// Unfinished report jobs one API token may have at once.
    #[arg(long, env = "HEADCOUNT_REPORT_MAX_UNFINISHED", default_value_t = 10)]
    pub report_max_unfinished: u64,

    /// Seconds a worker's claim on a job lasts without renewal; a job whose
    /// worker died runs again after this.
    #[arg(long, env = "HEADCOUNT_REPORT_LEASE_SECS", default_value_t = 60)]
    pub report_lease_secs: u32,

    /// The URL clients reach this server at, for signed download links
    /// (default: http://LISTEN).
    #[arg(long, env = "HEADCOUNT_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Where report files go: `s3://bucket/prefix` for an S3-compatible
    /// store replicas share (credentials, region and endpoint from the
    /// standard AWS_* variables, e.g. AWS_ENDPOINT_URL, AWS_ALLOW_HTTP), or a
    /// directory (default: DATA_DIR/reports).
    #[arg(long, env = "HEADCOUNT_REPORT_STORE", value_name = "URL")]
    pub report_store: Option<String>,
}

/// The API request log.
#[derive(Debug, Clone, Args)]
pub struct RequestLogArgs {
    /// Days a request-log record is kept; older ones are deleted every ten
    /// minutes, in small batches.
    #[arg(
        long,
        env = "HEADCOUNT_REQUEST_LOG_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub request_log_retention_days: u32,

    /// Records that may wait to be written; when the queue is full, further
    /// records are dropped (and counted) rather than slowing requests down.
    #[arg(long, env = "HEADCOUNT_REQUEST_LOG_QUEUE", default_value_t = 10_000)]
    pub request_log_queue: usize,

    /// `false` records no requests at all (nor their metrics), to measure
    /// what the log costs.
    #[arg(
        long = "request-log",
        env = "HEADCOUNT_REQUEST_LOG",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub request_log_enabled: bool,
}

impl From<&RequestLogArgs> for crate::service::requests::RequestLogConfig {
    fn from(args: &RequestLogArgs) -> Self {
        Self {
            queue: args.request_log_queue,
            retention_days: args.request_log_retention_days,
            enabled: args.request_log_enabled,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Maximum request body, in bytes.
    #[arg(long, env = "HEADCOUNT_BODY_LIMIT", default_value_t = 1 << 20)]
    pub body_limit: usize,

    /// Maximum query depth.
    #[arg(long, env = "HEADCOUNT_DEPTH_LIMIT", default_value_t = 15)]
    pub depth_limit: usize,

    /// Maximum query complexity (a connection costs first × its children).
    #[arg(long, env = "HEADCOUNT_COMPLEXITY_LIMIT", default_value_t = 50_000)]
    pub complexity_limit: usize,

    /// Per-request timeout, in seconds.
    #[arg(long, env = "HEADCOUNT_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Requests per minute for each API token, and for each client address
    /// without a valid token; 0 turns rate limits off.
    #[arg(long, env = "HEADCOUNT_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// WebSocket connections (`/graphql/ws`) open at once; more are refused
    /// with 503.
    #[arg(long, env = "HEADCOUNT_WS_MAX_CONNECTIONS", default_value_t = 1000)]
    pub ws_max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_limit: 1 << 20,
            depth_limit: 15,
            complexity_limit: 50_000,
            request_timeout_secs: 30,
            rate_limit_per_minute: 600,
            ws_max_connections: 1000,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue an API token; its secret is the last word printed.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    #[arg(long)]
    pub name: String,
    /// A scope (ADMIN, USERS_READ, ...); repeat for several.
    #[arg(long = "scope", required = true)]
    pub scopes: Vec<String>,
    /// Bind the token to a realm; repeat for several. None: every realm.
    #[arg(long = "realm")]
    pub realms: Vec<String>,
    /// Expiry, RFC 3339.
    #[arg(long)]
    pub expires: Option<String>,
}

/// Either `--demo`, or `--users N --changes M` for the bulk generator; and/or
/// `--tokens N`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The small realistic demo data set (3 realms, ~200 users, 90 days of history).
    #[arg(long, conflicts_with_all = ["users", "changes"])]
    pub demo: bool,

    /// Generate this many users (with --changes).
    #[arg(long, requires = "changes")]
    pub users: Option<u32>,

    /// History rows to generate in all, the users' creations included.
    #[arg(long, requires = "users")]
    pub changes: Option<u64>,

    /// Realms to spread the generated users over.
    #[arg(long, default_value_t = 3)]
    pub realms: u32,

    /// Random seed: the same seed (and day) gives the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Days of history, ending now.
    #[arg(long, default_value_t = 365)]
    pub days: u32,

    /// Also generate this many authentication tokens, with their events
    /// and counters over the history span (alone: over the directory there is).
    #[arg(long)]
    pub tokens: Option<u32>,

    /// Also generate this many activity log events over the history span
    /// (for benchmarks).
    #[arg(long)]
    pub audit_events: Option<u64>,

    /// Also generate this many API request-log rows over the last 30 days
    /// (for benchmarks).
    #[arg(long)]
    pub requests: Option<u64>,

    /// Also generate recorded activity (sessions, apps, latencies) of this
    /// many days, ending now, for every user (alone: over the directory
    /// there is).
    #[arg(long)]
    pub activity_days: Option<u32>,
}

/// The kinds of report, as the command line names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportKindArg {
    /// userChangelog's rows.
    Changelog,
    /// userSnapshots' rows.
    Snapshot,
    /// auditEvents' rows.
    Audit,
    /// tokenCounters' rows.
    TokenCounters,
    /// apiRequests' rows.
    ApiRequests,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    Csv,
    Json,
    Ndjson,
}

/// `headcount report KIND [filters] --format F -o FILE`: the filters are the
/// report's GraphQL input; each applies to the kinds whose query takes it.
#[derive(Debug, Args)]
pub struct ReportCommandArgs {
    #[arg(value_enum)]
    pub kind: ReportKindArg,

    #[arg(long, value_enum, default_value_t = ReportFormatArg::Csv)]
    pub format: ReportFormatArg,

    /// Where to write the file; `-` for standard output.
    #[arg(short, long)]
    pub output: PathBuf,

    /// Range start, RFC 3339 (changelog, audit, api-requests).
    #[arg(long)]
    pub start: Option<String>,

    /// Range end, RFC 3339, exclusive (changelog, audit, api-requests).
    #[arg(long)]
    pub end: Option<String>,

    /// A window ending now instead of --start/--end, e.g. 7d (audit, api-requests).
    #[arg(long)]
    pub window: Option<String>,

    /// The moment of a snapshot, RFC 3339 (default: now).
    #[arg(long)]
    pub date: Option<String>,

    /// Counters recorded since, RFC 3339 (token-counters).
    #[arg(long)]
    pub since: Option<String>,

    /// Realms (repeat for several; audit takes one).
    #[arg(long)]
    pub realm: Vec<String>,

    /// Every realm's events (audit).
    #[arg(long)]
    pub all_permitted_realms: bool,

    /// Change types, e.g. CREATED, STATUS_CHANGED (changelog; repeat).
    #[arg(long)]
    pub change_type: Vec<String>,

    /// Token statuses, e.g. TOTAL, ACTIVE (token-counters; repeat).
    #[arg(long)]
    pub status: Vec<String>,

    /// Where report files are kept, as for `serve` (default: DATA_DIR/reports).
    #[arg(long, env = "HEADCOUNT_REPORT_STORE", value_name = "URL")]
    pub report_store: Option<String>,

    #[arg(long, env = "HEADCOUNT_DATA_DIR", default_value = "./headcount-data")]
    pub data_dir: PathBuf,
}

/// `10.0.0.0/8`, or one address (`10.0.0.7`, `::1`).
fn network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{s}' is neither an IP address nor a network such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_networks() {
        assert_eq!(network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(network(" 10.0.0.7 ").unwrap().to_string(), "10.0.0.7/32");
        assert_eq!(network("::1").unwrap().to_string(), "::1/128");
        for bad in ["", "10.0.0.0/33", "proxy.internal", "10.0.0"] {
            let err = network(bad).unwrap_err();
            assert!(
                err.contains("neither an IP address nor a network"),
                "{bad}: {err}"
            );
        }
    }
}

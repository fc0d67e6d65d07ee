//! Parsed query documents, kept by query text once they pass validation, and
//! which of them are known to pass it for any request.
//!
//! Clients send the same few query texts over and over (a dashboard's page
//! query, a BI tool's export); parsing one with async-graphql's PEG parser cost
//! more than copying the parsed tree.
//!
//! Validating a document against the schema (async-graphql's strict rules)
//! was another tenth of a 50-user page's work, on every request. Whether a
//! document passes those rules depends only on the document and the schema,
//! except through the values of its variables and the chosen operation. So a
//! document that declares no variables and was once executed without any error
//! under the strict rules is remembered as valid for that operation name, and
//! later requests with it run under async-graphql's fast validation mode, which
//! still checks the depth and complexity limits and fragment cycles. A
//! document with variables is validated in full every time.
//!
//! Only documents that passed validation are kept, so junk sent once takes no
//! room. The cache is bounded by an estimate of the memory it holds, not by a
//! number of entries; entries are shared (`Arc`), so a hit holds the lock only
//! to find the entry, and copies the tree after letting go of it.

use std::sync::{Arc, Mutex, MutexGuard};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response};
use lru::LruCache;

/// Longer query texts are parsed every time rather than kept.
const MAX_QUERY_LEN: usize = 16 * 1024;

/// Estimated bytes a kept document holds per byte of its text: the text as
/// the key, and the parsed tree (positions, names and nodes), measured at
/// roughly 5 to 8 times the text for typical queries.
const BYTES_PER_QUERY_BYTE: usize = 10;
const BYTES_PER_ENTRY: usize = 512;

struct Entry {
    document: ExecutableDocument,
    /// The operation names (None: none given) it passed validation with.
    valid_for: Vec<Option<String>>,
    declares_variables: bool,
}

fn cost(query: &str) -> usize {
    query.len() * BYTES_PER_QUERY_BYTE + BYTES_PER_ENTRY
}

/// A least-recently-used map from query text to its parsed document, bounded
/// by the memory it holds.
pub struct Documents {
    budget: usize,
    cache: Mutex<Cache>,
}

struct Cache {
    entries: LruCache<String, Arc<Entry>>,
    bytes: usize,
}

/// What [`Documents::attach`] found out about a request.
pub struct Attached {
    /// The document is known to pass validation for this operation.
    pub proven: bool,
    /// Parsed for this request, not kept yet: kept by [`Documents::record`]
    /// if it passes validation.
    fresh: Option<ExecutableDocument>,
    /// The query text and operation, when there is something to record.
    key: Option<(String, Option<String>)>,
}

impl Documents {
    /// A cache holding about `budget` bytes.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            cache: Mutex::new(Cache {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    /// Gives `request` its parsed document, from the cache or parsed now. A
    /// text that does not parse is left for async-graphql to report.
    pub fn attach(&self, request: &mut Request) -> Attached {
        let key = |r: &Request| Some((r.query.clone(), r.operation_name.clone()));
        if request.query.len() > MAX_QUERY_LEN {
            return Attached {
                proven: false,
                fresh: None,
                key: None,
            };
        }
        let hit = self.lock().entries.get(&request.query).cloned();
        if let Some(entry) = hit {
            let proven = entry.valid_for.contains(&request.operation_name);
            request.set_parsed_query(entry.document.clone());
            let key = if proven || entry.declares_variables {
                None
            } else {
                key(request)
            };
            return Attached {
                proven,
                fresh: None,
                key,
            };
        }
        let fresh = request.parsed_query().ok().cloned();
        Attached {
            proven: false,
            key: fresh.as_ref().and(key(request)),
            fresh,
        }
    }

    /// Keeps what a request's outcome proved: a fresh document that passed
    /// validation (its response has no request error), and that a document
    /// without variables ran as this operation without any error.
    pub fn record(&self, attached: Attached, response: &Response) {
        let Some((query, operation)) = attached.key else {
            return;
        };
        if is_request_error(response) {
            return;
        }
        let succeeded = response.is_ok();
        let mut cache = self.lock();
        let entry = match attached.fresh {
            Some(document) => {
                let declares_variables = document
                    .operations
                    .iter()
                    .any(|(_, op)| !op.node.variable_definitions.is_empty());
                Entry {
                    document,
                    valid_for: Vec::new(),
                    declares_variables,
                }
            }
            None => match cache.entries.peek(&query) {
                Some(kept) if succeeded => Entry {
                    document: kept.document.clone(),
                    valid_for: kept.valid_for.clone(),
                    declares_variables: kept.declares_variables,
                },
                _ => return,
            },
        };
        let mut entry = entry;
        if succeeded && !entry.declares_variables && !entry.valid_for.contains(&operation) {
            entry.valid_for.push(operation);
        }
        cache.put(query, Arc::new(entry), self.budget);
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves a valid cache behind.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Cache {
    fn put(&mut self, query: String, entry: Arc<Entry>, budget: usize) {
        let added = cost(&query);
        if self.entries.put(query, entry).is_none() {
            self.bytes += added;
        }
        while self.bytes > budget {
            let Some((evicted, _)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= cost(&evicted);
        }
    }
}

/// True when the request failed before execution (parse, validation,
/// variable coercion, limits): no data and no error with a path.
pub fn is_request_error(response: &Response) -> bool {
    !response.errors.is_empty()
        && response.data == async_graphql::Value::Null
        && response.errors.iter().all(|e| e.path.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Response {
        Response::new(async_graphql::Value::from(true))
    }

    fn failed_validation() -> Response {
        Response::from_errors(vec![async_graphql::ServerError::new(
            "Unknown field \"nope\"",
            None,
        )])
    }

    fn run(documents: &Documents, query: &str, outcome: Response) -> bool {
        let mut request = Request::new(query);
        let attached = documents.attach(&mut request);
        let proven = attached.proven;
        documents.record(attached, &outcome);
        proven
    }

    #[test]
    fn keeps_only_documents_that_passed_validation() {
        let documents = Documents::new(1 << 20);
        run(&documents, "{ nope }", failed_validation());
        assert_eq!(documents.lock().entries.len(), 0, "invalid: not kept");
        run(&documents, "{ viewer { name ", ok());
        assert_eq!(documents.lock().entries.len(), 0, "unparsable: not kept");

        assert!(!run(&documents, "{ viewer { name } }", ok()));
        assert_eq!(documents.lock().entries.len(), 1);
        assert!(run(&documents, "{ viewer { name } }", ok()), "proven");
    }

    #[test]
    fn hits_share_one_entry() {
        let documents = Documents::new(1 << 20);
        run(&documents, "{ viewer { name } }", ok());
        let mut cache = documents.lock();
        let first = cache.entries.get("{ viewer { name } }").cloned().unwrap();
        let second = cache.entries.get("{ viewer { name } }").cloned().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn bounded_by_bytes_not_entries() {
        let big = |i: usize| format!("{{ a{i}: viewer {{ name }} {} }}", " ".repeat(8000));
        let budget = cost(&big(0)) * 3;
        let documents = Documents::new(budget);
        for i in 0..10 {
            run(&documents, &big(i), ok());
        }
        let cache = documents.lock();
        assert_eq!(cache.entries.len(), 3);
        assert!(cache.bytes <= budget);

        let small = Documents::new(budget);
        for i in 0..50 {
            run(&small, &format!("{{ a{i}: viewer {{ name }} }}"), ok());
        }
        assert_eq!(small.lock().entries.len(), 50, "small documents all fit");
    }

    #[test]
    fn remembers_validity_per_operation_and_never_with_variables() {
        let documents = Documents::new(1 << 20);
        let text = "query A { viewer { name } } query B { viewer { scopes } }";
        let request = |name: Option<&str>| {
            let request = Request::new(text);
            match name {
                Some(name) => request.operation_name(name),
                None => request,
            }
        };
        let run_as = |name: Option<&str>| {
            let mut request = request(name);
            let attached = documents.attach(&mut request);
            let proven = attached.proven;
            documents.record(attached, &ok());
            proven
        };
        assert!(!run_as(Some("A")));
        assert!(run_as(Some("A")));
        assert!(!run_as(Some("B")), "per operation");
        assert!(run_as(Some("B")));
        assert!(!run_as(None));

        let with_variables = "query($n: Int) { users(first: $n) { totalCount } }";
        assert!(!run(&documents, with_variables, ok()));
        assert!(
            !run(&documents, with_variables, ok()),
            "variables' values take part in validation"
        );

        let errors = "{ viewer { name } b: viewer { name } }";
        let mut field_error = failed_validation();
        field_error.data = async_graphql::Value::from(true);
        run(&documents, errors, field_error);
        assert!(!run(&documents, errors, ok()), "kept, not proven");
        assert!(run(&documents, errors, ok()));
    }
}

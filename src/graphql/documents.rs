//! Parsed query documents, kept by query text, and which of them are known to
//! pass validation.
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

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Longer query texts are parsed every time rather than kept.
const MAX_QUERY_LEN: usize = 16 * 1024;

struct Entry {
    document: ExecutableDocument,
    /// The operation names (None: none given) it passed validation with.
    valid_for: Vec<Option<String>>,
}

/// A bounded, least-recently-used map from query text to its parsed document.
pub struct Documents(Mutex<LruCache<String, Entry>>);

impl Documents {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(LruCache::new(capacity)))
    }

    /// Gives `request` its parsed document, from the cache or parsed now and
    /// kept. A text that does not parse is left for async-graphql to report.
    /// True when the document is known to pass validation for the request's
    /// operation (see [`Documents::passed`]).
    pub fn attach(&self, request: &mut Request) -> bool {
        if request.query.len() > MAX_QUERY_LEN {
            return false;
        }
        let cached = self.lock().get(&request.query).map(|entry| {
            let valid = entry.valid_for.contains(&request.operation_name);
            (entry.document.clone(), valid)
        });
        if let Some((document, valid)) = cached {
            request.set_parsed_query(document);
            return valid;
        }
        if let Ok(document) = request.parsed_query() {
            let entry = Entry {
                document: document.clone(),
                valid_for: Vec::new(),
            };
            self.lock().put(request.query.clone(), entry);
        }
        false
    }

    /// Records that `query`, run as `operation_name`, went through strict
    /// validation and execution without an error. Ignored for a document that
    /// declares variables (their values take part in validation).
    pub fn passed(&self, query: &str, operation_name: Option<&str>) {
        let mut documents = self.lock();
        let Some(entry) = documents.peek_mut(query) else {
            return;
        };
        let declares_variables = entry
            .document
            .operations
            .iter()
            .any(|(_, operation)| !operation.node.variable_definitions.is_empty());
        let name = operation_name.map(str::to_owned);
        if !declares_variables && !entry.valid_for.contains(&name) {
            entry.valid_for.push(name);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Entry>> {
        // A panic while holding the lock leaves a valid cache behind.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_parsed_documents_and_leaves_errors_alone() {
        let documents = Documents::new(2);
        let mut first = Request::new("{ viewer { name } }");
        assert!(!documents.attach(&mut first));
        assert_eq!(documents.lock().len(), 1);

        let mut again = Request::new("{ viewer { name } }");
        assert!(!documents.attach(&mut again));
        assert_eq!(documents.lock().len(), 1);
        assert_eq!(
            format!("{:?}", again.parsed_query().unwrap()),
            format!("{:?}", first.parsed_query().unwrap())
        );

        let mut broken = Request::new("{ viewer { name ");
        assert!(!documents.attach(&mut broken));
        assert!(broken.parsed_query().is_err());
        assert_eq!(documents.lock().len(), 1, "a parse error is not kept");

        for query in ["{ a }", "{ b }", "{ c }"] {
            documents.attach(&mut Request::new(query));
        }
        assert_eq!(documents.lock().len(), 2, "bounded");
    }

    #[test]
    fn remembers_validity_per_operation_and_never_with_variables() {
        let documents = Documents::new(8);
        let text = "query A { viewer { name } } query B { viewer { scopes } }";
        let request = |name: Option<&str>| {
            let request = Request::new(text);
            match name {
                Some(name) => request.operation_name(name),
                None => request,
            }
        };
        assert!(!documents.attach(&mut request(Some("A"))));
        documents.passed(text, Some("A"));
        assert!(documents.attach(&mut request(Some("A"))));
        assert!(!documents.attach(&mut request(Some("B"))), "per operation");
        assert!(!documents.attach(&mut request(None)));

        let with_variables = "query($n: Int) { users(first: $n) { totalCount } }";
        assert!(!documents.attach(&mut Request::new(with_variables)));
        documents.passed(with_variables, None);
        assert!(
            !documents.attach(&mut Request::new(with_variables)),
            "variables' values take part in validation"
        );

        documents.passed("{ never { attached } }", None);
        assert!(!documents.attach(&mut Request::new("{ never { attached } }")));
    }
}

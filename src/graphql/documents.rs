//! Parsed query documents, kept by query text.
//!
//! Clients send the same few query texts over and over (a dashboard's page
//! query, a BI tool's export); parsing one with async-graphql's PEG parser cost
//! more than copying the parsed tree. Validation still runs on every request,
//! since it depends on the variables and the limits.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Longer query texts are parsed every time rather than kept.
const MAX_QUERY_LEN: usize = 16 * 1024;

/// A bounded, least-recently-used map from query text to its parsed document.
pub struct Documents(Mutex<LruCache<String, ExecutableDocument>>);

impl Documents {
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self(Mutex::new(LruCache::new(capacity)))
    }

    /// Gives `request` its parsed document, from the cache or parsed now and
    /// kept. A text that does not parse is left for async-graphql to report.
    pub fn attach(&self, request: &mut Request) {
        if request.query.len() > MAX_QUERY_LEN {
            return;
        }
        let cached = self.lock().get(&request.query).cloned();
        if let Some(document) = cached {
            request.set_parsed_query(document);
            return;
        }
        if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.lock().put(request.query.clone(), document);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, ExecutableDocument>> {
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
        documents.attach(&mut first);
        assert_eq!(documents.lock().len(), 1);

        let mut again = Request::new("{ viewer { name } }");
        documents.attach(&mut again);
        assert_eq!(documents.lock().len(), 1);
        assert_eq!(
            format!("{:?}", again.parsed_query().unwrap()),
            format!("{:?}", first.parsed_query().unwrap())
        );

        let mut broken = Request::new("{ viewer { name ");
        documents.attach(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert_eq!(documents.lock().len(), 1, "a parse error is not kept");

        for query in ["{ a }", "{ b }", "{ c }"] {
            documents.attach(&mut Request::new(query));
        }
        assert_eq!(documents.lock().len(), 2, "bounded");
    }
}

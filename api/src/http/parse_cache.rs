//! Parsed GraphQL documents by query text. Clients send the same few operations over and over
//! (a front end has a fixed set), and parsing one with async-graphql's pest grammar costs about a
//! tenth of a simple query's server CPU; cloning the parsed tree costs a fraction of that.
//!
//! Two generations keep it bounded without a dependency: entries go into `young`; when it is
//! full, `young` becomes `old` (the previous `old` is dropped) and a hit in `old` moves the entry
//! back into `young`. Operations in use survive every turnover; a flood of one-off queries
//! evicts at most the generation before it and costs what no cache would.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::Request;
use async_graphql::parser::types::ExecutableDocument;

/// Entries per generation.
const GENERATION: usize = 256;
/// Longer query texts are parsed every time: operations that size are rare and one-off.
const MAX_QUERY_BYTES: usize = 16 * 1024;

/// The cache; one per server.
#[derive(Default)]
pub struct ParseCache {
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<String, ExecutableDocument>,
    old: HashMap<String, ExecutableDocument>,
}

impl ParseCache {
    /// Gives `request` its parsed document, from the cache or by parsing (and caching) it.
    /// A document that does not parse is left to execution, which reports the syntax error.
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > MAX_QUERY_BYTES {
            return;
        }
        if let Some(document) = self.get(&request.query) {
            request.set_parsed_query(document);
            return;
        }
        if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.insert(request.query.clone(), document);
        }
    }

    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(document) = generations.young.get(query) {
            return Some(document.clone());
        }
        let (query, document) = generations.old.remove_entry(query)?;
        let copy = document.clone();
        generations.admit(query, document);
        Some(copy)
    }

    fn insert(&self, query: String, document: ExecutableDocument) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.admit(query, document);
    }

    /// Entries held (both generations), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.young.len() + generations.old.len()
    }
}

impl Generations {
    fn admit(&mut self, query: String, document: ExecutableDocument) {
        if self.young.len() >= GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(query, document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation_count(request: &mut Request) -> usize {
        request
            .parsed_query()
            .map(|d| d.operations.iter().count())
            .unwrap_or(0)
    }

    #[test]
    fn a_repeated_query_gets_the_same_document_from_the_cache() {
        let cache = ParseCache::default();
        let mut first = Request::new("query A { a } query B { b }");
        cache.prepare(&mut first);
        assert_eq!(cache.len(), 1);
        let mut again = Request::new("query A { a } query B { b }");
        cache.prepare(&mut again);
        assert_eq!(cache.len(), 1, "a hit adds nothing");
        assert_eq!(operation_count(&mut again), 2);
    }

    #[test]
    fn unparsable_and_oversized_queries_are_not_cached() {
        let cache = ParseCache::default();
        cache.prepare(&mut Request::new("query {"));
        let huge = format!("{{ a {} }}", " ".repeat(MAX_QUERY_BYTES));
        cache.prepare(&mut Request::new(huge));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_in_use() {
        let cache = ParseCache::default();
        let hot = "{ hot }";
        for i in 0..(5 * GENERATION) {
            cache.prepare(&mut Request::new(format!("{{ field{i} }}")));
            // The hot query is asked for in between and never falls out.
            let mut request = Request::new(hot);
            cache.prepare(&mut request);
        }
        assert!(cache.len() <= 2 * GENERATION, "{} entries", cache.len());
        let generations = cache.generations.lock().unwrap();
        assert!(generations.young.contains_key(hot) || generations.old.contains_key(hot));
    }
}

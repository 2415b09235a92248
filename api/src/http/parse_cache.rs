//! Parsed GraphQL documents by query text. Clients send the same few operations over and over
//! (a front end has a fixed set), and parsing one with async-graphql's pest grammar costs about a
//! tenth of a simple query's server CPU; cloning the parsed tree costs a fraction of that.
//!
//! An entry also remembers whether its document once passed async-graphql's full validation
//! (see [`ParseCache::prepare`]): the rules that depend only on the document need not run
//! again for it.
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

/// Whether a request's query text passed full validation before ([`ParseCache::prepare`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Validated(pub bool);

/// The cache; one per server.
#[derive(Default)]
pub struct ParseCache {
    generations: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    young: HashMap<String, Entry>,
    old: HashMap<String, Entry>,
}

struct Entry {
    document: ExecutableDocument,
    /// A request with this document ran through full validation without an error.
    validated: bool,
}

impl ParseCache {
    /// Gives `request` its parsed document, from the cache or by parsing (and caching) it, and
    /// tells whether a request with this query text passed full validation before. The rules
    /// that look at the document alone (fields, fragments, variables' declarations and
    /// positions, literal arguments) would pass again; only the variables' values can differ.
    /// A document that does not parse is left to execution, which reports the syntax error.
    pub fn prepare(&self, request: &mut Request) -> Validated {
        if request.query.len() > MAX_QUERY_BYTES {
            return Validated(false);
        }
        if let Some((document, validated)) = self.get(&request.query) {
            request.set_parsed_query(document);
            return Validated(validated);
        }
        if let Ok(document) = request.parsed_query() {
            let document = document.clone();
            self.insert(request.query.clone(), document);
        }
        Validated(false)
    }

    /// The cached document and its validation mark, in one lookup: hashing the query text
    /// twice per request was about 1 % of a simple query's instructions.
    fn get(&self, query: &str) -> Option<(ExecutableDocument, bool)> {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations
            .entry(query)
            .map(|entry| (entry.document.clone(), entry.validated))
    }

    fn insert(&self, query: String, document: ExecutableDocument) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.admit(
            query,
            Entry {
                document,
                validated: false,
            },
        );
    }

    /// Records that a request with this query text passed full validation (when the text is
    /// cached).
    pub fn mark_validated(&self, query: &str) {
        let mut generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = generations.young.get_mut(query) {
            entry.validated = true;
        }
    }

    /// Entries held (both generations), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        let generations = self.generations.lock().unwrap_or_else(|e| e.into_inner());
        generations.young.len() + generations.old.len()
    }
}

impl Generations {
    /// The entry of `query`; a hit in `old` moves it back into `young`.
    fn entry(&mut self, query: &str) -> Option<&Entry> {
        if !self.young.contains_key(query) {
            let (query, entry) = self.old.remove_entry(query)?;
            self.admit(query, entry);
        }
        self.young.get(query)
    }

    fn admit(&mut self, query: String, entry: Entry) {
        if self.young.len() >= GENERATION {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(query, entry);
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
    fn a_document_is_validated_once_marked_and_only_then() {
        let cache = ParseCache::default();
        let query = "query O($id: ID!) { order(id: $id) { id } }";
        let prepare = |query: &str| cache.prepare(&mut Request::new(query));
        cache.mark_validated(query);
        assert_eq!(
            prepare(query),
            Validated(false),
            "marking an unknown text adds nothing"
        );
        assert_eq!(
            prepare(query),
            Validated(false),
            "parsed, not validated yet"
        );
        cache.mark_validated(query);
        assert_eq!(prepare(query), Validated(true));
        assert_eq!(prepare("{ other }"), Validated(false));
    }

    #[test]
    fn a_validated_document_keeps_its_mark_through_a_turnover() {
        let cache = ParseCache::default();
        let query = "{ kept }";
        cache.prepare(&mut Request::new(query));
        cache.mark_validated(query);
        // Enough other texts to move `query` into the old generation, not out of the cache.
        for i in 0..GENERATION {
            cache.prepare(&mut Request::new(format!("{{ field{i} }}")));
        }
        assert!(cache.generations.lock().unwrap().old.contains_key(query));
        assert_eq!(cache.prepare(&mut Request::new(query)), Validated(true));
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

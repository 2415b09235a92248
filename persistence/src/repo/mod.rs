//! Repository implementations of the `domain::ports` traits.

mod catalog;
mod events;
mod orders;
mod users;

use domain::ports::{Page, PageRequest, RepoError};

/// Hard cap on a page, whatever the caller asks.
const MAX_PAGE: u32 = 100;

/// Rows to fetch for a page: one more than asked, to know whether another page follows.
fn fetch_limit(page: PageRequest) -> u64 {
    u64::from(page.first.min(MAX_PAGE)) + 1
}

/// Cuts the extra row off and reports whether it existed.
fn into_page<T>(mut items: Vec<T>, page: PageRequest) -> Page<T> {
    let first = page.first.min(MAX_PAGE) as usize;
    let has_next = items.len() > first;
    items.truncate(first);
    Page { items, has_next }
}

/// Lower-cased `%text%` LIKE pattern with the wildcards of the user's text removed.
fn like_pattern(text: &str) -> String {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, '%' | '_' | '\\'))
        .collect();
    format!("%{}%", cleaned.to_lowercase())
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> RepoError {
    RepoError::Storage(format!("corrupt {what}: {err}"))
}

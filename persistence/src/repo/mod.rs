//! Repository implementations of the `domain::ports` traits.

mod analytics;
mod archive;
pub(crate) mod bulk;
mod catalog;
mod events;
mod idempotency;
mod orders;
pub(crate) use orders::TeamShape;
mod rows;
mod sessions;
mod settlement;
mod tracking;
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

/// Lower-cases text the way `search_text` columns are written (Unicode-aware, in Rust).
pub(crate) fn search_key(parts: &[Option<&str>]) -> String {
    parts
        .iter()
        .flatten()
        .map(|p| p.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `search_text LIKE '%text%'` condition that matches the user's text literally: `%`, `_` and
/// the escape character itself are escaped, not stripped.
fn search_condition(
    column: impl sea_orm::ColumnTrait,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{ExprTrait, LikeExpr};
    let mut escaped = String::new();
    for c in text.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    sea_orm::sea_query::Expr::col(column.as_column_ref())
        .like(LikeExpr::new(format!("%{escaped}%")).escape('\\'))
}

fn corrupt(what: &str, err: impl std::fmt::Display) -> RepoError {
    RepoError::Storage(format!("corrupt {what}: {err}"))
}

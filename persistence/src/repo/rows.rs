//! Rows of the inline reader (`crate::inline`), decoded by position into the sea-orm models
//! sqlx fills: each function takes the next columns of a row, in the order `Column::iter`
//! selects them.

use std::ops::RangeFrom;

use chrono::NaiveDate;

use super::orders::OrderRow;
use crate::entity::{customer, order, order_event, product, user};

/// A decoder of a model from the next columns of an inline row.
pub(super) type ModelColumns<M> =
    fn(&rusqlite::Row<'_>, &mut RangeFrom<usize>) -> rusqlite::Result<M>;

/// Fills `Model` from the next columns of an inline row, one per field in declaration order
/// (the order `Column::iter` selects them in). Naming every field makes a field added to the
/// entity a compile error here; the repository test `one_order_comes_with_its_own_rep_and_customer`
/// (which compares with reads through sqlx) catches a reordering.
/// A field written `field: decode` is read by `decode(row, index)` instead of `FromSql`.
macro_rules! model_from_columns {
    ($row:expr, $next:expr, $($model:ident)::+ { $($field:ident $(: $decode:path)?),* $(,)? }) => {
        $($model)::+ {
            $($field: model_from_columns!(@column $row, $next.next().unwrap_or_default() $(, $decode)?)),*
        }
    };
    (@column $row:expr, $index:expr) => {
        $row.get($index)?
    };
    (@column $row:expr, $index:expr, $decode:path) => {
        $decode($row, $index)?
    };
}

/// An optional date stored as `YYYY-MM-DD` text. rusqlite's `FromSql` for chrono's `NaiveDate`
/// goes through chrono's general format parser, about a thousand instructions a date: three
/// columns of each order, 3 % of the CPU of a page of 50. The usual form is read directly;
/// anything else goes to the general parser, which says what is wrong with it.
fn optional_date(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<NaiveDate>> {
    let text = match row.get_ref(index)? {
        rusqlite::types::ValueRef::Null => return Ok(None),
        rusqlite::types::ValueRef::Text(text) => text,
        _ => return row.get(index),
    };
    Ok(Some(match iso_date(text) {
        Some(date) => date,
        None => row.get(index)?,
    }))
}

/// `YYYY-MM-DD` (four-digit year), or `None` for any other text or an impossible date.
fn iso_date(text: &[u8]) -> Option<NaiveDate> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *text else {
        return None;
    };
    let digits = |ds: &[u8]| {
        ds.iter().try_fold(0_u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(digits(&[y0, y1, y2, y3])?).ok()?;
    NaiveDate::from_ymd_opt(year, digits(&[m0, m1])?, digits(&[d0, d1])?)
}

/// An order and its lines from the next columns of an inline row: the order's columns, then
/// [`LINES`].
pub(super) fn order_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<OrderRow> {
    let order = order_model_columns(row, next)?;
    let lines = row.get(next.next().unwrap_or_default())?;
    Ok(OrderRow { order, lines })
}

/// An order's own columns from the next columns of an inline row.
pub(super) fn order_model_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<order::Model> {
    Ok(model_from_columns!(
        row,
        next,
        order::Model {
            id,
            number,
            customer_id,
            sales_rep_id,
            currency,
            status,
            held_from,
            payment_status,
            requested_date: optional_date,
            promised_date: optional_date,
            delivery_address,
            payment_terms,
            customer_po,
            notes,
            confirmation,
            findings,
            cancel_reason,
            expected_date: optional_date,
            search_text,
            total_e4,
            version,
            revision,
            created_at,
            updated_at,
            submitted_at,
            confirmed_at,
            shipped_at,
            delivered_at,
            paid_at,
        }
    ))
}

/// A user from the next columns of an inline row.
pub(super) fn user_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<user::Model> {
    Ok(model_from_columns!(
        row,
        next,
        user::Model {
            id,
            email,
            name,
            role,
            manager_id,
            customer_id,
            discount_authority_bp,
            password_hash,
            created_at,
        }
    ))
}

/// A customer from the next columns of an inline row.
pub(super) fn customer_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<customer::Model> {
    Ok(model_from_columns!(
        row,
        next,
        customer::Model {
            id,
            name,
            email,
            phone,
            address,
            owner_rep_id,
            tier,
            tags,
            currency,
            credit_limit_e4,
            payment_terms,
            contacts,
            addresses,
            preferences,
            search_text,
            version,
            created_at,
            updated_at,
        }
    ))
}

/// A product from the next columns of an inline row.
pub(super) fn product_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<product::Model> {
    Ok(model_from_columns!(
        row,
        next,
        product::Model {
            id,
            sku,
            name,
            unit,
            list_price_e4,
            currency,
            lead_time_days,
            active,
            unit_cost_e4,
            search_text,
            version,
            created_at,
            updated_at,
        }
    ))
}

/// An event of the log from the next columns of an inline row.
pub(super) fn event_columns(
    row: &rusqlite::Row<'_>,
    next: &mut RangeFrom<usize>,
) -> rusqlite::Result<order_event::Model> {
    Ok(model_from_columns!(
        row,
        next,
        order_event::Model {
            seq,
            order_id,
            order_number,
            customer_id,
            sales_rep_id,
            order_version,
            event_type,
            payload,
            actor_id,
            occurred_at,
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_dates_read_as_chrono_reads_them() {
        for text in ["2026-11-28", "0001-01-01", "9999-12-31", "2024-02-29"] {
            assert_eq!(
                iso_date(text.as_bytes()),
                Some(NaiveDate::parse_from_str(text, "%F").unwrap()),
                "{text}"
            );
        }
        // Impossible dates and other forms are left to chrono's parser (and its error).
        for text in [
            "2025-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026/11/28",
            "+12026-11-28",
            "",
        ] {
            assert_eq!(iso_date(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn a_date_column_reads_null_the_usual_form_and_others_through_chrono() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        let read = |sql: &str| db.query_row(sql, [], |row| optional_date(row, 0));
        assert_eq!(read("SELECT NULL").unwrap(), None);
        assert_eq!(
            read("SELECT '2026-11-28'").unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 28)
        );
        assert!(read("SELECT '2025-02-29'").is_err());
        assert!(read("SELECT 'soon'").is_err());
    }
}

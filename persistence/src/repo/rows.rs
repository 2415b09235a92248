//! Rows of the inline reader (`crate::inline`), decoded by position into the sea-orm models
//! sqlx fills: each function takes the next columns of a row, in the order `Column::iter`
//! selects them.

use std::ops::RangeFrom;

use super::orders::OrderRow;
use crate::entity::{customer, order, order_event, product, user};

/// A decoder of a model from the next columns of an inline row.
pub(super) type ModelColumns<M> =
    fn(&rusqlite::Row<'_>, &mut RangeFrom<usize>) -> rusqlite::Result<M>;

/// Fills `Model` from the next columns of an inline row, one per field in declaration order
/// (the order `Column::iter` selects them in). Naming every field makes a field added to the
/// entity a compile error here; the repository test `one_order_comes_with_its_own_rep_and_customer`
/// (which compares with reads through sqlx) catches a reordering.
macro_rules! model_from_columns {
    ($row:expr, $next:expr, $($model:ident)::+ { $($field:ident),* $(,)? }) => {
        $($model)::+ { $($field: $row.get($next.next().unwrap_or_default())?),* }
    };
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
            requested_date,
            promised_date,
            delivery_address,
            payment_terms,
            customer_po,
            notes,
            confirmation,
            findings,
            cancel_reason,
            expected_date,
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

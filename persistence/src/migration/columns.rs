//! Column and index shapes shared by the migrations: ids are 64-bit, money and instants are
//! integers (scaled amounts, microseconds), text is unbounded.

use sea_orm_migration::prelude::*;

/// Auto-increment 64-bit primary key.
pub(super) fn id_pk<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// Not-null 64-bit integer.
pub(super) fn big<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

/// Nullable 64-bit integer.
pub(super) fn big_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

/// Not-null text.
pub(super) fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().not_null().take()
}

/// Nullable text.
pub(super) fn text_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().null().take()
}

/// An index named `name` on `cols` of `table`.
pub(super) fn index<T: IntoIden + 'static, C: IntoIden + 'static>(
    name: &str,
    table: T,
    cols: Vec<C>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for col in cols {
        index.col(col);
    }
    index.take()
}

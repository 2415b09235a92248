use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub order_id: i64,
    /// The invoice's rep, customer and currency, copied so analytics need not look it up.
    pub sales_rep_id: i64,
    pub customer_id: i64,
    pub currency: String,
    pub amount_e4: i64,
    pub method: String,
    pub reference: Option<String>,
    pub received_at: i64,
    pub recorded_by: i64,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

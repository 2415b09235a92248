use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub order_id: i64,
    pub customer_id: i64,
    pub sales_rep_id: i64,
    pub currency: String,
    pub kind: String,
    pub issued_on: Date,
    pub due_on: Date,
    pub lines: String,
    pub deposit_credit_e4: i64,
    pub amount_e4: i64,
    pub paid_e4: i64,
    pub fully_paid_on: Option<Date>,
    pub void_reason: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

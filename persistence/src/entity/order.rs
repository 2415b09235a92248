use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub number: String,
    pub customer_id: i64,
    pub sales_rep_id: i64,
    pub currency: String,
    pub status: String,
    pub held_from: Option<String>,
    pub payment_status: String,
    pub requested_date: Option<Date>,
    pub promised_date: Option<Date>,
    pub delivery_address: Option<String>,
    pub payment_terms: String,
    pub customer_po: Option<String>,
    pub notes: Option<String>,
    pub confirmation: Option<String>,
    pub findings: String,
    pub cancel_reason: Option<String>,
    pub expected_date: Option<Date>,
    pub search_text: String,
    pub total_e4: i64,
    pub version: i64,
    pub revision: i32,
    pub created_at: i64,
    pub updated_at: i64,
    pub submitted_at: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub shipped_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub paid_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

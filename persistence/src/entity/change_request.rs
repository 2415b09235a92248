use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_requests")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub proposal: String,
    pub reason: String,
    pub base_revision: i32,
    pub amount_delta_e4: i64,
    pub delay_days: i64,
    pub review_required: bool,
    pub requested_by: i64,
    pub requested_at: i64,
    pub status: String,
    pub decided_by: Option<i64>,
    pub decided_at: Option<i64>,
    pub decision_comment: Option<String>,
    pub applied_revision: Option<i32>,
    pub applied_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

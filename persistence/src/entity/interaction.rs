use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub order_id: Option<i64>,
    pub user_id: i64,
    pub channel: String,
    pub direction: String,
    pub summary: String,
    pub occurred_at: i64,
    pub follow_up_on: Option<Date>,
    pub follow_up_done_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_exceptions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub order_id: i64,
    pub customer_id: i64,
    pub sales_rep_id: i64,
    pub kind: String,
    pub severity: String,
    pub description: String,
    pub cost_impact_e4: i64,
    pub currency: String,
    pub delay_days: i64,
    pub held_order: bool,
    pub raised_by: i64,
    pub raised_at: i64,
    pub root_cause: Option<String>,
    pub actions: Option<String>,
    pub status: String,
    pub resolution: Option<String>,
    pub lessons_learned: Option<String>,
    pub resolved_by: Option<i64>,
    pub resolved_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Queries.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use domain::ports::{CustomerFilter, OrderFilter, ProductFilter};
use domain::{CustomerId, OrderId, ProductId, UserId};

use super::OptionalId;
use super::error::ApiResult;
use super::types::{
    CustomerNode, OrderNode, OrderStatusGql, ProductNode, UserNode, customer_connection,
    order_list, product_connection,
};
use super::{ContextExt, page_request, parse_id};

/// Filters for `orders`; all given filters must match.
#[derive(InputObject, Default)]
#[graphql(name = "OrderFilter")]
pub struct OrderFilterInput {
    /// Any of these statuses.
    pub status: Option<Vec<OrderStatusGql>>,
    /// Of this customer.
    pub customer_id: Option<ID>,
    /// Of this sales rep.
    pub sales_rep_id: Option<ID>,
    /// Created at or after this instant.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_to: Option<DateTime<Utc>>,
    /// Case-insensitive match on the order number or the customer's PO reference.
    pub search: Option<String>,
}

/// Filters for `customers`.
#[derive(InputObject, Default)]
#[graphql(name = "CustomerFilter")]
pub struct CustomerFilterInput {
    /// Case-insensitive match on the company name, a tag, or a contact's name, e-mail, phone or WeChat id.
    pub search: Option<String>,
    /// Owned by this rep.
    pub owner_rep_id: Option<ID>,
}

/// Filters for `products`.
#[derive(InputObject, Default)]
#[graphql(name = "ProductFilter")]
pub struct ProductFilterInput {
    /// Case-insensitive match on SKU or name.
    pub search: Option<String>,
    /// Only active (true) or inactive (false) products.
    pub active: Option<bool>,
}

/// Read access. Everything needs a token; lists only return what the caller may see.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    CoreQuery,
    super::review::ReviewQuery,
    super::archive::ArchiveQuery,
    super::settlement::SettlementQuery,
    super::tracking::TrackingQuery,
    super::analytics::AnalyticsQuery,
);

/// Users, master data and orders.
#[derive(Default)]
pub struct CoreQuery;

#[Object]
impl CoreQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<UserNode> {
        let actor = ctx.actor()?;
        Ok(UserNode(ctx.services().me(ctx.loaders(), &actor).await?))
    }

    /// One customer; NOT_FOUND when it does not exist or is not visible to the caller.
    async fn customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id.")] id: ID,
    ) -> ApiResult<CustomerNode> {
        let actor = ctx.actor()?;
        let id = CustomerId(parse_id("id", &id)?);
        Ok(CustomerNode::from(
            ctx.services().customer(ctx.loaders(), &actor, id).await?,
        ))
    }

    /// Customers visible to the caller, newest first.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item already seen.")] after: Option<String>,
        #[graphql(desc = "Filters.")] filter: Option<CustomerFilterInput>,
    ) -> ApiResult<Connection<String, CustomerNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = CustomerFilter {
            search: filter.search,
            owner_rep_id: filter.owner_rep_id.optional_id("ownerRepId")?.map(UserId),
        };
        Ok(customer_connection(
            ctx.services().customers(&actor, &filter, page).await?,
        ))
    }

    /// One product.
    async fn product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id.")] id: ID,
    ) -> ApiResult<ProductNode> {
        ctx.actor()?;
        let id = ProductId(parse_id("id", &id)?);
        Ok(ProductNode(
            ctx.services().product(ctx.loaders(), id).await?,
        ))
    }

    /// The product catalogue, newest first.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item already seen.")] after: Option<String>,
        #[graphql(desc = "Filters.")] filter: Option<ProductFilterInput>,
    ) -> ApiResult<Connection<String, ProductNode>> {
        ctx.actor()?;
        let page = page_request(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = ProductFilter {
            search: filter.search,
            active: filter.active,
        };
        Ok(product_connection(
            ctx.services().products(&filter, page).await?,
        ))
    }

    /// One order; NOT_FOUND when it does not exist or is not visible to the caller.
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The id.")] id: ID,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        Ok(OrderNode::new(
            ctx.services().order(ctx.loaders(), &actor, id).await?,
        ))
    }

    /// Orders visible to the caller, newest first, keyset-paginated.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item already seen.")] after: Option<String>,
        #[graphql(desc = "Filters.")] filter: Option<OrderFilterInput>,
    ) -> ApiResult<Connection<String, OrderNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = OrderFilter {
            statuses: filter
                .status
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            customer_id: filter
                .customer_id
                .optional_id("customerId")?
                .map(CustomerId),
            sales_rep_id: filter.sales_rep_id.optional_id("salesRepId")?.map(UserId),
            created_from: filter.created_from,
            created_to: filter.created_to,
            search: filter.search,
        };
        order_list(ctx, &actor, &filter, page).await
    }
}

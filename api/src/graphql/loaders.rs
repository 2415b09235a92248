//! Per-request DataLoaders: one per (entity, key), backed by the batch repository methods, so
//! resolving 50 orders' customers and reps costs one query each, not fifty.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use domain::archive::OrderNote;
use domain::catalog::{Customer, CustomerSummary, Product};
use domain::order::Order;
use domain::ports::{
    ArchiveRepository, CustomerRepository, OrderRepository, ProductRepository,
    SettlementRepository, UserRepository,
};
use domain::settlement::Payment;
use domain::user::User;
use domain::{CustomerId, OrderId, ProductId, UserId};
use persistence::Store;

/// Loader errors must be `Clone`; the cause is logged where it is turned into `INTERNAL`.
#[derive(Clone, Debug)]
pub struct LoadError(pub String);

/// Batch loader over the store.
pub struct StoreLoader(pub Store);

impl Loader<UserId> for StoreLoader {
    type Value = User;
    type Error = LoadError;
    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, User>, LoadError> {
        let users = self
            .0
            .users_by_ids(keys)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// Shared, not copied: a page of 50 orders hands its few customers to 50 nodes, and cloning one
/// (its strings, profile and address) out of the request's cache for each was 3 % of the page.
impl Loader<CustomerId> for StoreLoader {
    type Value = Arc<Customer>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[CustomerId],
    ) -> Result<HashMap<CustomerId, Arc<Customer>>, LoadError> {
        let rows = self
            .0
            .customers_by_ids(keys)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(rows.into_iter().map(|c| (c.id, Arc::new(c))).collect())
    }
}

/// A customer as a list of orders shows it: the loader key of [`CustomerSummary`]s, whose
/// contacts, addresses and preferences are not read (a customer's node reads the whole
/// customer by its [`CustomerId`] when a field shows them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustomerCard(pub CustomerId);

/// Shared like whole customers. A whole customer fed under this key serves as its summary.
impl Loader<CustomerCard> for StoreLoader {
    type Value = Arc<Customer>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[CustomerCard],
    ) -> Result<HashMap<CustomerCard, Arc<Customer>>, LoadError> {
        let ids: Vec<CustomerId> = keys.iter().map(|key| key.0).collect();
        let rows = self
            .0
            .customer_summaries_by_ids(&ids)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(rows
            .into_iter()
            .map(|CustomerSummary { customer }| (CustomerCard(customer.id), Arc::new(customer)))
            .collect())
    }
}

impl Loader<ProductId> for StoreLoader {
    type Value = Product;
    type Error = LoadError;
    async fn load(&self, keys: &[ProductId]) -> Result<HashMap<ProductId, Product>, LoadError> {
        let rows = self
            .0
            .products_by_ids(keys)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(rows.into_iter().map(|p| (p.id, p)).collect())
    }
}

/// Orders with their lines, by id. Only for orders the caller was already allowed to see: a
/// list node whose lines were not read (see `types::OrderNode`).
impl Loader<OrderId> for StoreLoader {
    type Value = Order;
    type Error = LoadError;
    async fn load(&self, keys: &[OrderId]) -> Result<HashMap<OrderId, Order>, LoadError> {
        let orders = self
            .0
            .orders_by_ids(keys)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(orders.into_iter().map(|o| (o.id, o)).collect())
    }
}

/// Key of an order's notes: staff read every note, customers only CUSTOMER_VISIBLE ones (the
/// flag goes into the query, so internal notes never leave the database for a customer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NotesKey {
    /// The order.
    pub order_id: OrderId,
    /// Whether INTERNAL notes are included.
    pub include_internal: bool,
}

impl Loader<NotesKey> for StoreLoader {
    type Value = Vec<OrderNote>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[NotesKey],
    ) -> Result<HashMap<NotesKey, Vec<OrderNote>>, LoadError> {
        let mut found: HashMap<NotesKey, Vec<OrderNote>> = HashMap::new();
        for include_internal in [false, true] {
            let ids: Vec<OrderId> = keys
                .iter()
                .filter(|k| k.include_internal == include_internal)
                .map(|k| k.order_id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            for id in &ids {
                found.insert(
                    NotesKey {
                        order_id: *id,
                        include_internal,
                    },
                    Vec::new(),
                );
            }
            let notes = self
                .0
                .order_notes(&ids, include_internal)
                .await
                .map_err(|e| LoadError(e.to_string()))?;
            for note in notes {
                found
                    .entry(NotesKey {
                        order_id: note.order_id,
                        include_internal,
                    })
                    .or_default()
                    .push(note);
            }
        }
        Ok(found)
    }
}

/// Key of an invoice's payments (receivables and order pages list many invoices).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PaymentsOf(pub i64);

impl Loader<PaymentsOf> for StoreLoader {
    type Value = Vec<Payment>;
    type Error = LoadError;
    async fn load(
        &self,
        keys: &[PaymentsOf],
    ) -> Result<HashMap<PaymentsOf, Vec<Payment>>, LoadError> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let mut found: HashMap<PaymentsOf, Vec<Payment>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        let payments = self
            .0
            .payments_of_invoices(&ids)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        for payment in payments {
            found
                .entry(PaymentsOf(payment.details.invoice_id))
                .or_default()
                .push(payment);
        }
        Ok(found)
    }
}

/// The request's loader; its cache dies with the request.
pub type Loaders = DataLoader<StoreLoader, HashMapCache>;

/// A fresh loader for one request.
pub fn loaders(store: &Store) -> Loaders {
    DataLoader::with_cache(
        StoreLoader(store.clone()),
        tokio::spawn,
        HashMapCache::default(),
    )
}

/// Loaders shared by many requests for a short while: the events resolved for subscribers
/// (see `http::ws::plan`). A request has either its own [`Loaders`] or these.
pub struct SharedLoaders(pub std::sync::Arc<Loaders>);

/// Whether the nodes of a connection (its `nodes`, or `edges { node }`) select the field at
/// `path`; `page` is the connection field's lookahead.
pub fn nodes_select(page: &async_graphql::Lookahead<'_>, path: &[&str]) -> bool {
    let (mut nodes, mut edges) = (page.field("nodes"), page.field("edges").field("node"));
    for name in path {
        nodes = nodes.field(name);
        edges = edges.field(name);
    }
    nodes.exists() || edges.exists()
}

/// Loads what the query selects of a page of orders (customers, reps, products, the customers'
/// owners, the reps' managers) in one batch each, before the field resolvers ask for them one by
/// one: the loader batches only what is requested within its delay, and a page resolved slower
/// than that would otherwise split into several batches. What the query does not select is not
/// loaded: a list of numbers and totals reads no customers. `page` is the connection field's
/// lookahead (its `nodes` or `edges { node }` are the orders).
pub async fn prime_orders(
    loaders: &Loaders,
    page: &async_graphql::Lookahead<'_>,
    orders: &[&Order],
) {
    let selected = |path: &[&str]| nodes_select(page, path);
    let customers: Vec<CustomerId> = if selected(&["customer"]) {
        orders.iter().map(|o| o.customer_id).collect()
    } else {
        Vec::new()
    };
    let documents = ["contacts", "addresses", "preferences"]
        .iter()
        .any(|field| selected(&["customer", field]));
    let reps: Vec<UserId> = if selected(&["salesRep"]) {
        orders.iter().map(|o| o.sales_rep_id).collect()
    } else {
        Vec::new()
    };
    let products: Vec<ProductId> = if selected(&["lines", "product"]) {
        orders
            .iter()
            .flat_map(|o| o.content.lines.iter().map(|l| l.product_id))
            .collect()
    } else {
        Vec::new()
    };
    // Failures surface when the fields resolve; priming is only an optimisation.
    let (customers, reps, _) = futures_util::join!(
        prime_customers(loaders, customers, documents),
        loaders.load_many(reps),
        loaders.load_many(products)
    );
    // One level further (`customer.ownerRep`, `salesRep.manager`), in one batch rather than in
    // as many batches as the resolvers' timing makes.
    let mut people: Vec<UserId> = Vec::new();
    if let Ok(customers) = customers
        && selected(&["customer", "ownerRep"])
    {
        people.extend(customers.iter().map(|c| c.profile.owner_rep_id));
    }
    if let Ok(reps) = reps
        && selected(&["salesRep", "manager"])
    {
        people.extend(reps.values().filter_map(|u| u.manager_id));
    }
    if !people.is_empty() {
        let _ = loaders.load_many(people).await;
    }
}

/// An order's `customer` is read as a summary ([`CustomerCard`]). A page that shows the
/// customers' documents reads them whole instead, and they serve as the summaries too: one
/// statement, not a page of summaries and then the whole customers.
async fn prime_customers(
    loaders: &Loaders,
    ids: Vec<CustomerId>,
    documents: bool,
) -> Result<Vec<Arc<Customer>>, LoadError> {
    if !documents {
        let cards = loaders.load_many(ids.into_iter().map(CustomerCard)).await?;
        return Ok(cards.into_values().collect());
    }
    let whole = loaders.load_many(ids).await?;
    loaders
        .feed_many(
            whole
                .iter()
                .map(|(id, customer)| (CustomerCard(*id), customer.clone())),
        )
        .await;
    Ok(whole.into_values().collect())
}

//! Per-request DataLoaders: one per (entity, key), backed by the batch repository methods, so
//! resolving 50 orders' customers and reps costs one query each, not fifty.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use domain::catalog::{Customer, Product};
use domain::ports::{CustomerRepository, ProductRepository, UserRepository};
use domain::user::User;
use domain::{CustomerId, ProductId, UserId};
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

impl Loader<CustomerId> for StoreLoader {
    type Value = Customer;
    type Error = LoadError;
    async fn load(&self, keys: &[CustomerId]) -> Result<HashMap<CustomerId, Customer>, LoadError> {
        let rows = self
            .0
            .customers_by_ids(keys)
            .await
            .map_err(|e| LoadError(e.to_string()))?;
        Ok(rows.into_iter().map(|c| (c.id, c)).collect())
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

/// Loads the customers, reps and products of a page of orders in one batch each, before the
/// field resolvers ask for them one by one. The loader batches only what is requested within its
/// delay; a page resolved slower than that would otherwise split into several batches.
pub async fn prime_orders(loaders: &Loaders, orders: &[domain::order::Order]) {
    let customers: Vec<CustomerId> = orders.iter().map(|o| o.customer_id).collect();
    let reps: Vec<UserId> = orders.iter().map(|o| o.sales_rep_id).collect();
    let products: Vec<ProductId> = orders
        .iter()
        .flat_map(|o| o.content.lines.iter().map(|l| l.product_id))
        .collect();
    // Failures surface when the fields resolve; priming is only an optimisation.
    let _ = futures_util::join!(
        loaders.load_many(customers),
        loaders.load_many(reps),
        loaders.load_many(products)
    );
}

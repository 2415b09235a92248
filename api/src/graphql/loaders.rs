//! Per-request DataLoaders: one per (entity, key), backed by the batch repository methods, so
//! resolving 50 orders' customers and reps costs one query each, not fifty.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
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
pub type Loaders = DataLoader<StoreLoader>;

/// A fresh loader for one request.
pub fn loaders(store: &Store) -> Loaders {
    DataLoader::new(StoreLoader(store.clone()), tokio::spawn)
}

//! Customers and products: who may read and change them.

use chrono::Utc;
use domain::catalog::{Customer, CustomerProfile, Product, ProductDetails};
use domain::ports::{
    CustomerFilter, CustomerRepository, Page, PageRequest, ProductFilter, ProductRepository,
};
use domain::user::{Actor, Role};
use domain::{CustomerId, ProductId, UserId};

use super::{Services, user};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::Loaders;

impl Services {
    /// A customer the actor may see, else `NOT_FOUND`.
    pub async fn customer(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: CustomerId,
    ) -> ApiResult<std::sync::Arc<Customer>> {
        let customer = loaders
            .load_one(id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| ApiError::NotFound(format!("customer {id} not found")))?;
        let owner = Self::ownership(loaders, customer.id, customer.profile.owner_rep_id).await?;
        if actor.can_see(&owner) {
            Ok(customer)
        } else {
            Err(ApiError::NotFound(format!("customer {id} not found")))
        }
    }

    /// Customers the actor may see.
    pub async fn customers(
        &self,
        actor: &Actor,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> ApiResult<Page<Customer>> {
        Ok(self
            .store
            .list_customers(actor.scope(), filter, page)
            .await?)
    }

    /// Creates a customer. A rep owns what they create; managers and admins name the owner.
    pub async fn create_customer(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        mut profile: CustomerProfile,
        owner: Option<UserId>,
    ) -> ApiResult<Customer> {
        profile.owner_rep_id = self.owner_for(loaders, actor, owner).await?;
        let profile = profile.validate()?;
        Ok(self.store.create_customer(profile, Utc::now()).await?)
    }

    /// Replaces a customer's profile, guarded by `expected_version`.
    pub async fn update_customer(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: CustomerId,
        expected_version: i64,
        mut profile: CustomerProfile,
        owner: Option<UserId>,
    ) -> ApiResult<Customer> {
        let current = self.customer(loaders, actor, id).await?;
        profile.owner_rep_id = match owner {
            Some(_) => self.owner_for(loaders, actor, owner).await?,
            None => current.profile.owner_rep_id,
        };
        let profile = profile.validate()?;
        Ok(self
            .store
            .update_customer(id, expected_version, profile)
            .await?)
    }

    async fn owner_for(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        requested: Option<UserId>,
    ) -> ApiResult<UserId> {
        match (actor.role, requested) {
            (Role::Customer, _) => Err(ApiError::Forbidden(
                "customers cannot manage customer records".into(),
            )),
            (Role::Sales, Some(rep)) if rep != actor.user_id => Err(ApiError::Forbidden(
                "a sales rep can only own customers themselves".into(),
            )),
            (Role::Sales, _) | (Role::Manager | Role::Admin, None) => Ok(actor.user_id),
            (Role::Manager | Role::Admin, Some(rep)) => {
                let owner = user(loaders, rep).await.map_err(|_| {
                    ApiError::bad_input("ownerRepId", format!("user {rep} does not exist"))
                })?;
                if owner.role == Role::Customer {
                    return Err(ApiError::bad_input(
                        "ownerRepId",
                        "a customer login cannot own customers",
                    ));
                }
                let team = owner.id == actor.user_id || owner.manager_id == Some(actor.user_id);
                if actor.role == Role::Manager && !team {
                    return Err(ApiError::Forbidden("the owner must be in your team".into()));
                }
                Ok(rep)
            }
        }
    }

    /// Any product (the catalogue is visible to every signed-in user).
    pub async fn product(&self, loaders: &Loaders, id: ProductId) -> ApiResult<Product> {
        loaders
            .load_one(id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| ApiError::NotFound(format!("product {id} not found")))
    }

    /// The catalogue.
    pub async fn products(
        &self,
        filter: &ProductFilter,
        page: PageRequest,
    ) -> ApiResult<Page<Product>> {
        Ok(self.store.list_products(filter, page).await?)
    }

    /// Adds a product (managers and admins).
    pub async fn create_product(
        &self,
        actor: &Actor,
        details: ProductDetails,
    ) -> ApiResult<Product> {
        require_manager(actor, "create products")?;
        Ok(self
            .store
            .create_product(details.validate()?, Utc::now())
            .await?)
    }

    /// Changes a product (managers and admins), guarded by `expected_version`.
    pub async fn update_product(
        &self,
        actor: &Actor,
        id: ProductId,
        expected_version: i64,
        details: ProductDetails,
    ) -> ApiResult<Product> {
        require_manager(actor, "change products")?;
        Ok(self
            .store
            .update_product(id, expected_version, details.validate()?)
            .await?)
    }
}

fn require_manager(actor: &Actor, what: &str) -> ApiResult<()> {
    if actor.role.is_manager_or_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "only managers and admins may {what}"
        )))
    }
}

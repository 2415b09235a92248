//! Customers and products.

use chrono::{DateTime, Utc};
use domain::catalog::{
    Customer, CustomerProfile, CustomerSummary, PaymentTerms, Preferences, Product, ProductDetails,
    Sku,
};
use domain::money::{Currency, Money};
use domain::ports::{
    CustomerFilter, CustomerRepository, Page, PageRequest, ProductFilter, ProductRepository,
    RepoError,
};
use domain::user::Scope;
use domain::{CustomerId, ProductId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IdenStatic, Iterable, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::{corrupt, fetch_limit, into_page, search_condition, search_key};
use crate::codec::{MONEY_SCALE, from_scaled, to_micros, to_scaled};
use crate::entity::{customer, product, user};
use crate::store::{Store, storage, unique};

impl TryFrom<customer::Model> for Customer {
    type Error = RepoError;
    fn try_from(row: customer::Model) -> Result<Self, RepoError> {
        customer_from_row(row, Documents::Read)
    }
}

/// Whether a customer row carries the contacts, addresses and preferences documents.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Documents {
    Read,
    /// A [`CustomerSummary`]'s row: the columns hold stand-ins, not decoded.
    Skipped,
}

fn customer_from_row(row: customer::Model, documents: Documents) -> Result<Customer, RepoError> {
    let (contacts, addresses, preferences) = match documents {
        Documents::Read => (
            serde_json::from_str(&row.contacts).map_err(|e| corrupt("customer contacts", e))?,
            serde_json::from_str(&row.addresses).map_err(|e| corrupt("customer addresses", e))?,
            serde_json::from_str(&row.preferences)
                .map_err(|e| corrupt("customer preferences", e))?,
        ),
        Documents::Skipped => (Vec::new(), Vec::new(), Preferences::default()),
    };
    Ok(Customer {
        id: CustomerId(row.id),
        profile: CustomerProfile {
            name: row.name,
            email: row.email,
            phone: row.phone,
            address: row.address,
            owner_rep_id: UserId(row.owner_rep_id),
            tier: row.tier,
            tags: serde_json::from_str(&row.tags).map_err(|e| corrupt("customer tags", e))?,
            currency: Currency::parse(&row.currency).map_err(|e| corrupt("currency", e))?,
            credit_limit: from_scaled(row.credit_limit_e4, MONEY_SCALE),
            payment_terms: PaymentTerms::parse(&row.payment_terms)
                .map_err(|e| corrupt("payment terms", e))?,
            contacts,
            addresses,
            preferences,
        },
        version: row.version,
    })
}

fn customer_columns(profile: &CustomerProfile) -> Result<customer::ActiveModel, RepoError> {
    Ok(customer::ActiveModel {
        name: Set(profile.name.clone()),
        email: Set(profile.email.clone()),
        phone: Set(profile.phone.clone()),
        address: Set(profile.address.clone()),
        owner_rep_id: Set(profile.owner_rep_id.0),
        tier: Set(profile.tier.clone()),
        tags: Set(serde_json::to_string(&profile.tags).map_err(|e| corrupt("tags", e))?),
        currency: Set(profile.currency.as_str().to_owned()),
        credit_limit_e4: Set(to_scaled(profile.credit_limit, MONEY_SCALE)?),
        payment_terms: Set(profile.payment_terms.to_string()),
        contacts: Set(serde_json::to_string(&profile.contacts).map_err(|e| corrupt("contacts", e))?),
        addresses: Set(
            serde_json::to_string(&profile.addresses).map_err(|e| corrupt("addresses", e))?
        ),
        preferences: Set(
            serde_json::to_string(&profile.preferences).map_err(|e| corrupt("preferences", e))?
        ),
        search_text: Set(customer_search_text(profile)),
        ..Default::default()
    })
}

/// What customer search matches: the name, tags, and every contact's name, e-mail, phone and
/// WeChat id.
fn customer_search_text(profile: &CustomerProfile) -> String {
    let mut parts: Vec<Option<&str>> = vec![Some(&profile.name)];
    parts.extend(profile.tags.iter().map(|t| Some(t.as_str())));
    parts.push(profile.email.as_deref());
    for contact in &profile.contacts {
        parts.push(Some(&contact.name));
        parts.push(contact.email.as_deref());
        parts.push(contact.phone.as_deref());
        parts.push(contact.wechat_id.as_deref());
    }
    search_key(&parts)
}

/// The SQL form of a visibility scope over a column holding the owning rep.
pub(super) fn scope_condition(
    scope: Scope,
    rep_column: impl ColumnTrait,
    customer_column: impl ColumnTrait,
) -> Condition {
    match scope {
        Scope::All => Condition::all(),
        Scope::Rep(rep) => Condition::all().add(rep_column.eq(rep.0)),
        Scope::Team(manager) => Condition::any().add(rep_column.eq(manager.0)).add(
            rep_column.in_subquery(
                Query::select()
                    .column(user::Column::Id)
                    .from(user::Entity)
                    .and_where(user::Column::ManagerId.eq(manager.0))
                    .take(),
            ),
        ),
        Scope::Customer(customer) => Condition::all().add(customer_column.eq(customer.0)),
        Scope::Nothing => Condition::all().add(Expr::val(1).eq(0)),
    }
}

impl Store {
    /// Whose orders a [`Scope::Team`] covers: the manager's own and their reps'. Must agree
    /// with [`scope_condition`].
    pub(super) async fn team_members(&self, manager: UserId) -> Result<Vec<i64>, RepoError> {
        let select = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::ManagerId.eq(manager.0));
        let mut members: Vec<i64> = match self.inline_all(&select, |row| row.get(0)) {
            Some(members) => members,
            None => select.into_tuple().all(&self.db).await.map_err(storage)?,
        };
        members.push(manager.0);
        Ok(members)
    }
}

/// Re-reads a version after an UPDATE matched nothing, to tell "gone" from "stale".
fn stale(entity: &'static str, id: i64, expected: i64, actual: Option<i64>) -> RepoError {
    match actual {
        Some(actual) => RepoError::Conflict { expected, actual },
        None => RepoError::NotFound { entity, id },
    }
}

impl CustomerRepository for Store {
    async fn create_customer(
        &self,
        profile: CustomerProfile,
        at: DateTime<Utc>,
    ) -> Result<Customer, RepoError> {
        let mut row = customer_columns(&profile)?;
        row.version = Set(1);
        row.created_at = Set(to_micros(at));
        row.updated_at = Set(to_micros(at));
        let txn = self.begin_write().await?;
        let created = row.insert(&txn).await.map_err(storage)?;
        txn.commit().await?;
        created.try_into()
    }

    async fn update_customer(
        &self,
        id: CustomerId,
        expected_version: i64,
        profile: CustomerProfile,
    ) -> Result<Customer, RepoError> {
        let mut row = customer_columns(&profile)?;
        row.version = Set(expected_version + 1);
        row.updated_at = Set(to_micros(Utc::now()));
        let txn = self.begin_write().await?;
        let result = customer::Entity::update_many()
            .set(row)
            .filter(customer::Column::Id.eq(id.0))
            .filter(customer::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(storage)?;
        let current = customer::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await?;
        if result.rows_affected == 0 {
            return Err(stale(
                "customer",
                id.0,
                expected_version,
                current.map(|c| c.version),
            ));
        }
        current
            .ok_or(RepoError::NotFound {
                entity: "customer",
                id: id.0,
            })?
            .try_into()
    }

    async fn customers_by_ids(&self, ids: &[CustomerId]) -> Result<Vec<Customer>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select =
            customer::Entity::find().filter(customer::Column::Id.is_in(ids.iter().map(|id| id.0)));
        self.models(select, super::rows::customer_columns)
            .await?
            .into_iter()
            .map(Customer::try_from)
            .collect()
    }

    async fn customer_summaries_by_ids(
        &self,
        ids: &[CustomerId],
    ) -> Result<Vec<CustomerSummary>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // The documents' columns read as empty text (no bound values), never decoded.
        let select = customer::Column::iter()
            .fold(
                customer::Entity::find().select_only(),
                |select, column| match column {
                    customer::Column::Contacts
                    | customer::Column::Addresses
                    | customer::Column::Preferences => {
                        select.column_as(Expr::cust("''"), column.as_str())
                    }
                    _ => select.column(column),
                },
            )
            .filter(customer::Column::Id.is_in(ids.iter().map(|id| id.0)));
        self.models(select, super::rows::customer_columns)
            .await?
            .into_iter()
            .map(|row| {
                customer_from_row(row, Documents::Skipped)
                    .map(|customer| CustomerSummary { customer })
            })
            .collect()
    }

    async fn list_customers(
        &self,
        scope: Scope,
        filter: &CustomerFilter,
        page: PageRequest,
    ) -> Result<Page<Customer>, RepoError> {
        let mut query = customer::Entity::find().filter(scope_condition(
            scope,
            customer::Column::OwnerRepId,
            customer::Column::Id,
        ));
        if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            query = query.filter(search_condition(customer::Column::SearchText, search));
        }
        if let Some(owner) = filter.owner_rep_id {
            query = query.filter(customer::Column::OwnerRepId.eq(owner.0));
        }
        if let Some(after) = page.after {
            query = query.filter(customer::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(customer::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(storage)?;
        let items = rows
            .into_iter()
            .map(Customer::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, page))
    }
}

impl TryFrom<product::Model> for Product {
    type Error = RepoError;
    fn try_from(row: product::Model) -> Result<Self, RepoError> {
        let currency = Currency::parse(&row.currency).map_err(|e| corrupt("currency", e))?;
        Ok(Product {
            id: ProductId(row.id),
            details: ProductDetails {
                sku: Sku::parse(&row.sku).map_err(|e| corrupt("sku", e))?,
                name: row.name,
                unit: row.unit,
                list_price: Money::new(from_scaled(row.list_price_e4, MONEY_SCALE), currency)
                    .map_err(|e| corrupt("list price", e))?,
                lead_time_days: u16::try_from(row.lead_time_days)
                    .map_err(|e| corrupt("lead time", e))?,
                active: row.active,
                unit_cost: row.unit_cost_e4.map(|c| from_scaled(c, MONEY_SCALE)),
            },
            version: row.version,
        })
    }
}

fn product_columns(details: &ProductDetails) -> Result<product::ActiveModel, RepoError> {
    Ok(product::ActiveModel {
        sku: Set(details.sku.as_str().to_owned()),
        name: Set(details.name.clone()),
        unit: Set(details.unit.clone()),
        list_price_e4: Set(to_scaled(details.list_price.amount(), MONEY_SCALE)?),
        currency: Set(details.list_price.currency().as_str().to_owned()),
        lead_time_days: Set(i32::from(details.lead_time_days)),
        active: Set(details.active),
        unit_cost_e4: Set(details
            .unit_cost
            .map(|c| to_scaled(c, MONEY_SCALE))
            .transpose()?),
        search_text: Set(search_key(&[
            Some(details.sku.as_str()),
            Some(&details.name),
        ])),
        ..Default::default()
    })
}

impl ProductRepository for Store {
    async fn create_product(
        &self,
        details: ProductDetails,
        at: DateTime<Utc>,
    ) -> Result<Product, RepoError> {
        let mut row = product_columns(&details)?;
        row.version = Set(1);
        row.created_at = Set(to_micros(at));
        row.updated_at = Set(to_micros(at));
        let txn = self.begin_write().await?;
        let created = row
            .insert(&txn)
            .await
            .map_err(unique("sku", details.sku.as_str()))?;
        txn.commit().await?;
        created.try_into()
    }

    async fn update_product(
        &self,
        id: ProductId,
        expected_version: i64,
        details: ProductDetails,
    ) -> Result<Product, RepoError> {
        let mut row = product_columns(&details)?;
        row.version = Set(expected_version + 1);
        row.updated_at = Set(to_micros(Utc::now()));
        let txn = self.begin_write().await?;
        let result = product::Entity::update_many()
            .set(row)
            .filter(product::Column::Id.eq(id.0))
            .filter(product::Column::Version.eq(expected_version))
            .exec(&txn)
            .await
            .map_err(unique("sku", details.sku.as_str()))?;
        let current = product::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .map_err(storage)?;
        txn.commit().await?;
        if result.rows_affected == 0 {
            return Err(stale(
                "product",
                id.0,
                expected_version,
                current.map(|p| p.version),
            ));
        }
        current
            .ok_or(RepoError::NotFound {
                entity: "product",
                id: id.0,
            })?
            .try_into()
    }

    async fn products_by_ids(&self, ids: &[ProductId]) -> Result<Vec<Product>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let select =
            product::Entity::find().filter(product::Column::Id.is_in(ids.iter().map(|id| id.0)));
        self.models(select, super::rows::product_columns)
            .await?
            .into_iter()
            .map(Product::try_from)
            .collect()
    }

    async fn list_products(
        &self,
        filter: &ProductFilter,
        page: PageRequest,
    ) -> Result<Page<Product>, RepoError> {
        let mut query = product::Entity::find();
        if let Some(search) = filter.search.as_deref().filter(|s| !s.trim().is_empty()) {
            query = query.filter(search_condition(product::Column::SearchText, search));
        }
        if let Some(active) = filter.active {
            query = query.filter(product::Column::Active.eq(active));
        }
        if let Some(after) = page.after {
            query = query.filter(product::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(product::Column::Id)
            .limit(fetch_limit(page))
            .all(&self.db)
            .await
            .map_err(storage)?;
        let items = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(into_page(items, page))
    }
}

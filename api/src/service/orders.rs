//! Order use cases: load what the actor may see, let the domain decide, store the change with its
//! events, and wake the event dispatcher.

use std::collections::HashMap;

use chrono::NaiveDate;
use domain::catalog::PaymentTerms;
use domain::event::StoredEvent;
use domain::lifecycle::OrderStatus;
use domain::lifecycle::{OrderCommand, decide};
use domain::money::{Currency, Money};
use domain::order::{LineInput, NewOrder, Order, OrderContent, OrderSummary, build_lines};
use domain::ports::{
    IdempotencyClaim, OrderChange, OrderFilter, OrderRepository, Page, PageRequest,
    ProductRepository,
};
use domain::review::{CreditPosition, Finding, ProductFacts, ReviewContext, evaluate};
use domain::user::{Actor, Role};
use domain::{CustomerId, OrderId, ProductId, UserId};

use super::{Services, user};
use crate::graphql::error::{ApiError, ApiResult};
use crate::graphql::loaders::Loaders;

/// Input of `createOrder`, already parsed.
#[derive(Clone, Debug)]
pub struct CreateOrder {
    /// The buyer.
    pub customer_id: CustomerId,
    /// The owning rep; defaults as documented on the mutation.
    pub sales_rep_id: Option<UserId>,
    /// Currency; defaults to the customer's.
    pub currency: Option<Currency>,
    /// Lines.
    pub lines: Vec<LineInput>,
    /// Wished delivery date.
    pub requested_date: Option<NaiveDate>,
    /// Delivery address; defaults to the customer's.
    pub delivery_address: Option<String>,
    /// Terms; default to the customer's.
    pub payment_terms: Option<PaymentTerms>,
    /// Customer PO reference.
    pub customer_po: Option<String>,
    /// Notes.
    pub notes: Option<String>,
}

/// Input of `updateOrderDraft`: present fields replace, absent fields stay.
#[derive(Clone, Debug, Default)]
pub struct DraftPatch {
    /// New lines.
    pub lines: Option<Vec<LineInput>>,
    /// New requested date.
    pub requested_date: Option<NaiveDate>,
    /// New address (blank clears).
    pub delivery_address: Option<String>,
    /// New terms.
    pub payment_terms: Option<PaymentTerms>,
    /// New PO reference (blank clears).
    pub customer_po: Option<String>,
    /// New notes (blank clears).
    pub notes: Option<String>,
}

/// Longest idempotency key accepted.
const MAX_KEY_LEN: usize = 255;

impl Services {
    /// An order the actor may see, else `NOT_FOUND` (existence is not revealed).
    pub async fn order(&self, loaders: &Loaders, actor: &Actor, id: OrderId) -> ApiResult<Order> {
        let not_found = || ApiError::NotFound(format!("order {id} not found"));
        let found = self
            .store
            .order_with_parties(id)
            .await?
            .ok_or_else(not_found)?;
        // The rep (for the visibility check and `salesRep`) and the customer came with the
        // order: later loads of either in this request cost no statement.
        loaders.feed_one(found.sales_rep.id, found.sales_rep).await;
        // Whole, it serves as the order's customer summary too (`Order.customer`).
        let customer = std::sync::Arc::new(found.customer);
        loaders
            .feed_one(
                crate::graphql::loaders::CustomerCard(customer.id),
                customer.clone(),
            )
            .await;
        loaders.feed_one(customer.id, customer).await;
        let order = found.order;
        let owner = Self::ownership(loaders, order.customer_id, order.sales_rep_id).await?;
        if actor.can_see(&owner) {
            Ok(order)
        } else {
            Err(not_found())
        }
    }

    /// Orders the actor may see.
    pub async fn orders(
        &self,
        actor: &Actor,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> ApiResult<Page<Order>> {
        Ok(self.store.list_orders(actor.scope(), filter, page).await?)
    }

    /// Orders the actor may see, as [`Self::orders`] lists them, without their lines.
    pub async fn order_summaries(
        &self,
        actor: &Actor,
        filter: &OrderFilter,
        page: PageRequest,
    ) -> ApiResult<Page<OrderSummary>> {
        Ok(self
            .store
            .list_order_summaries(actor.scope(), filter, page)
            .await?)
    }

    /// The order's events, oldest first.
    pub async fn order_events(&self, id: OrderId) -> ApiResult<Vec<StoredEvent>> {
        Ok(self.store.order_events(id).await?)
    }

    /// Creates a draft. With an idempotency key, a retry returns the first result unchanged.
    pub async fn create_order(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        input: CreateOrder,
        idempotency_key: Option<String>,
    ) -> ApiResult<Order> {
        if actor.role == Role::Customer {
            return Err(ApiError::Forbidden(
                "customers cannot create orders here; ask your sales rep".into(),
            ));
        }
        let claim = match idempotency_key {
            Some(key) => Some(IdempotencyClaim {
                user_id: actor.user_id,
                key: checked_key(key)?,
                fingerprint: fingerprint(&format!("{input:?}")),
            }),
            None => None,
        };
        let customer = self
            .customer(loaders, actor, input.customer_id)
            .await
            .map_err(|_| {
                ApiError::bad_input(
                    "customerId",
                    format!("customer {} not found", input.customer_id),
                )
            })?;
        let sales_rep_id = match (actor.role, input.sales_rep_id) {
            (Role::Sales, Some(rep)) if rep != actor.user_id => {
                return Err(ApiError::Forbidden(
                    "a sales rep creates orders for themselves".into(),
                ));
            }
            (Role::Sales, _) => actor.user_id,
            (_, Some(rep)) => {
                let rep_user = user(loaders, rep).await.map_err(|_| {
                    ApiError::bad_input("salesRepId", format!("user {rep} does not exist"))
                })?;
                if rep_user.role == Role::Customer {
                    return Err(ApiError::bad_input(
                        "salesRepId",
                        "a customer login cannot own orders",
                    ));
                }
                rep
            }
            (_, None) => customer.profile.owner_rep_id,
        };
        let currency = input.currency.unwrap_or(customer.profile.currency);
        let products = self.products_map(&input.lines).await?;
        let content = OrderContent {
            lines: build_lines(&input.lines, &products, currency)?,
            requested_date: input.requested_date,
            delivery_address: input.delivery_address.or(customer.profile.address.clone()),
            payment_terms: input
                .payment_terms
                .unwrap_or(customer.profile.payment_terms),
            customer_po: input.customer_po,
            notes: input.notes,
        }
        .validate()?;
        let new = NewOrder {
            customer_id: customer.id,
            sales_rep_id,
            currency,
            content,
            created_at: super::now(),
        };
        let created = self.store.create_order(new, actor.user_id, claim).await?;
        if !created.replayed {
            self.hub.committed();
        }
        Ok(created.order)
    }

    /// Edits a draft.
    pub async fn update_draft(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
        expected_version: i64,
        patch: DraftPatch,
    ) -> ApiResult<Order> {
        let order = self.order_at(loaders, actor, id, expected_version).await?;
        let mut content = order.content.clone();
        if let Some(lines) = &patch.lines {
            let products = self.products_map(lines).await?;
            content.lines = build_lines(lines, &products, order.currency)?;
        }
        if let Some(date) = patch.requested_date {
            content.requested_date = Some(date);
        }
        if let Some(address) = patch.delivery_address {
            content.delivery_address = Some(address);
        }
        if let Some(terms) = patch.payment_terms {
            content.payment_terms = terms;
        }
        if let Some(po) = patch.customer_po {
            content.customer_po = Some(po);
        }
        if let Some(notes) = patch.notes {
            content.notes = Some(notes);
        }
        self.apply(actor, &order, OrderCommand::UpdateDraft(content))
            .await
    }

    /// Submits for review; the findings decide where the order lands.
    pub async fn submit(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
        expected_version: i64,
    ) -> ApiResult<Order> {
        let order = self.order_at(loaders, actor, id, expected_version).await?;
        // Refuse a command the lifecycle would refuse before spending queries on the review.
        if !order.status.is_editable() {
            let findings = Vec::new();
            decide(
                &order,
                OrderCommand::Submit { findings },
                actor,
                super::now(),
            )?;
        }
        let findings = self.run_review(loaders, &order).await?;
        self.apply(actor, &order, OrderCommand::Submit { findings })
            .await
    }

    /// What review would find if the order were submitted now; changes nothing.
    pub async fn preview_review(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
    ) -> ApiResult<Vec<Finding>> {
        super::staff_only(actor, "review findings")?;
        let order = self.order(loaders, actor, id).await?;
        self.run_review(loaders, &order).await
    }

    /// The filter of the orders waiting for a manager's approval; listed in the actor's scope,
    /// that is the manager's team (all of them for an admin). MANAGER and ADMIN only.
    pub fn pending_approvals_filter(&self, actor: &Actor) -> ApiResult<OrderFilter> {
        if !matches!(actor.role, Role::Manager | Role::Admin) {
            return Err(ApiError::Forbidden(
                "only managers approve orders; `orders(filter: {status: [PENDING_APPROVAL]})` lists yours".into(),
            ));
        }
        Ok(OrderFilter {
            statuses: vec![OrderStatus::PendingApproval],
            ..OrderFilter::default()
        })
    }

    /// Gathers what the rules need (current catalogue facts, the submitting rep's authority,
    /// the customer's credit position, same-PO orders) and runs them under the configured policy.
    pub(super) async fn run_review(
        &self,
        loaders: &Loaders,
        order: &Order,
    ) -> ApiResult<Vec<Finding>> {
        let rep = user(loaders, order.sales_rep_id).await?;
        let customer = loaders
            .load_one(order.customer_id)
            .await
            .map_err(|e| ApiError::Internal(e.0))?
            .ok_or_else(|| {
                ApiError::NotFound(format!("customer {} not found", order.customer_id))
            })?;
        let ids: Vec<ProductId> = order.content.lines.iter().map(|l| l.product_id).collect();
        let products: HashMap<ProductId, ProductFacts> = self
            .store
            .products_by_ids(&ids)
            .await?
            .into_iter()
            .map(|p| {
                (
                    p.id,
                    ProductFacts {
                        list_price: p.details.list_price,
                        lead_time_days: p.details.lead_time_days,
                    },
                )
            })
            .collect();
        let limit_currency = customer.profile.currency;
        let exposure = self
            .store
            .credit_exposure(order.customer_id, limit_currency, order.id)
            .await?;
        let same_po_orders = match order.content.customer_po.as_deref() {
            Some(po) => {
                self.store
                    .orders_with_customer_po(order.customer_id, po, order.id)
                    .await?
            }
            None => Vec::new(),
        };
        let ctx = ReviewContext {
            today: super::now().date_naive(),
            discount_authority: rep.discount_authority,
            products,
            credit: CreditPosition {
                limit: Money::new(customer.profile.credit_limit, limit_currency)?,
                open_receivables: exposure.open_receivables,
                unbilled_confirmed: exposure.unbilled_confirmed,
            },
            same_po_orders,
        };
        Ok(evaluate(
            order.currency,
            &order.content,
            &ctx,
            &self.review_policy,
        ))
    }

    /// Moves an order to another sales rep: an ADMIN to any SALES or MANAGER user, a MANAGER to
    /// themselves or a rep of their team. The previous rep stops seeing the order at once, live
    /// feeds included.
    pub async fn reassign(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
        expected_version: i64,
        to: UserId,
        reason: Option<&str>,
    ) -> ApiResult<Order> {
        let order = self.order_at(loaders, actor, id, expected_version).await?;
        let rep = user(loaders, to)
            .await
            .map_err(|_| ApiError::bad_input("salesRepId", format!("user {to} does not exist")))?;
        if !matches!(rep.role, Role::Sales | Role::Manager) {
            return Err(ApiError::bad_input(
                "salesRepId",
                format!("user {to} is not a sales rep or manager"),
            ));
        }
        if actor.role == Role::Manager
            && to != actor.user_id
            && rep.manager_id != Some(actor.user_id)
        {
            return Err(ApiError::Forbidden(
                "a manager reassigns orders within their team".into(),
            ));
        }
        let now = super::now();
        let decision = domain::lifecycle::reassign(&order, to, reason, actor, now)?;
        self.store
            .save_order(OrderChange {
                order: &decision.order,
                expected_version: order.version,
                lines_changed: false,
                events: decision.events,
                actor_id: actor.user_id,
                at: now,
            })
            .await?;
        self.hub.committed();
        Ok(decision.order)
    }

    /// Runs a command built from the current order (approve, confirm, transitions...).
    pub async fn command(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
        expected_version: i64,
        build: impl FnOnce(&Order) -> ApiResult<OrderCommand>,
    ) -> ApiResult<Order> {
        let order = self.order_at(loaders, actor, id, expected_version).await?;
        let command = build(&order)?;
        self.apply(actor, &order, command).await
    }

    /// Loads a visible order and checks the caller's `expectedVersion` before any work.
    pub(super) async fn order_at(
        &self,
        loaders: &Loaders,
        actor: &Actor,
        id: OrderId,
        expected_version: i64,
    ) -> ApiResult<Order> {
        let order = self.order(loaders, actor, id).await?;
        if order.version != expected_version {
            return Err(domain::ports::RepoError::Conflict {
                expected: expected_version,
                actual: order.version,
            }
            .into());
        }
        Ok(order)
    }

    async fn apply(&self, actor: &Actor, order: &Order, command: OrderCommand) -> ApiResult<Order> {
        // Stock items skip production (CONFIRMED -> READY_TO_SHIP): the terms' money is due
        // before that just as before production.
        if matches!(
            command,
            OrderCommand::StartProduction | OrderCommand::MarkReadyToShip
        ) && order.status == domain::lifecycle::OrderStatus::Confirmed
        {
            self.check_production_payment(order).await?;
        }
        if matches!(command, OrderCommand::Cancel { .. }) {
            self.check_no_open_invoices(order).await?;
        }
        let now = super::now();
        let decision = decide(order, command, actor, now)?;
        self.store
            .save_order(OrderChange {
                order: &decision.order,
                expected_version: order.version,
                lines_changed: decision.lines_changed,
                events: decision.events,
                actor_id: actor.user_id,
                at: now,
            })
            .await?;
        self.hub.committed();
        Ok(decision.order)
    }

    async fn products_map(
        &self,
        lines: &[LineInput],
    ) -> ApiResult<HashMap<ProductId, domain::catalog::Product>> {
        let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id).collect();
        Ok(self
            .store
            .products_by_ids(&ids)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect())
    }
}

/// An idempotency key as clients may send it: 1 to 255 characters.
pub(super) fn checked_key(key: String) -> ApiResult<String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_input(
            "idempotencyKey",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        ));
    }
    Ok(key)
}

/// A stable 128-bit fingerprint (two FNV-1a passes): stored with idempotency keys to tell a retry
/// from a different request. Not security-relevant: keys are scoped per user.
pub(super) fn fingerprint(text: &str) -> String {
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x84222325_cbf29ce4)
    )
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn fingerprints_are_stable_and_discriminating() {
        assert_eq!(fingerprint("a"), fingerprint("a"));
        assert_ne!(fingerprint("a"), fingerprint("b"));
        assert_eq!(fingerprint("").len(), 32);
    }
}

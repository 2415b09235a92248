//! Mutations. Each one on an existing order takes `expectedVersion`; a stale one is a CONFLICT.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use domain::catalog::{
    Contact, CustomerAddress, CustomerProfile, PaymentTerms, Preferences, ProductDetails, Sku,
};
use domain::lifecycle::OrderCommand;
use domain::money::{Currency, Money};
use domain::order::{Confirmation, LineInput};
use domain::{CustomerId, OrderId, ProductId, UserId};

use super::OptionalId;
use super::error::{ApiError, ApiResult};
use super::scalars::Dec;
use super::types::{ChannelGql, CustomerNode, OrderNode, OrderStatusGql, ProductNode, UserNode};
use super::{ContextExt, parse_id};
use crate::service::{CreateOrder, DraftPatch};

/// A signed-in session: a short-lived access token and a single-use refresh token.
#[derive(SimpleObject)]
pub struct LoginPayload {
    /// Send as `Authorization: Bearer <accessToken>`.
    pub access_token: String,
    /// When the access token stops working; get a new one with `refreshToken` before then.
    pub expires_at: DateTime<Utc>,
    /// Single use: `refreshToken(refreshToken:)` returns a new pair and spends this one. Presenting a spent one ends the session.
    pub refresh_token: String,
    /// When the refresh token stops working.
    pub refresh_expires_at: DateTime<Utc>,
    /// Who signed in.
    pub user: UserNode,
}

impl From<crate::service::Session> for LoginPayload {
    fn from(session: crate::service::Session) -> Self {
        Self {
            access_token: session.access_token,
            expires_at: session.access_expires_at,
            refresh_token: session.refresh_token,
            refresh_expires_at: session.refresh_expires_at,
            user: UserNode(session.user),
        }
    }
}

/// A customer's profile. On update the scalar fields are replaced; contacts, addresses and
/// preferences only when given.
#[derive(InputObject)]
pub struct CustomerInput {
    /// Company name.
    pub name: String,
    /// Main contact e-mail.
    pub email: Option<String>,
    /// Main phone.
    pub phone: Option<String>,
    /// Default delivery address.
    pub address: Option<String>,
    /// Owning sales rep; defaults to the caller. Sales reps can only name themselves.
    pub owner_rep_id: Option<ID>,
    /// Tier or segment.
    pub tier: Option<String>,
    /// Free tags.
    pub tags: Option<Vec<String>>,
    /// ISO 4217 invoicing currency.
    pub currency: String,
    /// Credit limit in that currency.
    pub credit_limit: Dec,
    /// PREPAID, NET_<days> or DEPOSIT_<percent>_NET_<days>.
    pub payment_terms: String,
    /// People at the customer (at most 50). On update, omitted keeps the current ones.
    pub contacts: Option<Vec<ContactInput>>,
    /// Named addresses (at most 50); `address` stays the default delivery address. On update,
    /// omitted keeps the current ones.
    pub addresses: Option<Vec<CustomerAddressInput>>,
    /// Preferences (internal to the sales team). On update, omitted keeps the current ones.
    pub preferences: Option<PreferencesInput>,
}

/// A person at the customer.
#[derive(InputObject)]
pub struct ContactInput {
    /// Full name.
    pub name: String,
    /// Role or title.
    pub role: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// WeChat id.
    pub wechat_id: Option<String>,
}

/// A named address.
#[derive(InputObject)]
pub struct CustomerAddressInput {
    /// What it is, e.g. HQ, Warehouse, Billing.
    pub label: String,
    /// The address as printed on documents.
    pub address: String,
}

/// How the customer likes to be served.
#[derive(InputObject)]
pub struct PreferencesInput {
    /// Free notes for the sales team.
    pub notes: Option<String>,
    /// Products the customer usually buys.
    pub preferred_product_ids: Option<Vec<ID>>,
    /// Preferred contact channel.
    pub preferred_channel: Option<super::archive::InteractionChannelGql>,
}

impl CustomerInput {
    fn parse(self) -> ApiResult<(CustomerProfile, Option<UserId>)> {
        let owner = self.owner_rep_id.optional_id("ownerRepId")?.map(UserId);
        Ok((
            CustomerProfile {
                name: self.name,
                email: self.email,
                phone: self.phone,
                address: self.address,
                owner_rep_id: UserId(0),
                tier: self.tier,
                tags: self.tags.unwrap_or_default(),
                currency: Currency::parse(&self.currency)?,
                credit_limit: self.credit_limit.0,
                payment_terms: PaymentTerms::parse(&self.payment_terms)?,
                contacts: self
                    .contacts
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| Contact {
                        name: c.name,
                        role: c.role,
                        phone: c.phone,
                        email: c.email,
                        wechat_id: c.wechat_id,
                    })
                    .collect(),
                addresses: self
                    .addresses
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| CustomerAddress {
                        label: a.label,
                        address: a.address,
                    })
                    .collect(),
                preferences: match self.preferences {
                    Some(p) => Preferences {
                        notes: p.notes,
                        preferred_product_ids: p
                            .preferred_product_ids
                            .unwrap_or_default()
                            .iter()
                            .map(|id| parse_id("preferredProductIds", id).map(ProductId))
                            .collect::<ApiResult<_>>()?,
                        preferred_channel: p.preferred_channel.map(Into::into),
                    },
                    None => Preferences::default(),
                },
            },
            owner,
        ))
    }
}

/// A product (replaces the whole product on update).
#[derive(InputObject)]
pub struct ProductInput {
    /// Unique SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Unit of measure.
    pub unit: String,
    /// List price per unit (at most 4 decimals).
    pub list_price: Dec,
    /// ISO 4217 currency of the list price.
    pub currency: String,
    /// Days from confirmation until it can ship.
    pub lead_time_days: i32,
    /// Whether it can be ordered.
    #[graphql(default = true)]
    pub active: bool,
    /// Standard cost per unit in the list price's currency (internal: never shown to customers).
    pub unit_cost: Option<Dec>,
}

impl ProductInput {
    fn parse(self) -> ApiResult<ProductDetails> {
        let currency = Currency::parse(&self.currency)?;
        Ok(ProductDetails {
            sku: Sku::parse(&self.sku)?,
            name: self.name,
            unit: self.unit,
            list_price: Money::new(self.list_price.0, currency)
                .map_err(|e| ApiError::bad_input("listPrice", e.to_string()))?,
            lead_time_days: u16::try_from(self.lead_time_days)
                .map_err(|_| ApiError::bad_input("leadTimeDays", "must be between 0 and 730"))?,
            active: self.active,
            unit_cost: self.unit_cost.map(|c| c.0),
        })
    }
}

/// One line to order.
#[derive(InputObject)]
#[graphql(name = "LineInput")]
pub struct LineInputGql {
    /// Product to order.
    pub product_id: ID,
    /// Quantity (> 0, at most 3 decimals).
    pub quantity: Dec,
    /// Price per unit; the list price when omitted.
    pub unit_price: Option<Dec>,
    /// Discount in percent (0..100, at most 2 decimals).
    pub discount_percent: Option<Dec>,
}

fn parse_lines(lines: Vec<LineInputGql>) -> ApiResult<Vec<LineInput>> {
    lines
        .into_iter()
        .map(|l| {
            Ok(LineInput {
                product_id: ProductId(parse_id("productId", &l.product_id)?),
                quantity: l.quantity.0,
                unit_price: l.unit_price.map(|d| d.0),
                discount_percent: l.discount_percent.map(|d| d.0),
            })
        })
        .collect()
}

fn parse_terms(terms: Option<String>) -> ApiResult<Option<PaymentTerms>> {
    Ok(terms.as_deref().map(PaymentTerms::parse).transpose()?)
}

/// A new order; it lands in DRAFT.
#[derive(InputObject)]
pub struct CreateOrderInput {
    /// The buyer.
    pub customer_id: ID,
    /// Owning rep: the caller for SALES; otherwise defaults to the customer's owner.
    pub sales_rep_id: Option<ID>,
    /// ISO 4217 currency; the customer's when omitted.
    pub currency: Option<String>,
    /// Lines.
    pub lines: Vec<LineInputGql>,
    /// The customer's wished delivery date.
    pub requested_date: Option<NaiveDate>,
    /// Delivery address; the customer's when omitted.
    pub delivery_address: Option<String>,
    /// Payment terms; the customer's when omitted.
    pub payment_terms: Option<String>,
    /// The customer's purchase-order reference.
    pub customer_po: Option<String>,
    /// Free notes.
    pub notes: Option<String>,
}

/// Changes to a draft: given fields replace the current ones (blank text clears it).
#[derive(InputObject)]
pub struct OrderDraftInput {
    /// New lines (replace all lines).
    pub lines: Option<Vec<LineInputGql>>,
    /// New wished delivery date.
    pub requested_date: Option<NaiveDate>,
    /// New delivery address.
    pub delivery_address: Option<String>,
    /// New payment terms.
    pub payment_terms: Option<String>,
    /// New PO reference.
    pub customer_po: Option<String>,
    /// New notes.
    pub notes: Option<String>,
}

/// The customer's confirmation.
#[derive(InputObject)]
pub struct ConfirmationInput {
    /// Who at the customer confirmed.
    pub confirmed_by: String,
    /// Channel; CUSTOMER users must use PORTAL.
    pub channel: ChannelGql,
    /// Reference (mail subject, document number...).
    pub reference: Option<String>,
    /// The delivery date promised to the customer; the requested date when omitted.
    pub promised_date: Option<NaiveDate>,
    /// When the customer confirmed (a phone call is often recorded later); now when omitted.
    /// Never in the future.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// A plain status move.
#[derive(InputObject)]
pub struct TransitionInput {
    /// The order.
    pub order_id: ID,
    /// Target: NEEDS_REVISION (from APPROVED), IN_PRODUCTION, READY_TO_SHIP, PARTIALLY_SHIPPED,
    /// SHIPPED, DELIVERED, COMPLETED (fully paid only), ON_HOLD, CANCELLED, or — for an ON_HOLD
    /// order — its `heldFrom` status to resume.
    pub to: OrderStatusGql,
    /// The version the client last saw.
    pub expected_version: i64,
    /// Required for NEEDS_REVISION, ON_HOLD and CANCELLED.
    pub reason: Option<String>,
}

/// Changes. Every mutation needs a token except `login`.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    CoreMutation,
    super::archive::ArchiveMutation,
    super::settlement::SettlementMutation,
    super::tracking::TrackingMutation,
);

/// Sign-in, master data and the order lifecycle.
#[derive(Default)]
pub struct CoreMutation;

#[Object]
impl CoreMutation {
    /// Signs in: exchanges e-mail and password for an access token and a refresh token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Login e-mail.")] email: String,
        #[graphql(desc = "Password.")] password: String,
    ) -> ApiResult<LoginPayload> {
        let client = ctx
            .data_opt::<crate::http::ClientAddress>()
            .and_then(|c| c.0);
        Ok(ctx
            .services()
            .login(&email, &password, client)
            .await?
            .into())
    }

    /// Trades a refresh token for a new access token and a new refresh token (needs no access token).
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The refresh token from `login` or the last refresh.")]
        refresh_token: String,
    ) -> ApiResult<LoginPayload> {
        Ok(ctx.services().refresh(&refresh_token).await?.into())
    }

    /// Signs out: revokes the session the refresh token belongs to. True when it existed.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The session's current refresh token.")] refresh_token: String,
    ) -> ApiResult<bool> {
        ctx.services().logout(&refresh_token).await
    }

    /// Creates a customer (SALES, MANAGER, ADMIN).
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer's profile.")] input: CustomerInput,
    ) -> ApiResult<CustomerNode> {
        let actor = ctx.actor()?;
        let (profile, owner) = input.parse()?;
        Ok(CustomerNode::new(
            ctx.services()
                .create_customer(ctx.loaders(), &actor, profile, owner)
                .await?,
        ))
    }

    /// Replaces a customer's profile.
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The customer's profile.")] input: CustomerInput,
    ) -> ApiResult<CustomerNode> {
        let actor = ctx.actor()?;
        let id = CustomerId(parse_id("id", &id)?);
        let keep = (
            input.contacts.is_none(),
            input.addresses.is_none(),
            input.preferences.is_none(),
        );
        let (mut profile, owner) = input.parse()?;
        // Lists a client leaves out stay as they are, so an older client that does not know
        // them cannot wipe them by saving the profile it knows.
        if keep != (false, false, false) {
            let current = ctx.services().customer(ctx.loaders(), &actor, id).await?;
            if keep.0 {
                profile.contacts.clone_from(&current.profile.contacts);
            }
            if keep.1 {
                profile.addresses.clone_from(&current.profile.addresses);
            }
            if keep.2 {
                profile.preferences.clone_from(&current.profile.preferences);
            }
        }
        Ok(CustomerNode::new(
            ctx.services()
                .update_customer(ctx.loaders(), &actor, id, expected_version, profile, owner)
                .await?,
        ))
    }

    /// Adds a product (MANAGER, ADMIN).
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product.")] input: ProductInput,
    ) -> ApiResult<ProductNode> {
        let actor = ctx.actor()?;
        Ok(ProductNode(
            ctx.services()
                .create_product(&actor, input.parse()?)
                .await?,
        ))
    }

    /// Changes a product (MANAGER, ADMIN).
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The product.")] input: ProductInput,
    ) -> ApiResult<ProductNode> {
        let actor = ctx.actor()?;
        let id = ProductId(parse_id("id", &id)?);
        Ok(ProductNode(
            ctx.services()
                .update_product(&actor, id, expected_version, input.parse()?)
                .await?,
        ))
    }

    /// Creates a draft order. With `idempotencyKey` (1-255 characters, scoped to the caller) a
    /// retry returns the first result and creates nothing; reusing the key for other input is a CONFLICT.
    async fn create_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] input: CreateOrderInput,
        #[graphql(desc = "Client-chosen key (1-255 characters) that makes retries safe.")]
        idempotency_key: Option<String>,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let input = CreateOrder {
            customer_id: CustomerId(parse_id("customerId", &input.customer_id)?),
            sales_rep_id: input.sales_rep_id.optional_id("salesRepId")?.map(UserId),
            currency: input.currency.as_deref().map(Currency::parse).transpose()?,
            lines: parse_lines(input.lines)?,
            requested_date: input.requested_date,
            delivery_address: input.delivery_address,
            payment_terms: parse_terms(input.payment_terms)?,
            customer_po: input.customer_po,
            notes: input.notes,
        };
        Ok(OrderNode::new(
            ctx.services()
                .create_order(ctx.loaders(), &actor, input, idempotency_key)
                .await?,
        ))
    }

    /// Edits a DRAFT or NEEDS_REVISION order.
    async fn update_order_draft(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The changes.")] input: OrderDraftInput,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        let patch = DraftPatch {
            lines: input.lines.map(parse_lines).transpose()?,
            requested_date: input.requested_date,
            delivery_address: input.delivery_address,
            payment_terms: parse_terms(input.payment_terms)?,
            customer_po: input.customer_po,
            notes: input.notes,
        };
        Ok(OrderNode::new(
            ctx.services()
                .update_draft(ctx.loaders(), &actor, id, expected_version, patch)
                .await?,
        ))
    }

    /// Submits for review: lands in NEEDS_REVISION (blockers), PENDING_APPROVAL (findings a
    /// manager must approve) or APPROVED; findings are in `reviewFindings`.
    async fn submit_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        Ok(OrderNode::new(
            ctx.services()
                .submit(ctx.loaders(), &actor, id, expected_version)
                .await?,
        ))
    }

    /// Approves a PENDING_APPROVAL order (MANAGER, ADMIN).
    async fn approve_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The manager's comment.")] comment: Option<String>,
    ) -> ApiResult<OrderNode> {
        self.run(ctx, id, expected_version, |_| {
            Ok(OrderCommand::Approve { comment })
        })
        .await
    }

    /// Sends a PENDING_APPROVAL order back to NEEDS_REVISION (MANAGER, ADMIN); a comment is required.
    async fn reject_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "Why it goes back (required).")] comment: String,
    ) -> ApiResult<OrderNode> {
        self.run(ctx, id, expected_version, |_| {
            Ok(OrderCommand::Reject { comment })
        })
        .await
    }

    /// Records the customer's confirmation of an APPROVED order: it becomes CONFIRMED.
    async fn confirm_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The record's id.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "Who confirmed, how, and the promised delivery date.")]
        confirmation: ConfirmationInput,
    ) -> ApiResult<OrderNode> {
        self.run(ctx, id, expected_version, |_| {
            Ok(OrderCommand::Confirm(Confirmation {
                confirmed_by: confirmation.confirmed_by,
                channel: confirmation.channel.into(),
                reference: confirmation.reference,
                confirmed_at: confirmation
                    .confirmed_at
                    .map_or_else(crate::service::now, |at| {
                        chrono::SubsecRound::trunc_subsecs(at, 6)
                    }),
                promised_date: confirmation.promised_date,
            }))
        })
        .await
    }

    /// Moves an order to another sales rep (MANAGER within their team, ADMIN). The previous rep
    /// no longer sees the order, and their live feeds receive none of its further events.
    async fn reassign_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
        #[graphql(desc = "The version the client last saw; a stale one is a CONFLICT.")]
        expected_version: i64,
        #[graphql(desc = "The new owner: a SALES or MANAGER user.")] sales_rep_id: ID,
        #[graphql(desc = "Why.")] reason: Option<String>,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        let to = UserId(parse_id("salesRepId", &sales_rep_id)?);
        Ok(OrderNode::new(
            ctx.services()
                .reassign(
                    ctx.loaders(),
                    &actor,
                    id,
                    expected_version,
                    to,
                    reason.as_deref(),
                )
                .await?,
        ))
    }

    /// Moves an order to another status (see `TransitionInput.to`). A move the lifecycle does not
    /// allow is INVALID_TRANSITION, naming the current status and the allowed ones.
    async fn transition_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order, the target status and the version last seen.")]
        input: TransitionInput,
    ) -> ApiResult<OrderNode> {
        let to = input.to.into();
        let reason = input.reason;
        self.run(ctx, input.order_id, input.expected_version, move |order| {
            Ok(OrderCommand::to_status(order, to, reason.as_deref())?)
        })
        .await
    }
}

impl CoreMutation {
    async fn run(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: i64,
        build: impl FnOnce(&domain::order::Order) -> ApiResult<OrderCommand>,
    ) -> ApiResult<OrderNode> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        Ok(OrderNode::new(
            ctx.services()
                .command(ctx.loaders(), &actor, id, expected_version, build)
                .await?,
        ))
    }
}

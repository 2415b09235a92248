//! Review: previewing findings, the approval queue, and the rules in force.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use domain::OrderId;
use domain::review::{RuleCode, outcome_of};

use super::error::ApiResult;
use super::types::{FindingNode, MoneyNode, OrderNode, OrderStatusGql, SeverityGql, order_list};
use super::{ContextExt, page_request, parse_id};

/// What review would decide if the order were submitted now.
#[derive(SimpleObject)]
pub struct ReviewPreview {
    /// Where the order would land: NEEDS_REVISION, PENDING_APPROVAL or APPROVED.
    pub outcome: OrderStatusGql,
    /// The findings, in rule order.
    pub findings: Vec<FindingNode>,
}

/// A review rule and how it is configured on this server.
#[derive(SimpleObject)]
pub struct ReviewRule {
    /// Stable code, as in `ReviewFinding.code` and the review configuration file.
    pub code: String,
    /// What the rule checks.
    pub description: String,
    /// The configured severity; null when the rule is switched off.
    pub severity: Option<SeverityGql>,
}

/// The review configuration in force.
#[derive(SimpleObject)]
pub struct ReviewRules {
    /// Every rule, in evaluation order.
    pub rules: Vec<ReviewRule>,
    /// Minimum order totals per currency (MINIMUM_AMOUNT); a currency not listed has none.
    pub minimum_amounts: Vec<MoneyNode>,
}

/// Review queries.
#[derive(Default)]
pub struct ReviewQuery;

#[Object]
impl ReviewQuery {
    /// Runs the review rules on an order as it stands and returns what they find, changing
    /// nothing (no status, no stored findings, no event). Staff only: FORBIDDEN for customers.
    async fn review_order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The order.")] id: ID,
    ) -> ApiResult<ReviewPreview> {
        let actor = ctx.actor()?;
        let id = OrderId(parse_id("id", &id)?);
        let findings = ctx
            .services()
            .preview_review(ctx.loaders(), &actor, id)
            .await?;
        Ok(ReviewPreview {
            outcome: outcome_of(&findings).into(),
            findings: findings.into_iter().map(FindingNode::from).collect(),
        })
    }

    /// PENDING_APPROVAL orders of the caller's team (every team for an ADMIN), newest first.
    /// MANAGER and ADMIN only.
    #[graphql(complexity = "super::list_complexity(first, child_complexity)")]
    async fn pending_approvals(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, at most 100.", default = 20)] first: Option<i32>,
        #[graphql(desc = "Cursor of the last item already seen.")] after: Option<String>,
    ) -> ApiResult<Connection<String, OrderNode>> {
        let actor = ctx.actor()?;
        let page = page_request(first, after)?;
        let filter = ctx.services().pending_approvals_filter(&actor)?;
        order_list(ctx, &actor, &filter, page).await
    }

    /// The review rules and their configured severities (`--review-config`). Staff only.
    async fn review_rules(&self, ctx: &Context<'_>) -> ApiResult<ReviewRules> {
        let actor = ctx.actor()?;
        crate::service::staff_only(&actor, "review rules")?;
        let policy = &ctx.services().review_policy;
        Ok(ReviewRules {
            rules: RuleCode::ALL
                .into_iter()
                .map(|code| ReviewRule {
                    code: code.as_str().to_owned(),
                    description: code.description().to_owned(),
                    severity: policy.severity(code).map(Into::into),
                })
                .collect(),
            minimum_amounts: policy
                .minimum_amounts()
                .into_iter()
                .map(|m| MoneyNode::new(m.amount(), m.currency()))
                .collect(),
        })
    }
}

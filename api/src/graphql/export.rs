//! `analytics.exportCsv`: any analytics report as CSV text for spreadsheets. The figures come
//! from the same [`Reports`] methods as the GraphQL fields; `analytics::export` writes them.

use analytics::export;
use async_graphql::{Context, Enum, Object};

use super::analytics::{AnalyticsFilterInput, TimeBucket};
use super::error::{ApiError, ApiResult};
use super::kpi::{KpiScope, Reports};

/// Most data rows one export may hold (about 10 MB of text); more is refused with
/// LIMIT_EXCEEDED rather than cut short, since a silently truncated sheet adds up wrong.
pub const MAX_EXPORT_ROWS: usize = 100_000;

/// A report `exportCsv` can write. Columns are listed per value; every CSV starts with a header
/// row naming them.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AnalyticsReport {
    /// `salesSummary`, one row per bucket (`groupBy`) and currency: bucket_start, currency,
    /// orders, value, average_order_value, open_orders, open_value, fulfilled_orders,
    /// fulfilled_value, cancelled_orders, cancelled_value.
    SalesSummary,
    /// `pipeline` in long format: section, key, severity, currency, orders, findings, value,
    /// rate. Sections: `open` (key = status, one row per status and currency: orders, value),
    /// `submitted` (orders), `confirmed` (orders; rate = the conversion rate), `review` (key =
    /// rule code, with severity: orders with a finding, findings).
    Pipeline,
    /// `cycleTimes`, one row per stage: stage, orders, median_hours, p90_hours.
    CycleTimes,
    /// `onTimeRate`, one row: delivered, on_time, late, rate.
    OnTimeRate,
    /// `exceptionPareto`, one row per entry and cost currency: kind, root_cause, exceptions,
    /// share, cumulative_share, currency, cost_impact, delay_days, lessons_learned (joined with
    /// " | ").
    ExceptionPareto,
    /// `qualityRates`, one row per currency of the cost impact (one row with both empty without
    /// exceptions): orders, orders_with_change_requests, change_requests, change_request_rate,
    /// orders_with_exceptions, exceptions, exception_rate, delay_days, currency, cost_impact.
    QualityRates,
    /// `receivablesAging`, one row per currency: currency, invoices, invoiced, payments,
    /// collected, open_invoices, outstanding, overdue, current, days_1_30, days_31_60,
    /// days_61_90, over_90, dso_days.
    ReceivablesAging,
    /// `rfm` customers, every one (no `first` limit), one row per customer and currency:
    /// customer_id, currency, recency_days, orders, value, recency_score, frequency_score,
    /// monetary_score, segment.
    Rfm,
    /// `lapsedCustomers`, every one: customer_id, orders, last_order_at,
    /// average_interval_days, days_since_last_order, lapse_factor.
    LapsedCustomers,
    /// `paymentBehaviour`: the overall figures first (empty customer_id), then every customer:
    /// customer_id, invoices_paid, paid_on_time, average_days_late, on_time_share.
    PaymentBehaviour,
    /// `repScorecards`, one row per rep and currency sold or invoiced in (the other figures
    /// repeated): sales_rep_id, currency, orders, value, invoiced, collected, outstanding,
    /// dso_days, delivered, on_time_rate, change_request_rate, exception_rate, invoices_due,
    /// invoices_collected, collection_rate, average_days_late.
    RepScorecards,
}

/// CSV export of the KPIs.
pub struct ExportKpis {
    pub(super) kpi: KpiScope,
}

#[Object]
impl ExportKpis {
    /// One report as CSV text (RFC 4180: a header row, commas, CRLF line ends, quoted fields
    /// where needed), holding exactly what the report's field answers for the same filter.
    /// Money is a plain decimal with at least the currency's minor-unit digits next to a
    /// `currency` column; rates and shares are decimals from 0 to 1; dates ISO 8601; ids
    /// numbers; an absent figure an empty cell. Free text starting with `=`, `+`, `-` or `@`
    /// is prefixed with `'` so spreadsheets do not run it. LIMIT_EXCEEDED beyond 100,000 rows.
    async fn export_csv(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which report.")] report: AnalyticsReport,
        #[graphql(desc = "The period and filters.")] filter: AnalyticsFilterInput,
        #[graphql(
            desc = "The width of the buckets (SALES_SUMMARY only); DAY when left out or null.",
            default_with = "Some(TimeBucket::Day)"
        )]
        group_by: Option<TimeBucket>,
    ) -> ApiResult<String> {
        // Nullable, unlike `salesSummary`'s: a client passing an unset `$groupBy` variable
        // sends null, and the report should then be by day rather than an error.
        let group_by = group_by.unwrap_or(TimeBucket::Day);
        let reports = Reports::new(ctx, &self.kpi, &filter)?;
        let csv = match report {
            AnalyticsReport::SalesSummary => {
                export::sales_summary(&reports.sales(group_by.into(), false).await?.buckets)
            }
            AnalyticsReport::Pipeline => {
                let p = reports.pipeline().await?;
                export::pipeline(&p.open, p.counts, &p.outcomes)
            }
            AnalyticsReport::CycleTimes => export::cycle_times(&reports.cycle_times().await?),
            AnalyticsReport::OnTimeRate => export::on_time_rate(reports.on_time().await?),
            AnalyticsReport::ExceptionPareto => export::exception_pareto(&reports.pareto().await?),
            AnalyticsReport::QualityRates => {
                let (rates, cost, delay_days) = reports.quality().await?;
                export::quality_rates(&rates, &cost, delay_days)
            }
            AnalyticsReport::ReceivablesAging => export::receivables_aging(&reports.cash().await?),
            AnalyticsReport::Rfm => export::rfm(&reports.rfm().await?),
            AnalyticsReport::LapsedCustomers => export::lapsed_customers(&reports.lapsed().await?),
            AnalyticsReport::PaymentBehaviour => {
                let (overall, customers) = reports.payments().await?;
                export::payment_behaviour(&overall, &customers)
            }
            AnalyticsReport::RepScorecards => export::rep_scorecards(&reports.scorecards().await?),
        };
        within_limit(csv, MAX_EXPORT_ROWS)
    }
}

/// The export's text, or LIMIT_EXCEEDED when it would hold more than `max` data rows.
fn within_limit(csv: export::Csv, max: usize) -> ApiResult<String> {
    if csv.rows() > max {
        return Err(ApiError::LimitExceeded(format!(
            "the export would hold {} rows, at most {max} are allowed: narrow the filter",
            csv.rows()
        )));
    }
    Ok(csv.into_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(rows: usize) -> export::Csv {
        let mut csv = export::Csv::new(&["n"]);
        for n in 0..rows {
            csv.row([n.to_string()]);
        }
        csv
    }

    #[test]
    fn an_export_at_the_limit_is_whole_and_one_row_more_is_refused() {
        let text = within_limit(sheet(3), 3).unwrap();
        assert_eq!(text.lines().count(), 4, "a header and every row: {text:?}");
        match within_limit(sheet(4), 3) {
            Err(ApiError::LimitExceeded(message)) => {
                assert!(message.contains("4 rows, at most 3"), "{message}");
            }
            other => panic!("expected LIMIT_EXCEEDED, got {other:?}"),
        }
    }
}

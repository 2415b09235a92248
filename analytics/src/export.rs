//! CSV export: every report as a table for spreadsheets, built from the very structs the KPI
//! functions return (so a CSV holds exactly what the GraphQL field answers).
//!
//! The text follows RFC 4180: a header row, comma separated, CRLF after every row (the last
//! too), a field quoted when it holds a comma, a quote, CR or LF, quotes inside doubled.
//! Cells: money as a plain decimal with at least the currency's minor-unit digits (`10.50`
//! EUR, `1000` JPY; never rounded) next to a `currency` column; rates and shares as decimals
//! from 0 to 1; dates ISO 8601 (`2026-11-26`, instants `2026-11-26T09:30:00Z`); ids as numbers;
//! enums by their API names (`SUBMITTED_TO_CONFIRMED`); an absent figure (a rate without a
//! base) as an empty cell.
//!
//! Text people wrote (root causes, lessons learned) that starts like a formula (`=`, `+`, `-`,
//! `@`, tab or CR) is prefixed with `'`, as OWASP advises against CSV injection: a spreadsheet
//! would otherwise run it. Nothing else is altered.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use domain::CustomerId;
use domain::money::{Currency, shown};
use domain::ports::{ConversionCounts, OpenOrders, Stage};
use rust_decimal::Decimal;

use crate::cash::CashSummary;
use crate::customers::{LapsedCustomer, PaymentFigures, RfmEntry, Segment};
use crate::delivery::{CycleTime, OnTime};
use crate::pipeline::{RuleOutcome, conversion_rate};
use crate::quality::{ParetoEntry, QualityRates};
use crate::reps::Scorecard;
use crate::sales::SalesBucket;

/// Joins the lessons learned of a Pareto entry in one cell.
pub const LESSON_SEPARATOR: &str = " | ";

/// A CSV table being written: the header, then one row at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Csv {
    text: String,
    columns: usize,
    rows: usize,
}

impl Csv {
    /// A table with these column names as its first row.
    #[must_use]
    pub fn new(header: &[&str]) -> Self {
        let mut csv = Self {
            text: String::new(),
            columns: header.len(),
            rows: 0,
        };
        csv.write(header.iter().copied());
        csv
    }

    /// Appends a row. It must have as many cells as the header has columns.
    ///
    /// # Panics
    /// In debug builds, when the cell count differs from the header's (a bug in the report).
    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) {
        let written = self.write(cells);
        debug_assert_eq!(written, self.columns, "a row must fill every column");
        self.rows += 1;
    }

    fn write<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> usize {
        let mut count = 0;
        for cell in cells {
            if count > 0 {
                self.text.push(',');
            }
            push_field(&mut self.text, cell.as_ref());
            count += 1;
        }
        self.text.push_str("\r\n");
        count
    }

    /// Data rows written (the header not counted).
    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The CSV text.
    #[must_use]
    pub fn into_text(self) -> String {
        self.text
    }
}

fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// An amount with at least the currency's minor-unit digits, never rounded.
fn money(amount: Decimal, currency: Currency) -> String {
    shown(amount, currency).to_string()
}

/// A decimal as the API writes it; empty when absent.
fn decimal(value: Option<Decimal>) -> String {
    value.map(|d| d.to_string()).unwrap_or_default()
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// Free text, defused against formula injection.
fn text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// The API name of a stage (the GraphQL `LifecycleStage` value).
#[must_use]
pub fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::SubmittedToConfirmed => "SUBMITTED_TO_CONFIRMED",
        Stage::ConfirmedToShipped => "CONFIRMED_TO_SHIPPED",
        Stage::ShippedToDelivered => "SHIPPED_TO_DELIVERED",
        Stage::DeliveredToPaid => "DELIVERED_TO_PAID",
    }
}

/// The API name of a segment (the GraphQL `RfmSegment` value).
#[must_use]
pub fn segment_name(segment: Segment) -> &'static str {
    match segment {
        Segment::Champions => "CHAMPIONS",
        Segment::Loyal => "LOYAL",
        Segment::Promising => "PROMISING",
        Segment::NeedsAttention => "NEEDS_ATTENTION",
        Segment::AtRisk => "AT_RISK",
        Segment::Hibernating => "HIBERNATING",
    }
}

/// One row per bucket and currency, as [`crate::sales::sales_summary`] orders them.
#[must_use]
pub fn sales_summary(buckets: &[SalesBucket]) -> Csv {
    let mut csv = Csv::new(&[
        "bucket_start",
        "currency",
        "orders",
        "value",
        "average_order_value",
        "open_orders",
        "open_value",
        "fulfilled_orders",
        "fulfilled_value",
        "cancelled_orders",
        "cancelled_value",
    ]);
    for b in buckets {
        let c = b.currency;
        let average = b.total.average(c.minor_units()).map(|avg| money(avg, c));
        csv.row([
            date(b.start),
            c.to_string(),
            b.total.orders.to_string(),
            money(b.total.value, c),
            average.unwrap_or_default(),
            b.open.orders.to_string(),
            money(b.open.value, c),
            b.fulfilled.orders.to_string(),
            money(b.fulfilled.value, c),
            b.cancelled.orders.to_string(),
            money(b.cancelled.value, c),
        ]);
    }
    csv
}

/// The pipeline in long format, `section,key,severity,currency,orders,findings,value,rate`:
/// - `open`: one row per status (`key`) and currency: open orders now and their value;
/// - `submitted`: orders first submitted in the period (`orders`);
/// - `confirmed`: those confirmed since (`orders`), with the conversion rate (`rate`);
/// - `review`: one row per rule code (`key`) and severity: `findings`, and `orders` with one.
#[must_use]
pub fn pipeline(open: &[OpenOrders], counts: ConversionCounts, outcomes: &[RuleOutcome]) -> Csv {
    let mut csv = Csv::new(&[
        "section", "key", "severity", "currency", "orders", "findings", "value", "rate",
    ]);
    for row in open {
        csv.row([
            "open".to_owned(),
            row.status.as_str().to_owned(),
            String::new(),
            row.currency.to_string(),
            row.orders.to_string(),
            String::new(),
            money(row.value, row.currency),
            String::new(),
        ]);
    }
    csv.row([
        "submitted",
        "",
        "",
        "",
        &counts.submitted.to_string(),
        "",
        "",
        "",
    ]);
    csv.row([
        "confirmed",
        "",
        "",
        "",
        &counts.confirmed.to_string(),
        "",
        "",
        &decimal(conversion_rate(counts)),
    ]);
    for o in outcomes {
        csv.row([
            "review",
            &o.code,
            o.severity.as_str(),
            "",
            &o.orders.to_string(),
            &o.findings.to_string(),
            "",
            "",
        ]);
    }
    csv
}

/// One row per stage, in lifecycle order.
#[must_use]
pub fn cycle_times(times: &[CycleTime]) -> Csv {
    let mut csv = Csv::new(&["stage", "orders", "median_hours", "p90_hours"]);
    for t in times {
        csv.row([
            stage_name(t.stage).to_owned(),
            t.orders.to_string(),
            decimal(t.median_hours),
            decimal(t.p90_hours),
        ]);
    }
    csv
}

/// One row.
#[must_use]
pub fn on_time_rate(counts: OnTime) -> Csv {
    let mut csv = Csv::new(&["delivered", "on_time", "late", "rate"]);
    csv.row([
        counts.delivered.to_string(),
        counts.on_time.to_string(),
        counts.late.to_string(),
        decimal(counts.rate),
    ]);
    csv
}

/// One row per entry and cost currency (the entry's other columns repeated), most exceptions
/// first; lessons joined with [`LESSON_SEPARATOR`].
#[must_use]
pub fn exception_pareto(entries: &[ParetoEntry]) -> Csv {
    let mut csv = Csv::new(&[
        "kind",
        "root_cause",
        "exceptions",
        "share",
        "cumulative_share",
        "currency",
        "cost_impact",
        "delay_days",
        "lessons_learned",
    ]);
    for e in entries {
        let lessons: Vec<String> = e.lessons.iter().map(|l| text(l)).collect();
        for (currency, cost) in per_currency(&e.cost_impact) {
            csv.row([
                e.kind.as_str().to_owned(),
                text(&e.root_cause),
                e.exceptions.to_string(),
                decimal(e.share),
                decimal(e.cumulative_share),
                currency,
                cost,
                e.delay_days.to_string(),
                lessons.join(LESSON_SEPARATOR),
            ]);
        }
    }
    csv
}

/// `(currency, amount)` cells per currency; one pair of empty cells when there is none, so the
/// row is not lost.
fn per_currency(amounts: &[(Currency, Decimal)]) -> Vec<(String, String)> {
    if amounts.is_empty() {
        return vec![(String::new(), String::new())];
    }
    amounts
        .iter()
        .map(|(c, a)| (c.to_string(), money(*a, *c)))
        .collect()
}

/// One row per currency of the exceptions' cost impact, the rates and the delay repeated; a
/// single row with empty `currency` and `cost_impact` when no exception was raised.
#[must_use]
pub fn quality_rates(rates: &QualityRates, cost: &[(Currency, Decimal)], delay_days: u64) -> Csv {
    let mut csv = Csv::new(&[
        "orders",
        "orders_with_change_requests",
        "change_requests",
        "change_request_rate",
        "orders_with_exceptions",
        "exceptions",
        "exception_rate",
        "delay_days",
        "currency",
        "cost_impact",
    ]);
    for (currency, amount) in per_currency(cost) {
        csv.row([
            rates.orders.to_string(),
            rates.orders_with_change_requests.to_string(),
            rates.change_requests.to_string(),
            decimal(rates.change_request_rate),
            rates.orders_with_exceptions.to_string(),
            rates.exceptions.to_string(),
            decimal(rates.exception_rate),
            delay_days.to_string(),
            currency,
            amount,
        ]);
    }
    csv
}

/// One row per currency, by currency code.
#[must_use]
pub fn receivables_aging(summaries: &[CashSummary]) -> Csv {
    let mut csv = Csv::new(&[
        "currency",
        "invoices",
        "invoiced",
        "payments",
        "collected",
        "open_invoices",
        "outstanding",
        "overdue",
        "current",
        "days_1_30",
        "days_31_60",
        "days_61_90",
        "over_90",
        "dso_days",
    ]);
    for s in summaries {
        let c = s.currency;
        let mut row = vec![
            c.to_string(),
            s.invoices.to_string(),
            money(s.invoiced, c),
            s.payments.to_string(),
            money(s.collected, c),
            s.open_invoices.to_string(),
            money(s.outstanding, c),
            money(s.overdue, c),
        ];
        row.extend(s.aging.iter().map(|a| money(*a, c)));
        row.push(decimal(s.dso_days));
        csv.row(row);
    }
    csv
}

/// One row per customer and currency, every customer (no `first` limit), in the field's order.
#[must_use]
pub fn rfm(entries: &[RfmEntry]) -> Csv {
    let mut csv = Csv::new(&[
        "customer_id",
        "currency",
        "recency_days",
        "orders",
        "value",
        "recency_score",
        "frequency_score",
        "monetary_score",
        "segment",
    ]);
    for e in entries {
        csv.row([
            e.customer_id.to_string(),
            e.currency.to_string(),
            e.recency_days.to_string(),
            e.orders.to_string(),
            money(e.value, e.currency),
            e.recency_score.to_string(),
            e.frequency_score.to_string(),
            e.monetary_score.to_string(),
            segment_name(e.segment).to_owned(),
        ]);
    }
    csv
}

/// One row per lapsed customer, most lapsed first.
#[must_use]
pub fn lapsed_customers(customers: &[LapsedCustomer]) -> Csv {
    let mut csv = Csv::new(&[
        "customer_id",
        "orders",
        "last_order_at",
        "average_interval_days",
        "days_since_last_order",
        "lapse_factor",
    ]);
    for c in customers {
        csv.row([
            c.customer_id.to_string(),
            c.orders.to_string(),
            instant(c.last_order_at),
            c.average_interval_days.to_string(),
            c.days_since_last_order.to_string(),
            c.lapse_factor.to_string(),
        ]);
    }
    csv
}

/// The overall figures first (empty `customer_id`), then one row per customer, latest payers
/// first.
#[must_use]
pub fn payment_behaviour(
    overall: &PaymentFigures,
    customers: &[(CustomerId, PaymentFigures)],
) -> Csv {
    let mut csv = Csv::new(&[
        "customer_id",
        "invoices_paid",
        "paid_on_time",
        "average_days_late",
        "on_time_share",
    ]);
    let row = |id: String, p: &PaymentFigures| {
        [
            id,
            p.invoices_paid.to_string(),
            p.paid_on_time.to_string(),
            decimal(p.average_days_late()),
            decimal(p.on_time_share()),
        ]
    };
    csv.row(row(String::new(), overall));
    for (id, figures) in customers {
        csv.row(row(id.to_string(), figures));
    }
    csv
}

/// One row per rep and currency (every currency the rep sold or invoiced in, by code; the
/// currency-free figures repeated), by rep id. A rep with figures in no currency (only
/// deliveries, say) gets one row with empty currency and money cells.
#[must_use]
pub fn rep_scorecards(cards: &[Scorecard]) -> Csv {
    let mut csv = Csv::new(&[
        "sales_rep_id",
        "currency",
        "orders",
        "value",
        "invoiced",
        "collected",
        "outstanding",
        "dso_days",
        "delivered",
        "on_time_rate",
        "change_request_rate",
        "exception_rate",
        "invoices_due",
        "invoices_collected",
        "collection_rate",
        "average_days_late",
    ]);
    for card in cards {
        let mut currencies: Vec<Currency> = card
            .sales
            .iter()
            .map(|(c, _, _)| *c)
            .chain(card.cash.iter().map(|s| s.currency))
            .collect();
        currencies.sort();
        currencies.dedup();
        let shared = [
            card.on_time.delivered.to_string(),
            decimal(card.on_time.rate),
            decimal(card.quality.change_request_rate),
            decimal(card.quality.exception_rate),
            card.invoices_due.to_string(),
            card.invoices_collected.to_string(),
            decimal(card.collection_rate),
            decimal(card.payments.average_days_late()),
        ];
        let per_currency: Vec<[String; 7]> = if currencies.is_empty() {
            vec![Default::default()]
        } else {
            currencies
                .iter()
                .map(|&c| {
                    let (orders, value) = card
                        .sales
                        .iter()
                        .find(|(sc, _, _)| *sc == c)
                        .map_or((0, Decimal::ZERO), |(_, o, v)| (*o, *v));
                    let cash = card.cash.iter().find(|s| s.currency == c);
                    let amount =
                        |f: fn(&CashSummary) -> Decimal| money(cash.map_or(Decimal::ZERO, f), c);
                    [
                        c.to_string(),
                        orders.to_string(),
                        money(value, c),
                        amount(|s| s.invoiced),
                        amount(|s| s.collected),
                        amount(|s| s.outstanding),
                        decimal(cash.and_then(|s| s.dso_days)),
                    ]
                })
                .collect()
        };
        for cells in per_currency {
            let mut row = vec![card.sales_rep_id.to_string()];
            row.extend(cells);
            row.extend(shared.iter().cloned());
            csv.row(row);
        }
    }
    csv
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::UserId;
    use domain::lifecycle::OrderStatus;
    use domain::review::Severity;
    use domain::tracking::ExceptionKind;

    use super::*;
    use crate::sales::Figures;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn figures(orders: u64, value: &str) -> Figures {
        Figures {
            orders,
            value: dec(value),
        }
    }

    #[test]
    fn fields_are_quoted_only_when_needed_with_quotes_doubled_and_rows_end_in_crlf() {
        let mut csv = Csv::new(&["a", "b"]);
        csv.row(["plain", "with, comma"]);
        csv.row(["say \"hi\"", "two\nlines"]);
        csv.row(["carriage\rreturn", ""]);
        assert_eq!(csv.rows(), 3);
        assert_eq!(
            csv.into_text(),
            "a,b\r\nplain,\"with, comma\"\r\n\"say \"\"hi\"\"\",\"two\nlines\"\r\n\"carriage\rreturn\",\r\n"
        );
    }

    #[test]
    fn an_empty_report_is_its_header_row() {
        assert_eq!(
            cycle_times(&[]).into_text(),
            "stage,orders,median_hours,p90_hours\r\n"
        );
    }

    #[test]
    fn money_is_padded_to_the_minor_units_of_its_currency_and_never_rounded() {
        let bucket = |day: &str, code: &str, value: &str| SalesBucket {
            start: day.parse().unwrap(),
            currency: cur(code),
            total: figures(2, value),
            open: figures(2, value),
            fulfilled: Figures::default(),
            cancelled: Figures::default(),
        };
        let buckets = [
            bucket("2026-11-23", "EUR", "21"),
            bucket("2026-11-23", "JPY", "2000"),
            bucket("2026-11-30", "EUR", "10.5"),
            bucket("2026-11-30", "KWD", "0.1255"),
        ];
        assert_eq!(
            sales_summary(&buckets).into_text(),
            "bucket_start,currency,orders,value,average_order_value,open_orders,open_value,\
             fulfilled_orders,fulfilled_value,cancelled_orders,cancelled_value\r\n\
             2026-11-23,EUR,2,21.00,10.50,2,21.00,0,0.00,0,0.00\r\n\
             2026-11-23,JPY,2,2000,1000,2,2000,0,0,0,0\r\n\
             2026-11-30,EUR,2,10.50,5.25,2,10.50,0,0.00,0,0.00\r\n\
             2026-11-30,KWD,2,0.1255,0.063,2,0.1255,0,0.000,0,0.000\r\n"
        );
    }

    #[test]
    fn pareto_rows_split_by_cost_currency_quote_root_causes_and_join_lessons() {
        let entries = [
            ParetoEntry {
                kind: ExceptionKind::Delay,
                root_cause: "supplier \"Acme\" late, again".to_owned(),
                exceptions: 3,
                share: Some(dec("0.75")),
                cumulative_share: Some(dec("0.75")),
                cost_impact: vec![(cur("EUR"), dec("10.5")), (cur("JPY"), dec("1000"))],
                delay_days: 6,
                lessons: vec!["order earlier".to_owned(), "second source".to_owned()],
            },
            ParetoEntry {
                kind: ExceptionKind::Other,
                root_cause: "=HYPERLINK(\"x\")".to_owned(),
                exceptions: 1,
                share: Some(dec("0.25")),
                cumulative_share: Some(dec("1")),
                cost_impact: vec![],
                delay_days: 0,
                lessons: vec![],
            },
        ];
        assert_eq!(
            exception_pareto(&entries).into_text(),
            "kind,root_cause,exceptions,share,cumulative_share,currency,cost_impact,delay_days,lessons_learned\r\n\
             DELAY,\"supplier \"\"Acme\"\" late, again\",3,0.75,0.75,EUR,10.50,6,order earlier | second source\r\n\
             DELAY,\"supplier \"\"Acme\"\" late, again\",3,0.75,0.75,JPY,1000,6,order earlier | second source\r\n\
             OTHER,\"'=HYPERLINK(\"\"x\"\")\",1,0.25,1,,,0,\r\n"
        );
    }

    #[test]
    fn absent_rates_are_empty_cells() {
        assert_eq!(
            on_time_rate(OnTime::default()).into_text(),
            "delivered,on_time,late,rate\r\n0,0,0,\r\n"
        );
        let times = [
            CycleTime {
                stage: Stage::SubmittedToConfirmed,
                orders: 2,
                median_hours: Some(dec("1.5")),
                p90_hours: Some(dec("30.25")),
            },
            CycleTime {
                stage: Stage::DeliveredToPaid,
                orders: 0,
                median_hours: None,
                p90_hours: None,
            },
        ];
        assert_eq!(
            cycle_times(&times).into_text(),
            "stage,orders,median_hours,p90_hours\r\n\
             SUBMITTED_TO_CONFIRMED,2,1.5,30.25\r\n\
             DELIVERED_TO_PAID,0,,\r\n"
        );
        assert_eq!(
            quality_rates(&QualityRates::default(), &[], 0).into_text(),
            "orders,orders_with_change_requests,change_requests,change_request_rate,\
             orders_with_exceptions,exceptions,exception_rate,delay_days,currency,cost_impact\r\n\
             0,0,0,,0,0,,0,,\r\n"
        );
    }

    #[test]
    fn the_pipeline_is_one_long_table_of_open_orders_conversion_and_review_outcomes() {
        let open = [OpenOrders {
            status: OrderStatus::Approved,
            currency: cur("EUR"),
            orders: 2,
            value: dec("2400"),
        }];
        let counts = ConversionCounts {
            submitted: 4,
            confirmed: 1,
        };
        let outcomes = [RuleOutcome {
            code: "DISCOUNT_ABOVE_AUTHORITY".to_owned(),
            severity: Severity::NeedsApproval,
            findings: 3,
            orders: 2,
        }];
        assert_eq!(
            pipeline(&open, counts, &outcomes).into_text(),
            "section,key,severity,currency,orders,findings,value,rate\r\n\
             open,APPROVED,,EUR,2,,2400.00,\r\n\
             submitted,,,,4,,,\r\n\
             confirmed,,,,1,,,0.25\r\n\
             review,DISCOUNT_ABOVE_AUTHORITY,NEEDS_APPROVAL,,2,3,,\r\n"
        );
    }

    #[test]
    fn receivables_list_every_aging_bucket_per_currency() {
        let eur = CashSummary {
            currency: cur("EUR"),
            invoices: 3,
            invoiced: dec("2000"),
            payments: 1,
            collected: dec("500"),
            open_invoices: 3,
            outstanding: dec("600"),
            overdue: dec("300"),
            aging: [dec("300"), dec("200"), dec("0"), dec("0"), dec("100")],
            dso_days: Some(dec("9.0")),
        };
        let jpy = CashSummary {
            currency: cur("JPY"),
            invoices: 0,
            invoiced: dec("0"),
            payments: 0,
            collected: dec("0"),
            open_invoices: 1,
            outstanding: dec("5000"),
            overdue: dec("0"),
            aging: [dec("5000"), dec("0"), dec("0"), dec("0"), dec("0")],
            dso_days: None,
        };
        assert_eq!(
            receivables_aging(&[eur, jpy]).into_text(),
            "currency,invoices,invoiced,payments,collected,open_invoices,outstanding,overdue,\
             current,days_1_30,days_31_60,days_61_90,over_90,dso_days\r\n\
             EUR,3,2000.00,1,500.00,3,600.00,300.00,300.00,200.00,0.00,0.00,100.00,9.0\r\n\
             JPY,0,0,0,0,1,5000,0,5000,0,0,0,0,\r\n"
        );
    }

    #[test]
    fn customer_reports_name_customers_by_id_and_instants_in_utc() {
        let entries = [RfmEntry {
            customer_id: CustomerId(7),
            currency: cur("EUR"),
            recency_days: 3,
            orders: 4,
            value: dec("99.9"),
            recency_score: 5,
            frequency_score: 4,
            monetary_score: 3,
            segment: Segment::Loyal,
        }];
        assert_eq!(
            rfm(&entries).into_text(),
            "customer_id,currency,recency_days,orders,value,recency_score,frequency_score,\
             monetary_score,segment\r\n7,EUR,3,4,99.90,5,4,3,LOYAL\r\n"
        );
        let lapsed = [LapsedCustomer {
            customer_id: CustomerId(7),
            orders: 3,
            last_order_at: Utc.with_ymd_and_hms(2026, 10, 2, 9, 30, 0).unwrap(),
            average_interval_days: dec("4.50"),
            days_since_last_order: dec("29.61"),
            lapse_factor: dec("6.58"),
        }];
        assert_eq!(
            lapsed_customers(&lapsed).into_text(),
            "customer_id,orders,last_order_at,average_interval_days,days_since_last_order,\
             lapse_factor\r\n7,3,2026-10-02T09:30:00Z,4.50,29.61,6.58\r\n"
        );
        let late = PaymentFigures {
            invoices_paid: 2,
            paid_on_time: 1,
            days_late: 5,
        };
        assert_eq!(
            payment_behaviour(&late, &[(CustomerId(7), late)]).into_text(),
            "customer_id,invoices_paid,paid_on_time,average_days_late,on_time_share\r\n\
             ,2,1,2.5,0.50\r\n7,2,1,2.5,0.50\r\n"
        );
        assert_eq!(
            payment_behaviour(&PaymentFigures::default(), &[]).into_text(),
            "customer_id,invoices_paid,paid_on_time,average_days_late,on_time_share\r\n,0,0,,\r\n"
        );
    }

    #[test]
    fn a_scorecard_has_one_row_per_currency_with_the_rates_repeated() {
        let cash = CashSummary {
            currency: cur("USD"),
            invoices: 1,
            invoiced: dec("100"),
            payments: 0,
            collected: dec("0"),
            open_invoices: 1,
            outstanding: dec("100"),
            overdue: dec("0"),
            aging: [dec("100"), dec("0"), dec("0"), dec("0"), dec("0")],
            dso_days: Some(dec("30.0")),
        };
        let card = Scorecard {
            sales_rep_id: UserId(3),
            sales: vec![(cur("EUR"), 2, dec("240"))],
            on_time: OnTime {
                delivered: 4,
                on_time: 3,
                late: 1,
                rate: Some(dec("0.75")),
            },
            quality: QualityRates {
                orders: 2,
                change_request_rate: Some(dec("0.5")),
                exception_rate: Some(dec("0")),
                ..QualityRates::default()
            },
            invoices_due: 0,
            invoices_collected: 0,
            collection_rate: None,
            payments: PaymentFigures::default(),
            cash: vec![cash],
        };
        let idle = Scorecard {
            sales_rep_id: UserId(4),
            sales: vec![],
            on_time: OnTime::default(),
            quality: QualityRates::default(),
            invoices_due: 0,
            invoices_collected: 0,
            collection_rate: None,
            payments: PaymentFigures::default(),
            cash: vec![],
        };
        assert_eq!(
            rep_scorecards(&[card, idle]).into_text(),
            "sales_rep_id,currency,orders,value,invoiced,collected,outstanding,dso_days,delivered,\
             on_time_rate,change_request_rate,exception_rate,invoices_due,invoices_collected,\
             collection_rate,average_days_late\r\n\
             3,EUR,2,240.00,0.00,0.00,0.00,,4,0.75,0.5,0,0,0,,\r\n\
             3,USD,0,0.00,100.00,0.00,100.00,30.0,4,0.75,0.5,0,0,0,,\r\n\
             4,,,,,,,,0,,,,0,0,,\r\n"
        );
    }
}

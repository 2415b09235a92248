//! The review configuration file (`--review-config`, TOML): a severity per rule and minimum
//! order amounts per currency. A mistake in it stops start-up with the file and line, because a
//! server that silently ignored a rule setting would approve orders the company meant to stop.
//!
//! ```toml
//! [severity]            # any rule code; INFO, NEEDS_APPROVAL, BLOCKER or OFF
//! LEAD_TIME = "INFO"
//! POSSIBLE_DUPLICATE = "BLOCKER"
//!
//! [minimum_amount]      # per ISO 4217 currency; amounts as strings (exact decimals) or integers
//! EUR = "250.00"
//! USD = 300
//!
//! [change_authority]    # per currency: how far a sales rep may move an order's total by
//! EUR = "500.00"        # approving a change request themselves (otherwise a manager decides)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use domain::money::Currency;
use domain::review::{ReviewPolicy, RuleCode, Severity};
use rust_decimal::Decimal;
use serde::Deserialize;
use toml::Spanned;

/// Why the review configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReviewConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read the review configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or says something invalid.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    severity: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    minimum_amount: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    change_authority: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// Reads and checks the configuration file.
///
/// # Errors
/// [`ReviewConfigError`] naming the file, and the line for anything wrong inside it.
pub fn load(path: &Path) -> Result<ReviewPolicy, ReviewConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReviewConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses configuration text; `path` only names the source in errors.
///
/// # Errors
/// [`ReviewConfigError::Invalid`] with the line of the first mistake.
pub fn parse(text: &str, path: &Path) -> Result<ReviewPolicy, ReviewConfigError> {
    let invalid = |offset: usize, message: String| ReviewConfigError::Invalid {
        path: path.to_owned(),
        line: line_of(text, offset),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| {
        invalid(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_owned(),
        )
    })?;
    let mut policy = ReviewPolicy::default();
    for (code, severity) in &file.severity {
        let rule = RuleCode::parse(code.get_ref())
            .map_err(|e| invalid(code.span().start, message_of(&e)))?;
        let level = match severity.get_ref().as_str() {
            "OFF" => None,
            "INFO" => Some(Severity::Info),
            "NEEDS_APPROVAL" => Some(Severity::NeedsApproval),
            "BLOCKER" => Some(Severity::Blocker),
            other => {
                return Err(invalid(
                    severity.span().start,
                    format!(
                        "severity `{other}` of {rule} is not INFO, NEEDS_APPROVAL, BLOCKER or OFF"
                    ),
                ));
            }
        };
        policy.set_severity(rule, level);
    }
    for (currency, amount) in &file.minimum_amount {
        let (code, value) = currency_amount(currency, amount, "minimum amount", &invalid)?;
        policy
            .set_minimum_amount(code, value)
            .map_err(|e| invalid(amount.span().start, message_of(&e)))?;
    }
    for (currency, amount) in &file.change_authority {
        let (code, value) = currency_amount(currency, amount, "change authority", &invalid)?;
        policy
            .set_rep_change_limit(code, value)
            .map_err(|e| invalid(amount.span().start, message_of(&e)))?;
    }
    Ok(policy)
}

/// One `CUR = "amount"` entry: a known currency and an exact amount (a string or an integer;
/// floating point would not be exact).
fn currency_amount(
    currency: &Spanned<String>,
    amount: &Spanned<toml::Value>,
    what: &str,
    invalid: &impl Fn(usize, String) -> ReviewConfigError,
) -> Result<(Currency, Decimal), ReviewConfigError> {
    let code = Currency::parse(currency.get_ref())
        .map_err(|e| invalid(currency.span().start, message_of(&e)))?;
    let value = match amount.get_ref() {
        toml::Value::String(s) => s.trim().parse::<Decimal>().map_err(|_| {
            invalid(
                amount.span().start,
                format!("{what} `{s}` for {code} is not a decimal number"),
            )
        })?,
        toml::Value::Integer(i) => Decimal::from(*i),
        _ => {
            return Err(invalid(
                amount.span().start,
                format!(
                    "{what} for {code} must be a string like \"250.00\" or an integer (floating point is not exact)"
                ),
            ));
        }
    };
    Ok((code, value))
}

fn message_of(error: &domain::ValidationError) -> String {
    match error {
        domain::ValidationError::Invalid { message, .. } => message.clone(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(1, |before| before.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<ReviewPolicy, ReviewConfigError> {
        parse(text, Path::new("review.toml"))
    }

    fn error_of(text: &str) -> String {
        parse_str(text).expect_err("must be refused").to_string()
    }

    #[test]
    fn an_empty_file_keeps_the_defaults() {
        assert_eq!(parse_str("").unwrap(), ReviewPolicy::default());
    }

    #[test]
    fn severities_and_minimums_are_applied() {
        let policy = parse_str(
            "[severity]\nLEAD_TIME = \"INFO\"\nPOSSIBLE_DUPLICATE = \"OFF\"\n\n[minimum_amount]\nEUR = \"250.50\"\nJPY = 30000\n",
        )
        .unwrap();
        assert_eq!(policy.severity(RuleCode::LeadTime), Some(Severity::Info));
        assert_eq!(policy.severity(RuleCode::PossibleDuplicate), None);
        assert_eq!(
            policy.severity(RuleCode::NoLines),
            Some(Severity::Blocker),
            "unnamed rules keep their default"
        );
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(policy.minimum_amount(eur), Some(Decimal::new(25050, 2)));
        assert_eq!(
            policy.minimum_amount(Currency::parse("JPY").unwrap()),
            Some(Decimal::from(30000))
        );
    }

    #[test]
    fn change_authority_is_read_per_currency_and_checked() {
        let policy = parse_str("[change_authority]\nEUR = \"500.00\"\n").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(policy.rep_change_limit(eur), Some(Decimal::new(50000, 2)));
        assert_eq!(
            policy.rep_change_limit(Currency::parse("USD").unwrap()),
            None
        );
        let message = error_of("[change_authority]\nEUR = 1.5\n");
        assert!(message.starts_with("review.toml:2: "), "{message}");
        assert!(message.contains("change authority for EUR"), "{message}");
        let message = error_of("[change_authority]\n\nEUR = \"-3\"\n");
        assert!(message.starts_with("review.toml:3: "), "{message}");
    }

    #[test]
    fn an_unknown_rule_code_names_file_and_line() {
        let message = error_of("[severity]\nLEAD_TIME = \"INFO\"\nCREDIT_LIMT = \"BLOCKER\"\n");
        assert!(message.starts_with("review.toml:3: "), "{message}");
        assert!(
            message.contains("unknown review rule `CREDIT_LIMT`"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_severity_names_file_and_line() {
        let message = error_of("\n[severity]\nLEAD_TIME = \"WARNING\"\n");
        assert!(message.starts_with("review.toml:3: "), "{message}");
        assert!(message.contains("`WARNING`"), "{message}");
    }

    #[test]
    fn malformed_toml_names_file_and_line() {
        let message = error_of("[severity]\nLEAD_TIME = \"INFO\"\nMINIMUM_AMOUNT = \n");
        assert!(message.starts_with("review.toml:3: "), "{message}");
        let message = error_of("[severty]\nLEAD_TIME = \"INFO\"\n");
        assert!(message.starts_with("review.toml:1: "), "{message}");
        assert!(message.contains("severty"), "{message}");
    }

    #[test]
    fn bad_minimum_amounts_are_refused_with_their_line() {
        let message = error_of("[minimum_amount]\nEUR = 99.5\n");
        assert!(message.starts_with("review.toml:2: "), "{message}");
        assert!(message.contains("not exact"), "{message}");
        let message = error_of("[minimum_amount]\nEUR = \"-5\"\n");
        assert!(message.starts_with("review.toml:2: "), "{message}");
        let message = error_of("[minimum_amount]\nEURO = \"5\"\n");
        assert!(message.starts_with("review.toml:2: "), "{message}");
        let message = error_of("[minimum_amount]\nEUR = \"five\"\n");
        assert!(message.contains("not a decimal"), "{message}");
    }
}

//! Users, roles and who may see what.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::{CustomerId, UserId};

/// What a user is allowed to do, coarse-grained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Sees and does everything.
    Admin,
    /// Sees the team's customers and orders; approves, rejects, cancels confirmed orders.
    Manager,
    /// A sales rep: sees and works the customers and orders they own.
    Sales,
    /// A login of a customer company: sees only that company's orders.
    Customer,
}

impl Role {
    /// The stable upper-case name used in storage, tokens and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "ADMIN",
            Role::Manager => "MANAGER",
            Role::Sales => "SALES",
            Role::Customer => "CUSTOMER",
        }
    }

    /// Parses the upper-case name (case-insensitive).
    ///
    /// # Errors
    /// `ValidationError::Invalid` for an unknown role.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text.to_ascii_uppercase().as_str() {
            "ADMIN" => Ok(Role::Admin),
            "MANAGER" => Ok(Role::Manager),
            "SALES" => Ok(Role::Sales),
            "CUSTOMER" => Ok(Role::Customer),
            _ => Err(ValidationError::invalid(
                "role",
                format!("`{text}` is not one of ADMIN, MANAGER, SALES, CUSTOMER"),
            )),
        }
    }

    /// Whether the role may approve, reject and cancel confirmed orders.
    #[must_use]
    pub fn is_manager_or_admin(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syntactically plausible, lower-cased e-mail address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and lower-cases an address.
    ///
    /// # Errors
    /// `ValidationError::Invalid` when it has no `@`, no domain, spaces, or is over 254 characters.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let text = text.trim();
        let valid = text.len() <= 254
            && !text.chars().any(char::is_whitespace)
            && matches!(text.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        if !valid {
            return Err(ValidationError::invalid(
                "email",
                format!("`{text}` is not an e-mail address"),
            ));
        }
        Ok(Self(text.to_lowercase()))
    }

    /// The address.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user of orderdesk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Identity.
    pub id: UserId,
    /// Unique login e-mail.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The user's manager (for sales reps), which defines the manager's team.
    pub manager_id: Option<UserId>,
    /// The company a CUSTOMER user belongs to.
    pub customer_id: Option<CustomerId>,
    /// Highest line discount, in percent, the user may grant without approval.
    pub discount_authority: Decimal,
    /// Argon2 PHC string; `None` for users who can only get tokens from the CLI.
    pub password_hash: Option<String>,
}

/// Input to create a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// Unique login e-mail.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// The user's manager.
    pub manager_id: Option<UserId>,
    /// The company of a CUSTOMER user (required for that role).
    pub customer_id: Option<CustomerId>,
    /// Discount authority in percent.
    pub discount_authority: Decimal,
    /// Argon2 PHC string, already hashed by the caller.
    pub password_hash: Option<String>,
}

impl NewUser {
    /// Checks the cross-field rules: a CUSTOMER user belongs to a customer, others do not.
    ///
    /// # Errors
    /// `ValidationError::Invalid` naming the field that breaks a rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.name.trim().is_empty() {
            return Err(ValidationError::invalid("name", "must not be empty"));
        }
        match (self.role, self.customer_id) {
            (Role::Customer, None) => Err(ValidationError::invalid(
                "customer",
                "a CUSTOMER user must belong to a customer",
            )),
            (Role::Admin | Role::Manager | Role::Sales, Some(_)) => Err(ValidationError::invalid(
                "customer",
                "only CUSTOMER users belong to a customer",
            )),
            _ => Ok(()),
        }
    }
}

/// The authenticated caller of a command or query, as the API established it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub user_id: UserId,
    /// In which role.
    pub role: Role,
    /// For CUSTOMER users, their company.
    pub customer_id: Option<CustomerId>,
}

/// The facts about an order or customer that decide who may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// The customer the record belongs to.
    pub customer_id: CustomerId,
    /// The owning sales rep.
    pub sales_rep_id: UserId,
    /// The owning rep's manager, if any.
    pub rep_manager_id: Option<UserId>,
}

impl Actor {
    /// Whether this actor may see a record with the given ownership (DESIGN.md "Users").
    #[must_use]
    pub fn can_see(&self, owner: &Ownership) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Manager => {
                owner.sales_rep_id == self.user_id || owner.rep_manager_id == Some(self.user_id)
            }
            Role::Sales => owner.sales_rep_id == self.user_id,
            Role::Customer => self.customer_id == Some(owner.customer_id),
        }
    }

    /// Whether [`Actor::can_see`] on a record of this rep depends on who manages the rep: only
    /// a manager's view of another rep's record does. Callers that would have to read the
    /// manager from storage (a live feed deciding on an event) skip the read when it does not.
    #[must_use]
    pub fn needs_rep_manager(&self, sales_rep_id: UserId) -> bool {
        self.role == Role::Manager && sales_rep_id != self.user_id
    }

    /// The visibility scope for list queries, evaluated by the repository in SQL.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin => Scope::All,
            Role::Manager => Scope::Team(self.user_id),
            Role::Sales => Scope::Rep(self.user_id),
            Role::Customer => match self.customer_id {
                Some(customer) => Scope::Customer(customer),
                None => Scope::Nothing,
            },
        }
    }
}

/// Which records a list query may return; the repository MUST apply it in the query itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything.
    All,
    /// Records owned by this manager or by reps whose manager is this user.
    Team(UserId),
    /// Records owned by this rep.
    Rep(UserId),
    /// Records of this customer.
    Customer(CustomerId),
    /// Nothing (a misconfigured account).
    Nothing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Ownership {
        Ownership {
            customer_id: CustomerId(7),
            sales_rep_id: UserId(2),
            rep_manager_id: Some(UserId(1)),
        }
    }

    fn actor(id: i64, role: Role, customer: Option<i64>) -> Actor {
        Actor {
            user_id: UserId(id),
            role,
            customer_id: customer.map(CustomerId),
        }
    }

    #[test]
    fn visibility_follows_ownership_and_team() {
        let o = owner();
        assert!(actor(99, Role::Admin, None).can_see(&o));
        assert!(actor(1, Role::Manager, None).can_see(&o));
        assert!(!actor(5, Role::Manager, None).can_see(&o));
        assert!(actor(2, Role::Sales, None).can_see(&o));
        assert!(!actor(3, Role::Sales, None).can_see(&o));
        assert!(actor(50, Role::Customer, Some(7)).can_see(&o));
        assert!(!actor(50, Role::Customer, Some(8)).can_see(&o));
    }

    proptest::proptest! {
        /// When `needs_rep_manager` says no, any manager (or none) gives the same answer.
        #[test]
        fn the_rep_manager_matters_only_when_it_is_said_to(
            user in 1i64..6,
            role in proptest::sample::select(vec![Role::Admin, Role::Manager, Role::Sales, Role::Customer]),
            customer in 1i64..4,
            owner_customer in 1i64..4,
            rep in 1i64..6,
            manager in proptest::option::of(1i64..6),
        ) {
            let actor = actor(user, role, (role == Role::Customer).then_some(customer));
            let owner = |rep_manager_id| Ownership {
                customer_id: CustomerId(owner_customer),
                sales_rep_id: UserId(rep),
                rep_manager_id,
            };
            if !actor.needs_rep_manager(UserId(rep)) {
                proptest::prop_assert_eq!(
                    actor.can_see(&owner(manager.map(UserId))),
                    actor.can_see(&owner(None))
                );
            } else {
                // A manager sees another rep's record exactly when they manage that rep.
                proptest::prop_assert!(actor.can_see(&owner(Some(UserId(user)))));
                proptest::prop_assert!(!actor.can_see(&owner(None)));
            }
        }
    }

    #[test]
    fn emails_are_validated_and_lower_cased() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a b@x.com",
            "ann@com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn customer_users_must_belong_to_a_customer() {
        let mut user = NewUser {
            email: Email::parse("c@x.com").unwrap(),
            name: "C".into(),
            role: Role::Customer,
            manager_id: None,
            customer_id: None,
            discount_authority: Decimal::ZERO,
            password_hash: None,
        };
        assert!(user.validate().is_err());
        user.customer_id = Some(CustomerId(1));
        assert!(user.validate().is_ok());
        user.role = Role::Sales;
        assert!(user.validate().is_err());
    }
}

//! Identifiers. Each entity has its own newtype so an order id can never be passed as a customer id.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The raw database key.
            #[must_use]
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Identifies a user (sales rep, manager, admin or customer login).
    UserId
);
id_type!(
    /// Identifies a customer company.
    CustomerId
);
id_type!(
    /// Identifies a product.
    ProductId
);
id_type!(
    /// Identifies an order.
    OrderId
);

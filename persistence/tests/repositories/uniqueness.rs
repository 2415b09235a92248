//! Unique fields: a taken e-mail or SKU is a `Duplicate` naming the field, and nothing is written.

use domain::ports::{ProductRepository, RepoError, UserRepository};
use domain::user::{Email, NewUser, Role};
use persistence::Store;

use crate::fixtures::{at, currency, dec, details, new_product, new_user};

backend_tests!(taken_emails_and_skus_are_duplicates);

async fn taken_emails_and_skus_are_duplicates(store: Store) {
    let ann = new_user(&store, "ann@desk.example", Role::Sales, None).await;
    let err = store
        .create_user(NewUser {
            // Addresses are compared lower-cased.
            email: Email::parse("Ann@Desk.Example").unwrap(),
            name: "Another Ann".to_owned(),
            role: Role::Manager,
            manager_id: None,
            customer_id: None,
            discount_authority: dec("0"),
            password_hash: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepoError::Duplicate {
            field: "email",
            value: "ann@desk.example".to_owned(),
        }
    );
    let email = Email::parse("ann@desk.example").unwrap();
    assert_eq!(store.user_by_email(&email).await.unwrap(), Some(ann));

    let widget = new_product(&store, "WID-1", "19.99").await;
    let err = store
        .create_product(details("wid-1", dec("5"), currency("EUR")), at(1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RepoError::Duplicate {
            field: "sku",
            value: "WID-1".to_owned(),
        }
    );

    // Renaming another product to the taken SKU is refused the same way and changes nothing.
    let gadget = new_product(&store, "GAD-2", "7").await;
    let err = store
        .update_product(
            gadget.id,
            gadget.version,
            details("WID-1", dec("7"), currency("EUR")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RepoError::Duplicate { field: "sku", .. }),
        "{err:?}"
    );
    let mut products = store
        .products_by_ids(&[widget.id, gadget.id])
        .await
        .unwrap();
    products.sort_by_key(|p| p.id);
    assert_eq!(products, vec![widget, gadget]);
}

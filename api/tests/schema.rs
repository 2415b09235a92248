//! The committed SDL is the API's contract: it must match the code, and document every type and field.

use async_graphql::Request;

const COMMITTED: &str = include_str!("../schema.graphql");

#[test]
fn the_committed_sdl_matches_the_code() {
    let current = api::graphql::sdl();
    if current != COMMITTED {
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"),
                &current,
            )
            .unwrap();
            return;
        }
        panic!(
            "api/schema.graphql is out of date: run `UPDATE_SCHEMA=1 cargo test -p api --test schema` and commit it"
        );
    }
}

#[tokio::test]
async fn every_type_field_argument_and_enum_value_has_a_description() {
    let schema = async_graphql::Schema::build(
        api::graphql::QueryRoot::default(),
        api::graphql::MutationRoot::default(),
        api::graphql::SubscriptionRoot,
    )
    .finish();
    let response = schema
        .execute(Request::new(
            "{ __schema { types { name kind description
                 fields { name description args { name description } }
                 inputFields { name description }
                 enumValues { name description } } } }",
        ))
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let json = response.data.into_json().unwrap();
    let mut missing = Vec::new();
    let described = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    for ty in json["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        // Built-in scalars and introspection types are documented by the GraphQL spec.
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        // async-graphql's generated `XConnection` types have no description hook; their fields
        // (edges, nodes, pageInfo) are documented and follow the Relay specification.
        if !described(ty) && !name.ends_with("Connection") {
            missing.push(name.to_owned());
        }
        for key in ["fields", "inputFields", "enumValues"] {
            for member in ty[key].as_array().into_iter().flatten() {
                if !described(member) {
                    missing.push(format!("{name}.{}", member["name"].as_str().unwrap()));
                }
                for arg in member["args"].as_array().into_iter().flatten() {
                    if !described(arg) {
                        missing.push(format!(
                            "{name}.{}({})",
                            member["name"].as_str().unwrap(),
                            arg["name"].as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

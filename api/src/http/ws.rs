//! Websocket subscriptions (graphql-transport-ws and legacy graphql-ws). The token travels in the
//! `connection_init` payload: `{ "authorization": "Bearer ..." }`.

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::WebSocketUpgrade;
use axum::response::Response;

use super::AppState;
use super::auth::Auth;
use crate::graphql::loaders::loaders;

pub fn serve(upgrade: WebSocketUpgrade, protocol: GraphQLProtocol, state: AppState) -> Response {
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let services = state.services.clone();
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| async move {
                    let header = ["authorization", "Authorization"]
                        .iter()
                        .find_map(|key| payload.get(key).and_then(|v| v.as_str()));
                    let auth = services.jwt.from_bearer(header);
                    match &auth {
                        Auth::User(_) => {}
                        Auth::Anonymous => {
                            return Err(async_graphql::Error::new(
                                "connection_init needs {\"authorization\": \"Bearer <token>\"}",
                            ));
                        }
                        Auth::Invalid(reason) => {
                            return Err(async_graphql::Error::new(reason.clone()));
                        }
                    }
                    let mut data = Data::default();
                    data.insert(auth);
                    data.insert(loaders(&services.store));
                    Ok(data)
                })
                .serve()
        })
}

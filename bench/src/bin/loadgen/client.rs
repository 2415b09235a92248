//! One HTTP/1.1 keep-alive connection, on hyper's low-level client: no pool, no proxy lookup, no
//! redirects. The load generator runs on a single core next to the server's, so every
//! microsecond it spends per request is a microsecond it cannot spend sending.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go, parsed once from `--url`.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port`, to connect to.
    pub address: String,
    /// The `Host` header.
    host: HeaderValue,
    /// The request target (`/graphql`).
    path: Uri,
    /// The same endpoint as a websocket URL (`ws://host:port/graphql`).
    pub ws_url: String,
}

impl Target {
    /// Parses `http://host:port/path`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("--url `{url}`: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "--url `{url}`: only plain http:// is supported (the benchmark runs on 127.0.0.1)"
            ));
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--url `{url}` has no host"))?;
        let port = authority.port_u16().unwrap_or(80);
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        Ok(Self {
            address: format!("{}:{port}", authority.host()),
            host: HeaderValue::from_str(authority.as_str())
                .map_err(|e| format!("--url `{url}`: {e}"))?,
            path: path_and_query
                .parse()
                .map_err(|e| format!("--url `{url}`: {e}"))?,
            ws_url: format!("ws://{authority}{path_and_query}"),
        })
    }
}

/// An open keep-alive connection that POSTs JSON bodies.
pub struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    path: Uri,
    authorization: Option<HeaderValue>,
}

impl HttpConnection {
    /// Connects (TCP_NODELAY: a request is one small write that must not wait for an ACK).
    pub async fn open(target: &Target, token: Option<&str>) -> Result<Self, String> {
        let stream = TcpStream::connect(&target.address)
            .await
            .map_err(|e| format!("connect to {}: {e}", target.address))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {}: {e}", target.address))?;
        // The connection task drives the socket; it ends when `sender` is dropped or the server
        // closes, and a later `post` then reports the error.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let authorization = token
            .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
            .transpose()
            .map_err(|e| format!("--token is not a valid header value: {e}"))?;
        Ok(Self {
            sender,
            host: target.host.clone(),
            path: target.path.clone(),
            authorization,
        })
    }

    /// POSTs `body` as `application/json`; returns the status and the whole answer.
    pub async fn post(&mut self, body: Bytes) -> Result<(u16, Bytes), String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let mut request = Request::post(self.path.clone())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| format!("build request: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_gives_address_host_path_and_websocket_url() {
        let target = Target::parse("http://127.0.0.1:8080/graphql").expect("valid");
        assert_eq!(target.address, "127.0.0.1:8080");
        assert_eq!(target.host, "127.0.0.1:8080");
        assert_eq!(target.path, "/graphql");
        assert_eq!(target.ws_url, "ws://127.0.0.1:8080/graphql");

        let bare = Target::parse("http://localhost").expect("valid");
        assert_eq!(bare.address, "localhost:80");
        assert_eq!(bare.path, "/");
    }

    #[test]
    fn only_plain_http_is_accepted() {
        assert!(Target::parse("https://example.com/graphql").is_err());
        assert!(Target::parse("127.0.0.1:8080").is_err());
    }
}

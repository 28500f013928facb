//! Who may call a server on this machine: `commander serve` and `commander proxy` both act for
//! the operator who runs them (the one changes the local fleet, the other signs with their AWS
//! credentials), and a web page the operator happens to visit can send requests to loopback.
//! Two attacks follow, and two rules stop them:
//! - DNS rebinding: a page on `evil.example` rebinds that name to 127.0.0.1 and reads and writes
//!   the server as its own origin. The request's `Host` then names `evil.example`, so only a `Host`
//!   naming this server's port by `localhost` or an IP address is admitted (a rebinding page
//!   cannot make the browser send an IP literal it did not load from).
//! - Cross-site requests (CSRF): a page on another site posts a form or a `fetch` to the server.
//!   The browser marks those with `Origin` and `Sec-Fetch-Site`, so a request whose `Origin` is
//!   not the `Host` it was sent to, or that a browser marks as cross-site, is refused.
//!
//! Requests without those headers (curl, the CLI, agents) carry no browser's authority and are
//! admitted on the `Host` rule alone.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What a server admits: requests for its own port.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    port: u16,
    /// Only loopback names (`127.0.0.1`, `localhost`, `[::1]`): the proxy, which must never be
    /// reached from another machine. Otherwise any IP literal too (a server bound to a LAN
    /// address, reached by it).
    loopback_only: bool,
}

/// Why a request was not admitted, as the API's problem.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, detail: String) -> Self {
        Self { status, code, detail }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        problem(self.status, self.code, self.detail)
    }
}

/// A refusal in the API's problem shape.
pub fn problem(status: StatusCode, code: &'static str, detail: String) -> Response {
    let body = api::Problem {
        problem_type: "about:blank",
        title: status.canonical_reason().unwrap_or_default().to_owned(),
        status: status.as_u16(),
        detail,
        code,
        field: None,
        // Refused before the API sees it: a request id of its own, as the API's problems carry.
        request_id: Some(uuid::Uuid::new_v4().to_string()),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    response
}

impl Admission {
    /// Loopback names only, on `port`.
    pub fn loopback(port: u16) -> Self {
        Self { port, loopback_only: true }
    }

    /// Loopback names and IP literals, on `port`.
    pub fn by_address(port: u16) -> Self {
        Self { port, loopback_only: false }
    }

    fn host_allowed(self, host: &str) -> bool {
        let Some((name, port)) = host.rsplit_once(':') else { return false };
        if port != self.port.to_string() {
            return false;
        }
        if matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            return true;
        }
        let literal = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
        !self.loopback_only && literal.parse::<std::net::IpAddr>().is_ok()
    }

    /// Admits a request for this server sent by this machine's user, not by another site.
    pub fn admit(self, headers: &HeaderMap) -> Result<(), Refusal> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
        if !self.host_allowed(host) {
            let names =
                if self.loopback_only { "127.0.0.1 or localhost" } else { "localhost or an IP address" };
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "not_loopback",
                format!("this server answers only requests for {names}, port {}", self.port),
            ));
        }
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        if origin.is_some_and(|o| o != format!("http://{host}")) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "cross_site",
                "a page from another site may not call this server".into(),
            ));
        }
        let fetch_site = headers.get("sec-fetch-site").and_then(|s| s.to_str().ok());
        if fetch_site.is_some_and(|s| s != "same-origin" && s != "none") {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "cross_site",
                "a request from another site may not call this server".into(),
            ));
        }
        Ok(())
    }
}

/// The rules as a middleware (`axum::middleware::from_fn_with_state`).
pub async fn admit(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    match admission.admit(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")));
        }
        map
    }

    #[test]
    fn only_this_machines_own_requests_are_admitted() {
        type Case<'a> = (&'a [(&'static str, &'a str)], bool, bool);
        let cases: [Case<'_>; 14] = [
            // (headers, admitted by a loopback-only server, admitted by an address-bound one)
            (&[("host", "127.0.0.1:3000")], true, true),
            (&[("host", "localhost:3000")], true, true),
            (&[("host", "[::1]:3000")], true, true),
            (&[("host", "192.168.1.4:3000")], false, true),
            (&[("host", "[fe80::1]:3000")], false, true),
            (&[("host", "evil.example:3000")], false, false),
            (&[("host", "localhost.evil.example:3000")], false, false),
            (&[("host", "127.0.0.1:3001")], false, false),
            (&[("host", "127.0.0.1")], false, false),
            (&[], false, false),
            (&[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")], true, true),
            (&[("host", "127.0.0.1:3000"), ("origin", "https://evil.example")], false, false),
            (&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "cross-site")], false, false),
            (&[("host", "127.0.0.1:3000"), ("sec-fetch-site", "same-origin")], true, true),
        ];
        for (pairs, loopback, by_address) in cases {
            let h = headers(pairs);
            assert_eq!(Admission::loopback(3000).admit(&h).is_ok(), loopback, "loopback-only: {pairs:?}");
            assert_eq!(Admission::by_address(3000).admit(&h).is_ok(), by_address, "by address: {pairs:?}");
        }
    }
}

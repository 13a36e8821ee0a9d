//! Outgoing HTTP: the one place that sets up TLS (the ring provider, the system's trust
//! store) and the user agent, for everything castd fetches or uploads; and, in
//! [`destination`], where a request whose URL a user chose may go.

pub mod destination;

use std::sync::Once;

/// Makes ring the TLS provider of the process (once; later calls are no-ops). Must run
/// before any HTTP client is built.
pub fn install_tls() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client builder with TLS set up and castd's user agent.
pub fn builder() -> reqwest::ClientBuilder {
    install_tls();
    reqwest::Client::builder().user_agent(concat!("castd/", env!("CARGO_PKG_VERSION")))
}

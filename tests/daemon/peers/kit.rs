//! What the protocol peers share: a router served on loopback for as long as its peer
//! lives, the record of violations a test asserts is empty, and failures injected on
//! purpose.

use axum::Router;

/// A router served on 127.0.0.1; stops when dropped.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    handle: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Binds a free port and serves the router `app` builds for that origin.
    pub async fn start(app: impl FnOnce(&str) -> Router) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let app = app(&origin);
        let handle = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server { origin, handle }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// What the peer refused that the real service would have refused too.
#[derive(Default)]
pub struct Violations(Vec<String>);

impl Violations {
    /// Records a violation; returns its text for the error answer.
    pub fn record(&mut self, what: String) -> String {
        self.0.push(what.clone());
        what
    }

    pub fn list(&self) -> Vec<String> {
        self.0.clone()
    }
}

/// The next `n` calls of one kind fail on purpose (a server error, as the real service
/// sometimes answers).
#[derive(Default)]
pub struct FailNext {
    left: usize,
    failed: usize,
}

impl FailNext {
    pub fn arm(&mut self, n: usize) {
        self.left = n;
    }

    /// Whether this call is one to fail (and counts it).
    pub fn fire(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        self.failed += 1;
        true
    }

    pub fn failed(&self) -> usize {
        self.failed
    }
}

//! A real castd process for tests: the built binary on 127.0.0.1:0 with a temporary data
//! directory, and an HTTP client that speaks to it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[path = "../support/probe.rs"]
pub mod probe;

pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// Throttling limits high enough that tests sending many wrong passwords on purpose (the
/// permission matrix) are not locked out; throttle tests pass their own.
/// Inputs are not kept hot by default in tests: a dozen daemons each running a pipeline
/// while idle would compete for the machine's cores. Tests of hot starts turn it on.
/// The maintenance commands only append their time (ns since the epoch) to a file in the
/// data directory (`{data_dir}` is replaced when the config is written): a test never
/// reboots the machine.
pub const RELAXED_AUTH: &str = "[auth]\nmax_failures_per_address = 1000000\nmax_failures_per_user = 1000000\n\
    [capture]\nkeep_inputs_hot = false\n\
    [maintenance]\n\
    reboot_command = ['/bin/sh', '-c', 'date +%s%N >> \"$0\"', '{data_dir}/reboot-command-ran']\n\
    restart_command = ['/bin/sh', '-c', 'date +%s%N >> \"$0\"', '{data_dir}/restart-command-ran']\n";

pub struct TestDaemon {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    client: reqwest::Client,
}

pub struct Options {
    pub admin_password: Option<String>,
    pub config_toml: String,
    pub args: Vec<String>,
    /// Extra environment for the daemon (debug-build test hooks).
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            admin_password: Some(ADMIN_PASSWORD.to_string()),
            config_toml: RELAXED_AUTH.to_string(),
            args: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// Starts the binary on `data_dir`; `Err` carries the exit status and stderr when it does
/// not come up.
pub fn spawn(data_dir: &Path, options: &Options) -> Result<(Child, String), (ExitStatus, String)> {
    std::fs::create_dir_all(data_dir).unwrap();
    let config = data_dir.join("test-castd.toml");
    let toml = options
        .config_toml
        .replace("{data_dir}", &data_dir.to_string_lossy());
    std::fs::write(&config, toml).unwrap();
    let stderr_path = data_dir.join("castd.stderr");
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&stderr_path)
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_castd"));
    cmd.arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(&config)
        .args(&options.args)
        .env_remove("CASTD_ADMIN_PASSWORD")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("JOURNAL_STREAM")
        .env("CASTD_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    if !options.args.iter().any(|a| a == "--devices") {
        cmd.arg("--devices").arg("test");
    }
    if let Some(pw) = &options.admin_password {
        cmd.env("CASTD_ADMIN_PASSWORD", pw);
    }
    cmd.envs(options.env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn().expect("spawn castd");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().and_then(Result::ok);
        let _ = tx.send(first);
        // Anything more on stdout breaks the contract; keep draining so the child never blocks.
        for line in lines.map_while(Result::ok) {
            eprintln!("castd stdout (unexpected): {line}");
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Some(line)) => {
            let url = line
                .strip_prefix("castd listening on ")
                .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"))
                .to_string();
            Ok((child, url))
        }
        _ => {
            let status =
                wait_with_timeout(&mut child, Duration::from_secs(10)).unwrap_or_else(|| {
                    let _ = child.kill();
                    child.wait().unwrap()
                });
            Err((
                status,
                std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            ))
        }
    }
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn signal(child: &Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

impl TestDaemon {
    pub async fn start() -> TestDaemon {
        TestDaemon::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestDaemon {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = temp.path().join("data");
        let mut daemon = TestDaemon::start_in(&data_dir, &options);
        daemon._temp = Some(temp);
        daemon
    }

    /// Starts on an existing data directory (which the caller keeps).
    pub fn start_in(data_dir: &Path, options: &Options) -> TestDaemon {
        let (child, url) = spawn(data_dir, options)
            .unwrap_or_else(|(status, stderr)| panic!("castd did not start ({status}):\n{stderr}"));
        TestDaemon {
            child: Some(child),
            url,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            client: castd::http_client::builder().build().unwrap(),
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("castd.stderr")).unwrap_or_default()
    }

    pub fn child(&self) -> &Child {
        self.child.as_ref().unwrap()
    }

    /// SIGTERM, then waits up to `timeout` for the exit.
    pub fn stop_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal(&child, nix::sys::signal::Signal::SIGTERM);
        let status = wait_with_timeout(&mut child, timeout);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status
    }

    pub fn request(&self, method: Method, path: &str) -> Request {
        Request {
            builder: self.client.request(method, format!("{}{}", self.url, path)),
        }
    }

    pub fn get(&self, path: &str) -> Request {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Request {
        self.request(Method::POST, path)
    }

    pub fn delete(&self, path: &str) -> Request {
        self.request(Method::DELETE, path)
    }

    /// A form posted as the admin: the shape of most state-changing calls.
    pub async fn admin_post(&self, path: &str, pairs: &[(&str, &str)]) -> Reply {
        self.post(path).admin().form(pairs).send().await
    }

    /// Creates a user with one role; returns its id.
    pub async fn create_user(&self, name: &str, role: &str, password: &str) -> i64 {
        let user = serde_json::json!({"username": name, "roles": [role]}).to_string();
        let reply = self
            .post("/api/1/users")
            .admin()
            .form(&[("user", user.as_str()), ("password", password)])
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body["id"].as_i64().unwrap()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request being built; answers are read fully.
pub struct Request {
    builder: reqwest::RequestBuilder,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}

impl Request {
    pub fn auth(self, user: &str, password: &str) -> Self {
        Request {
            builder: self.builder.basic_auth(user, Some(password)),
        }
    }

    pub fn admin(self) -> Self {
        self.auth("admin", ADMIN_PASSWORD)
    }

    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        Request {
            builder: self.builder.form(pairs),
        }
    }

    /// A body sent exactly as given, with the given Content-Type.
    pub fn raw(self, content_type: &str, body: impl Into<reqwest::Body>) -> Self {
        Request {
            builder: self
                .builder
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        }
    }

    pub fn header(self, name: &str, value: &str) -> Self {
        Request {
            builder: self.builder.header(name, value),
        }
    }

    /// The answer's body as bytes (for images), asserting success.
    pub async fn send_bytes(self) -> Vec<u8> {
        let response = self.builder.send().await.expect("request reaches castd");
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap().to_vec()
    }

    /// Like `send`, except that an event stream (which never ends) is not read: the reply
    /// has its status and headers, and the connection is dropped.
    pub async fn send_unless_stream(self) -> Reply {
        let response = self.builder.send().await.expect("request reaches castd");
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_stream {
            return Reply::read(response).await;
        }
        Reply {
            status: response.status(),
            headers: response.headers().clone(),
            text: String::new(),
            body: Value::Null,
        }
    }

    /// The answer, unread, for tests that read a stream as it comes.
    pub async fn send_streaming(self) -> reqwest::Response {
        self.builder.send().await.expect("request reaches castd")
    }

    pub async fn send(self) -> Reply {
        let response = self.builder.send().await.expect("request reaches castd");
        Reply::read(response).await
    }
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }
}

/// Saves a light template (test camera and microphone, fastest encoder) under `id`, so many
/// short recordings stay cheap; `kbps` sets the video bitrate.
pub async fn save_light_template(d: &TestDaemon, id: &str, width: u32, height: u32, kbps: u32) {
    let template = json!({
        "id": id, "name": id,
        "graph": {"root": "recording", "nodes": [
            {"id": "camera", "type": "videoDevice", "options": {"width": width, "height": height, "framerate": 30}, "children": ["video"]},
            {"id": "microphone", "type": "audioDevice", "children": ["audio"]},
            {"id": "video", "type": "h264Encoder", "options": {"bitrate": kbps, "preset": "ultrafast", "keyframeInterval": 2}, "children": ["recording"]},
            {"id": "audio", "type": "aacEncoder", "options": {"bitrate": 64000}, "children": ["recording"]},
            {"id": "recording", "type": "fileRecorder"}
        ]}
    })
    .to_string();
    let reply = d
        .post("/api/1/capture/templates")
        .admin()
        .form(&[("template", template.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// The main recording of a package made from a light template.
pub fn main_file(package: &Value) -> PathBuf {
    Path::new(package["root"].as_str().unwrap())
        .join(package["outputs"]["recording"]["file"].as_str().unwrap())
}

/// An ffprobe number (given as a string) in seconds; NaN when absent.
pub fn seconds(v: &Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores a publisher's configuration (must be accepted); the answer, secrets masked.
pub async fn configure_publisher(d: &TestDaemon, publisher: &str, config: Value) -> Value {
    let text = config.to_string();
    let reply = d
        .post(&format!(
            "/api/1/capture/publishing/configurations/{publisher}"
        ))
        .admin()
        .form(&[("config", text.as_str())])
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body
}

/// The publish jobs of a package.
pub async fn publish_jobs(d: &TestDaemon, package_id: &str) -> Vec<Value> {
    let reply = d
        .get(&format!(
            "/api/1/capture/publishing/jobs?mediaPackageID={package_id}"
        ))
        .admin()
        .send()
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body.as_array().unwrap().clone()
}

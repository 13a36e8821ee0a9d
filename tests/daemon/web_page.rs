//! The web control page: served by castd itself from files compiled into the binary, with
//! nothing fetched from other hosts, and driven end to end in headless Chromium
//! (`tests/e2e/control_page.mjs`, with Debian's Chromium and playwright-core from
//! `scripts/install-test-servers`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG};

use crate::common::{ADMIN_PASSWORD, TestDaemon, wait_with_timeout};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the page as it is in the source tree: (name, contents).
fn page_files() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("assets/web"))
        .expect("assets/web exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn content_type_for(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        other => panic!("no content type known for .{other:?}: add it here and in src/api/web.rs"),
    }
}

#[tokio::test]
async fn the_page_is_html_and_needs_no_credentials_while_the_api_does() {
    let d = TestDaemon::start().await;
    let page = d.get("/").send().await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(
        page.headers[CONTENT_TYPE].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    assert!(page.text.starts_with("<!doctype html>"), "{}", page.text);
    assert!(
        page.text
            .contains(r#"<script type="module" src="/ui/app.js">"#)
    );
    let policy = page.headers["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    // `/ui/` is the same page.
    assert_eq!(d.get("/ui/").send().await.text, page.text);
    // The page is public; what it shows is not.
    let api = d.get("/api/1/status").send().await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_file_in_assets_web_is_served_as_it_is() {
    let d = TestDaemon::start().await;
    let files = page_files();
    assert!(files.iter().any(|(name, _)| name == "index.html"));
    for (name, contents) in &files {
        let response = reqwest::get(format!("{}/ui/{name}", d.url)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "/ui/{name}");
        assert_eq!(
            response.headers()[CONTENT_TYPE].to_str().unwrap(),
            content_type_for(name),
            "/ui/{name}"
        );
        let etag = response.headers()[ETAG].to_str().unwrap().to_string();
        let served = response.bytes().await.unwrap();
        assert!(
            served.as_ref() == contents.as_slice(),
            "/ui/{name} differs from assets/web/{name}: rebuild castd"
        );
        // Unchanged files are revalidated, not sent again.
        let again = d
            .get(&format!("/ui/{name}"))
            .header("If-None-Match", &etag)
            .send()
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "/ui/{name}");
        assert!(again.text.is_empty());
    }
    for missing in [
        "/ui/missing.js",
        "/ui/%2e%2e%2fCargo.toml",
        "/ui/..%2fsrc%2fmain.rs",
    ] {
        let reply = d.get(missing).send().await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(reply.code(), "route.not_found", "{missing}");
    }
}

/// The page works offline: no file names another host, and every file it loads exists.
#[test]
fn the_page_asks_nothing_of_other_hosts() {
    let files = page_files();
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    for (name, contents) in &files {
        let text = std::str::from_utf8(contents).unwrap_or_else(|_| panic!("{name} is UTF-8"));
        let lower = text.to_ascii_lowercase();
        for pattern in [
            "http://",
            "https://",
            "src=\"//",
            "href=\"//",
            "url(//",
            "url(\"//",
            "url('//",
            "@import",
            "from '//",
            "from \"//",
        ] {
            assert!(
                !lower.contains(pattern),
                "assets/web/{name} contains {pattern:?}: the page must not load anything from \
                 another host"
            );
        }
        // Files named by the page: "/ui/x" in HTML, './x' in module imports.
        for quote in ['"', '\''] {
            for prefix in ["/ui/", "./"] {
                let opening = format!("{quote}{prefix}");
                for (at, _) in text.match_indices(&opening) {
                    let rest = &text[at + opening.len()..];
                    let file = &rest[..rest.find(quote).unwrap_or(rest.len())];
                    assert!(
                        file.is_empty() || names.contains(&file),
                        "assets/web/{name} refers to {prefix}{file}, which is not a file of the page"
                    );
                }
            }
        }
    }
}

/// The whole page in a real browser: sign in, start, picture, pause, resume, stop, the new
/// recording listed. The script prints each step with its timing.
#[tokio::test]
async fn the_control_page_records_a_lecture_in_headless_chromium() {
    let node_modules = repo().join("target/test-servers/node_modules/playwright-core");
    assert!(
        node_modules.is_dir() && Path::new("/usr/bin/chromium").exists(),
        "playwright-core or Chromium is missing: run scripts/install-test-servers"
    );
    let artifacts: PathBuf = repo().join("tests/artifacts");
    let screenshot = artifacts.join("control-page.png");
    let _ = std::fs::remove_file(&screenshot);

    let d = TestDaemon::start().await;
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(repo().join("tests/e2e/control_page.mjs"))
        .args([d.url.as_str(), "admin", ADMIN_PASSWORD])
        .arg(&artifacts)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node is installed (scripts/install-test-servers)");
    // Read the output as it comes, so a full pipe never stalls the script.
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = wait_with_timeout(&mut child, Duration::from_secs(180));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    eprintln!(
        "control_page.mjs ({:.1} s):\n{out}{err}",
        started.elapsed().as_secs_f64()
    );
    let status = status.expect("control_page.mjs finished within 180 s");
    assert!(
        status.success(),
        "control_page.mjs failed ({status}):\n{out}{err}\ncastd stderr:\n{}",
        d.stderr()
    );
    assert!(out.contains("ok ") && out.contains("passed in"), "{out}");

    let png = std::fs::read(&screenshot).expect("control_page.mjs saved the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "{} is not a PNG screenshot ({} bytes)",
        screenshot.display(),
        png.len()
    );
}

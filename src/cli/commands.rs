//! What each castctl command asks castd and how it shows the answer.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use futures_util::StreamExt as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use super::client::{Answer, Client};
use super::events::{SseParser, is_periodic, line};
use super::{
    Cli, Command, Failure, OpencastCommand, PackagesCommand, ScheduleCommand, credentials, output,
};

/// How often a followed publish job is read again.
const JOB_POLL: Duration = Duration::from_millis(500);
/// Wait before following the event stream again after it ended (castd restarting).
const EVENTS_RECONNECT: Duration = Duration::from_secs(1);

pub(super) async fn run(cli: Cli) -> Result<(), Failure> {
    let credentials = credentials::resolve(
        cli.url,
        cli.user,
        cli.password,
        credentials::config_path().as_deref(),
    )?;
    let client = Client::new(credentials)?;
    let json = cli.json;
    match cli.command {
        Command::Status => show(&client.get("status", &[]).await?, json, output::status),
        Command::Devices => show(
            &client.get("status/devices", &[]).await?,
            json,
            output::devices,
        ),
        Command::Redetect => show(
            &client.post("devices/redetect", &[]).await?,
            json,
            output::devices,
        ),
        Command::Start {
            template,
            title,
            duration,
        } => start(&client, &template, &title, duration, json).await,
        Command::Stop => capture_action(&client, "stop", json).await,
        Command::Pause => capture_action(&client, "pause", json).await,
        Command::Resume => capture_action(&client, "resume", json).await,
        Command::Schedule(ScheduleCommand::List { all, limit }) => {
            let mut query = vec![("limit", limit.to_string())];
            if !all {
                query.push(("start", chrono::Utc::now().timestamp_millis().to_string()));
            }
            show(
                &client.get("scheduler/events", &query).await?,
                json,
                output::events,
            )
        }
        Command::Packages(PackagesCommand::List { limit }) => show(
            &client
                .get("capture/mediaPackages", &[("limit", limit.to_string())])
                .await?,
            json,
            output::packages,
        ),
        Command::Publish {
            package,
            publishers,
        } => publish(&client, &package, &publishers, json).await,
        Command::Backup { output } => backup(&client, output.as_deref()).await,
        Command::Events { stats } => follow_events(&client, stats, json).await,
        Command::Opencast(OpencastCommand::Status) => show(
            &client.get("opencast/status", &[]).await?,
            json,
            output::opencast_link,
        ),
        Command::Opencast(OpencastCommand::Test) => show(
            &client.post("opencast/test", &[]).await?,
            json,
            output::opencast_test,
        ),
        Command::Opencast(OpencastCommand::Sync) => {
            show(&client.post("opencast/sync", &[]).await?, json, |answer| {
                format!(
                    "asked the agent to sync now\n{}",
                    output::opencast_link(&answer["status"])
                )
            })
        }
        Command::Reboot { force } => reboot(&client, force, json).await,
    }
}

/// Prints the answer: as it came with `--json`, else through `render`.
fn show(answer: &Answer, json: bool, render: impl Fn(&Value) -> String) -> Result<(), Failure> {
    if json {
        println!("{}", answer.text);
    } else {
        print!("{}", render(&answer.value));
    }
    Ok(())
}

/// Starts a capture with the template and title, for an optional length in minutes.
async fn start(
    client: &Client,
    template: &str,
    title: &str,
    duration: Option<u32>,
    json: bool,
) -> Result<(), Failure> {
    let mut request = json!({"templateID": template, "title": title});
    if let Some(minutes) = duration {
        request["duration"] = json!(u64::from(minutes) * 60_000);
    }
    let form = [("captureRequest", request.to_string())];
    show(
        &client.post("capture/start", &form).await?,
        json,
        output::capture_status,
    )
}

/// Reboots the unit, saying which captures it stopped and finalised first.
async fn reboot(client: &Client, force: bool, json: bool) -> Result<(), Failure> {
    let form = [("force", force.to_string())];
    let answer = client.post("maintenance/reboot", &form).await?;
    show(&answer, json, |a| {
        let stopped = a["stoppedSessions"]
            .as_array()
            .filter(|s| !s.is_empty())
            .map(|s| {
                let ids: Vec<String> = s.iter().map(output::text).collect();
                format!(" after stopping and finalising {}", ids.join(", "))
            })
            .unwrap_or_default();
        format!("the unit reboots{stopped}\n")
    })
}

async fn capture_action(client: &Client, action: &str, json: bool) -> Result<(), Failure> {
    let answer = client.post(&format!("capture/{action}"), &[]).await?;
    show(&answer, json, output::capture_status)
}

/// Queues the package and follows its jobs until each is done, failed or cancelled.
async fn publish(
    client: &Client,
    package: &str,
    publishers: &[String],
    json: bool,
) -> Result<(), Failure> {
    let jobs = queue(client, package, publishers).await?;
    let finals = follow(client, jobs, json).await?;
    if json {
        println!("{}", Value::Array(finals.clone()));
    } else {
        print!("{}", summary(&finals));
    }
    let failed: Vec<String> = finals
        .iter()
        .filter(|job| job["state"] != "done")
        .map(|job| {
            format!(
                "{} {}: {} {}",
                output::text(&job["publisherID"]),
                output::text(&job["state"]),
                output::text(&job["lastCode"]),
                output::text(&job["lastError"])
            )
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "publishing did not finish: {}",
            failed.join("; ")
        )))
    }
}

/// Queues the package with each publisher (all configured ones when none is named); the
/// jobs castd queued.
async fn queue(
    client: &Client,
    package: &str,
    publishers: &[String],
) -> Result<Vec<Value>, Failure> {
    let configs: Vec<Value> = publishers
        .iter()
        .map(|p| json!({"publisherID": p}))
        .collect();
    let request = json!({"configs": configs});
    let path = format!(
        "capture/mediaPackages/{}/publish",
        percent_encoding::utf8_percent_encode(package, percent_encoding::NON_ALPHANUMERIC)
    );
    let answer = client
        .post(&path, &[("publishRequest", request.to_string())])
        .await?;
    let jobs: Vec<Value> = answer.value.as_array().cloned().unwrap_or_default();
    if jobs.is_empty() {
        return Err(Failure::Failed(
            "nothing was queued: no publisher is configured for this package".into(),
        ));
    }
    Ok(jobs)
}

/// Reads the jobs again until each is final, with a progress bar per job on the terminal
/// (none with `--json`); the jobs as they ended.
#[expect(clippy::expect_used, reason = "invariant: the template is valid")]
async fn follow(client: &Client, jobs: Vec<Value>, json: bool) -> Result<Vec<Value>, Failure> {
    let bars = MultiProgress::new();
    if json {
        bars.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "{prefix:12} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} {msg}",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    let mut following: BTreeMap<String, (ProgressBar, Value)> = BTreeMap::new();
    for job in jobs {
        let id = output::text(&job["id"]);
        let bar = bars.add(ProgressBar::new(0));
        bar.set_style(style.clone());
        bar.set_prefix(output::text(&job["publisherID"]));
        following.insert(id, (bar, job));
    }

    loop {
        let mut open = 0;
        for (id, (bar, job)) in following.iter_mut() {
            if !is_final(job) {
                let path = format!("capture/publishing/jobs/{id}");
                *job = client.get(&path, &[]).await?.value;
            }
            draw(bar, job);
            if !is_final(job) {
                open += 1;
            }
        }
        if open == 0 {
            break;
        }
        tokio::time::sleep(JOB_POLL).await;
    }
    Ok(following.into_values().map(|(_, job)| job).collect())
}

/// The jobs as a table. The bars live on the terminal only; this summary also reaches
/// pipes and logs.
fn summary(finals: &[Value]) -> String {
    let mut table = output::Table::new(&["PUBLISHER", "JOB", "STATE", "SIZE", "RESULT"]);
    for job in finals {
        let result = if job["state"] == "done" {
            output::text(&job["url"])
        } else {
            format!(
                "{} {}",
                output::text(&job["lastCode"]),
                output::text(&job["lastError"])
            )
        };
        table.row(vec![
            output::text(&job["publisherID"]),
            output::text(&job["id"]),
            output::text(&job["state"]),
            output::bytes(job["progress"]["total"].as_u64().unwrap_or(0)),
            result,
        ]);
    }
    table.render()
}

fn is_final(job: &Value) -> bool {
    matches!(job["state"].as_str(), Some("done" | "failed" | "cancelled"))
}

fn draw(bar: &ProgressBar, job: &Value) {
    let total = job["progress"]["total"].as_u64().unwrap_or(0);
    let done = job["progress"]["done"].as_u64().unwrap_or(0);
    if total > 0 {
        bar.set_length(total);
    }
    bar.set_position(done.min(total.max(done)));
    let state = job["state"].as_str().unwrap_or("?");
    let message = match state {
        "done" => format!("done {}", job["url"].as_str().unwrap_or_default()),
        "failed" | "cancelled" => format!(
            "{state}: {} {}",
            output::text(&job["lastCode"]),
            output::text(&job["lastError"])
        ),
        "queued" if !job["lastError"].is_null() => format!(
            "retrying ({} attempts): {}",
            output::text(&job["attempts"]),
            output::text(&job["lastError"])
        ),
        other => other.to_string(),
    };
    if is_final(job) {
        if state == "done" {
            bar.finish_with_message(message);
        } else {
            bar.abandon_with_message(message);
        }
    } else {
        bar.set_message(message);
    }
}

/// Downloads the backup archive with a progress bar; the file appears only once complete.
#[expect(clippy::expect_used, reason = "invariant: the template is valid")]
async fn backup(client: &Client, target: Option<&str>) -> Result<(), Failure> {
    let response = client
        .open(client.request(Method::GET, "maintenance/backup"))
        .await?;
    let suggested = response
        .headers()
        .get(reqwest::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok())
        .and_then(filename_from_disposition);
    let bar = match response.content_length() {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "backup [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            )
            .expect("the template is valid")
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("backup {spinner} {bytes:>10} {bytes_per_sec:>12}")
                .expect("the template is valid"),
        ),
    };

    let to_stdout = target == Some("-");
    let path = match target {
        Some(t) => t.to_string(),
        None => suggested.unwrap_or_else(|| {
            format!(
                "castd-backup-{}.tar",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            )
        }),
    };
    let partial = format!("{path}.part");
    let write_failed = |e: std::io::Error, what: &str| Failure::Failed(format!("{what}: {e}"));
    let mut sink: Box<dyn std::io::Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&partial)
                .map_err(|e| write_failed(e, &format!("cannot create {partial}")))?,
        )
    };
    let mut body = response.bytes_stream();
    let mut written = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                drop(sink);
                let _ = std::fs::remove_file(&partial);
                return Err(client.connection_failure(&e));
            }
        };
        sink.write_all(&chunk)
            .map_err(|e| write_failed(e, &format!("cannot write {partial}")))?;
        written += chunk.len() as u64;
        bar.set_position(written);
    }
    sink.flush()
        .map_err(|e| write_failed(e, &format!("cannot write {partial}")))?;
    drop(sink);
    bar.finish_and_clear();
    if !to_stdout {
        std::fs::rename(&partial, &path)
            .map_err(|e| write_failed(e, &format!("cannot rename {partial} to {path}")))?;
        println!("{path} ({})", output::bytes(written));
    }
    Ok(())
}

/// `attachment; filename="x.tar"` → `x.tar`, only when it is a plain file name.
fn filename_from_disposition(value: &str) -> Option<String> {
    let name = value
        .split(';')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("filename="))?
        .trim_matches('"');
    let safe = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
    safe.then(|| name.to_string())
}

/// Prints events as they come; when the stream ends (castd restarting, the client fell
/// behind), follows it again from the last event seen.
async fn follow_events(client: &Client, stats: bool, json: bool) -> Result<(), Failure> {
    let mut last_id: Option<String> = None;
    let mut connected_once = false;
    loop {
        let mut request = client
            .request(Method::GET, "events")
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = match client.open(request).await {
            Ok(r) => r,
            // Once following, an unreachable castd is one that is restarting: wait for it.
            Err(Failure::Connection(_)) if connected_once => {
                tokio::time::sleep(EVENTS_RECONNECT).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        connected_once = true;
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        while let Some(Ok(chunk)) = body.next().await {
            for event in parser.feed(&chunk) {
                if event.id.is_some() {
                    last_id.clone_from(&event.id);
                }
                if !stats && is_periodic(&event.name) {
                    continue;
                }
                let text = if json {
                    event.data.clone()
                } else {
                    line(&event)
                };
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
                    // The reader went away (a closed pipe): nothing left to do.
                    return Ok(());
                }
            }
        }
        eprintln!("castctl: the event stream ended; following it again");
        tokio::time::sleep(EVENTS_RECONNECT).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_file_names_come_only_from_plain_names() {
        assert_eq!(
            filename_from_disposition(
                "attachment; filename=\"castd-backup-hall-20260101T000000Z.tar\""
            ),
            Some("castd-backup-hall-20260101T000000Z.tar".into())
        );
        assert_eq!(
            filename_from_disposition("attachment; filename=\"../x\""),
            None
        );
        assert_eq!(filename_from_disposition("attachment"), None);
    }
}

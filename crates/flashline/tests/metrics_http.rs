//! `/metrics` of a running station, as Prometheus scrapes it: `flashline demo --http` on a
//! free loopback port, the exposition fetched over HTTP after the boards finished, checked
//! for the counts the demo produced and by `promtool check metrics` (Debian's prometheus
//! package, installed by `scripts/setup.sh`). Outside CI a missing promtool skips that one
//! check, saying so; under CI it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod support_http;

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the station's HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    (head.to_string(), body.to_string())
}

fn post(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines().next().unwrap_or_default().to_string()
}

fn value(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_running_station_serves_metrics_that_promtool_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["demo", "--boards", "5", "--faults", "1", "--timing", "off", "--interval-ms", "20"])
        .args(["--http", "127.0.0.1:0", "--hold", "--db"])
        .arg(&db)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flashline demo");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let stderr = child.stderr.take().unwrap();
    let demo = Demo(child);
    std::thread::spawn(move || {
        // Keep draining stderr (logs) so the demo never blocks on a full pipe.
        let _ = std::io::copy(&mut BufReader::new(stderr), &mut std::io::sink());
    });

    // "serving http://127.0.0.1:PORT/metrics until interrupted" once every board is done.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut addr = None;
    let mut seen = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("serving http://") {
            addr = Some(rest.split('/').next().unwrap().parse::<SocketAddr>().unwrap());
            break;
        }
        seen.push(line);
        assert!(Instant::now() < deadline, "the demo did not finish: {seen:?}");
    }
    let addr = addr.unwrap_or_else(|| panic!("no serving line: {seen:?}"));

    let (head, body) = get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let passes: f64 = body
        .lines()
        .filter(|l| l.starts_with("flashline_attempts_total{") && l.contains("result=\"pass\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let fails: f64 = body
        .lines()
        .filter(|l| l.starts_with("flashline_attempts_total{") && l.contains("result=\"fail\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!((passes, fails), (4.0, 1.0), "{body}");
    assert_eq!(value(&body, "flashline_attempt_duration_seconds_count{result=\"pass\"}"), Some(4.0), "{body}");
    assert!(body.contains("flashline_stage_duration_seconds_bucket{stage=\"write\""), "{body}");
    assert!(body.contains("flashline_golden_image_info{chip=\"esp32\",image="), "{body}");
    assert_eq!(value(&body, "flashline_station_info{station=\"demo\"}"), Some(1.0), "{body}");
    // No [boot], no [provision]: their families are there, at zero, for dashboards and alerts.
    assert_eq!(value(&body, "flashline_boot_checks_total{result=\"fail\"}"), Some(0.0), "{body}");
    assert_eq!(value(&body, "flashline_boot_duration_seconds_count"), Some(0.0), "{body}");
    assert_eq!(value(&body, "flashline_serials_allocated_total"), Some(0.0), "{body}");

    // Read-only: nothing but GET is served.
    assert!(post(addr, "/metrics").contains("405"), "POST must be refused");
    let (head, body_h) = get(addr, "/healthz");
    assert!(head.starts_with("HTTP/1.1 200") && body_h == "ok\n", "{head} {body_h:?}");

    support_http::promtool_check(&body);

    // Ctrl-C ends the hold; the demo exits 0 (the faulty board failed as expected).
    let pid = demo.0.id();
    Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap();
    let mut demo = demo;
    let status = demo.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

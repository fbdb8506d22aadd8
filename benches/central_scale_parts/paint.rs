//! The line view's first paint in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver as the browser tests do), read from the page's
//! own navigation timing: first contentful paint, when `/api/stations` had answered, and
//! when the stations table first showed every station (polled, so an upper bound).

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One page load, in milliseconds since navigation start.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    pub first_contentful_paint: f64,
    pub stations_answered: f64,
    pub stations_shown: f64,
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether the browser is installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

const TIMING_JS: &str = r#"
const paint = performance.getEntriesByName('first-contentful-paint')[0];
const api = performance.getEntriesByType('resource').find(e => e.name.includes('/api/stations'));
return {
  fcp: paint ? paint.startTime : null,
  api: api ? api.responseEnd : null,
  rows: document.querySelectorAll('#stations tbody tr').length,
  now: performance.now(),
};
"#;

/// Loads `url` `loads` times (a fresh profile each) and reports each load once the table
/// holds `stations` rows.
pub async fn measure(url: &str, stations: usize, loads: usize) -> Vec<Paint> {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _driver = Proc(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut out = Vec::new();
    for _ in 0..loads {
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session in headless Chromium");
        client.goto(url).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let paint = loop {
            let t: Value = client.execute(TIMING_JS, vec![]).await.unwrap();
            let f = |k: &str| t[k].as_f64();
            if t["rows"].as_u64() == Some(stations as u64) {
                if let (Some(fcp), Some(api), Some(now)) = (f("fcp"), f("api"), f("now")) {
                    break Paint { first_contentful_paint: fcp, stations_answered: api, stations_shown: now };
                }
            }
            assert!(Instant::now() < deadline, "the line view never showed {stations} stations: {t}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        out.push(paint);
        client.close().await.unwrap();
    }
    out
}

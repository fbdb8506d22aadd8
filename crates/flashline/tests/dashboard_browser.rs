//! The dashboard as a person sees it: `flashline demo --http` with realistic timing, a
//! headless Chromium (Debian's `chromium`) driven through chromedriver over WebDriver.
//! Asserted on the rendered page: the slots appear, a running board's progress bar
//! moves, PASS and FAIL show with the failure's stage and reason, and the MAC search
//! finds the board's attempt. A screenshot of the finished page is left in the target
//! directory (docs/dashboard.png is one). The line view (`flashline serve --db
//! postgres://…` over a throwaway cluster the demo forwarded to) shows the station, its
//! counts and failure, and finds a MAC. A provisioning station (in this process) shows
//! each board's serial and, for a board that failed its boot check, its last console
//! lines, as text even when they hold markup. Outside CI a missing browser skips the test,
//! saying so; under CI it fails (`scripts/setup.sh` installs both packages).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};

mod support_provision;
mod support_station;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const BOARDS: usize = 4;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_demo(dir: &Path) -> (Proc, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["demo", "--boards", &BOARDS.to_string(), "--faults", "1", "--timing", "realistic"])
        .args(["--interval-ms", "400", "--app-kib", "1024", "--http", "127.0.0.1:0", "--hold", "--db"])
        .arg(dir.join("demo.db"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start flashline demo");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("serving http://") {
                let _ = tx.send(rest.split('/').next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).expect("the demo names its HTTP address");
    (Proc(child), addr.parse().unwrap())
}

fn start_chromedriver() -> (Proc, u16) {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Proc(child), port)
}

/// Whether Chromium and chromedriver are there (under CI they must be).
fn have_browser() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromium or chromedriver missing under CI: scripts/setup.sh installs them"
    );
    eprintln!("SKIPPED: {CHROMIUM} or {CHROMEDRIVER} missing (scripts/setup.sh installs chromium, chromium-driver)");
    false
}

/// A WebDriver session in headless Chromium with its profile in `profile`.
async fn browser(profile: &Path) -> (Proc, fantoccini::Client) {
    let (driver, port) = start_chromedriver();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1280,900", format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session in headless Chromium");
    (driver, client)
}

/// Every slot card as the page shows it: name, class (phase), bar width, text.
const SLOTS_JS: &str = r#"
return [...document.querySelectorAll('.slot')].map(e => ({
  name: e.dataset.slot,
  phase: e.className.replace('slot ', ''),
  bar: (e.querySelector('.bar > div') || {style: {}}).style.width || null,
  mac: (e.querySelector('.mac') || {}).textContent || null,
  reason: (e.querySelector('.reason') || {}).textContent || null,
  text: e.innerText,
}));
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_slots_progress_results_and_finds_a_mac() {
    if !have_browser() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let profile = tempfile::tempdir().unwrap();
    let (demo, addr) = start_demo(dir.path());
    let (_driver, client) = browser(profile.path()).await;
    client.goto(&format!("http://{addr}/")).await.unwrap();

    // Watch the page until every board has its result, noting each running bar's widths.
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut widths: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    let slots = loop {
        let slots = client.execute(SLOTS_JS, vec![]).await.unwrap();
        let slots = slots.as_array().cloned().unwrap_or_default();
        for s in &slots {
            if let (Some(name), Some(bar)) = (s["name"].as_str(), s["bar"].as_str()) {
                widths.entry(name.to_string()).or_default().insert(bar.to_string());
            }
        }
        let done = slots.iter().filter(|s| matches!(s["phase"].as_str(), Some("pass" | "fail"))).count();
        if slots.len() == BOARDS && done == BOARDS {
            break slots;
        }
        assert!(Instant::now() < deadline, "the page never showed every result: {slots:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(widths.values().any(|w| w.len() >= 3), "no progress bar was seen moving (widths per slot: {widths:?})");

    let pass: Vec<&Value> = slots.iter().filter(|s| s["phase"] == "pass").collect();
    let fail: Vec<&Value> = slots.iter().filter(|s| s["phase"] == "fail").collect();
    assert_eq!((pass.len(), fail.len()), (BOARDS - 1, 1), "{slots:#?}");
    assert!(pass.iter().all(|s| s["text"].as_str().unwrap().contains("PASS")), "{pass:#?}");
    let reason = fail[0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("identify: ") && reason.len() > "identify: ".len(), "{reason:?}");
    assert!(fail[0]["text"].as_str().unwrap().contains("FAIL"));
    let header = client.find(Locator::Css("#n-pass")).await.unwrap().text().await.unwrap();
    assert_eq!(header, (BOARDS - 1).to_string());

    // The last failures table lists the failed board with its reason.
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//table[@id='failures']/tbody/tr[contains(., 'identify')]"))
        .await
        .expect("the failure in the last-failures table");

    // The yield table counts the passed boards (refreshed as boards finish).
    let passed_slot = pass[0]["name"].as_str().unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!(
            "//table[@id='per-slot']/tbody/tr[td[1]='{passed_slot}' and td[2]='1' and td[4]='100.0 %']"
        )))
        .await
        .expect("the passed board in the per-slot yield table");
    // The demo's station has stopped: the page says so and keeps its last state.
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//span[@id='link' and text()='station stopped']"))
        .await
        .expect("the page tells the station stopped");

    // The MAC search finds the first passed board's attempt.
    let mac = pass[0]["mac"].as_str().unwrap().to_string();
    assert!(mac.len() == 17 && mac.contains(':'), "{mac:?}");
    client.find(Locator::Css("#mac")).await.unwrap().send_keys(&mac.to_lowercase()).await.unwrap();
    client.find(Locator::Css("#search button")).await.unwrap().click().await.unwrap();
    let hit = client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath("//table[@id='results']/tbody/tr[contains(., 'pass')]"))
        .await
        .expect("the search result row");
    let text = hit.text().await.unwrap();
    assert!(text.contains(pass[0]["name"].as_str().unwrap()), "{text}");

    // A malformed MAC is refused with the reason, not a blank page.
    client.find(Locator::Css("#mac")).await.unwrap().clear().await.unwrap();
    client.find(Locator::Css("#mac")).await.unwrap().send_keys("not-a-mac").await.unwrap();
    client.find(Locator::Css("#search button")).await.unwrap().click().await.unwrap();
    let error =
        client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css("#search-error:not([hidden])")).await;
    assert!(error.is_ok(), "no error shown for a malformed MAC");

    let png = client.screenshot().await.unwrap();
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png"), png).unwrap();
    client.close().await.unwrap();
    drop(demo);
}

/// Runs `flashline` with `PGPASSWORD` to completion; its stdout.
fn flashline_ok(args: &[&str], password: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_flashline")).args(args).env("PGPASSWORD", password).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_line_view_shows_the_demo_station_its_failure_and_finds_a_mac() {
    if !have_browser() {
        return;
    }
    let Some(pg) = flashline_testkit::pg::PgCluster::start() else { return };
    let pw = pg.admin_password().to_owned();
    let admin = pg.url_without_password(flashline_testkit::pg::ADMIN_USER);
    flashline_ok(&["central", "init", "--db", &admin], &pw);
    let demo_pw = flashline_ok(&["central", "add-station", "demo", "--db", &admin], &pw).trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let url = pg.url_without_password("demo");
    let out = flashline_ok(
        &["demo", "--boards", "3", "--faults", "1", "--timing", "off", "--interval-ms", "20", "--central", &url]
            .into_iter()
            .chain(["--db", db.to_str().unwrap()])
            .collect::<Vec<_>>(),
        &demo_pw,
    );
    assert!(out.contains(": 3 rows arrived from this run"), "{out}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_flashline"))
        .args(["serve", "--db", &admin, "--listen", "127.0.0.1:0"])
        .env("PGPASSWORD", &pw)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let _serve = Proc(child);
    let addr = first.split("http://").nth(1).and_then(|r| r.split('/').next()).expect("the served address");

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = browser(profile.path()).await;
    client.goto(&format!("http://{addr}/")).await.unwrap();
    let wait = |xpath: String| {
        let client = client.clone();
        async move {
            client
                .wait()
                .at_most(Duration::from_secs(15))
                .for_element(Locator::XPath(&xpath))
                .await
                .unwrap_or_else(|e| panic!("{xpath}: {e}"))
        }
    };
    // The stations table: the demo station with 3 rows, 2 passed and 1 failed today.
    wait("//table[@id='stations']/tbody/tr[td[1]='demo' and td[2]='3' and td[3]='2' and td[4]='1']".into()).await;
    // Its section: the last rows and the failure with its stage and reason.
    let failure = wait("(//section[@data-station='demo']//table)[2]/tbody/tr[contains(@class, 'fail')]".into()).await;
    let text = failure.text().await.unwrap();
    assert!(text.contains("identify"), "{text}");
    let mac = wait("(//section[@data-station='demo']//table)[1]/tbody/tr[td[4]='pass']/td[3]".into())
        .await
        .text()
        .await
        .unwrap();
    assert!(mac.len() == 17 && mac.contains(':'), "{mac:?}");

    client.find(Locator::Css("#mac")).await.unwrap().send_keys(&mac.to_lowercase()).await.unwrap();
    client.find(Locator::Css("#search button")).await.unwrap().click().await.unwrap();
    let hit = wait("//table[@id='results']/tbody/tr[td[2]='demo' and td[3]='pass']".into()).await;
    assert!(hit.text().await.unwrap().contains("sample"), "the image name is shown");
    let note = client.find(Locator::Css("#search-note")).await.unwrap();
    assert!(!note.is_displayed().await.unwrap(), "one station only: no cross-station note");

    let png = client.screenshot().await.unwrap();
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("line-view.png"), png).unwrap();
    client.close().await.unwrap();
}

/// Every slot card's serial and console as the page shows them, and what the console
/// holds besides text.
const CARDS_JS: &str = r#"
return [...document.querySelectorAll('.slot')].map(e => {
  const console = e.querySelector('.console');
  return {
    name: e.dataset.slot,
    phase: e.className.replace('slot ', ''),
    serial: (e.querySelector('.serial') || {}).textContent || null,
    console: console ? console.textContent : null,
    console_elements: console ? console.children.length : null,
    text: e.innerText,
  };
});
"#;

/// The slot cards once `n` boards have their result on the page.
async fn finished_cards(client: &fantoccini::Client, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let cards = client.execute(CARDS_JS, vec![]).await.unwrap();
        let cards = cards.as_array().cloned().unwrap_or_default();
        let done = cards.iter().filter(|s| matches!(s["phase"].as_str(), Some("pass" | "fail"))).count();
        if done == n {
            return cards;
        }
        assert!(Instant::now() < deadline, "the page never showed {n} results: {cards:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn card<'a>(cards: &'a [Value], name: &str) -> &'a Value {
    cards.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no card {name}: {cards:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_serials_and_the_console_of_a_board_that_did_not_boot() {
    if !have_browser() {
        return;
    }
    let (rig, _files) =
        support_provision::rig("fl-dash-boot-", 2, support_provision::BOOT, support_provision::SCRIPT).await;
    let mut running = support_provision::start(&rig).await;
    let good = running.plug(&rig, 0, Vec::new());
    let mut events = running.until_finished(1).await;
    running.plug(&rig, 1, vec![support_provision::corrupt_after(good.stats().md5s)]);
    events.extend(running.until_finished(1).await);
    let mut serials = std::collections::BTreeMap::new();
    let mut lines = Vec::new();
    for ev in events {
        if let flashline::station::StationEvent::Finished { slot, serial, boot, .. } = ev {
            serials.insert(slot, serial.expect("a provisioned board"));
            lines.extend(boot.filter(|b| !b.passed()).map(|b| b.lines));
        }
    }
    let lines = lines.pop().expect("the second board failed its boot check");

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = browser(profile.path()).await;
    client.goto(&format!("http://{}/", running.addr)).await.unwrap();
    let cards = finished_cards(&client, 2).await;
    let (a1, a2) = (card(&cards, "A1"), card(&cards, "A2"));
    assert_eq!((a1["phase"].as_str(), a2["phase"].as_str()), (Some("pass"), Some("fail")), "{cards:#?}");
    assert_eq!(a1["serial"].as_str(), Some(serials["A1"].as_str()), "{a1:#}");
    assert_eq!(a2["serial"].as_str(), Some(serials["A2"].as_str()), "{a2:#}");
    assert!(a1["console"].is_null(), "a board that booted shows no console: {a1:#}");
    assert_eq!(a2["console"].as_str(), Some(lines.join("\n").as_str()), "{a2:#}");
    assert!(a2["console"].as_str().unwrap().contains("esp_image: Checksum failed"), "{a2:#}");
    assert!(a2["text"].as_str().unwrap().contains("boot: boot loop"), "the stage and reason: {a2:#}");
    // The failures table names the serial too.
    let serial = &serials["A2"];
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::XPath(&format!("//table[@id='failures']/tbody/tr[td[4]='{serial}' and td[5]='boot']")))
        .await
        .expect("the failure with its serial in the last-failures table");

    let png = client.screenshot().await.unwrap();
    std::fs::write(Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-boot.png"), png).unwrap();
    client.close().await.unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_lines_with_markup_are_shown_as_text() {
    if !have_browser() {
        return;
    }
    // The app prints markup, then panics: the fail pattern ends the check with these lines.
    const MARKUP: &str = r#"<img src=x onerror="document.title='pwned'"><b id="injected">bold</b><script>document.title='pwned'</script>"#;
    let script = format!(
        "I (300) app: starting\nI (310) app: {MARKUP}\nGuru Meditation Error: Core  0 panic'ed\n@delay 100\n@reboot"
    );
    let boot = "[boot]\npattern = 'never printed'\nfail_pattern = 'Guru Meditation'\ntimeout = \"10s\"\n";
    let (rig, _files) = support_provision::rig("fl-dash-markup-", 1, boot, &script).await;
    let mut running = support_provision::start(&rig).await;
    running.plug(&rig, 0, Vec::new());
    running.until_finished(1).await;

    let profile = tempfile::tempdir().unwrap();
    let (_driver, client) = browser(profile.path()).await;
    client.goto(&format!("http://{}/", running.addr)).await.unwrap();
    let cards = finished_cards(&client, 1).await;
    let a1 = card(&cards, "A1");
    assert_eq!(a1["phase"], "fail", "{a1:#}");
    let console = a1["console"].as_str().expect("the console lines");
    assert!(console.contains(&format!("I (310) app: {MARKUP}")), "the markup as text: {console:?}");
    assert_eq!(a1["console_elements"], 0, "nothing in the console became an element: {a1:#}");
    let injected = client
        .execute("return [document.getElementById('injected'), document.querySelectorAll('.slot img, .slot script').length, document.title];", vec![])
        .await
        .unwrap();
    assert_eq!(injected, json!([null, 0, "flashline"]), "the page ran or built the board's markup");
    client.close().await.unwrap();
    running.stop().await;
}

//! A board on its own USB-Serial/JTAG port: the session picks the USB reset for 303a:1001,
//! finds the board again through its [`Reconnect`] after each reset, says before the final
//! reset that the board goes into its application, and fails with the stage named when the
//! board never comes back.

mod common;

use common::{config, mac, stubs};
use flashline_session::*;
use flashline_sim::{spawn_usb_duplex, BoardConfig, Mode, SimHandle, UsbLinkEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// Plays the host's USB stack: hands out the board's link each time it enumerates again.
struct Links {
    sim: SimHandle,
    events: tokio::sync::Mutex<UnboundedReceiver<UsbLinkEvent>>,
    resets: Mutex<Vec<ResetInto>>,
    timeout: Duration,
}

impl Links {
    fn port(&self, link: tokio::io::DuplexStream) -> DuplexTransport {
        DuplexTransport::new(link).with_usb_ids(0x303a, 0x1001).with_lines_hook(self.sim.link_lines())
    }
}

impl Reconnect<DuplexTransport> for Links {
    fn resetting(&self, into: ResetInto) {
        self.resets.lock().unwrap().push(into);
    }

    fn reopen(&self) -> ReopenFuture<'_, DuplexTransport> {
        Box::pin(async move {
            let mut events = self.events.lock().await;
            loop {
                match events.recv().await {
                    Some(UsbLinkEvent::Enumerated(link)) => return Ok(self.port(link)),
                    Some(UsbLinkEvent::Dropped | UsbLinkEvent::Reopenable(_)) => {}
                    Some(UsbLinkEvent::Unplugged) | None => return Err("the board was unplugged".into()),
                }
            }
        })
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }
}

fn usb_board(reenumerate: Duration) -> (DuplexTransport, Arc<Links>) {
    let mut cfg = BoardConfig::new(Chip::Esp32, mac(Chip::Esp32, 7)).on_usb_serial_jtag();
    cfg.usb_any_chip = true; // the behaviour is the link's, not the chip's
    cfg.reenumerate = Some(reenumerate);
    let (link, sim, events) = spawn_usb_duplex(cfg).unwrap();
    let links = Arc::new(Links {
        sim,
        events: tokio::sync::Mutex::new(events),
        resets: Mutex::new(Vec::new()),
        timeout: Duration::from_secs(2),
    });
    (links.port(link), links)
}

#[tokio::test]
async fn usb_board_is_found_again_after_each_reset() {
    let (port, links) = usb_board(Duration::from_millis(30));
    let cfg = FlasherConfig { before: BeforeReset::Auto, stubs: Some(stubs()), ..config(true) };
    let reconnect: Arc<dyn Reconnect<DuplexTransport>> = links.clone();
    let mut f = Flasher::connect_with(port, &cfg, Progress::none(), CancellationToken::new(), Some(reconnect))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f.is_stub());
    assert_eq!(f.info().mac, mac(Chip::Esp32, 7));
    let data = vec![0x5a; 8192];
    let image = Arc::new(PreparedImage::new(vec![Region::new(0x10000, data.clone())]).unwrap());
    f.write(&image, &WriteOptions::default()).await.unwrap();
    f.finish(After::HardReset).await.unwrap();
    assert_eq!(*links.resets.lock().unwrap(), vec![ResetInto::Download, ResetInto::App]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(links.sim.mode(), Mode::App, "the hard reset started the application");
    assert_eq!(&links.sim.flash()[0x10000..0x12000], &data[..]);
    // The host reset it twice (above); the chip then boot-loops on its own (this image has
    // no bootloader), and each of those reboots counts too.
    assert!(links.sim.stats().resets >= 2, "{}", links.sim.stats().resets);
}

#[tokio::test]
async fn a_board_that_never_comes_back_fails_in_connect() {
    let (port, links) = usb_board(Duration::from_secs(3600));
    let links = Arc::new(Links { timeout: Duration::from_millis(200), ..Arc::into_inner(links).unwrap() });
    let cfg = FlasherConfig { before: BeforeReset::Auto, ..config(false) };
    let reconnect: Arc<dyn Reconnect<DuplexTransport>> = links.clone();
    let e = Flasher::connect_with(port, &cfg, Progress::none(), CancellationToken::new(), Some(reconnect))
        .await
        .unwrap_err();
    assert_eq!(e.stage(), Stage::Connect);
    assert!(matches!(e, Error::NotBack { .. }), "{e}");
    assert!(e.to_string().contains("did not come back within 200.0ms"), "{e}");
}

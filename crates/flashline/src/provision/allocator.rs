//! Where a board's serial number comes from: the station's own log, which allocates per
//! MAC in one transaction (see `flashline_audit`'s serial rule), fed with blocks leased
//! from the central record when the station has `[central]`.
//!
//! With `[central]`, nothing here waits long on the central record: a MAC unknown to the
//! station is looked up there under [`CENTRAL_TIMEOUT`] (a board moved from another
//! station keeps its number), the station's claim of a new number and the lease of the
//! next block run after the board's allocation, and a lease is taken while the board
//! waits only when the station has no number left at all. During an outage the station
//! allocates from what it holds; a MAC flashed at two stations during the same outage
//! gets a number at each (the central record keeps the first claim; documented in the
//! config docs).

use std::sync::Arc;
use std::time::Duration;

use flashline_audit::postgres::CentralLink;
use flashline_audit::{AttemptId, AuditError, AuditStore, SerialSource};
use tokio::sync::Mutex;

/// How long a board waits for the central record before its station decides alone.
pub const CENTRAL_TIMEOUT: Duration = Duration::from_secs(2);

/// After the central record failed to answer, boards do not ask it again for this long
/// (the station allocates alone; the claims and leases in the background keep trying).
pub const CENTRAL_BACKOFF: Duration = Duration::from_secs(30);

/// Block size leased from the central record when `[provision] lease_block` is not set.
pub const DEFAULT_LEASE_BLOCK: u64 = 100;

/// A station's serial numbers, allocated in its audit store.
#[derive(Debug, Clone)]
pub struct SerialAllocator {
    store: AuditStore,
    start: u64,
    central: Option<Arc<CentralSerials>>,
}

#[derive(Debug)]
struct CentralSerials {
    link: CentralLink,
    block: u64,
    /// One lease at a time.
    leasing: Mutex<()>,
    /// Until when boards do not wait for the central record (it failed to answer).
    quiet_until: std::sync::Mutex<Option<std::time::Instant>>,
}

impl CentralSerials {
    fn quiet(&self) -> bool {
        self.quiet_until.lock().expect("quiet").is_some_and(|t| std::time::Instant::now() < t)
    }

    fn failed(&self) {
        *self.quiet_until.lock().expect("quiet") = Some(std::time::Instant::now() + CENTRAL_BACKOFF);
    }
}

impl SerialAllocator {
    /// Numbers from the station's own counter in `store`, from `start` on.
    pub fn local(store: AuditStore, start: u64) -> SerialAllocator {
        SerialAllocator { store, start, central: None }
    }

    /// Numbers from blocks of `block` leased through `link` (each at least `start`).
    pub fn leased(store: AuditStore, start: u64, link: CentralLink, block: u64) -> SerialAllocator {
        let central = CentralSerials {
            link,
            block: block.max(1),
            leasing: Mutex::new(()),
            quiet_until: std::sync::Mutex::new(None),
        };
        SerialAllocator { store, start, central: Some(Arc::new(central)) }
    }

    /// Whether numbers come from central leases.
    pub fn is_leased(&self) -> bool {
        self.central.is_some()
    }

    /// The number of the board with `mac` (spelled `AA:BB:CC:DD:EE:FF`) on attempt `id`.
    pub async fn allocate(&self, id: AttemptId, mac: &str) -> Result<u64, AuditError> {
        let store = &self.store;
        let Some(central) = &self.central else {
            return Ok(store.allocate_serial(id, mac, SerialSource::Local { start: self.start }).await?.number);
        };
        if !central.quiet() {
            match tokio::time::timeout(CENTRAL_TIMEOUT, central.link.serial_of(mac)).await {
                Ok(Ok(Some(number))) => {
                    store.adopt_serial(mac, number).await?;
                }
                Ok(Ok(None)) => {}
                Ok(Err(_)) | Err(_) => central.failed(),
            }
        }
        let got = match store.allocate_serial(id, mac, SerialSource::Leased).await {
            Err(AuditError::SerialsExhausted { .. }) => {
                // Nothing left: this board waits for a lease (or fails with the reason).
                self.refill(central, 1).await;
                store.allocate_serial(id, mac, SerialSource::Leased).await?
            }
            other => other?,
        };
        let (this, mac) = (self.clone(), mac.to_owned());
        tokio::spawn(async move {
            let central = this.central.as_ref().expect("leased");
            if got.new {
                match tokio::time::timeout(CENTRAL_TIMEOUT, central.link.claim_serial(&mac, got.number)).await {
                    Ok(Ok(held)) if held != got.number => tracing::warn!(
                        mac = %mac,
                        number = got.number,
                        central = held,
                        "the central record holds another serial number for this MAC (flashed at two stations \
                         during an outage); the board keeps the number written to it"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "serial number not claimed centrally"),
                    Err(_) => tracing::debug!("serial number not claimed centrally: timeout"),
                }
            }
            this.refill(central, central.block.div_ceil(2)).await;
        });
        Ok(got.number)
    }

    /// Leases the next block when fewer than `low` numbers are left. One lease at a time:
    /// a caller that finds another lease under way waits for it and then looks again.
    async fn refill(&self, central: &CentralSerials, low: u64) {
        let _guard = central.leasing.lock().await;
        match self.store.serial_lease_left().await {
            Ok(left) if left >= low => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the serial numbers left");
                return;
            }
        }
        match tokio::time::timeout(CENTRAL_TIMEOUT, central.link.lease_serials(self.start, central.block)).await {
            Ok(Ok((first, last))) => {
                if let Err(e) = self.store.add_serial_lease(first, last).await {
                    // Leased and not recorded: those numbers stay unused (a documented gap).
                    tracing::error!(first, last, error = %e, "cannot record a leased block of serial numbers");
                } else {
                    tracing::info!(first, last, "leased serial numbers from the central record");
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot lease serial numbers from the central record"),
            Err(_) => tracing::warn!("cannot lease serial numbers from the central record: timeout"),
        }
    }

    /// Leases a first block at start when the station holds none (so the first boards do
    /// not wait); an unreachable central record is only logged.
    pub async fn prime(&self) {
        if let Some(central) = &self.central {
            self.refill(central, central.block.div_ceil(2)).await;
        }
    }
}

//! `[http]`: where the station serves its read-only HTTP endpoints (`/metrics`, and the
//! dashboard). Loopback by default, so nothing is reachable from the network unless the
//! config says so; `listen = ""` turns the server off.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Ctx};

/// Port of the default address (not registered; the Prometheus exporter range).
pub const DEFAULT_PORT: u16 = 9180;

/// The validated `[http]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// Address to listen on; `None`: no HTTP server.
    pub listen: Option<SocketAddr>,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig { listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT))) }
    }
}

impl HttpConfig {
    /// True when the server would be reachable from other machines.
    pub fn is_exposed(&self) -> bool {
        self.listen.is_some_and(|a| !a.ip().is_loopback())
    }
}

/// `[http]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    #[serde(default)]
    listen: Option<Spanned<String>>,
}

impl RawHttp {
    pub(super) fn validate(self, ctx: &Ctx) -> Result<HttpConfig, ConfigError> {
        let Some(listen) = self.listen else { return Ok(HttpConfig::default()) };
        let span = listen.span();
        let text = listen.into_inner();
        if text.trim().is_empty() {
            return Ok(HttpConfig { listen: None });
        }
        match text.trim().parse::<SocketAddr>() {
            Ok(addr) => Ok(HttpConfig { listen: Some(addr) }),
            Err(_) => ctx.err(
                span,
                "[http] listen",
                format!(
                    "'{}' is not an address with a port; write e.g. \"127.0.0.1:{DEFAULT_PORT}\" (loopback), \
                     \"[::1]:{DEFAULT_PORT}\", \"0.0.0.0:{DEFAULT_PORT}\" (every interface), or \"\" for no HTTP server",
                    crate::text::escape_for_terminal(&text)
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {

    use crate::config::test_base::parse;

    #[test]
    fn loopback_by_default_off_when_empty_any_address_when_asked() {
        assert_eq!(parse("").unwrap().http.listen, Some("127.0.0.1:9180".parse().unwrap()));
        assert!(!parse("").unwrap().http.is_exposed());
        assert_eq!(parse("[http]\nlisten = \"\"\n").unwrap().http.listen, None);
        let any = parse("[http]\nlisten = \"0.0.0.0:8080\"\n").unwrap().http;
        assert_eq!(any.listen, Some("0.0.0.0:8080".parse().unwrap()));
        assert!(any.is_exposed());
        assert_eq!(parse("[http]\nlisten = \"[::1]:0\"\n").unwrap().http.listen, Some("[::1]:0".parse().unwrap()));
    }

    #[test]
    fn a_bad_address_names_the_key_and_the_way_out() {
        let e = parse("[http]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(e.contains("[http] listen") && e.contains("'localhost' is not an address with a port"), "{e}");
        let e = parse("[http]\nlisten = \"1.2.3.4:99999\"\n").unwrap_err();
        assert!(e.contains("[http] listen"), "{e}");
        let e = parse("[http]\nport = 1\n").unwrap_err();
        assert!(e.contains("port"), "{e}");
    }
}

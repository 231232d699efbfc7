//! The stats page's access check on any `Authorization` value and peer never panics, and
//! only the right credentials get in.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringlb::config::credentials::parse_basic;
use ringlb::config::{load_sources, Config};
use ringlb::control::stats::auth::{Access, StatsAccess};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = "userlist L\n group admin users admin\n user admin insecure-password adminpw\n user guest insecure-password guest\n\
                    listen stats\n bind 127.0.0.1:1\n mode http\n timeout client 1s\n stats enable\n\
                    acl AUTH http_auth(L)\n acl ADMIN http_auth_group(L) admin\n stats http-request auth unless AUTH\n stats admin if ADMIN || LOCALHOST\n";
        match load_sources(&[("fuzz.cfg".to_string(), text.to_string())]) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("the fuzz config does not load: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let config = config();
    let id = config
        .proxies
        .iter()
        .position(|p| p.name == "stats")
        .expect("the stats proxy");
    let mut access = StatsAccess::new(config, id);
    let peer = data.first().map(|b| std::net::IpAddr::from([*b, 1, 2, 3]));
    if let Access::Granted { user, .. } = access.check_from(Some(data), peer) {
        // Only the two users' exact credentials get in.
        let pair = parse_basic(data);
        let pair = pair.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        assert!(
            matches!(pair, Some(("admin", "adminpw") | ("guest", "guest"))),
            "{user:?} got in with {pair:?}"
        );
    }
});

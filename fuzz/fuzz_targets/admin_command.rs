//! The admin socket's command parser on any line never panics, at every level, and its
//! error replies can be written out.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ringlb::config::{load_sources, Config, StatsLevel};
use ringlb::control::socket::command::{parse_at, split_args};

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let text = "global\n stats socket /tmp/x.sock level admin\n\
                    defaults\n mode http\n timeout connect 1s\n timeout client 1s\n timeout server 1s\n\
                    frontend f\n bind 127.0.0.1:1\n default_backend b\n\
                    backend b\n server s1 127.0.0.1:2 check\n server s2 127.0.0.1:3 weight 3\n\
                    backend st\n balance static-rr\n server x 127.0.0.1:4\n";
        match load_sources(&[("fuzz.cfg".to_string(), text.to_string())]) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("the fuzz config does not load: {e}"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = split_args(&line);
    for level in [StatsLevel::User, StatsLevel::Operator, StatsLevel::Admin] {
        match parse_at(&line, config(), level) {
            Ok(command) => {
                let _ = format!("{command:?}");
                let _ = command.level();
            }
            Err(reply) => {
                let _ = reply.len();
            }
        }
    }
});

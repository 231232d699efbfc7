//! `option httplog` lines, as HAProxy writes them.

use crate::backend::Backend;
use crate::client::get;
use crate::harness::{free_port, Ringlb};

#[test]
fn httplog_lines_follow_haproxys_format() {
    let a = Backend::start("a");
    let port = free_port();
    let config = format!(
        "global\n log stdout format raw local0\ndefaults\n log global\n mode http\n option httplog\n option dontlognull\n\
         timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n server s1 127.0.0.1:{}\n",
        a.port
    );
    let lb = Ringlb::start(&config);
    assert_eq!(get(port, "/").status, 200);
    // A probe that sends nothing is not logged (dontlognull).
    drop(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    assert_eq!(get(port, "/headers").status, 200);
    let out = lb.wait_stdout_lines(2);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let line = lines[0];
    // 127.0.0.1:PORT [23/Nov/2026:21:30:32.463] web app/s1 0/0/0/1/1 200 88 - - ---- 1/1/0/0/0 0/0 "GET / HTTP/1.1"
    let (client, rest) = line.split_once(" [").unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{line}");
    let (date, rest) = rest.split_once("] ").unwrap();
    assert_eq!(date.len(), "23/Nov/2026:21:30:32.463".len(), "{line}");
    let fields: Vec<&str> = rest.split(' ').collect();
    assert_eq!(&fields[..2], &["web", "app/s1"], "{line}");
    assert_eq!(fields[2].split('/').count(), 5, "timers: {line}");
    assert_eq!(fields[3], "200", "{line}");
    assert!(fields[4].parse::<u64>().unwrap() > 0, "{line}");
    assert_eq!(&fields[5..8], &["-", "-", "----"], "{line}");
    assert!(line.ends_with(" 0/0 \"GET / HTTP/1.1\""), "{line}");
    assert!(
        lines[1].ends_with("\"GET /headers HTTP/1.1\""),
        "{}",
        lines[1]
    );
}

#[test]
fn syslog_targets_get_framed_lines_at_their_level() {
    use std::os::unix::net::UnixDatagram;
    let a = Backend::start("a");
    let dir = crate::harness::temp_dir("syslog");
    let info = UnixDatagram::bind(dir.join("info.sock")).unwrap();
    let notice = UnixDatagram::bind(dir.join("notice.sock")).unwrap();
    for s in [&info, &notice] {
        s.set_read_timeout(Some(std::time::Duration::from_secs(3)))
            .unwrap();
    }
    let port = free_port();
    // The seed's two targets: everything to local0, only notice and above to local1.
    let config = format!(
        "global\n log {}/info.sock local0\n log {}/notice.sock local1 notice\ndefaults\n log global\n mode http\n option httplog\n\
         timeout connect 1s\n timeout client 5s\n timeout server 5s\n\
         frontend web\n bind 127.0.0.1:{port}\n default_backend app\nbackend app\n server s1 127.0.0.1:{}\n",
        dir.display(),
        dir.display(),
        a.port
    );
    let _lb = Ringlb::start(&config);
    assert_eq!(get(port, "/").status, 200);
    let mut buf = [0u8; 2048];
    let n = info.recv(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <134> = facility local0 (16) * 8 + level info (6).
    assert!(line.starts_with("<134>"), "{line}");
    assert!(line.contains(" ringlb["), "{line}");
    assert!(line.ends_with("\"GET / HTTP/1.1\""), "{line}");
    notice.set_nonblocking(true).unwrap();
    assert!(
        notice.recv(&mut buf).is_err(),
        "traffic logs are info, below a notice target"
    );
}

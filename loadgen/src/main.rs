//! loadgen: ringlb's HTTP/1.1 load generator (filled in by issue #3).

fn main() {
    eprintln!("loadgen: not built yet (issue #3)");
    std::process::exit(2);
}

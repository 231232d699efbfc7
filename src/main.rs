//! The `ringlb` command.

fn main() {}

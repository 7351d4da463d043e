//! Influx line protocol parsing throughput (written with the parser).

fn main() {}

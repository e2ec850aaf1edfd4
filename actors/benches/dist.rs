//! Distribution benchmarks (filled in by the ACD work).
fn main() {}

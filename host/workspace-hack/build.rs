// A build script makes cargo resolve the `[build-dependencies]` above too.
fn main() {}

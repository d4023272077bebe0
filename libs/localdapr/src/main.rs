//! The `localdapr` binary. NOT YET IMPLEMENTED: `run -f` and `sidecar` arrive with the runner.

fn main() {
    eprintln!("localdapr: the command line is not implemented yet");
    std::process::exit(64);
}

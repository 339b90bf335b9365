//! `wscat`: placeholder until the tokio adapter exists (a later issue builds it).

fn main() {
    eprintln!("wscat is not built yet: it needs ws-tokio (see the project issues)");
    std::process::exit(2);
}

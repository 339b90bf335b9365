//! In-memory codec echo: client → server → client through each stack's codec, over byte
//! queues in memory (no sockets, no system calls in the loop), ours against the peers.
//!
//! ```sh
//! scripts/bench-codec.sh                                   # both modes, as in benches/README.md
//! cargo run --release -p ws-benches --bin codec -- --time  # wall-clock only
//! cargo run --release -p ws-benches --bin codec -- --callgrind --sizes 16B,1KiB \
//!     --stacks ws-proto,fastwebsockets --cg-messages 5000
//! ```
//!
//! What one round trip is, and how each stack is driven: `ws_benches::codec`.
//!
//! Modes (both may be given; neither means `--time`):
//! - `--time`: for each size and repetition, every stack in turn (the order rotating between
//!   repetitions) builds its pair, echoes `--warmup` messages, then `--messages` timed ones.
//!   Reported: nanoseconds per message (and messages per second) of the best repetition —
//!   on a shared machine contention only ever slows a loop down, so the minimum is the
//!   estimate least disturbed by it.
//! - `--callgrind`: each stack × size runs once more as a child process (`--run-one`) under
//!   `valgrind --tool=callgrind --collect-atstart=no --toggle-collect=<the measured loop>`:
//!   instructions are counted only inside the function that runs the `--cg-messages`
//!   measured round trips (setup, warm-up and process start-up are not counted), so
//!   instructions per message is the count over `--cg-messages`. Instruction counts do not
//!   depend on what else the machine runs. glibc's `rep movsb` / `rep stosb` paths are
//!   switched off in the children (see `GLIBC_TUNABLES` below: callgrind would count those
//!   per byte). Under valgrind the CPU reports no AVX-512, so
//!   stacks that pick their SIMD code at run time take their AVX2 (or SSE) paths there; one
//!   vector instruction counts as one instruction whatever its width.
//!
//! Every ratio is the stack's cost over the best peer's (the cheapest of the stacks other than
//! ws-proto in that size): lower is better; the issue's target for ws-proto is ≤ 0.87.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use ws_benches::codec::{self, MEASURED_SYMBOL, OURS, STACKS};
use ws_benches::size_label;

/// The environment of the callgrind children: glibc's x86 `memcpy`/`memmove`/`memset` switch
/// to `rep movsb` / `rep stosb` above a few KiB, and callgrind counts every iteration of a
/// `rep` instruction as one instruction, so a 1 MiB copy counts about a million
/// "instructions" where glibc's AVX2 loop executes about 100 000 (and tungstenite's zeroing of
/// its read buffer before each read about 107 000 against 4 000). Raising both
/// thresholds out of reach makes glibc use its vector loops, whose counts track the work done
/// like the rest of the code's do. Every stack runs with it.
const GLIBC_TUNABLES: &str =
    "glibc.cpu.x86_rep_movsb_threshold=4294967295:glibc.cpu.x86_rep_stosb_threshold=4294967295";

/// The ratio the issue asks of ours against the best peer.
const TARGET: f64 = 0.87;

struct Opts {
    time: bool,
    callgrind: bool,
    sizes: Vec<usize>,
    stacks: Vec<String>,
    reps: usize,
    messages: Option<u64>,
    warmup: Option<u64>,
    cg_messages: Option<u64>,
    cg_warmup: Option<u64>,
    cg_dir: Option<PathBuf>,
    valgrind: String,
    out: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: codec [--time] [--callgrind] [--sizes 16B,1KiB,64KiB,1MiB] [--stacks A,B,...] [--reps N]\n\
         \x20            [--messages N] [--warmup N] [--cg-messages N] [--cg-warmup N] [--cg-dir DIR]\n\
         \x20            [--valgrind PATH] [--out FILE]\n\
         \x20      codec --run-one STACK SIZE WARMUP MESSAGES   (one run, what --callgrind measures)\n\
         stacks: {STACKS:?}"
    );
    std::process::exit(2)
}

fn parse_size(s: &str) -> Option<usize> {
    if let Some(n) = s.strip_suffix("MiB") {
        Some(n.parse::<usize>().ok()? << 20)
    } else if let Some(n) = s.strip_suffix("KiB") {
        Some(n.parse::<usize>().ok()? << 10)
    } else {
        s.strip_suffix('B').unwrap_or(s).parse().ok()
    }
}

fn parse_args() -> Opts {
    let mut o = Opts {
        time: false,
        callgrind: false,
        sizes: vec![16, 1 << 10, 64 << 10, 1 << 20],
        stacks: STACKS.iter().map(|s| (*s).to_owned()).collect(),
        reps: 5,
        messages: None,
        warmup: None,
        cg_messages: None,
        cg_warmup: None,
        cg_dir: None,
        valgrind: "valgrind".to_owned(),
        out: None,
    };
    let mut args = std::env::args().skip(1);
    let value = |args: &mut std::iter::Skip<std::env::Args>| args.next().unwrap_or_else(|| usage());
    let number = |v: String| v.parse::<u64>().unwrap_or_else(|_| usage());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--time" => o.time = true,
            "--callgrind" => o.callgrind = true,
            "--sizes" => {
                o.sizes = value(&mut args).split(',').map(|s| parse_size(s).unwrap_or_else(|| usage())).collect();
            }
            "--stacks" => {
                o.stacks = value(&mut args).split(',').map(str::to_owned).collect();
                if let Some(s) = o.stacks.iter().find(|s| !STACKS.contains(&s.as_str())) {
                    eprintln!("unknown stack {s}");
                    usage();
                }
            }
            "--reps" => o.reps = number(value(&mut args)).max(1) as usize,
            "--messages" => o.messages = Some(number(value(&mut args)).max(1)),
            "--warmup" => o.warmup = Some(number(value(&mut args))),
            "--cg-messages" => o.cg_messages = Some(number(value(&mut args)).max(1)),
            "--cg-warmup" => o.cg_warmup = Some(number(value(&mut args))),
            "--cg-dir" => o.cg_dir = Some(value(&mut args).into()),
            "--valgrind" => o.valgrind = value(&mut args),
            "--out" => o.out = Some(value(&mut args)),
            "--run-one" => {
                let stack = value(&mut args);
                let size = parse_size(&value(&mut args)).unwrap_or_else(|| usage());
                let warmup = number(value(&mut args));
                let messages = number(value(&mut args));
                run_one(&stack, size, warmup, messages);
            }
            _ => usage(),
        }
    }
    if !o.time && !o.callgrind {
        o.time = true;
    }
    o
}

/// Timed messages per run of `--time` (about 0.1–0.3 s each on the project's machine).
fn default_messages(size: usize) -> u64 {
    match size {
        0..=4096 => 200_000,
        4097..=131_072 => 4_000,
        _ => 300,
    }
}

/// Measured messages under callgrind (about 50× slower than native).
fn default_cg_messages(size: usize) -> u64 {
    match size {
        0..=4096 => 2_000,
        4097..=131_072 => 200,
        _ => 20,
    }
}

/// `--run-one`: one pair, `warmup` + `messages` round trips, then exit (1 on an error).
fn run_one(stack: &str, size: usize, warmup: u64, messages: u64) -> ! {
    match codec::run(stack, size, warmup, messages) {
        Some(Ok(_)) => std::process::exit(0),
        Some(Err(e)) => {
            eprintln!("codec: {stack} {}: {e}", size_label(size));
            std::process::exit(1)
        }
        None => usage(),
    }
}

/// One table: a value per stack and size (`None`: not measured), lower is better.
struct Table {
    sizes: Vec<usize>,
    stacks: Vec<String>,
    cells: Vec<Vec<Option<f64>>>, // [size][stack]
}

impl Table {
    /// The cheapest stack other than ours in row `i`, with its value.
    fn best_peer(&self, i: usize) -> Option<(&str, f64)> {
        self.stacks
            .iter()
            .zip(&self.cells[i])
            .filter(|(s, _)| s.as_str() != OURS)
            .filter_map(|(s, v)| v.map(|v| (s.as_str(), v)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Markdown: a row per size, a column per stack (`value (ratio to the best peer)`), the
    /// best peer, and whether ours meets the target.
    fn render(&self, title: &str, fmt: impl Fn(f64) -> String) -> String {
        let mut s = format!("### {title}\n\n| size |");
        for st in &self.stacks {
            let _ = write!(s, " {st} |");
        }
        s.push_str(" best peer | ours ≤ 0.87 × best |\n|---|");
        for _ in &self.stacks {
            s.push_str("--:|");
        }
        s.push_str("---|---|\n");
        for (i, &size) in self.sizes.iter().enumerate() {
            let best = self.best_peer(i);
            let _ = write!(s, "| {} |", size_label(size));
            for v in &self.cells[i] {
                match (v, best) {
                    (Some(v), Some((_, b))) => {
                        let _ = write!(s, " {} ({:.2}) |", fmt(*v), v / b);
                    }
                    (Some(v), None) => {
                        let _ = write!(s, " {} |", fmt(*v));
                    }
                    (None, _) => s.push_str(" — |"),
                }
            }
            let ours = self.stacks.iter().position(|st| st == OURS).and_then(|j| self.cells[i][j]);
            match (best, ours) {
                (Some((name, b)), Some(o)) => {
                    let verdict = if o / b <= TARGET { "met" } else { "not met" };
                    let _ = writeln!(s, " {name} | {verdict} ({:.2}) |", o / b);
                }
                (Some((name, _)), None) => {
                    let _ = writeln!(s, " {name} | — |");
                }
                _ => s.push_str(" — | — |\n"),
            }
        }
        s
    }
}

/// A count with a metric suffix: `1234567` → `1.23M`.
fn metric(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A count rounded to a whole number, in groups of three digits: `1128514.3` → `1 128 514`
/// (exact figures: instruction counts do not vary between runs).
fn grouped(v: f64) -> String {
    let digits = format!("{v:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Nanoseconds, three significant digits: `312 ns`, `41.2 µs`.
fn duration(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn time_mode(o: &Opts) -> Result<String, String> {
    let mut table = Table { sizes: o.sizes.clone(), stacks: o.stacks.clone(), cells: Vec::new() };
    for &size in &o.sizes {
        let messages = o.messages.unwrap_or_else(|| default_messages(size));
        let warmup = o.warmup.unwrap_or(messages / 10);
        let mut best = vec![f64::INFINITY; o.stacks.len()];
        for rep in 0..o.reps {
            for k in 0..o.stacks.len() {
                let j = (k + rep) % o.stacks.len();
                let stack = &o.stacks[j];
                let elapsed = codec::run(stack, size, warmup, messages).expect("stacks are checked")?;
                let ns = elapsed.as_nanos() as f64 / messages as f64;
                eprintln!("codec --time: {} {stack} rep {}: {ns:.0} ns/message", size_label(size), rep + 1);
                best[j] = best[j].min(ns);
            }
        }
        table.cells.push(best.into_iter().map(Some).collect());
    }
    let mut s = table.render("Time per echoed message (best of the repetitions; messages/s)", |ns| {
        format!("{} · {}/s", duration(ns), metric(1e9 / ns))
    });
    let _ = writeln!(
        s,
        "\n{} repetitions; timed messages per run: {}.",
        o.reps,
        o.sizes
            .iter()
            .map(|&z| format!("{} {}", size_label(z), o.messages.unwrap_or_else(|| default_messages(z))))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(s)
}

/// The total of the `Ir` events in a callgrind output file (its `totals:` line, or the
/// `summary:` line of older versions).
fn callgrind_total(path: &std::path::Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))
        .ok_or_else(|| format!("{}: no totals line", path.display()))?;
    let n = line.split_whitespace().nth(1).and_then(|v| v.parse().ok());
    n.ok_or_else(|| format!("{}: bad totals line {line:?}", path.display()))
}

fn callgrind_mode(o: &Opts) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = o
        .cg_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("codec-callgrind-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut table = Table { sizes: o.sizes.clone(), stacks: o.stacks.clone(), cells: Vec::new() };
    for &size in &o.sizes {
        let messages = o.cg_messages.unwrap_or_else(|| default_cg_messages(size));
        let warmup = o.cg_warmup.unwrap_or_else(|| (messages / 10).max(2));
        let mut row = Vec::new();
        for stack in &o.stacks {
            let file = dir.join(format!("callgrind.{stack}.{}.out", size_label(size)));
            let status = Command::new(&o.valgrind)
                .env("GLIBC_TUNABLES", GLIBC_TUNABLES)
                .args(["--tool=callgrind", "-q", "--collect-atstart=no"])
                .arg(format!("--toggle-collect={MEASURED_SYMBOL}"))
                .arg(format!("--callgrind-out-file={}", file.display()))
                .arg(&exe)
                .args(["--run-one", stack, &size.to_string(), &warmup.to_string(), &messages.to_string()])
                .status()
                .map_err(|e| format!("running {}: {e}", o.valgrind))?;
            if !status.success() {
                return Err(format!("{stack} {} under callgrind: {status}", size_label(size)));
            }
            let total = callgrind_total(&file)?;
            if total == 0 {
                return Err(format!("{}: nothing collected: is `{MEASURED_SYMBOL}` inlined away?", file.display()));
            }
            let per = total as f64 / messages as f64;
            eprintln!(
                "codec --callgrind: {} {stack}: {total} Ir / {messages} = {per:.0} per message",
                size_label(size)
            );
            row.push(Some(per));
        }
        table.cells.push(row);
    }
    let mut s = table.render("Instructions per echoed message (callgrind)", grouped);
    let _ = writeln!(
        s,
        "\nMeasured messages per stack: {}; callgrind output in {} (`callgrind_annotate FILE`).",
        o.sizes
            .iter()
            .map(|&z| format!("{} {}", size_label(z), o.cg_messages.unwrap_or_else(|| default_cg_messages(z))))
            .collect::<Vec<_>>()
            .join(", "),
        dir.display()
    );
    Ok(s)
}

/// A measurement mode: its markdown table, or what went wrong.
type Mode = fn(&Opts) -> Result<String, String>;

fn main() {
    let o = parse_args();
    let mut report = String::new();
    let parts: [(bool, Mode); 2] = [(o.time, time_mode), (o.callgrind, callgrind_mode)];
    for (on, part) in parts {
        if !on {
            continue;
        }
        match part(&o) {
            Ok(s) => {
                println!("{s}");
                report.push_str(&s);
                report.push('\n');
            }
            Err(e) => {
                eprintln!("codec: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Some(path) = &o.out {
        if let Err(e) = std::fs::write(path, &report) {
            eprintln!("codec: {path}: {e}");
            std::process::exit(1);
        }
    }
}

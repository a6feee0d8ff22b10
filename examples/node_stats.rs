//! Collects node statistics once, as the sink's node-stats thread does, and prints them in text
//! exposition format (no HELP/TYPE, no identity labels): what the node_exporter comparison test
//! reads. With `--bench N` it collects N times and prints the CPU time per collection instead.

use std::path::Path;
use std::time::Instant;

use sparkprom::node::collect;
use sparkprom::node::stat::Stat;

fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a timespec to fill in.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--bench")
        .and_then(|i| args.get(i + 1))
    {
        let n: usize = n.parse().expect("--bench takes a count");
        let mut out = Vec::new();
        collect(Path::new("/"), &mut out);
        let (cpu0, wall0) = (thread_cpu_seconds(), Instant::now());
        for _ in 0..n {
            out.clear();
            collect(Path::new("/"), &mut out);
        }
        let cpu = (thread_cpu_seconds() - cpu0) / n as f64;
        let wall = wall0.elapsed().as_secs_f64() / n as f64;
        println!(
            "node statistics: {} readings per collection, {:.1} us CPU and {:.1} us wall per collection ({n} collections)",
            out.len(),
            cpu * 1e6,
            wall * 1e6
        );
        return;
    }
    let mut out: Vec<Stat> = Vec::new();
    collect(Path::new("/"), &mut out);
    for r in out {
        let labels: Vec<String> = r
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        println!("{}{{{}}} {}", r.family.name, labels.join(","), r.value);
    }
}

//! One measurement per process (`tables.py` runs them):
//!
//! - `zstd LEVEL BYTES CONTEXTS`: resident-set growth per zstd context, as
//!   parquet's `ZSTDCodec` keeps them (a bulk compressor and decompressor
//!   per column writer), each having compressed one input of `BYTES`.
//! - `brotli QUALITY BYTES`: the heap's peak over one compression of
//!   `BYTES`, as parquet's `BrotliCodec` compresses a page.
//!
//! Inputs are English-like text (words of a 5,000-word vocabulary), which
//! touched more of a zstd context than integers or random bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    PEAK.fetch_max(NOW.fetch_add(by, SeqCst) + by, SeqCst);
}

// SAFETY: forwards every call to `System` unchanged, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), SeqCst);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        match new > layout.size() {
            true => grew(new - layout.size()),
            false => _ = NOW.fetch_sub(layout.size() - new, SeqCst),
        }
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    let kib: usize = line[6..].trim().trim_end_matches("kB").trim().parse().expect("kB");
    kib << 10
}

fn text(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 8);
    let mut x: u64 = 12345;
    while out.len() < bytes {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("v{:05} ", (x >> 33) % 5000).as_bytes());
    }
    out.truncate(bytes);
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| -> i64 { args[i].parse().expect("a number") };
    let input = text(arg(3) as usize);
    match args[1].as_str() {
        "zstd" => {
            let contexts = arg(4) as usize;
            // Touched before the first reading: only the contexts grow.
            let mut out = vec![0u8; zstd::zstd_safe::compress_bound(input.len())];
            let before = resident();
            let kept: Vec<_> = (0..contexts)
                .map(|_| {
                    let mut c = zstd::bulk::Compressor::new(arg(2) as i32).expect("level");
                    c.compress_to_buffer(&input, &mut out).expect("compress");
                    (c, zstd::bulk::Decompressor::new().expect("decompressor"))
                })
                .collect();
            let per = (resident() - before) / contexts;
            drop(kept);
            println!("{per}");
        }
        "brotli" => {
            let mut out = Vec::with_capacity(input.len() * 2 + 1024);
            let before = NOW.load(SeqCst);
            PEAK.store(before, SeqCst);
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, arg(2) as u32, 22);
            w.write_all(&input).expect("compress");
            w.flush().expect("flush");
            drop(w);
            println!("{}", PEAK.load(SeqCst) - before);
        }
        other => panic!("zstd or brotli, not {other}"),
    }
}

//! What machine a benchmark ran on, and today's date, for saved results.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Machine {
    /// A short name for file names: the CPU model and logical CPU count.
    pub name: String,
    pub cpu: String,
    pub logical_cpus: usize,
    pub arch: String,
    pub kernel: String,
    pub libc: String,
    /// UTC, ISO 8601.
    pub date: String,
    /// The 1, 5 and 15 minute load averages when the run started: other work on the machine
    /// shows up here and in the spread of the results.
    #[serde(default)]
    pub load_average: [f64; 3],
}

impl Machine {
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
            .unwrap_or_else(|| "unknown CPU".to_string());
        let logical_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "unknown".into(), |s| s.trim().to_string());
        let name = format!("{}-{}cpu", slug(&cpu), logical_cpus);
        Machine {
            name,
            cpu,
            logical_cpus,
            arch: std::env::consts::ARCH.to_string(),
            kernel,
            libc: libc_version(),
            date: now_iso8601(),
            load_average: load_average(),
        }
    }
}

fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut v = text.split_whitespace().map(|x| x.parse().unwrap_or(0.0));
    [v.next().unwrap_or(0.0), v.next().unwrap_or(0.0), v.next().unwrap_or(0.0)]
}

fn libc_version() -> String {
    // SAFETY: gnu_get_libc_version returns a static, NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(gnu_get_libc_version()) };
    format!("glibc {}", v.to_string_lossy())
}

extern "C" {
    fn gnu_get_libc_version() -> *const std::ffi::c_char;
}

/// Lower-case words of the CPU model, without trademarks and frequency: "amd-epyc-7b13".
fn slug(cpu: &str) -> String {
    let model = cpu.split('@').next().unwrap_or(cpu);
    let words: Vec<String> = model
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .filter(|w| !["r", "tm", "cpu", "processor", "core", "with", "radeon", "graphics"].contains(&w.as_str()))
        .take_while(|w| !w.ends_with("ghz"))
        .take(4)
        .collect();
    if words.is_empty() {
        "unknown".into()
    } else {
        words.join("-")
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for now.
pub fn now_iso8601() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_and_slugs() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(super::slug("AMD EPYC 7B13 64-Core Processor"), "amd-epyc-7b13-64");
        assert_eq!(super::slug("Intel(R) Xeon(R) CPU @ 2.20GHz"), "intel-xeon");
    }
}

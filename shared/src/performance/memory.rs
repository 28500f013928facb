//! The memory guard: resident memory, read from the OS, against the memory the function is
//! configured with. Above [`SHED_PERCENT`] the container's caches are emptied (and the action
//! recorded); above [`RECOMMEND_PERCENT`] the recommendations say so.

use serde::{Deserialize, Serialize};

pub const SHED_PERCENT: f64 = 85.0;
pub const RECOMMEND_PERCENT: f64 = 80.0;

/// Resident memory and the limit it is held against.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemoryReading {
    pub rss_mb: f64,
    /// The function's configured memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`); absent outside
    /// Lambda unless set.
    pub limit_mb: Option<f64>,
    pub percent: Option<f64>,
}

/// What a reading calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryVerdict {
    Fine,
    Recommend,
    Shed,
}

impl MemoryReading {
    pub fn new(rss_bytes: u64, limit_mb: Option<f64>) -> Self {
        let rss_mb = rss_bytes as f64 / (1024.0 * 1024.0);
        let limit_mb = limit_mb.filter(|l| l.is_finite() && *l > 0.0);
        Self { rss_mb, limit_mb, percent: limit_mb.map(|l| rss_mb / l * 100.0) }
    }

    pub fn verdict(&self) -> MemoryVerdict {
        match self.percent {
            Some(p) if p > SHED_PERCENT => MemoryVerdict::Shed,
            Some(p) if p > RECOMMEND_PERCENT => MemoryVerdict::Recommend,
            _ => MemoryVerdict::Fine,
        }
    }
}

/// This process's resident set size, from `/proc/self/status` (`VmRSS`); `None` where there is
/// no procfs.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_by_share_of_the_configured_memory() {
        let mb = 1024 * 1024;
        let table = [
            (400 * mb, Some(512.0), MemoryVerdict::Fine),
            (420 * mb, Some(512.0), MemoryVerdict::Recommend),
            (436 * mb, Some(512.0), MemoryVerdict::Shed),
            (4000 * mb, None, MemoryVerdict::Fine),
            (4000 * mb, Some(0.0), MemoryVerdict::Fine),
        ];
        for (rss, limit, verdict) in table {
            let reading = MemoryReading::new(rss, limit);
            assert_eq!(reading.verdict(), verdict, "{reading:?}");
        }
        assert!((MemoryReading::new(256 * mb, Some(512.0)).percent.unwrap() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn rss_is_read_from_procfs() {
        let status = "Name:\tcommander\nVmPeak:\t  9000 kB\nVmRSS:\t   12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        if cfg!(target_os = "linux") {
            assert!(resident_bytes().is_some_and(|b| b > 1024 * 1024), "this process uses over a MB");
        }
    }
}

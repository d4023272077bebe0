//! What Linux's `/proc` says about the suite's processes: who a process's children are, and how
//! much memory each holds (resident set size).

use std::path::Path;

/// The children of `parent`, by command name (`comm`), with their pids.
pub fn children(parent: u32) -> Vec<(String, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children: Vec<(String, u32)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            (parent_of(&stat)? == parent).then_some(pid)
        })
        .filter_map(|pid| {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((name.trim().to_string(), pid))
        })
        .collect();
    children.sort();
    children
}

/// The parent pid in a `/proc/<pid>/stat` line: the field after the `)` that ends the name.
fn parent_of(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The resident set size of `pid` in MiB, or `None` when it is gone.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The size of a file in MiB.
pub fn file_mib(path: &Path) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)]
    std::fs::metadata(path)
        .ok()
        .map(|metadata| metadata.len() as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_parent_after_a_name_with_spaces_and_parens() {
        assert_eq!(parent_of("42 (a (b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_of("garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(rss_mib(me).is_some_and(|mib| mib > 0.0));
        let parent = std::fs::read_to_string(format!("/proc/{me}/stat"))
            .ok()
            .and_then(|stat| parent_of(&stat));
        let siblings = parent.map(children).unwrap_or_default();
        assert!(siblings.iter().any(|(_, pid)| *pid == me), "{siblings:?}");
    }
}

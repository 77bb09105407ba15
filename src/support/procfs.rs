//! Reading Linux's `/proc` (a process's memory, threads and CPU time, the load
//! average), each file parsed by a pure function tested on in-memory text.

/// A field of `/proc/PID/status` (e.g. `VmRSS` in kB, `Threads`).
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_field(&status, field)
}

/// The number after `field:` in the text of `/proc/PID/status`.
pub fn parse_status_field(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// CPU time (user + system, all threads) a process has used so far, in clock
/// ticks (`USER_HZ`, which Linux fixes at 100 a second on every architecture).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_cpu_ticks(&stat)
}

/// [`cpu_ticks`] in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    Some(cpu_ticks(pid)? as f64 / 100.0)
}

/// utime + stime from `/proc/PID/stat`: fields 14 and 15, counted after the
/// command name, which is in parentheses and may itself hold spaces or `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// The machine's one-minute load average, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let status =
            "Name:\tchat-server\nVmHWM:\t   50000 kB\nVmRSS:\t   45228 kB\nThreads:\t4002\n";
        assert_eq!(parse_status_field(status, "VmRSS"), Some(45228));
        assert_eq!(parse_status_field(status, "VmHWM"), Some(50000));
        assert_eq!(parse_status_field(status, "Threads"), Some(4002));
        assert_eq!(parse_status_field(status, "VmSwap"), None);
        assert_eq!(parse_status_field("VmRSS:\tlots kB\n", "VmRSS"), None);
    }

    #[test]
    fn cpu_ticks_from_proc_stat() {
        let stat = "4242 (chat (x) server) S 1 4242 1 0 -1 4194560 500 0 0 0 \
                    150 25 0 0 20 0 2002 0 123 1234567 890 18446744073709551615\n";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(175));
        assert_eq!(parse_stat_cpu_ticks("4242 (short) S 1 2"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(load_average().is_some());
    }
}

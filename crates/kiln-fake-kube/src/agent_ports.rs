//! Ports for kiln agents in port-forward mode. The fake's pods share the host network, so
//! every agent of every test listens on a real port of 127.0.0.1.

/// `count` free ports in a row. A process-wide cursor hands every caller its own range, so
/// tests running in parallel never get overlapping ranges; the ranges lie below the kernel's
/// ephemeral range (32768 and up), so no outgoing connection takes one of them between the
/// check and the agent's bind; the start depends on the process id, so test binaries running
/// at the same time mostly use different ranges, and a port another process holds is skipped.
///
/// # Panics
/// When no such range is free (test support: the test cannot go on).
pub fn free_agent_ports(count: u16) -> u16 {
    const FIRST: u16 = 20_000;
    const END: u16 = 32_000;
    static NEXT: std::sync::Mutex<Option<u16>> = std::sync::Mutex::new(None);
    let mut next = NEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let span = END - FIRST;
    let start = FIRST + u16::try_from(std::process::id() % u32::from(span)).unwrap_or(0);
    let mut base = next.unwrap_or(start);
    for _ in 0..span {
        if base.saturating_add(count) > END {
            base = FIRST;
        }
        let all_free =
            (base..base + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        let found = base;
        base += count;
        if all_free {
            *next = Some(base);
            return found;
        }
    }
    panic!("no {count} free ports in a row between {FIRST} and {END}");
}

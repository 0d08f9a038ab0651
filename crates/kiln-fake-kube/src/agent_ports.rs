//! Ports for kiln agents in port-forward mode. The fake's pods share the host network, so
//! every agent of every test listens on a real port of 127.0.0.1.

use std::fs::File;
use std::sync::{Mutex, PoisonError};

use nix::fcntl::{Flock, FlockArg};

/// The range handed out: below the kernel's ephemeral range (32768 and up), so no outgoing
/// connection takes one of these ports between the check and the agent's bind.
const FIRST: u16 = 20_000;
const END: u16 = 32_000;
/// Ports per block; a process takes whole blocks.
const BLOCK: u16 = 200;

/// The blocks this process holds and the next port of the newest.
struct Cursor {
    next: u16,
    end: u16,
    held: Vec<(u16, Flock<File>)>,
}

static CURSOR: Mutex<Cursor> = Mutex::new(Cursor {
    next: 0,
    end: 0,
    held: Vec::new(),
});

/// `count` free ports in a row. Test processes running at the same time (two `cargo test`s,
/// or engineers sharing a machine) never get overlapping ranges: each process takes blocks of
/// ports under an exclusive lock on a file per block (in the temporary directory; the lock
/// goes when the process exits), and hands out the ports of its blocks one range per caller.
/// A port another program holds is skipped.
///
/// # Panics
/// When no such range is free (test support: the test cannot go on).
pub fn free_agent_ports(count: u16) -> u16 {
    assert!(count <= BLOCK, "at most {BLOCK} agent ports in a row");
    let mut cursor = CURSOR.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if cursor.next + count > cursor.end {
            let (block, lock) = claim_block(&cursor.held);
            cursor.next = FIRST + block * BLOCK;
            cursor.end = cursor.next + BLOCK;
            cursor.held.push((block, lock));
        }
        let base = cursor.next;
        cursor.next += count;
        if (base..base + count).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
}

/// Locks a block no process holds (starting at one that depends on the process id, so that
/// processes rarely contend for the same lock).
fn claim_block(held: &[(u16, Flock<File>)]) -> (u16, Flock<File>) {
    let blocks = (END - FIRST) / BLOCK;
    let dir = std::env::temp_dir().join("kiln-fake-kube-agent-ports");
    let _ = std::fs::create_dir_all(&dir);
    let first = u16::try_from(std::process::id() % u32::from(blocks)).unwrap_or(0);
    for i in 0..blocks {
        let block = (first + i) % blocks;
        if held.iter().any(|(b, _)| *b == block) {
            continue;
        }
        let path = dir.join(format!("block-{block}"));
        let Ok(file) = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        else {
            continue;
        };
        if let Ok(lock) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            return (block, lock);
        }
    }
    panic!(
        "no free block of {BLOCK} agent ports between {FIRST} and {END} (locks in {})",
        dir.display()
    );
}

//! Open connections per client address, bounded: one address cannot hold every socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The count of open connections by client address.
#[derive(Clone)]
pub struct Clients {
    limit: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a client; the count goes down when it is dropped.
pub struct ClientSlot {
    addr: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Clients {
    pub fn new(limit: usize) -> Clients {
        Clients {
            limit,
            open: Arc::default(),
        }
    }

    /// A slot for a new connection from `addr`, or `None` when it has `limit` open already.
    pub fn admit(&self, addr: IpAddr) -> Option<ClientSlot> {
        let mut open = lock(&self.open);
        let count = open.entry(addr).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            addr,
            open: self.open.clone(),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        if let Some(count) = open.get_mut(&self.addr) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

fn lock(open: &Mutex<HashMap<IpAddr, usize>>) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_own_bound_and_slots_come_back() {
        let clients = Clients::new(2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = clients.admit(a).unwrap();
        let _second = clients.admit(a).unwrap();
        assert!(clients.admit(a).is_none());
        assert!(clients.admit(b).is_some());
        drop(first);
        assert!(clients.admit(a).is_some());
        assert!(lock(&clients.open).get(&b).is_none());
    }
}

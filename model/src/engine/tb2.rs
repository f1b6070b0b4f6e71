//! The bind hash's port-and-address groups (`struct inet_bind2_bucket`, `bhash2`), and the
//! one thing the model keeps of them: whether a group's own caches say "made by connect()"
//! (`tb2->fastreuse == -1 && tb2->fastreuseport == -1`).
//!
//! Linux 6.18 ("tcp: Update bind bucket state on port release", variant
//! `bind_owned_port_release=back_to_connect`) hands a port back to connect()'s ephemeral search
//! when an owner leaves it and every group of the port says "made by connect()"
//! (`inet_bind_bucket_destroy()`). A group says so when connect() made it
//! (`__inet_hash_connect()`), or when an owner left it and every owner left got its port from
//! connect() (`inet_bind2_bucket_destroy()`, `sk_is_connect_bind()`); a bind that joins it
//! copies the port's caches into it (`inet_csk_update_fastreuse()`), which a bind never leaves
//! at -1. A socket whose address changes while it is bound (connect() picks the source of a
//! wildcard-bound socket, a failed connect() resets it: `inet_bhash2_update_saddr()`) joins
//! the group of its new address *as that group is*: a socket that got its port from bind()
//! can so sit in a group that says "made by connect()", and once the TIME-WAIT it took over
//! leaves, its explicitly bound port is connect()'s again.

use std::net::IpAddr;

use super::Model;
use super::sock::{Sk, SkId};

/// A group of the bind hash: the namespace, the port, and the bound address as
/// `inet_bind2_bucket_match()` compares it (a v4-mapped IPv6 address as its IPv4 one).
pub(crate) type Tb2Key = (crate::op::Host, u16, IpAddr);

impl Model {
    /// The group `sk` is in on `port`.
    pub(super) fn tb2_key(sk: &Sk, port: u16) -> Tb2Key {
        let ip = match sk.local_ip {
            IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
            v4 => v4,
        };
        (sk.host, port, ip)
    }

    /// The owners (sockets and minisockets) of group `key`, `except` one.
    fn tb2_owners(&self, key: Tb2Key, except: SkId) -> Vec<SkId> {
        self.sks
            .iter()
            .filter(|(id, s)| **id != except && s.bound && Self::tb2_key(s, s.port) == key)
            .map(|(id, _)| *id)
            .collect()
    }

    /// `__inet_hash_connect()` binds `id` to `port` (called before it is bound): a group it
    /// makes says "made by connect()", one it joins keeps what it says.
    pub(super) fn tb2_connect_joins(&mut self, id: SkId, port: u16) {
        let key = Self::tb2_key(self.sk(id), port);
        if self.tb2_owners(key, id).is_empty() {
            self.connect_made_tb2.insert(key);
        }
    }

    /// `inet_csk_update_fastreuse()` for `id` on `port`: its group takes the port's caches,
    /// which a bind or a `listen()` never leaves at -1.
    pub(super) fn tb2_bind_joins(&mut self, id: SkId, port: u16) {
        let key = Self::tb2_key(self.sk(id), port);
        self.connect_made_tb2.remove(&key);
    }

    /// `inet_bhash2_update_saddr()`: `change` sets a new address on `id`; a bound socket
    /// leaves its group for the new address's, which it makes (saying nothing of connect())
    /// or joins as it is.
    pub(super) fn tb2_readdress(&mut self, id: SkId, change: impl FnOnce(&mut Sk)) {
        let (bound, port) = {
            let s = self.sk(id);
            (s.bound, s.port)
        };
        let old = Self::tb2_key(self.sk(id), port);
        change(self.sk_mut(id));
        let new = Self::tb2_key(self.sk(id), port);
        if !bound || old == new {
            return;
        }
        self.tb2_left(old, id);
        if self.tb2_owners(new, id).is_empty() {
            self.connect_made_tb2.remove(&new);
        }
    }

    /// `inet_bind2_bucket_destroy()` once `id` has left group `key`: an empty group goes;
    /// otherwise, when every owner left got its port from connect(), it says "made by
    /// connect()".
    pub(super) fn tb2_left(&mut self, key: Tb2Key, id: SkId) {
        let rest = self.tb2_owners(key, id);
        if rest.is_empty() {
            self.connect_made_tb2.remove(&key);
        } else if rest.iter().all(|o| self.sk(*o).connect_bind) {
            self.connect_made_tb2.insert(key);
        }
    }

    /// Whether every group of `port` on `host` says "made by connect()" (false with no
    /// owner).
    pub(super) fn tb2_all_connect_made(&self, host: crate::op::Host, port: u16) -> bool {
        let owners = self.owners(host, port);
        !owners.is_empty()
            && owners.iter().all(|o| {
                let s = self.sk(*o);
                self.connect_made_tb2.contains(&Self::tb2_key(s, s.port))
            })
    }
}

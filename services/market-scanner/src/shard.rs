//! Which symbols a scanner replica owns.
//!
//! A replica configured as `scanner.shard = "I/N"` owns every symbol whose FNV-1a 64-bit hash
//! of the symbol's UTF-8 bytes, modulo N, equals I. FNV-1a is fixed by its specification (offset
//! basis 0xcbf29ce484222325, prime 0x100000001b3), so every replica, every restart and every
//! client computes the same partition; std's `RandomState` would differ per process.

use fff_runtime::config::ShardSpec;

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, over `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(FNV_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    })
}

/// One replica's slice of the universe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole universe.
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// Replica `index` of `count`; `None` unless `index < count`.
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (index < count).then_some(Self { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The shard (0-based) that owns `symbol` when there are `count` shards.
    pub fn owner_of(symbol: &str, count: u32) -> u32 {
        let count = u64::from(count.max(1));
        // the remainder is below `count`, which came from a u32
        u32::try_from(fnv1a64(symbol.as_bytes()) % count).unwrap_or(0)
    }

    /// Whether this replica scores `symbol`.
    pub fn owns(self, symbol: &str) -> bool {
        Self::owner_of(symbol, self.count) == self.index
    }
}

impl From<ShardSpec> for Shard {
    fn from(spec: ShardSpec) -> Self {
        Self::new(spec.index, spec.count).unwrap_or(Self::ALL)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_test_vectors() {
        // from the FNV reference test suite (Noll)
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn replicas_cover_every_symbol_exactly_once() {
        let symbols: Vec<String> = (0..2000).map(|i| format!("SYM{i}USDT")).collect();
        for count in 1..=7 {
            let shards: Vec<Shard> = (0..count).map(|i| Shard::new(i, count).unwrap()).collect();
            for symbol in &symbols {
                let owners = shards.iter().filter(|s| s.owns(symbol)).count();
                assert_eq!(owners, 1, "{symbol} with {count} shards");
            }
        }
    }

    #[test]
    fn partition_is_reasonably_balanced() {
        let count = 3;
        let mut sizes = [0usize; 3];
        for i in 0..3000 {
            sizes[Shard::owner_of(&format!("S{i}USDT"), count) as usize] += 1;
        }
        for size in sizes {
            assert!((800..1200).contains(&size), "{sizes:?}");
        }
    }

    #[test]
    fn index_must_be_below_count() {
        assert!(Shard::new(3, 3).is_none());
        assert!(Shard::new(0, 0).is_none());
        assert_eq!(Shard::new(2, 3).unwrap().to_string(), "2/3");
    }
}

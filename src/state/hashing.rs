//! HAProxy's hash functions (`src/hash.c`, `full_hash` in `src/tools.c`), bit for bit: the
//! same key must pick the same server in ringlb as in HAProxy.

use crate::config::{HashFunction, HashType};

/// `sdbm`: HAProxy's default.
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// `djb2`.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// `wt6`, Willy Tarreau's hash.
pub fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        // `x << s | x >> (32 - s)` with s in 0..32: a rotation (C's shift by 32 of the
        // s == 0 case is undefined; x86 masks it to 0, which a rotation reproduces).
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// `crc32`: the IEEE CRC-32 (as zlib's `crc32`).
pub fn crc32(key: &[u8]) -> u32 {
    let mut hash = !0u32;
    for &c in key {
        hash ^= u32::from(c);
        for _ in 0..8 {
            hash = (hash >> 1) ^ if hash & 1 != 0 { 0xedb8_8320 } else { 0 };
        }
    }
    !hash
}

/// `full_hash`: Bob Jenkins' integer avalanche, then a multiplication by a prime near 3/4 of
/// 2^32. It places consistent-hash points and implements the `avalanche` modifier.
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// A string key's hash under `hash_type` (HAProxy's `gen_hash`, then `avalanche`).
pub fn hash_bytes(hash_type: HashType, key: &[u8]) -> u32 {
    let h = match hash_type.function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
    };
    finish(hash_type, h)
}

/// Applies the `avalanche` modifier when `hash_type` has it.
pub fn finish(hash_type: HashType, h: u32) -> u32 {
    if hash_type.avalanche {
        full_hash(h)
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by HAProxy 2.6.0's own src/hash.c and full_hash, compiled
    // as they are (gcc -O2, x86-64).
    const KEYS: [&[u8]; 6] = [
        b"",
        b"a",
        b"hello",
        b"/index.html",
        b"123456789",
        b"www.example.com",
    ];

    fn check(f: fn(&[u8]) -> u32, expected: [u32; 6]) {
        for (key, want) in KEYS.iter().zip(expected) {
            assert_eq!(f(key), want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn sdbm_matches_haproxy() {
        check(
            sdbm,
            [0, 0x61, 0x28d1_9932, 0x3324_2976, 0x68a0_7035, 0xa204_b186],
        );
        // The textbook recurrence h = c + 65599 * h.
        assert_eq!(sdbm(b"ab"), 97 * 65599 + 98);
    }

    #[test]
    fn djb2_matches_haproxy() {
        check(
            djb2,
            [
                0x1505,
                0x0002_b606,
                0x0f92_3099,
                0xe114_b9cf,
                0x35cd_bb82,
                0xa978_8331,
            ],
        );
    }

    #[test]
    fn wt6_matches_haproxy() {
        check(
            wt6,
            [
                0xf99a_0360,
                0x714b_f225,
                0xd2e6_e6b7,
                0x3101_077e,
                0x84a1_6c1d,
                0x2481_09f7,
            ],
        );
    }

    #[test]
    fn crc32_matches_haproxy() {
        check(
            crc32,
            [
                0,
                0xe8b7_be43,
                0x3610_a686,
                0xea22_4b42,
                0xcbf4_3926,
                0x2ed6_42bb,
            ],
        );
    }

    #[test]
    fn full_hash_matches_haproxy() {
        assert_eq!(full_hash(0), 0xab4e_d927);
        assert_eq!(full_hash(1), 0x3486_81b6);
        assert_eq!(full_hash(4096), 0x49c2_008b);
        assert_eq!(full_hash(4097), 0xa497_2c87);
        assert_eq!(full_hash(0x7f00_0001), 0x8a1b_584b);
    }

    #[test]
    fn avalanche_applies_full_hash() {
        let mut t = HashType::default();
        assert_eq!(hash_bytes(t, b"hello"), 0x28d1_9932);
        t.avalanche = true;
        assert_eq!(hash_bytes(t, b"hello"), full_hash(0x28d1_9932));
        t.function = HashFunction::Crc32;
        assert_eq!(hash_bytes(t, b"123456789"), full_hash(0xcbf4_3926));
    }
}

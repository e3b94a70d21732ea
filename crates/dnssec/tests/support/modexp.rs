//! Test-only modular exponentiation on small unsigned big integers (big-endian byte strings),
//! slow and simple: enough to check an RFC 5702 signature made with a 512-bit RSA key, which
//! `ring` refuses (it verifies from 1024 bits and signs from 2048). Never used by the crate.

/// Little-endian 64-bit limbs, one limb more than the modulus needs (room for a carry).
type Limbs = Vec<u64>;

fn from_be(bytes: &[u8], limbs: usize) -> Limbs {
    let mut out = vec![0u64; limbs];
    for (i, byte) in bytes.iter().rev().enumerate() {
        out[i / 8] |= u64::from(*byte) << (8 * (i % 8));
    }
    out
}

fn to_be(value: &Limbs, len: usize) -> Vec<u8> {
    (0..len).rev().map(|i| (value[i / 8] >> (8 * (i % 8))) as u8).collect()
}

fn ge(a: &Limbs, b: &Limbs) -> bool {
    a.iter().rev().cmp(b.iter().rev()) != std::cmp::Ordering::Less
}

fn sub_in_place(a: &mut Limbs, b: &Limbs) {
    let mut borrow = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(*y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *x = d2;
        borrow = u64::from(b1 || b2);
    }
}

fn add_in_place(a: &mut Limbs, b: &Limbs) {
    let mut carry = 0u64;
    for (x, y) in a.iter_mut().zip(b) {
        let (s1, c1) = x.overflowing_add(*y);
        let (s2, c2) = s1.overflowing_add(carry);
        *x = s2;
        carry = u64::from(c1 || c2);
    }
}

/// `a * b mod n` by double-and-add over the bits of `b`; `a < n`.
fn mul_mod(a: &Limbs, b: &Limbs, n: &Limbs) -> Limbs {
    let mut r = vec![0u64; n.len()];
    for bit in (0..64 * b.len()).rev() {
        let copy = r.clone();
        add_in_place(&mut r, &copy);
        if ge(&r, n) {
            sub_in_place(&mut r, n);
        }
        if (b[bit / 64] >> (bit % 64)) & 1 == 1 {
            add_in_place(&mut r, a);
            if ge(&r, n) {
                sub_in_place(&mut r, n);
            }
        }
    }
    r
}

/// `base^exponent mod modulus`, all big-endian; the result has the modulus' length.
pub fn mod_pow(base: &[u8], exponent: &[u8], modulus: &[u8]) -> Vec<u8> {
    let limbs = modulus.len() / 8 + 2;
    let n = from_be(modulus, limbs);
    let b = from_be(base, limbs);
    assert!(!ge(&b, &n), "base must be below the modulus");
    let mut result = from_be(&[1], limbs);
    for byte in exponent {
        for bit in (0..8).rev() {
            result = mul_mod(&result, &result, &n);
            if (byte >> bit) & 1 == 1 {
                result = mul_mod(&result, &b, &n);
            }
        }
    }
    to_be(&result, modulus.len())
}

#[test]
fn small_numbers() {
    assert_eq!(mod_pow(&[4], &[13], &[1, 241]), vec![1, 189]); // 4^13 mod 497 = 445
    assert_eq!(mod_pow(&[2], &[0], &[7]), vec![1]);
}

//! One account's features over a sliding window of about a minute: two halves of
//! [`HALF_SECS`] each, the older dropped when a third begins, so the window covers the last 30
//! to 60 seconds. Everything is fixed-size (no allocation): distinct labels and names are
//! linear-counting bitmaps (Whang et al., 1990) of keyed hashes ([`super::hash`]), the characters of new labels a
//! histogram, the qtype mix and NXDOMAIN answers counters.
//!
//! The features (SECURITY-REFERENCE §4.1):
//! - **information**: the octets of labels new to the window (counted by position from the
//!   registered domain, so an `ip6.arpa` sweep or a DNSBL's reversed addresses, whose labels
//!   repeat, add little) times the window's order-0 entropy: an estimate of their compressed size;
//! - **randomness**: that entropy over the maximum of the smallest character class holding
//!   every character seen (hex 16, digits 10, Base32 32, letters-digits-hyphen 37, mixed case
//!   63, anything else 128), so hex is not taken for plain text nor Base64 for noise;
//! - **distinct names** in the window;
//! - **carriers**: qtypes that tunnels carry data in: NULL, PRIVATE (65280-65534), KEY count
//!   fully, TXT, CNAME, MX and SRV half;
//! - **NXDOMAIN ratio**.

/// Seconds per half of the window.
pub const HALF_SECS: u64 = 30;
/// Bits of the distinct-label bitmap.
const LABEL_WORDS: usize = 16;
/// Bits of the distinct-name bitmap.
const NAME_WORDS: usize = 8;
/// Character bins: the low seven bits of each octet.
const BINS: usize = 128;

/// Character classes seen (bit flags).
const DIGIT: u8 = 1;
const DIGIT_6_TO_9: u8 = 2;
const HEX_LETTER: u8 = 4;
const OTHER_LETTER: u8 = 8;
const UPPER: u8 = 16;
const HYPHEN: u8 = 32;
const OTHER: u8 = 64;

/// The features of one half window.
#[derive(Clone, Copy)]
pub struct Half {
    start: u64,
    labels: [u64; LABEL_WORDS],
    names: [u64; NAME_WORDS],
    chars: [u16; BINS],
    queries: u16,
    /// Carrier qtypes, two per strong carrier and one per weak one.
    carriers: u16,
    nxdomains: u16,
    new_chars: u32,
}

impl Half {
    const EMPTY: Self =
        Self { start: 0, labels: [0; LABEL_WORDS], names: [0; NAME_WORDS], chars: [0; BINS], queries: 0, carriers: 0, nxdomains: 0, new_chars: 0 };
}

/// What the window says, combined into one score by [`Features::score`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Features {
    /// Estimated information in new labels, octets.
    pub information: f64,
    /// Entropy over the maximum of the character class, 0 to 1.
    pub randomness: f64,
    /// Distinct names (estimate).
    pub names: f64,
    /// Share of carrier qtypes, 0 to 1.
    pub carriers: f64,
    /// Share of NXDOMAIN answers, 0 to 1.
    pub nxdomain: f64,
    /// Queries.
    pub queries: u32,
}

/// The thresholds the score is measured against.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    /// Information a window may carry before it counts fully (octets a minute).
    pub budget: f64,
    /// Distinct names a window may hold before they count fully.
    pub names: f64,
}

impl Features {
    /// The combined score: information over the budget, weighted by randomness, raised by the
    /// carrier mix, NXDOMAIN ratio and distinct names. No weak signal reaches 1.0 alone: without
    /// information the product is 0, and information needs random-looking labels or carriers to
    /// count fully.
    pub fn score(&self, scale: Scale) -> f64 {
        let information = self.information / scale.budget.max(1.0);
        let randomness = ((self.randomness - 0.80) / 0.15).clamp(0.0, 1.0);
        let nxdomain = if self.queries >= 20 { ((self.nxdomain - 0.3) / 0.4).clamp(0.0, 1.0) } else { 0.0 };
        let names = (self.names / scale.names.max(1.0)).min(1.0);
        information * (0.3 + 0.7 * randomness) * (1.0 + 1.5 * self.carriers + nxdomain + 0.5 * names)
    }
}

/// The largest factor [`Features::score`] puts on information over the budget.
const MAX_FACTOR: f64 = 1.0 + 1.5 + 1.0 + 0.5;

/// One account's two halves.
#[derive(Clone, Copy)]
pub struct Window {
    halves: [Half; 2],
    current: usize,
}

impl Window {
    /// An empty window.
    pub const EMPTY: Self = Self { halves: [Half::EMPTY; 2], current: 0 };

    /// Moves the window to `now` (seconds): a new half after [`HALF_SECS`], an empty window
    /// after two.
    pub fn advance(&mut self, now: u64) {
        let start = now - now % HALF_SECS;
        let current = &self.halves[self.current];
        if current.start >= start {
            return;
        }
        if current.start + HALF_SECS != start {
            return self.clear(now);
        }
        self.current ^= 1;
        let half = &mut self.halves[self.current];
        *half = Half::EMPTY;
        half.start = start;
    }

    /// Empties the window in place, its current half starting at `now`'s (seconds).
    pub fn clear(&mut self, now: u64) {
        self.halves = [Half::EMPTY; 2];
        self.current = 0;
        self.halves[0].start = now - now % HALF_SECS;
    }

    /// Counts one query of `qtype`.
    pub fn query(&mut self, qtype: u16) {
        let half = &mut self.halves[self.current];
        half.queries = half.queries.saturating_add(1);
        half.carriers = half.carriers.saturating_add(carrier_weight(qtype));
    }

    /// Counts one NXDOMAIN answer.
    pub fn nxdomain(&mut self) {
        let half = &mut self.halves[self.current];
        half.nxdomains = half.nxdomains.saturating_add(1);
    }

    /// Records a name by its hash; true when it is new to the window.
    pub fn name(&mut self, hash: u64) -> bool {
        let (word, bit) = ((hash as usize >> 6) % NAME_WORDS, 1u64 << (hash & 63));
        let seen = self.halves.iter().any(|half| half.names[word] & bit != 0);
        self.halves[self.current].names[word] |= bit;
        !seen
    }

    /// Records a label by its hash (position included); when new to the window its characters
    /// count as information. True when it was new.
    pub fn label(&mut self, hash: u64, label: &[u8]) -> bool {
        let (word, bit) = ((hash as usize >> 6) % LABEL_WORDS, 1u64 << (hash & 63));
        let seen = self.halves.iter().any(|half| half.labels[word] & bit != 0);
        let half = &mut self.halves[self.current];
        half.labels[word] |= bit;
        if seen {
            return false;
        }
        // No bin can exceed the half's new characters: below `u16::MAX` less a label, plain
        // additions cannot overflow (one check a label rather than one a character).
        if half.new_chars < u32::from(u16::MAX) - 255 {
            for &byte in label {
                half.chars[usize::from(byte & 0x7f)] += 1;
            }
        } else {
            for &byte in label {
                let bin = &mut half.chars[usize::from(byte & 0x7f)];
                *bin = bin.saturating_add(1);
            }
        }
        half.new_chars = half.new_chars.saturating_add(label.len() as u32);
        true
    }

    /// False when the window's new characters cannot make `threshold` whatever their entropy
    /// and the other signals ([`Features::score`] at its highest weights: 7 bits a character,
    /// randomness 1, every factor at its top): a bound that spares scoring benign accounts.
    pub fn may_reach(&self, scale: Scale, threshold: f64) -> bool {
        let chars = f64::from(self.halves[0].new_chars) + f64::from(self.halves[1].new_chars);
        chars * 7.0 / 8.0 * MAX_FACTOR >= scale.budget.max(1.0) * threshold
    }

    /// The window's features.
    pub fn features(&self) -> Features {
        let [a, b] = &self.halves;
        let queries = u32::from(a.queries) + u32::from(b.queries);
        let chars = u64::from(a.new_chars) + u64::from(b.new_chars);
        let counts = a.chars.iter().zip(&b.chars).map(|(x, y)| u64::from(*x) + u64::from(*y));
        let entropy = entropy(counts.clone());
        let alphabet = alphabet_bits(classes(counts));
        let queries_f = f64::from(queries.max(1));
        Features {
            information: chars as f64 * entropy / 8.0,
            randomness: if alphabet > 0.0 { (entropy / alphabet).min(1.0) } else { 0.0 },
            names: distinct(a.names.iter().zip(&b.names).map(|(x, y)| x | y)),
            carriers: ((f64::from(a.carriers) + f64::from(b.carriers)) / 2.0 / queries_f).min(1.0),
            nxdomain: ((f64::from(a.nxdomains) + f64::from(b.nxdomains)) / queries_f).min(1.0),
            queries,
        }
    }
}

/// Two for NULL, KEY and private-use types, one for TXT, CNAME, MX and SRV, else none.
fn carrier_weight(qtype: u16) -> u16 {
    match qtype {
        10 | 25 | 65280..=65534 => 2,
        5 | 15 | 16 | 33 => 1,
        _ => 0,
    }
}

/// The classes of the characters that make at least 2% of the histogram `counts` (bins are
/// octets' low seven bits): a constant label such as `dnscat`, counted once, does not widen a
/// hex stream's alphabet.
fn classes(counts: impl Iterator<Item = u64> + Clone) -> u8 {
    let total: u64 = counts.clone().sum();
    counts.enumerate().filter(|&(_, count)| count > 0 && count * 50 >= total).fold(0, |classes, (bin, _)| classes | class_of(bin as u8))
}

fn class_of(byte: u8) -> u8 {
    match byte {
        b'0'..=b'5' => DIGIT,
        b'6'..=b'9' => DIGIT | DIGIT_6_TO_9,
        b'a'..=b'f' => HEX_LETTER,
        b'g'..=b'z' => OTHER_LETTER,
        b'A'..=b'Z' => UPPER,
        b'-' => HYPHEN,
        _ => OTHER,
    }
}

/// log2 of the smallest alphabet holding the classes seen.
fn alphabet_bits(classes: u8) -> f64 {
    let size: f64 = if classes == 0 {
        0.0
    } else if classes & OTHER != 0 {
        128.0
    } else if classes & UPPER != 0 {
        63.0
    } else if classes & (HEX_LETTER | OTHER_LETTER | HYPHEN) == 0 {
        10.0
    } else if classes & (OTHER_LETTER | HYPHEN) == 0 {
        16.0
    } else if classes & (DIGIT_6_TO_9 | HYPHEN) == 0 {
        32.0
    } else {
        37.0
    };
    if size > 1.0 {
        size.log2()
    } else {
        0.0
    }
}

/// Order-0 entropy in bits per character of a histogram.
fn entropy(counts: impl Iterator<Item = u64> + Clone) -> f64 {
    let total: u64 = counts.clone().sum();
    if total == 0 {
        return 0.0;
    }
    let total = total as f64;
    -counts.filter(|&count| count > 0).map(|count| count as f64 / total).map(|p| p * p.log2()).sum::<f64>()
}

/// Linear counting: distinct items from a bitmap's empty bits.
fn distinct(words: impl Iterator<Item = u64>) -> f64 {
    let (bits, zeros) = words.fold((0u32, 0u32), |(bits, zeros), word| (bits + 64, zeros + word.count_zeros()));
    let bits = f64::from(bits);
    bits * (bits / f64::from(zeros.max(1))).ln()
}

#[cfg(test)]
mod tests {
    use super::{alphabet_bits, entropy, Window, HALF_SECS};

    #[test]
    fn the_window_slides_by_halves_and_forgets_after_two() {
        let mut window = Window::EMPTY;
        window.advance(1000);
        assert!(window.name(7));
        assert!(!window.name(7));
        window.advance(1000 + HALF_SECS);
        assert!(!window.name(7), "the previous half is still in the window");
        window.advance(1000 + 3 * HALF_SECS);
        assert!(window.name(7), "a full window later it is gone");
        window.advance(1000 + 10 * HALF_SECS);
        assert_eq!(window.features().queries, 0);
    }

    #[test]
    fn the_alphabet_is_the_smallest_class_holding_every_character() {
        assert_eq!(alphabet_bits(super::DIGIT | super::HEX_LETTER), 4.0);
        assert_eq!(alphabet_bits(super::DIGIT | super::OTHER_LETTER | super::HEX_LETTER), 5.0);
        assert!(alphabet_bits(super::OTHER) == 7.0);
        let uniform = entropy([5u64; 16].into_iter());
        assert!((uniform - 4.0).abs() < 1e-9);
    }
}

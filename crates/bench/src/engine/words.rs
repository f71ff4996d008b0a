//! Deterministic synthetic text: a fixed vocabulary of pronounceable words drawn with a Zipf
//! distribution, from a seeded generator (the same seed gives the same history every run).

use std::collections::HashSet;

/// The rare marker word (about 50 messages). No generated word contains a `q`, `w`, `x` or `y`,
/// so neither marker is a word or a prefix of a word of the vocabulary.
pub const RARE: &str = "quokka";
/// The medium-frequency word (1% of messages).
pub const MEDIUM: &str = "waxwing";

/// SplitMix64: small, fast and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words by rank (0 = most frequent) and their cumulative Zipf (s = 1) probabilities.
#[derive(Debug)]
pub struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

const CONSONANTS: &[u8] = b"bcdfghjklmnprstvz";
const VOWELS: &[u8] = b"aeiou";
const CODAS: &[u8] = b"nrslt";

impl Vocabulary {
    pub fn new(size: usize, seed: u64) -> Vocabulary {
        let mut rng = Rng::new(seed);
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(size);
        let pick = |rng: &mut Rng, set: &[u8]| set.get(rng.below(set.len())).copied().map(char::from);
        while words.len() < size {
            // Frequent words are short, as in real language.
            let syllables = if words.len() < 100 { 1 + rng.below(2) } else { 2 + rng.below(2) };
            let mut w = String::new();
            for _ in 0..syllables {
                w.extend(pick(&mut rng, CONSONANTS));
                w.extend(pick(&mut rng, VOWELS));
            }
            if rng.below(3) == 0 {
                w.extend(pick(&mut rng, CODAS));
            }
            if w.len() >= 2 && seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let weights: Vec<f64> = (1..=size).map(|r| 1.0 / r as f64).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Vocabulary { words, cdf }
    }

    /// The word of this rank (0 = most frequent).
    pub fn word(&self, rank: usize) -> &str {
        self.words.get(rank).map_or("", String::as_str)
    }

    pub fn sample(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        let i = self.cdf.partition_point(|&c| c < u).min(self.words.len().saturating_sub(1));
        self.word(i)
    }

    /// A message body of `min..=max` words.
    pub fn body(&self, rng: &mut Rng, min: usize, max: usize) -> Vec<&str> {
        let n = min + rng.below(max - min + 1);
        (0..n).map(|_| self.sample(rng)).collect()
    }
}

/// Exactly `len` bytes of ASCII words (for the send and receive paths).
pub fn fixed_body(vocab: &Vocabulary, rng: &mut Rng, tag: usize, len: usize) -> String {
    let mut s = format!("m{tag}");
    while s.len() < len {
        s.push(' ');
        s.push_str(vocab.sample(rng));
    }
    s.truncate(len);
    s
}

//! Corpus-driven fuzzing of the parsers that face the network, on stable Rust.
//!
//! Each target (a test file in `tests/`) starts from the committed inputs in `corpus/<target>/`,
//! real-shaped requests, frames, updates, streams and config files, and feeds its parser inputs
//! made by a few byte-level and token-level [`Mutation`]s of one of them. proptest drives it:
//! the budget is a fixed number of cases (`PINCER_FUZZ_CASES`, default [`DEFAULT_CASES`]) from a
//! fixed seed (`PINCER_FUZZ_SEED`), so a CI run is repeatable; a failure is shrunk to the fewest
//! mutations and its seed recorded in `regressions/<target>.txt`, which is replayed first on the
//! next run. A longer campaign: `PINCER_FUZZ_CASES=1000000 PINCER_FUZZ_SEED=$RANDOM cargo nextest
//! run -p pincer-fuzz`.
//!
//! Corpus files named `ok-*` must be accepted by their parser and `err-*` refused: the replay of
//! the corpus checks that, so a parser that starts refusing what real clients send fails here too.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// Cases per target when `PINCER_FUZZ_CASES` is not set: a few seconds each in a debug build.
pub const DEFAULT_CASES: u32 = 10_000;

/// Tokens that break parsers in every JSON-shaped format.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\\",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "-0.0",
    "18446744073709551616",
    "-9223372036854775809",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "\"é🦀\"",
    "\u{feff}",
    "\n",
    "\r\n",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":",
    "\"\"",
    "{}",
    "[]",
];

/// One target: its corpus and the tokens worth inserting.
pub struct Target {
    /// The name, which is also the corpus folder and the regressions file.
    pub name: &'static str,
    /// The committed inputs, by file name.
    pub corpus: Vec<(String, Vec<u8>)>,
    dictionary: Vec<Vec<u8>>,
}

impl Target {
    /// Loads `corpus/<name>/`; `tokens` are added to the JSON ones (field names, keywords).
    ///
    /// # Panics
    /// When the corpus folder is missing or empty: a target without inputs tests nothing.
    pub fn load(name: &'static str, tokens: &[&str]) -> Self {
        let dir = corpus_dir(name);
        let mut corpus: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.expect("corpus entry").path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let bytes = std::fs::read(&path)
                    .unwrap_or_else(|e| panic!("corpus {}: {e}", path.display()));
                (name, bytes)
            })
            .collect();
        assert!(!corpus.is_empty(), "corpus {} is empty", dir.display());
        corpus.sort();
        let dictionary = JSON_TOKENS
            .iter()
            .chain(tokens)
            .map(|t| t.as_bytes().to_vec())
            .collect();
        Self {
            name,
            corpus,
            dictionary,
        }
    }

    /// The corpus entries whose names start with `prefix` (`ok-`, `err-`).
    pub fn entries(&self, prefix: &str) -> impl Iterator<Item = (&str, &[u8])> {
        self.corpus
            .iter()
            .filter(move |(name, _)| name.starts_with(prefix))
            .map(|(name, bytes)| (name.as_str(), bytes.as_slice()))
    }

    /// Inputs: a corpus entry with up to eight mutations.
    pub fn inputs(&self) -> impl Strategy<Value = Vec<u8>> + '_ {
        (
            0..self.corpus.len(),
            proptest::collection::vec(any::<Mutation>(), 0..8),
        )
            .prop_map(move |(entry, mutations)| self.mutate(entry, &mutations))
    }

    /// Applies `mutations` in order to corpus entry `entry`.
    pub fn mutate(&self, entry: usize, mutations: &[Mutation]) -> Vec<u8> {
        let mut bytes = self.corpus[entry % self.corpus.len()].1.clone();
        for mutation in mutations {
            mutation.apply(&mut bytes, &self.dictionary, &self.corpus);
        }
        bytes
    }

    /// The proptest settings: the case budget, the seed, and where failures are kept.
    pub fn config(&self) -> Config {
        let cases = env_number("PINCER_FUZZ_CASES").map_or(DEFAULT_CASES, |n| n as u32);
        // One seed per target unless one is given, so that targets do not walk in step.
        let seed = env_number("PINCER_FUZZ_SEED").unwrap_or_else(|| fnv(self.name.as_bytes()));
        let regressions: &'static str = Box::leak(
            regressions_file(self.name)
                .to_string_lossy()
                .into_owned()
                .into_boxed_str(),
        );
        Config {
            cases,
            rng_seed: RngSeed::Fixed(seed),
            failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
            ..Config::default()
        }
    }
}

/// One change to an input. Positions are taken modulo the input's length, so any value is valid.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// Flip one bit.
    FlipBit { at: usize, bit: u8 },
    /// Overwrite one byte.
    SetByte { at: usize, byte: u8 },
    /// Insert a dictionary token.
    InsertToken { at: usize, token: usize },
    /// Replace a run with a dictionary token.
    ReplaceWithToken { at: usize, len: u8, token: usize },
    /// Cut a run out.
    Remove { at: usize, len: u8 },
    /// Repeat a run.
    Duplicate { at: usize, len: u8, times: u8 },
    /// Insert a run of another corpus entry.
    Splice {
        at: usize,
        entry: usize,
        from: usize,
        len: u8,
    },
    /// Cut the input short.
    Truncate { at: usize },
}

impl Arbitrary for Mutation {
    type Parameters = ();
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        prop_oneof![
            1 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::SetByte { at, byte }),
            3 => (any::<usize>(), any::<usize>())
                .prop_map(|(at, token)| Mutation::InsertToken { at, token }),
            2 => (any::<usize>(), 1u8..16, any::<usize>())
                .prop_map(|(at, len, token)| Mutation::ReplaceWithToken { at, len, token }),
            1 => (any::<usize>(), 1u8..32).prop_map(|(at, len)| Mutation::Remove { at, len }),
            1 => (any::<usize>(), 1u8..32, 1u8..64)
                .prop_map(|(at, len, times)| Mutation::Duplicate { at, len, times }),
            1 => (any::<usize>(), any::<usize>(), any::<usize>(), 1u8..128).prop_map(
                |(at, entry, from, len)| Mutation::Splice { at, entry, from, len }
            ),
            1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        ]
        .boxed()
    }
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>, dictionary: &[Vec<u8>], corpus: &[(String, Vec<u8>)]) {
        let position = |at: usize, bytes: &Vec<u8>| at % (bytes.len() + 1);
        let run = |at: usize, len: u8, bytes: &Vec<u8>| {
            let start = position(at, bytes);
            start..(start + usize::from(len)).min(bytes.len())
        };
        match *self {
            Mutation::FlipBit { at, bit } => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= 1 << bit;
                }
            }
            Mutation::SetByte { at, byte } => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = byte;
                }
            }
            Mutation::InsertToken { at, token } => {
                let at = position(at, bytes);
                let token = &dictionary[token % dictionary.len()];
                bytes.splice(at..at, token.iter().copied());
            }
            Mutation::ReplaceWithToken { at, len, token } => {
                let range = run(at, len, bytes);
                let token = &dictionary[token % dictionary.len()];
                bytes.splice(range, token.iter().copied());
            }
            Mutation::Remove { at, len } => {
                let range = run(at, len, bytes);
                bytes.drain(range);
            }
            Mutation::Duplicate { at, len, times } => {
                let range = run(at, len, bytes);
                let piece = bytes[range.clone()].to_vec();
                let copies: Vec<u8> = piece
                    .iter()
                    .copied()
                    .cycle()
                    .take(piece.len() * usize::from(times))
                    .collect();
                bytes.splice(range.end..range.end, copies);
            }
            Mutation::Splice {
                at,
                entry,
                from,
                len,
            } => {
                let other = &corpus[entry % corpus.len()].1;
                let start = from % (other.len() + 1);
                let end = (start + usize::from(len)).min(other.len());
                let at = position(at, bytes);
                bytes.splice(at..at, other[start..end].iter().copied());
            }
            Mutation::Truncate { at } => {
                let at = position(at, bytes);
                bytes.truncate(at);
            }
        }
    }
}

fn corpus_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

fn regressions_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(format!("{name}.txt"))
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// FNV-1a: a stable per-target seed.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            name: "unit",
            corpus: vec![
                ("a".into(), b"hello".to_vec()),
                ("b".into(), b"{}".to_vec()),
            ],
            dictionary: vec![b"XY".to_vec()],
        }
    }

    #[test]
    fn mutations_stay_in_bounds_whatever_their_numbers() {
        let target = target();
        for at in [0, 1, 4, 5, 6, usize::MAX] {
            for mutation in [
                Mutation::FlipBit { at, bit: 7 },
                Mutation::SetByte { at, byte: 0 },
                Mutation::InsertToken {
                    at,
                    token: usize::MAX,
                },
                Mutation::ReplaceWithToken {
                    at,
                    len: 15,
                    token: 3,
                },
                Mutation::Remove { at, len: 31 },
                Mutation::Duplicate {
                    at,
                    len: 31,
                    times: 63,
                },
                Mutation::Splice {
                    at,
                    entry: usize::MAX,
                    from: usize::MAX,
                    len: 127,
                },
                Mutation::Truncate { at },
            ] {
                target.mutate(0, &[mutation]);
            }
        }
    }

    #[test]
    fn mutations_do_what_they_say() {
        let target = target();
        assert_eq!(target.mutate(0, &[]), b"hello");
        assert_eq!(
            target.mutate(0, &[Mutation::InsertToken { at: 5, token: 0 }]),
            b"helloXY"
        );
        assert_eq!(
            target.mutate(0, &[Mutation::Remove { at: 1, len: 3 }]),
            b"ho"
        );
        assert_eq!(
            target.mutate(
                0,
                &[Mutation::Duplicate {
                    at: 0,
                    len: 2,
                    times: 2
                }]
            ),
            b"hehehello"
        );
        assert_eq!(
            target.mutate(
                0,
                &[Mutation::Splice {
                    at: 0,
                    entry: 1,
                    from: 0,
                    len: 2
                }]
            ),
            b"{}hello"
        );
        assert_eq!(target.mutate(0, &[Mutation::Truncate { at: 2 }]), b"he");
        assert_eq!(
            target.mutate(0, &[Mutation::FlipBit { at: 0, bit: 5 }]),
            b"Hello"
        );
    }

    #[test]
    fn the_seed_is_fixed_per_target() {
        assert_eq!(fnv(b"a"), fnv(b"a"));
        assert_ne!(fnv(b"a"), fnv(b"b"));
    }
}

//! The bounds of a numeric configuration key, typed: each section declares one [`Limit`] const
//! per key beside its file struct (`file::Tcp::IN_FLIGHT`, `ResolverFile::MAX_DEPTH`...), and
//! validation goes through that const, never through a lookup by name. Where the engine already
//! bounds a setting (RRL, the query limiter), the const takes the engine's default and range.

use std::fmt::Display;

/// A numeric key: its name in its table, its default, and the values accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit<T> {
    /// The key as written in the TOML (`in-flight`).
    pub key: &'static str,
    /// Used when the key is absent.
    pub default: T,
    /// Smallest accepted.
    pub min: T,
    /// Largest accepted.
    pub max: T,
}

impl<T: Copy> Limit<T> {
    /// The key `key` with `default`, accepting `min..=max`.
    pub const fn new(key: &'static str, default: T, min: T, max: T) -> Self {
        Self { key, default, min, max }
    }

    /// The key `key` with the engine's default and range for it.
    pub const fn engine(key: &'static str, limit: portcullis_engine::policy::Limit<T>) -> Self {
        Self { key, default: limit.default, min: limit.min, max: limit.max }
    }
}

impl<T: Copy + PartialOrd + Display + TryFrom<u64>> Limit<T> {
    /// The key's value in the table at `table` (`tcp`, `zone[2]`): its default when absent; one
    /// out of range is an error naming the key's path, the range and the default, and gives the
    /// default.
    pub fn get(&self, table: &str, value: Option<u64>, errors: &mut Vec<String>) -> T {
        self.at(&format!("{table}.{}", self.key), value, errors)
    }

    /// [`Limit::get`] for a value reported at `path` (an entry of a map, such as
    /// `forward[0].weights.192.0.2.1`).
    pub fn at(&self, path: &str, value: Option<u64>, errors: &mut Vec<String>) -> T {
        let Some(value) = value else { return self.default };
        match T::try_from(value) {
            Ok(typed) if self.min <= typed && typed <= self.max => typed,
            _ => {
                errors.push(format!("{path}: {value} is outside {}..={} (default {})", self.min, self.max, self.default));
                self.default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT: Limit<u16> = Limit::new("port", 53, 1, 65_535);

    #[test]
    fn absent_is_the_default_and_out_of_range_an_error_with_the_path() {
        let mut errors = Vec::new();
        assert_eq!(PORT.get("resolver", None, &mut errors), 53);
        assert_eq!(PORT.get("resolver", Some(5353), &mut errors), 5353);
        assert!(errors.is_empty());
        // Past the range, and past the type (u16) itself: the default, and an error each.
        assert_eq!(PORT.get("resolver", Some(0), &mut errors), 53);
        assert_eq!(PORT.at("forward[1].port", Some(70_000), &mut errors), 53);
        assert_eq!(errors, ["resolver.port: 0 is outside 1..=65535 (default 53)", "forward[1].port: 70000 is outside 1..=65535 (default 53)"]);
    }

    #[test]
    fn an_engine_limit_keeps_its_default_and_range() {
        let engine = portcullis_engine::policy::Limit { default: 15u32, min: 1, max: 3600 };
        assert_eq!(Limit::engine("window", engine), Limit::new("window", 15, 1, 3600));
    }
}

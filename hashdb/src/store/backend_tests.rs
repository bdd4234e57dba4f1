//! The store's behaviour, run against both backends (filled below).

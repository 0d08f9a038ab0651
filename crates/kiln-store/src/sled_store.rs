//! The sled implementation of [`crate::Store`] (being written).

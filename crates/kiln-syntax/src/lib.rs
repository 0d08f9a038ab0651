//! kiln-syntax

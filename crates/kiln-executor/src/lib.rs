//! kiln-executor

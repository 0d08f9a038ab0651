//! kiln-script

//! The reporting service.

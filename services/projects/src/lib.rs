//! The projects service.

//! The assessment service.

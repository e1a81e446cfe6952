//! The tenancy service.

//! Serving a Kompass gRPC service: [`ContextLayer`] authenticates the caller,
//! picks the language and opens the RPC span; [`serve`] adds health and
//! reflection (v1 and v1alpha) and runs the server.

mod context;
mod server;

pub use context::{Authenticator, ContextLayer, caller};
pub use server::{LIVENESS, Options, Probe, serve};

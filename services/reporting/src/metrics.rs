//! Counters of the read-model consumer. Readable in the process
//! ([`crate::Reporting::rejected_publications`]) and recorded on the
//! OpenTelemetry meter `kompass-reporting` as
//! `kompass.reporting.publications_rejected` (attribute `reason`), exported
//! when the process has a meter provider.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Counter;

use crate::store::Rejection;

/// Publications the consumer refused, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectedPublications {
    /// Content that does not hash to its seal.
    pub seal_mismatch: u64,
    /// A second, different sealed version of a stored evaluation.
    pub different_seal: u64,
}

#[derive(Debug, Default)]
pub struct Counters {
    seal_mismatch: AtomicU64,
    different_seal: AtomicU64,
}

fn otel() -> &'static Counter<u64> {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        opentelemetry::global::meter("kompass-reporting")
            .u64_counter("kompass.reporting.publications_rejected")
            .with_description(
                "Publication events the reporting read model refused: content not matching its seal, or a different sealed version of a stored evaluation",
            )
            .build()
    })
}

impl Counters {
    pub fn rejected(&self, why: &Rejection) {
        match why {
            Rejection::SealMismatch(_) => &self.seal_mismatch,
            Rejection::DifferentSeal { .. } => &self.different_seal,
        }
        .fetch_add(1, Ordering::Relaxed);
        otel().add(1, &[KeyValue::new("reason", why.reason())]);
    }

    pub fn snapshot(&self) -> RejectedPublications {
        RejectedPublications {
            seal_mismatch: self.seal_mismatch.load(Ordering::Relaxed),
            different_seal: self.different_seal.load(Ordering::Relaxed),
        }
    }
}

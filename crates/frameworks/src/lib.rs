//! Evaluation frameworks.

//! Generated code for `proto/`. One module per package.

// Generated code: prost's oneofs hold messages by value.
#![allow(clippy::large_enum_variant)]

/// Encoded `FileDescriptorSet` of every Kompass proto, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/kompass_descriptor.bin"));

pub mod tenancy {
    pub mod v1 {
        tonic::include_proto!("kompass.tenancy.v1");
    }
}
pub mod assessment {
    pub mod v1 {
        tonic::include_proto!("kompass.assessment.v1");
    }
}
pub mod projects {
    pub mod v1 {
        tonic::include_proto!("kompass.projects.v1");
    }
}
pub mod reporting {
    pub mod v1 {
        tonic::include_proto!("kompass.reporting.v1");
    }
}

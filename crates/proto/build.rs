use std::path::PathBuf;

use prost::Message;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files: Vec<PathBuf> = ["tenancy", "assessment", "projects", "reporting"]
        .iter()
        .map(|svc| root.join(format!("kompass/{svc}/v1/{svc}.proto")))
        .collect();
    // tonic-prost-build does not emit these itself; without them every build recompiles.
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    // protox is pure Rust: no protoc on the build machine.
    let fds = protox::compile(&files, [&root]).expect("protos compile");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out.join("kompass_descriptor.bin"), fds.encode_to_vec()).unwrap();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)
        .expect("code generation");
}

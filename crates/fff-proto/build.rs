//! Compiles every `.proto` under the workspace's `proto/` directory with protox
//! (pure Rust, no system `protoc`), writes the descriptor set for server
//! reflection and generates tonic clients and servers.

use prost::Message;
use std::{
    env, fs,
    path::{Path, PathBuf},
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    // Cargo scans a directory recursively, so edits and new files both rebuild.
    println!("cargo:rerun-if-changed={}", root.display());

    let mut protos = Vec::new();
    collect_protos(&root, &mut protos)?;
    protos.sort(); // stable descriptor order, independent of the file system

    // protox keeps imports and source info (comments), which reflection serves.
    let fds = protox::compile(&protos, [&root])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out.join("fff_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}

fn collect_protos(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            found.push(path);
        }
    }
    Ok(())
}

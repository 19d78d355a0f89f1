//! Regenerates the committed protobuf code and fails if it differs from what is in `src/gen/`.
//! Needs `protoc` on PATH (or `PROTOC`); `.ci/run` and `scripts/test.sh` install it.

use std::path::{Path, PathBuf};

const PROTOS: &[&str] = &["pincer/llm/v1/router.proto", "pincer/tools/v1/tools.proto"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn generated_code_is_up_to_date() {
    let root = workspace_root();
    let proto_dir = root.join("proto");
    let committed_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/gen");
    let out = tempfile::tempdir().expect("temp dir");

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| proto_dir.join(p)).collect();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(out.path())
        .compile_protos(&files, &[proto_dir])
        .expect(
            "protoc must be installed (apt-get install protobuf-compiler) to check generated code",
        );

    let bless = std::env::var_os("PINCER_BLESS").is_some();
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(out.path()).expect("read generated dir") {
        let generated_path = entry.expect("dir entry").path();
        let name = generated_path.file_name().expect("file name").to_owned();
        let generated = std::fs::read_to_string(&generated_path).expect("read generated file");
        let committed_path = committed_dir.join(&name);
        let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
        if generated != committed {
            if bless {
                std::fs::write(&committed_path, generated).expect("write committed file");
            } else {
                stale.push(committed_path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "generated protobuf code is stale: {stale:?}; rerun with PINCER_BLESS=1 and commit the result"
    );
}

//! The images moved to a machine that cannot build them (scripts/ship-images.sh). Outside the
//! compose tests' one-at-a-time group: it brings up no project, only saves and loads images.

use pincer_system_tests::{image_tag, repo_root};
use tokio::process::Command;

async fn docker(args: &[&str]) -> std::process::Output {
    Command::new("/usr/bin/docker")
        .args(args)
        .output()
        .await
        .unwrap_or_else(|error| panic!("cannot run docker: {error}"))
}

/// The VPS path without a build (README "A VPS too small to build"): the images compose runs,
/// saved to an archive by `scripts/ship-images.sh --file`, load back under their names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_shipped_as_an_archive_load_back_under_their_names() {
    const IMAGES: [&str; 7] = [
        "nats",
        "gateway",
        "llm-router",
        "agent-runner",
        "channel-bridge",
        "tool-host",
        "fake-provider",
    ];
    let shipped = format!("shipped-{}", std::process::id());
    let image_id = |reference: String| async move {
        let inspected = docker(&["image", "inspect", "-f", "{{.Id}}", &reference]).await;
        inspected
            .status
            .success()
            .then(|| String::from_utf8_lossy(&inspected.stdout).trim().to_owned())
    };
    let mut ids = Vec::new();
    for image in IMAGES {
        let (built, copy) = (
            format!("pincer/{image}:{}", image_tag()),
            format!("pincer/{image}:{shipped}"),
        );
        let tagged = docker(&["tag", &built, &copy]).await;
        assert!(tagged.status.success(), "{tagged:?}");
        ids.push(image_id(built).await.expect("built image"));
    }
    let dir = tempfile::tempdir().expect("dir");
    let archive = dir.path().join("images.tar.gz");
    let saved = Command::new(repo_root().join("scripts/ship-images.sh"))
        .arg("--file")
        .arg(&archive)
        .env("PINCER_TAG", &shipped)
        .output()
        .await
        .expect("ship-images.sh");
    assert!(saved.status.success(), "{saved:?}");

    // As on a machine that has never seen them: the names are gone until the archive is loaded.
    for image in IMAGES {
        let removed = docker(&["rmi", &format!("pincer/{image}:{shipped}")]).await;
        assert!(removed.status.success(), "{removed:?}");
    }
    let loaded = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "gunzip -c '{}' | /usr/bin/docker load",
            archive.display()
        ))
        .output()
        .await
        .expect("docker load");
    assert!(loaded.status.success(), "{loaded:?}");
    for (image, id) in IMAGES.iter().zip(&ids) {
        let reference = format!("pincer/{image}:{shipped}");
        assert_eq!(
            image_id(reference.clone()).await.as_ref(),
            Some(id),
            "{reference}"
        );
        docker(&["rmi", &reference]).await;
    }
}

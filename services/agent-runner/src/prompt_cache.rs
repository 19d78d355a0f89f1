//! The workspace part of the prompt (bootstrap files and eligible skills), read again only when a
//! file changed: a turn checks a few mtimes instead of reading and parsing every file.

use std::sync::{Arc, Mutex, PoisonError};

use crate::skills::Skill;
use pincer_workspace::Workspace;
use pincer_workspace::bootstrap::{Caps, Section};

/// What the files looked like: name, modification time, length.
type Fingerprint = Vec<(String, u128, u64)>;

/// The bootstrap sections and the eligible skills.
pub type Parts = Arc<(Vec<Section>, Vec<Skill>)>;

/// The cached parts with what the files looked like when they were read.
type Entry = Option<(Fingerprint, Parts)>;

/// One agent's cached prompt parts.
#[derive(Debug, Default)]
pub struct PromptCache {
    entry: Mutex<Entry>,
}

impl PromptCache {
    /// The bootstrap sections and skills of `workspace`, from the cache when nothing changed.
    pub async fn parts(&self, workspace: &Workspace, caps: Caps) -> Parts {
        // On the runtime's thread: a few `stat`s of local files take microseconds, while handing
        // them to the blocking pool cost two thread wake-ups a turn (agent-runner CPU per turn at
        // 8 clients 0.28-0.29 -> 0.23-0.25 ms, `pincer-bench stack`).
        let fingerprint = fingerprint(workspace);
        if let Some((seen, parts)) = self.lock().as_ref()
            && *seen == fingerprint
        {
            return Arc::clone(parts);
        }
        let ws = workspace.clone();
        let parts = tokio::task::spawn_blocking(move || {
            let (skills, skipped) =
                crate::skills::discover(ws.root(), &crate::skills::Environment::current());
            for skip in skipped {
                tracing::debug!(skill = %skip.dir, reason = %skip.reason, "skill not listed");
            }
            (ws.bootstrap(caps), skills)
        })
        .await
        .unwrap_or_default();
        let parts = Arc::new(parts);
        *self.lock() = Some((fingerprint, Arc::clone(&parts)));
        parts
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entry> {
        self.entry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// mtime and length of every bootstrap file and every `skills/*/SKILL.md`.
fn fingerprint(workspace: &Workspace) -> Fingerprint {
    let stamp = |path: &std::path::Path| {
        std::fs::metadata(path).ok().map_or((0, 0), |meta| {
            let modified = meta
                .modified()
                .ok()
                .map_or(0, |t| pincer_clock::since_epoch_of(t).as_nanos());
            (modified, meta.len())
        })
    };
    let root = workspace.root();
    let mut out: Fingerprint = pincer_workspace::templates::BOOTSTRAP_FILES
        .iter()
        .map(|(name, _)| {
            let (modified, len) = stamp(&root.join(name));
            ((*name).to_owned(), modified, len)
        })
        .collect();
    let mut skills: Vec<_> = std::fs::read_dir(root.join("skills"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    skills.sort();
    for skill in skills {
        let (modified, len) = stamp(&root.join("skills").join(&skill).join("SKILL.md"));
        out.push((format!("skills/{skill}"), modified, len));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parts_are_reread_only_after_a_change() {
        let (_dir, ws) = crate::scratch_workspace();
        let cache = PromptCache::default();
        let first = cache.parts(&ws, Caps::default()).await;
        let again = cache.parts(&ws, Caps::default()).await;
        assert!(
            Arc::ptr_eq(&first, &again),
            "unchanged files are not read again"
        );
        std::fs::write(ws.root().join("SOUL.md"), "# Soul\nA pirate, arr.\n").expect("edit");
        let edited = cache.parts(&ws, Caps::default()).await;
        assert!(edited.0.iter().any(|s| s.text.contains("pirate")));
        std::fs::create_dir_all(ws.root().join("skills/x")).expect("dir");
        std::fs::write(
            ws.root().join("skills/x/SKILL.md"),
            "---\nname: x\ndescription: does x\n---\n",
        )
        .expect("skill");
        let with_skill = cache.parts(&ws, Caps::default()).await;
        assert_eq!(with_skill.1.len(), 1);
    }
}

//! Joining the texts of a service's replicas into one valid page: each family's `# HELP` and
//! `# TYPE` once, followed by every replica's samples (told apart by their `replica` label).
//! Prometheus refuses a page that declares a family twice.

/// One family: its header lines and its samples, in the order first seen.
struct Family {
    name: String,
    header: Vec<String>,
    samples: Vec<String>,
}

/// `texts` (each as [`crate::render`] writes it: every family a block opened by `# HELP`) as one.
pub fn merge(texts: &[String]) -> String {
    let mut families: Vec<Family> = Vec::new();
    for text in texts {
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or_default().to_owned();
                let index = match families.iter().position(|f| f.name == name) {
                    Some(index) => index,
                    None => {
                        families.push(Family {
                            name,
                            header: vec![line.to_owned()],
                            samples: Vec::new(),
                        });
                        families.len() - 1
                    }
                };
                current = Some(index);
                continue;
            }
            let Some(index) = current else {
                // Nothing [`crate::render`] writes; kept rather than lost.
                families.push(Family {
                    name: String::new(),
                    header: Vec::new(),
                    samples: vec![line.to_owned()],
                });
                continue;
            };
            let family = &mut families[index];
            if line.starts_with('#') {
                if !family.header.iter().any(|known| known == line) {
                    family.header.push(line.to_owned());
                }
            } else {
                family.samples.push(line.to_owned());
            }
        }
    }
    let mut page = String::new();
    for family in families {
        for line in family.header.iter().chain(&family.samples) {
            page.push_str(line);
            page.push('\n');
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_share_one_declaration_per_family() {
        let replica = |replica: &str, turns: u32| {
            format!(
                "# HELP pincer_x_turns_total Turns.\n# TYPE pincer_x_turns_total counter\n\
                 pincer_x_turns_total{{replica=\"{replica}\"}} {turns}\n\
                 # HELP pincer_x_up Up.\n# TYPE pincer_x_up gauge\npincer_x_up{{replica=\"{replica}\"}} 1\n"
            )
        };
        let page = merge(&[replica("a", 2), replica("b", 3)]);
        assert_eq!(
            page,
            "# HELP pincer_x_turns_total Turns.\n# TYPE pincer_x_turns_total counter\n\
             pincer_x_turns_total{replica=\"a\"} 2\npincer_x_turns_total{replica=\"b\"} 3\n\
             # HELP pincer_x_up Up.\n# TYPE pincer_x_up gauge\n\
             pincer_x_up{replica=\"a\"} 1\npincer_x_up{replica=\"b\"} 1\n"
        );
        assert_eq!(merge(&[replica("a", 2)]), replica("a", 2));
    }

    #[test]
    fn a_family_only_one_replica_has_is_kept() {
        let a = "# HELP f F.\n# TYPE f counter\nf{replica=\"a\"} 1\n".to_owned();
        let b = "# HELP g G.\n# TYPE g gauge\ng{replica=\"b\"} 0\n".to_owned();
        assert_eq!(merge(&[a.clone(), b.clone()]), format!("{a}{b}"));
    }
}

//! Kubeconfigs: the cluster's own (the administrator, no credentials) and one per identity a
//! test asks for (`as` / `as-groups`, which clients send as impersonation headers; client-go
//! sends no credentials over plain HTTP), each in the cluster's temporary directory; and the
//! bearer tokens the cluster issues for clients that send them.

use std::path::{Path, PathBuf};

use super::auth::Identity;

/// Where the cluster's kubeconfigs live, and what they point at.
pub(crate) struct Kubeconfigs {
    dir: tempfile::TempDir,
    server: String,
    namespace: String,
}

/// A string quoted for YAML (JSON strings are YAML flow scalars).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

impl Kubeconfigs {
    pub(crate) fn new(server: String, namespace: &str) -> std::io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("fleet-fake-cluster-")
            .tempdir()?;
        Ok(Self {
            dir,
            server,
            namespace: namespace.to_string(),
        })
    }

    /// The cluster's temporary directory (kubeconfigs, kubectl's discovery cache).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The text of a kubeconfig acting as `id` (`None`: the administrator).
    pub(crate) fn yaml(&self, id: Option<&Identity>) -> String {
        let (user_name, user) = match id {
            None => ("fleet-fake".to_string(), " {}".to_string()),
            Some(id) => {
                let mut u = format!("\n    as: {}", quoted(&id.name));
                if !id.groups.is_empty() {
                    let groups: Vec<String> = id.groups.iter().map(|g| quoted(g)).collect();
                    u.push_str(&format!("\n    as-groups: [{}]", groups.join(", ")));
                }
                (id.name.clone(), u)
            }
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fleet-fake\n  cluster:\n    server: {server}\ncontexts:\n- name: fleet-fake\n  context:\n    cluster: fleet-fake\n    user: {name}\n    namespace: {ns}\ncurrent-context: fleet-fake\nusers:\n- name: {name}\n  user:{user}\npreferences: {{}}\n",
            server = self.server,
            name = quoted(&user_name),
            ns = quoted(&self.namespace),
        )
    }

    /// Writes a kubeconfig acting as `id` (`None`: the administrator) into the cluster's
    /// directory, as `file_name` or a name derived from the user; returns its path and text.
    pub(crate) fn write(
        &self,
        id: Option<&Identity>,
        file_name: Option<&str>,
    ) -> std::io::Result<(PathBuf, String)> {
        let yaml = self.yaml(id);
        let file = match (file_name, id) {
            (Some(f), _) => f.to_string(),
            (None, None) => "kubeconfig".to_string(),
            (None, Some(id)) => {
                let safe: String = id
                    .name
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                format!("kubeconfig-{safe}")
            }
        };
        let path = self.dir.path().join(file);
        std::fs::write(&path, &yaml)?;
        Ok((path, yaml))
    }
}

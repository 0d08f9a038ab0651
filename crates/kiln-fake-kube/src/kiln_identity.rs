//! kiln's identity on the fake: deploy/'s `kiln` ServiceAccount with its Role, RoleBinding,
//! ClusterRole and ClusterRoleBinding, installed in a namespace as `kubectl apply -k deploy/`
//! with that namespace would (kustomize's namespace rewrites the objects' namespace and their
//! ServiceAccount subjects), and RBAC turned on. kiln's end-to-end tests act as this account
//! by default, so a request deploy/ does not allow fails them; a test that needs more grants
//! it with [`FakeKube::grant_kiln`], where the test says so.

use serde_json::{Value, json};

use crate::catalog;
use crate::fake_kube::{FakeKube, FakeKubeError, create_default_service_account};

/// deploy/'s RBAC manifests, compiled in so the fake always has the shipped ones.
const MANIFESTS: [(&str, &str); 3] = [
    ("role.yaml", include_str!("../../../deploy/role.yaml")),
    (
        "rolebinding.yaml",
        include_str!("../../../deploy/rolebinding.yaml"),
    ),
    (
        "clusterrole.yaml",
        include_str!("../../../deploy/clusterrole.yaml"),
    ),
];

/// The name of kiln's service account in deploy/.
pub const KILN_ACCOUNT: &str = "kiln";

/// `doc` as installed in `namespace`.
fn in_namespace(mut doc: Value, namespace: &str) -> Value {
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    if matches!(kind, "Role" | "RoleBinding")
        && let Some(meta) = doc.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("namespace".to_owned(), json!(namespace));
    }
    if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
        for subject in subjects {
            if subject.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(subject) = subject.as_object_mut()
            {
                subject.insert("namespace".to_owned(), json!(namespace));
            }
        }
    }
    doc
}

impl FakeKube {
    /// Installs deploy/'s `kiln` ServiceAccount and RBAC in `namespace` (made if missing),
    /// turns RBAC on, and returns a kubeconfig (YAML) acting as that account. The
    /// administrator's kubeconfig ([`FakeKube::kubeconfig_yaml`]) keeps every right.
    pub fn kiln_identity(&self, namespace: &str) -> Result<String, FakeKubeError> {
        self.ensure_namespace(namespace)?;
        for (file, text) in MANIFESTS {
            let documents: Vec<Value> = kiln_yaml::parse_documents(text)
                .map_err(|e| FakeKubeError::NotFound(format!("deploy/{file}: {}", e.reason)))?;
            let documents = documents
                .into_iter()
                .filter(|d| !d.is_null())
                .map(|d| in_namespace(d, namespace))
                .collect();
            self.rbac().load_values(documents)?;
        }
        let accounts = catalog::resource("serviceaccounts")
            .ok_or_else(|| FakeKubeError::NotFound("serviceaccounts".to_owned()))?;
        if self.store().get(accounts, namespace, KILN_ACCOUNT).is_err() {
            let account = json!({"metadata": {"name": KILN_ACCOUNT, "namespace": namespace}});
            self.store().create(accounts, namespace, account)?;
        }
        self.rbac().enable();
        Ok(self.service_account_kubeconfig(namespace, KILN_ACCOUNT))
    }

    /// [`FakeKube::kiln_identity`] in `default`, its kubeconfig written to `path`: what
    /// kiln's end-to-end tests give the kiln they run.
    pub fn write_kiln_kubeconfig(&self, path: &std::path::Path) -> Result<(), FakeKubeError> {
        let yaml = self.kiln_identity("default")?;
        std::fs::write(path, yaml).map_err(|source| FakeKubeError::Kubeconfig {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Grants kiln's account in `namespace` `verbs` on `resource` (`pods/portforward`) there,
    /// beyond deploy/'s Role: what a test needs that a deployment adds by hand (the Role's
    /// comments say when).
    pub fn grant_kiln(
        &self,
        namespace: &str,
        resource: &str,
        verbs: &[&str],
    ) -> Result<(), FakeKubeError> {
        let name = format!("kiln-test-{}", resource.replace('/', "-"));
        let role = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": [""], "resources": [resource], "verbs": verbs}],
        });
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": KILN_ACCOUNT, "namespace": namespace}],
        });
        self.rbac().load_values(vec![role, binding])?;
        Ok(())
    }

    fn ensure_namespace(&self, namespace: &str) -> Result<(), FakeKubeError> {
        let namespaces = catalog::resource("namespaces")
            .ok_or_else(|| FakeKubeError::NotFound("namespaces".to_owned()))?;
        if self.store().get(namespaces, "", namespace).is_err() {
            self.store()
                .create(namespaces, "", json!({"metadata": {"name": namespace}}))?;
            create_default_service_account(self.store(), namespace);
        }
        Ok(())
    }
}

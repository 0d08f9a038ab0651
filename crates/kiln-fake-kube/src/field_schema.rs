//! The fields the fake's kinds know (core/v1 as of Kubernetes 1.32), for `fieldValidation`:
//! enough structure to name an unknown field by its path, as the apiserver's strict decoder
//! does. Sections kiln never sends in detail (probes, affinity, most volume sources) are
//! accepted whole.

use serde_json::Value;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A scalar, or anything not checked further.
    Any,
    /// A string-keyed map of anything (labels, resource lists).
    Map,
    /// An object of a known type.
    Obj(&'static str),
    /// A list of objects of a known type.
    List(&'static str),
}

use Shape::{Any, List, Map, Obj};

type Fields = &'static [(&'static str, Shape)];

const OBJECT_META: Fields = &[
    ("name", Any),
    ("generateName", Any),
    ("namespace", Any),
    ("selfLink", Any),
    ("uid", Any),
    ("resourceVersion", Any),
    ("generation", Any),
    ("creationTimestamp", Any),
    ("deletionTimestamp", Any),
    ("deletionGracePeriodSeconds", Any),
    ("labels", Map),
    ("annotations", Map),
    ("ownerReferences", List("OwnerReference")),
    ("finalizers", Any),
    ("managedFields", Any),
];

const OWNER_REFERENCE: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("name", Any),
    ("uid", Any),
    ("controller", Any),
    ("blockOwnerDeletion", Any),
];

const POD_SPEC: Fields = &[
    ("volumes", List("Volume")),
    ("initContainers", List("Container")),
    ("containers", List("Container")),
    ("ephemeralContainers", Any),
    ("restartPolicy", Any),
    ("terminationGracePeriodSeconds", Any),
    ("activeDeadlineSeconds", Any),
    ("dnsPolicy", Any),
    ("nodeSelector", Map),
    ("serviceAccountName", Any),
    ("serviceAccount", Any),
    ("automountServiceAccountToken", Any),
    ("nodeName", Any),
    ("hostNetwork", Any),
    ("hostPID", Any),
    ("hostIPC", Any),
    ("shareProcessNamespace", Any),
    ("securityContext", Obj("PodSecurityContext")),
    ("imagePullSecrets", List("LocalObjectReference")),
    ("hostname", Any),
    ("subdomain", Any),
    ("affinity", Any),
    ("schedulerName", Any),
    ("tolerations", List("Toleration")),
    ("hostAliases", Any),
    ("priorityClassName", Any),
    ("priority", Any),
    ("dnsConfig", Any),
    ("readinessGates", Any),
    ("runtimeClassName", Any),
    ("enableServiceLinks", Any),
    ("preemptionPolicy", Any),
    ("overhead", Map),
    ("topologySpreadConstraints", Any),
    ("setHostnameAsFQDN", Any),
    ("os", Any),
    ("hostUsers", Any),
    ("schedulingGates", Any),
    ("resourceClaims", Any),
    ("resources", Obj("ResourceRequirements")),
];

const CONTAINER: Fields = &[
    ("name", Any),
    ("image", Any),
    ("command", Any),
    ("args", Any),
    ("workingDir", Any),
    ("ports", List("ContainerPort")),
    ("envFrom", List("EnvFromSource")),
    ("env", List("EnvVar")),
    ("resources", Obj("ResourceRequirements")),
    ("resizePolicy", Any),
    ("restartPolicy", Any),
    ("volumeMounts", List("VolumeMount")),
    ("volumeDevices", Any),
    ("livenessProbe", Any),
    ("readinessProbe", Any),
    ("startupProbe", Any),
    ("lifecycle", Any),
    ("terminationMessagePath", Any),
    ("terminationMessagePolicy", Any),
    ("imagePullPolicy", Any),
    ("securityContext", Obj("SecurityContext")),
    ("stdin", Any),
    ("stdinOnce", Any),
    ("tty", Any),
];

const CONTAINER_PORT: Fields = &[
    ("name", Any),
    ("hostPort", Any),
    ("containerPort", Any),
    ("protocol", Any),
    ("hostIP", Any),
];

const ENV_VAR: Fields = &[
    ("name", Any),
    ("value", Any),
    ("valueFrom", Obj("EnvVarSource")),
];

const ENV_VAR_SOURCE: Fields = &[
    ("fieldRef", Any),
    ("resourceFieldRef", Any),
    ("configMapKeyRef", Any),
    ("secretKeyRef", Any),
];

const ENV_FROM_SOURCE: Fields = &[("prefix", Any), ("configMapRef", Any), ("secretRef", Any)];

const RESOURCES: Fields = &[("limits", Map), ("requests", Map), ("claims", Any)];

const VOLUME_MOUNT: Fields = &[
    ("name", Any),
    ("readOnly", Any),
    ("recursiveReadOnly", Any),
    ("mountPath", Any),
    ("subPath", Any),
    ("mountPropagation", Any),
    ("subPathExpr", Any),
];

const VOLUME: Fields = &[
    ("name", Any),
    ("hostPath", Any),
    ("emptyDir", Any),
    ("gcePersistentDisk", Any),
    ("awsElasticBlockStore", Any),
    ("gitRepo", Any),
    ("secret", Any),
    ("nfs", Any),
    ("iscsi", Any),
    ("glusterfs", Any),
    ("persistentVolumeClaim", Any),
    ("rbd", Any),
    ("flexVolume", Any),
    ("cinder", Any),
    ("cephfs", Any),
    ("flocker", Any),
    ("downwardAPI", Any),
    ("fc", Any),
    ("azureFile", Any),
    ("configMap", Any),
    ("vsphereVolume", Any),
    ("quobyte", Any),
    ("azureDisk", Any),
    ("photonPersistentDisk", Any),
    ("projected", Any),
    ("portworxVolume", Any),
    ("scaleIO", Any),
    ("storageos", Any),
    ("csi", Any),
    ("ephemeral", Any),
    ("image", Any),
];

const TOLERATION: Fields = &[
    ("key", Any),
    ("operator", Any),
    ("value", Any),
    ("effect", Any),
    ("tolerationSeconds", Any),
];

const SECURITY_CONTEXT: Fields = &[
    ("capabilities", Obj("Capabilities")),
    ("privileged", Any),
    ("seLinuxOptions", Any),
    ("windowsOptions", Any),
    ("runAsUser", Any),
    ("runAsGroup", Any),
    ("runAsNonRoot", Any),
    ("readOnlyRootFilesystem", Any),
    ("allowPrivilegeEscalation", Any),
    ("procMount", Any),
    ("seccompProfile", Obj("SeccompProfile")),
    ("appArmorProfile", Any),
];

const POD_SECURITY_CONTEXT: Fields = &[
    ("seLinuxOptions", Any),
    ("windowsOptions", Any),
    ("runAsUser", Any),
    ("runAsGroup", Any),
    ("runAsNonRoot", Any),
    ("supplementalGroups", Any),
    ("supplementalGroupsPolicy", Any),
    ("fsGroup", Any),
    ("sysctls", Any),
    ("fsGroupChangePolicy", Any),
    ("seccompProfile", Obj("SeccompProfile")),
    ("appArmorProfile", Any),
    ("seLinuxChangePolicy", Any),
];

const CAPABILITIES: Fields = &[("add", Any), ("drop", Any)];
const SECCOMP_PROFILE: Fields = &[("type", Any), ("localhostProfile", Any)];
const LOCAL_OBJECT_REFERENCE: Fields = &[("name", Any)];

const POD: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Obj("ObjectMeta")),
    ("spec", Obj("PodSpec")),
    ("status", Any),
];
const SECRET: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Obj("ObjectMeta")),
    ("data", Map),
    ("stringData", Map),
    ("type", Any),
    ("immutable", Any),
];
const CONFIG_MAP: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Obj("ObjectMeta")),
    ("data", Map),
    ("binaryData", Map),
    ("immutable", Any),
];
const WITH_SPEC_STATUS: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Obj("ObjectMeta")),
    ("spec", Any),
    ("status", Any),
];

const SERVICE_ACCOUNT: Fields = &[
    ("apiVersion", Any),
    ("kind", Any),
    ("metadata", Obj("ObjectMeta")),
    ("secrets", Any),
    ("imagePullSecrets", List("LocalObjectReference")),
    ("automountServiceAccountToken", Any),
];

fn fields(type_name: &str) -> Option<Fields> {
    Some(match type_name {
        "ServiceAccount" => SERVICE_ACCOUNT,
        "PersistentVolumeClaim" => WITH_SPEC_STATUS,
        "Pod" => POD,
        "Secret" => SECRET,
        "ConfigMap" => CONFIG_MAP,
        "Namespace" | "Node" => WITH_SPEC_STATUS,
        "ObjectMeta" => OBJECT_META,
        "OwnerReference" => OWNER_REFERENCE,
        "PodSpec" => POD_SPEC,
        "Container" => CONTAINER,
        "ContainerPort" => CONTAINER_PORT,
        "EnvVar" => ENV_VAR,
        "EnvVarSource" => ENV_VAR_SOURCE,
        "EnvFromSource" => ENV_FROM_SOURCE,
        "ResourceRequirements" => RESOURCES,
        "VolumeMount" => VOLUME_MOUNT,
        "Volume" => VOLUME,
        "Toleration" => TOLERATION,
        "SecurityContext" => SECURITY_CONTEXT,
        "PodSecurityContext" => POD_SECURITY_CONTEXT,
        "Capabilities" => CAPABILITIES,
        "SeccompProfile" => SECCOMP_PROFILE,
        "LocalObjectReference" => LOCAL_OBJECT_REFERENCE,
        // Events and anything else: not checked.
        _ => return None,
    })
}

/// The paths of fields `object` (of `kind`) has that the kind does not know, in the
/// apiserver's notation: `spec.containers[0].imagePullPolice`.
pub fn unknown_fields(kind: &str, object: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(kind, object, "", &mut found);
    found
}

fn walk(type_name: &str, value: &Value, path: &str, found: &mut Vec<String>) {
    let (Some(known), Some(map)) = (fields(type_name), value.as_object()) else {
        return;
    };
    for (key, child) in map {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match known.iter().find(|(name, _)| name == key).map(|(_, s)| *s) {
            None => found.push(here),
            Some(Obj(inner)) => walk(inner, child, &here, found),
            Some(List(inner)) => {
                for (i, item) in child.as_array().into_iter().flatten().enumerate() {
                    walk(inner, item, &format!("{here}[{i}]"), found);
                }
            }
            Some(Any | Map) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn names_unknown_fields_by_path() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "lables": {}},
            "spec": {"containers": [{"name": "a", "image": "b"}, {"name": "c", "imagePullPolice": "Always",
            "securityContext": {"capabilities": {"dorp": ["ALL"]}}}], "bogus": 1}});
        assert_eq!(
            super::unknown_fields("Pod", &pod),
            [
                "metadata.lables",
                "spec.bogus",
                "spec.containers[1].imagePullPolice",
                "spec.containers[1].securityContext.capabilities.dorp"
            ]
        );
        assert!(super::unknown_fields("Event", &json!({"whatever": 1})).is_empty());
    }
}

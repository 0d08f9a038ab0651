//! `deploy adapters: [tomcat9(url: 'http://host:8080/', credentialsId: 'id', path: '')],
//! contextPath: 'app', war: 'target/*.war', onFailure: true` (the Deploy to container
//! plugin): each WAR the pattern finds in the workspace is uploaded to each Tomcat through
//! its manager's text interface (`PUT <manager>/deploy?path=/<context>&update=true`, with
//! the credential's username and password), as the plugin's Tomcat 7+ adapters do. Other
//! containers fail naming the adapter.

use super::StepCall;
use super::descriptor::{described, kind_of};
use super::http_client::{HttpCall, basic_auth, send};
use crate::error::StepError;
use kiln_script::Value;
use kiln_types::BuildResult;

/// One Tomcat to deploy to.
struct Tomcat {
    url: String,
    /// The manager's path on the server (`/manager/text` unless given).
    manager: String,
    credentials_id: Option<String>,
}

fn adapters(list: &Value) -> Result<Vec<Tomcat>, StepError> {
    let items = match list {
        Value::List(items) => items.as_slice(),
        other => std::slice::from_ref(other),
    };
    items
        .iter()
        .map(|item| {
            let kind = kind_of(item).unwrap_or("?");
            if !matches!(kind, "tomcat7" | "tomcat8" | "tomcat9") {
                return Err(StepError::failed(format!(
                    "deploy: the `{kind}` adapter is not provided by kiln (it deploys to Tomcat 7 and later: tomcat7, tomcat8, tomcat9)"
                )));
            }
            let text = |key: &str| {
                item.get(key)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
            };
            let url = text("url")
                .ok_or_else(|| StepError::failed(format!("deploy: `{kind}` needs a `url`")))?;
            let manager = text("path").unwrap_or_else(|| "/manager/text".to_owned());
            Ok(Tomcat {
                url: url.trim_end_matches('/').to_owned(),
                manager: format!("/{}", manager.trim_matches('/')),
                credentials_id: text("credentialsId"),
            })
        })
        .collect()
}

/// The context a WAR is deployed at: `contextPath`, else the file's name without `.war`.
fn context(given: Option<&str>, war: &str) -> String {
    let name = match given.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => c.to_owned(),
        None => {
            let file = war.rsplit('/').next().unwrap_or(war);
            file.strip_suffix(".war").unwrap_or(file).to_owned()
        }
    };
    format!("/{}", name.trim_matches('/'))
}

pub(crate) async fn deploy(call: &StepCall<'_>) -> Result<Value, StepError> {
    let war = call.req_string("war")?;
    if !call.bool("onFailure", true)? && call.build.result() >= BuildResult::Failure {
        call.log("deploy: skipped, the build has failed (`onFailure: false`)");
        return Ok(Value::Null);
    }
    let targets = adapters(&described(call, "adapters")?.unwrap_or(Value::Null))?;
    if targets.is_empty() {
        return Err(StepError::failed("deploy: `adapters` names no container"));
    }
    let given = call.string("contextPath")?;
    let executor = call.executor()?;
    let files = executor
        .list_files(&call.scope.cwd, std::slice::from_ref(&war), &[])
        .await?;
    if files.is_empty() {
        return Err(StepError::failed(format!(
            "deploy: no WAR/EAR file matches `{war}` in the workspace"
        )));
    }
    for f in &files {
        let path = f.path.to_string_lossy().replace('\\', "/");
        let bytes = executor.read_file(&call.scope.cwd.join(&f.path)).await?;
        let ctx = context(given.as_deref(), &path);
        for t in &targets {
            let url = format!("{}{}/deploy?path={ctx}&update=true", t.url, t.manager);
            let mut req = HttpCall::new("PUT", url.clone())
                .header("Content-Type", "application/octet-stream");
            if let Some(id) = &t.credentials_id {
                let (user, password) = super::credentials::username_password(call.build, id)?;
                req = req.header("Authorization", basic_auth(&user, &password));
            }
            req.body = Some(bytes.clone());
            call.log(&format!(
                "Deploying {path} to {}{} at {ctx}",
                t.url, t.manager
            ));
            let reply = send(req)
                .await
                .map_err(|e| StepError::failed(format!("deploy: {url}: {e}")))?;
            let text = reply.text();
            let first = text.lines().next().unwrap_or_default().trim().to_owned();
            if !reply.is_success() || !first.starts_with("OK") {
                return Err(StepError::failed(format!(
                    "deploy: Tomcat at {} refused {path}: HTTP {} {}",
                    t.url,
                    reply.status,
                    if first.is_empty() {
                        reply.reason.clone()
                    } else {
                        first
                    }
                )));
            }
            call.log(&first);
        }
    }
    Ok(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_is_given_or_the_wars_name() {
        assert_eq!(context(Some("tasks"), "target/x.war"), "/tasks");
        assert_eq!(context(Some("/a/b/"), "x.war"), "/a/b");
        assert_eq!(context(Some(""), "target/calc-1.0.war"), "/calc-1.0");
        assert_eq!(context(None, "app.war"), "/app");
    }
}

//! `azureWebAppPublish(azureCredentialsId:, resourceGroup:, appName:, filePath:,
//! sourceDirectory:, targetDirectory:, slotName:)` (Azure App Service plugin): files of the
//! workspace deployed to an App Service web app through the APIs the plugin's Azure client
//! uses. The service principal credential signs in at its token endpoint (client
//! credentials, for the Resource Manager), the Resource Manager lists the app's (or slot's)
//! publishing credentials, and the files go to the app's Kudu site with them: one `.zip`
//! to `/api/zipdeploy`, each `.war` to `/api/wardeploy`, as the plugin's file deployment
//! does; any other files are put in a zip under `targetDirectory` and sent to
//! `/api/zipdeploy` (the plugin pushes those to the app's git repository instead).
//! `publishType: 'docker'` fails naming what kiln does not do. The endpoints are the
//! credential's (`authentication_endpoint`, `resource_manager_endpoint`), Azure's public
//! cloud by default; the Kudu address is the `scmUri` the Resource Manager gives.

use super::StepCall;
use super::archive_zip::write_zip;
use super::http_client::{HttpCall, HttpReply, basic_auth, send};
use super::workspace_path::confined;
use crate::error::StepError;
use crate::{AzureServicePrincipal, BuildResult, Credential};
use kiln_script::Value;
use std::fmt::Write as _;
use std::path::Path;

const AUTHENTICATION_ENDPOINT: &str = "https://login.microsoftonline.com/";
const RESOURCE_MANAGER_ENDPOINT: &str = "https://management.azure.com/";
/// The App Service API version kiln asks the Resource Manager for.
const API_VERSION: &str = "2019-08-01";

pub(crate) async fn azure_web_app_publish(call: &StepCall<'_>) -> Result<Value, StepError> {
    let credentials_id = call.req_string("azureCredentialsId")?;
    let group = call.req_string("resourceGroup")?;
    let app = call.req_string("appName")?;
    if call.bool("deployOnlyIfSuccessful", true)? && call.build.result() > BuildResult::Success {
        call.log("Deploy to Azure Web App is skipped due to previous steps failed.");
        return Ok(Value::Null);
    }
    call.log("Starting Azure Web App Deployment");
    let sp = service_principal(call, &credentials_id)?;
    if call
        .string("publishType")?
        .is_some_and(|t| t.eq_ignore_ascii_case("docker"))
    {
        return Err(StepError::failed(
            "azureWebAppPublish: publishType 'docker' (build and push an image, then set it on the web app) is not provided by kiln; it deploys files (publishType 'file')",
        ));
    }
    let payload = payload(call).await?;
    let token = token(call, &sp).await?;
    let slot = call.string("slotName")?.filter(|s| !s.trim().is_empty());
    let site = Site {
        sp: &sp,
        token: &token,
        group: &group,
        app: &app,
        slot: slot.as_deref(),
    };
    let kudu = publishing_credentials(call, &site).await?;
    for (kind, name, bytes) in payload {
        let path = match kind {
            Kind::War => format!("/api/wardeploy?name={}", form_encode(&name)),
            Kind::Zip => "/api/zipdeploy".to_owned(),
        };
        call.log(&format!(
            "Deploy to app {app} with default host {} using file {name}",
            kudu.base
        ));
        let mut request = HttpCall::new("POST", format!("{}{path}", kudu.base))
            .header("Authorization", basic_auth(&kudu.username, &kudu.password))
            .header("Content-Type", "application/octet-stream");
        request.body = Some(bytes);
        let reply = request_ok(call, request).await?;
        if reply.status == 202 {
            call.log("Kudu accepted the deployment and completes it in the background");
        }
    }
    call.log("Done Azure Web App deployment.");
    Ok(Value::Null)
}

/// The service principal credential `id`, masked from now on.
fn service_principal(call: &StepCall<'_>, id: &str) -> Result<AzureServicePrincipal, StepError> {
    match super::credentials::lookup(call.build, id) {
        Ok(Credential::AzureServicePrincipal(sp)) => Ok(*sp),
        Ok(_) => Err(StepError::failed(format!(
            "azureWebAppPublish: credentials `{id}` are not an Azure service principal"
        ))),
        Err(_) => Err(StepError::failed(format!(
            "azureWebAppPublish: could not find an Azure service principal credential with ID '{id}'"
        ))),
    }
}

/// How a file goes to Kudu.
enum Kind {
    Zip,
    War,
}

/// What is deployed: each request's kind, the file's name and its bytes.
async fn payload(call: &StepCall<'_>) -> Result<Vec<(Kind, String, Vec<u8>)>, StepError> {
    let pattern = call.string("filePath")?.unwrap_or_default();
    let source = call.string("sourceDirectory")?.unwrap_or_default();
    let dir = confined(call, &source, "azureWebAppPublish sourceDirectory")?;
    let executor = call.executor()?;
    // Comma-separated Ant patterns, as Jenkins' `FilePath.list` reads them.
    let includes: Vec<String> = pattern
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    let files = executor.list_files(&dir, &includes, &[]).await?;
    let extension = pattern.rsplit('.').next().unwrap_or_default();
    let with_extension = |ext: &str| {
        files
            .iter()
            .filter(|f| f.path.to_string_lossy().to_lowercase().ends_with(ext))
            .collect::<Vec<_>>()
    };
    let mut out = Vec::new();
    match extension {
        "zip" => match with_extension(".zip")[..] {
            [only] => {
                let bytes = executor.read_file(&dir.join(&only.path)).await?;
                out.push((Kind::Zip, file_name(&only.path), bytes));
            }
            [] => {
                return Err(StepError::failed(format!(
                    "azureWebAppPublish: no zip file matches `{pattern}` in `{}`",
                    dir.display()
                )));
            }
            ref many => {
                return Err(StepError::failed(format!(
                    "azureWebAppPublish: There are {} zip files in the workspace, please check it.",
                    many.len()
                )));
            }
        },
        "war" => {
            for f in with_extension(".war") {
                let bytes = executor.read_file(&dir.join(&f.path)).await?;
                let name = file_name(&f.path);
                let base = name.strip_suffix(".war").unwrap_or(&name).to_owned();
                out.push((Kind::War, base, bytes));
            }
        }
        _ => {
            let target = call.string("targetDirectory")?.unwrap_or_default();
            let target = target.trim_matches('/');
            let mut entries = Vec::with_capacity(files.len());
            for f in &files {
                let bytes = executor.read_file(&dir.join(&f.path)).await?;
                let rel = f.path.to_string_lossy().replace('\\', "/");
                let name = if target.is_empty() {
                    rel
                } else {
                    format!("{target}/{rel}")
                };
                entries.push((name, bytes));
            }
            if !entries.is_empty() {
                let count = entries.len();
                let zip = write_zip(entries)
                    .map_err(|e| StepError::failed(format!("azureWebAppPublish: {e}")))?;
                out.push((Kind::Zip, format!("{count} files as a zip"), zip));
            }
        }
    }
    if out.is_empty() {
        return Err(StepError::failed(format!(
            "azureWebAppPublish: no file matches `{pattern}` in `{}`",
            dir.display()
        )));
    }
    Ok(out)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// A token for the Resource Manager from the service principal's tenant.
async fn token(call: &StepCall<'_>, sp: &AzureServicePrincipal) -> Result<String, StepError> {
    let auth = base(
        sp.authentication_endpoint.as_deref(),
        AUTHENTICATION_ENDPOINT,
    );
    let resource = format!(
        "{}/",
        base(
            sp.resource_manager_endpoint.as_deref(),
            RESOURCE_MANAGER_ENDPOINT
        )
    );
    let body = [
        ("grant_type", "client_credentials"),
        ("client_id", sp.client_id.as_str()),
        ("client_secret", sp.client_secret.as_str()),
        ("resource", resource.as_str()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", form_encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let mut request = HttpCall::new(
        "POST",
        format!("{auth}/{}/oauth2/token", form_encode(&sp.tenant)),
    )
    .header("Content-Type", "application/x-www-form-urlencoded");
    request.body = Some(body.into_bytes());
    let reply = request_ok(call, request).await?;
    let token = json_field(call, &reply, "/access_token")?;
    call.build.add_secrets([token.clone()]);
    Ok(token)
}

/// The web app (or slot) a deployment goes to.
struct Site<'a> {
    sp: &'a AzureServicePrincipal,
    token: &'a str,
    group: &'a str,
    app: &'a str,
    slot: Option<&'a str>,
}

/// Where the app's Kudu site is and how to sign in to it.
struct Kudu {
    base: String,
    username: String,
    password: String,
}

/// The publishing credentials of the app (or slot) from the Resource Manager.
async fn publishing_credentials(call: &StepCall<'_>, site: &Site<'_>) -> Result<Kudu, StepError> {
    let arm = base(
        site.sp.resource_manager_endpoint.as_deref(),
        RESOURCE_MANAGER_ENDPOINT,
    );
    let mut path = format!(
        "{arm}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Web/sites/{}",
        form_encode(&site.sp.subscription_id),
        form_encode(site.group),
        form_encode(site.app)
    );
    if let Some(slot) = site.slot {
        let _ = write!(path, "/slots/{}", form_encode(slot));
    }
    let request = HttpCall::new(
        "POST",
        format!("{path}/config/publishingcredentials/list?api-version={API_VERSION}"),
    )
    .header("Authorization", format!("Bearer {}", site.token))
    .header("Content-Length", "0");
    let reply = send(request)
        .await
        .map_err(|e| StepError::failed(format!("azureWebAppPublish: {e}")))?;
    if reply.status == 404 {
        let what = match site.slot {
            Some(slot) => format!("Slot {slot} of Web App {}", site.app),
            None => format!("Web App {}", site.app),
        };
        return Err(StepError::failed(format!(
            "azureWebAppPublish: {what} in resource group {} not found",
            site.group
        )));
    }
    let reply = checked(reply)?;
    let username = json_field(call, &reply, "/properties/publishingUserName")?;
    let password = json_field(call, &reply, "/properties/publishingPassword")?;
    call.build.add_secrets([password.clone()]);
    let scm = json_field(call, &reply, "/properties/scmUri")?;
    Ok(Kudu {
        base: without_user_info(&scm).trim_end_matches('/').to_owned(),
        username,
        password,
    })
}

/// `https://user:pass@host/` -> `https://host/`.
fn without_user_info(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => uri.to_owned(),
    }
}

fn base(given: Option<&str>, default: &str) -> String {
    given.unwrap_or(default).trim_end_matches('/').to_owned()
}

async fn request_ok(call: &StepCall<'_>, request: HttpCall) -> Result<HttpReply, StepError> {
    let url = request.url.clone();
    let reply = send(request)
        .await
        .map_err(|e| StepError::failed(format!("{}: {url}: {e}", call.name)))?;
    checked(reply).map_err(|e| StepError::failed(format!("{e} ({url})")))
}

fn checked(reply: HttpReply) -> Result<HttpReply, StepError> {
    if reply.is_success() {
        return Ok(reply);
    }
    Err(StepError::failed(format!(
        "azureWebAppPublish: HTTP {} {}",
        reply.status,
        reply.text().trim()
    )))
}

fn json_field(call: &StepCall<'_>, reply: &HttpReply, pointer: &str) -> Result<String, StepError> {
    reply
        .json()
        .ok()
        .and_then(|v| {
            v.pointer(pointer)
                .and_then(|v| v.as_str().map(str::to_owned))
        })
        .ok_or_else(|| {
            StepError::failed(format!(
                "{}: Azure's answer has no `{}`",
                call.name,
                pointer.trim_start_matches('/').replace('/', ".")
            ))
        })
}

/// `application/x-www-form-urlencoded` (and path-safe) text: unreserved bytes as they are,
/// every other byte `%XX`.
fn form_encode(text: &str) -> String {
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_unreserved_bytes_only() {
        assert_eq!(form_encode("a b/c=d&é~"), "a%20b%2Fc%3Dd%26%C3%A9~");
    }

    #[test]
    fn user_info_is_dropped_from_the_scm_uri() {
        assert_eq!(
            without_user_info("https://$app:pw@app.scm.azurewebsites.net"),
            "https://app.scm.azurewebsites.net"
        );
        assert_eq!(
            without_user_info("http://127.0.0.1:9"),
            "http://127.0.0.1:9"
        );
    }
}

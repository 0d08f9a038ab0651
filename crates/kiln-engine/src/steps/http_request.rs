//! `httpRequest` (HTTP Request plugin): one HTTP request; returns an object with `status`,
//! `content` and `headers`, fails on a status outside `validResponseCodes`.

use super::StepCall;
use super::http_client::{HttpCall, HttpReply, basic_auth, send};
use crate::Credential;
use crate::error::StepError;
use kiln_script::Value;
use std::time::Duration;

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "MKCOL",
];

pub(crate) async fn http_request(call: &StepCall<'_>) -> Result<Value, StepError> {
    let url = call.req_string("url")?;
    let method = call
        .string("httpMode")?
        .unwrap_or_else(|| "GET".to_owned())
        .to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(StepError::failed(format!(
            "httpRequest: `httpMode` must be one of {}, not `{method}`",
            METHODS.join(", ")
        )));
    }
    let valid = call
        .string("validResponseCodes")?
        .unwrap_or_else(|| "100:399".to_owned());
    let ranges = code_ranges(&valid)?;
    let quiet = call.bool("quiet", false)?;
    let request = build_request(call, &method, &url)?;
    if !quiet {
        call.log(&format!("HttpMethod: {method}"));
        call.log(&format!("URL: {url}"));
        for (name, value) in &request.headers {
            call.log(&format!("{name}: {value}"));
        }
        call.log(&format!("Sending request to url: {url}"));
    }
    let reply = send(request)
        .await
        .map_err(|e| StepError::failed(format!("httpRequest: {url}: {e}")))?;
    if !quiet {
        call.log(&format!(
            "Response Code: HTTP/1.1 {} {}",
            reply.status, reply.reason
        ));
    }
    check(call, &reply, &ranges, &valid, quiet)?;
    if let Some(file) = call.string("outputFile")? {
        let path = call.scope.cwd.join(&file);
        call.executor()?.write_file(&path, &reply.body).await?;
    }
    let keep_content = call
        .string("responseHandle")?
        .is_none_or(|h| !h.eq_ignore_ascii_case("NONE"));
    Ok(response_value(&reply, keep_content))
}

/// Logs the body if asked, and fails on a status or content the step does not accept.
fn check(
    call: &StepCall<'_>,
    reply: &HttpReply,
    ranges: &[(u16, u16)],
    valid: &str,
    quiet: bool,
) -> Result<(), StepError> {
    if call.bool("consoleLogResponseBody", false)? {
        call.log(&format!("Response: \n{}", reply.text()));
    }
    if !ranges
        .iter()
        .any(|(lo, hi)| (*lo..=*hi).contains(&reply.status))
    {
        return Err(StepError::failed(format!(
            "Fail: Status code {} is not in the accepted range: {valid}",
            reply.status
        )));
    }
    if !quiet {
        call.log(&format!(
            "Success: Status code {} is in the accepted range: {valid}",
            reply.status
        ));
    }
    if let Some(expected) = call.string("validResponseContent")?
        && !reply.text().contains(&expected)
    {
        return Err(StepError::failed(format!(
            "Fail: Response doesn't contain expected content '{expected}'"
        )));
    }
    Ok(())
}

/// The request the step's arguments describe.
fn build_request(call: &StepCall<'_>, method: &str, url: &str) -> Result<HttpCall, StepError> {
    let mut request = HttpCall::new(method, url);
    request.insecure = call.bool("ignoreSslErrors", false)?;
    request.timeout = match call.int("timeout")? {
        None | Some(0) => None,
        Some(s) => Some(Duration::from_secs(u64::try_from(s.max(1)).unwrap_or(1))),
    };
    request = headers(call, request)?;
    if let Some(body) = call.string("requestBody")? {
        request.body = Some(body.into_bytes());
    }
    Ok(request)
}

/// The returned object: `status`, `content` (`null` with `responseHandle: 'NONE'`) and
/// `headers` (name -> list of values).
fn response_value(reply: &HttpReply, keep_content: bool) -> Value {
    let mut headers: Vec<(String, Value)> = Vec::new();
    for (name, value) in &reply.headers {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, Value::List(values))) => values.push(Value::Str(value.clone())),
            _ => headers.push((name.clone(), Value::List(vec![Value::Str(value.clone())]))),
        }
    }
    Value::Map(vec![
        ("status".to_owned(), Value::Int(i64::from(reply.status))),
        (
            "content".to_owned(),
            if keep_content {
                Value::Str(reply.text())
            } else {
                Value::Null
            },
        ),
        ("headers".to_owned(), Value::Map(headers)),
    ])
}

/// `contentType`, `acceptType`, `customHeaders` and `authentication` as request headers.
fn headers(call: &StepCall<'_>, mut request: HttpCall) -> Result<HttpCall, StepError> {
    if let Some(t) = call.string("contentType")?
        && let Some(mime) = mime_of(call, "contentType", &t)?
    {
        request = request.header("Content-Type", mime);
    }
    if let Some(t) = call.string("acceptType")?
        && let Some(mime) = mime_of(call, "acceptType", &t)?
    {
        request = request.header("Accept", mime);
    }
    request = custom_headers(call, request)?;
    if let Some(id) = call.string("authentication")? {
        request = match call.build.spec.credentials.get(&id) {
            Some(Credential::UsernamePassword { username, password }) => {
                call.build.add_secrets([password.clone()]);
                request.header("Authorization", basic_auth(&username, &password))
            }
            Some(_) => {
                return Err(StepError::failed(format!(
                    "httpRequest: credential `{id}` of `authentication` must be a username/password credential"
                )));
            }
            None => {
                return Err(StepError::failed(format!(
                    "httpRequest: credential `{id}` of `authentication` does not exist"
                )));
            }
        };
    }
    Ok(request)
}

/// `customHeaders: [[name:, value:, maskValue:]]`.
fn custom_headers(call: &StepCall<'_>, mut request: HttpCall) -> Result<HttpCall, StepError> {
    match call.value("customHeaders")? {
        None => {}
        Some(Value::List(items)) => {
            for item in items {
                let name = item.get("name").and_then(Value::as_str).map(str::to_owned);
                let value = item.get("value").map(|v| match v {
                    Value::Str(s) => s.clone(),
                    other => other.to_string(),
                });
                let (Some(name), Some(value)) = (name, value) else {
                    return Err(StepError::failed(
                        "httpRequest: each of `customHeaders` needs `name` and `value`",
                    ));
                };
                if matches!(item.get("maskValue"), Some(Value::Bool(true))) {
                    call.build.add_secrets([value.clone()]);
                }
                request = request.header(&name, value);
            }
        }
        Some(_) => {
            return Err(StepError::failed(
                "httpRequest: `customHeaders` must be a list such as [[name: 'X', value: 'y']]",
            ));
        }
    }
    Ok(request)
}

/// The plugin's `MimeType` names; `NOT_SET` sends no header.
fn mime_of(call: &StepCall<'_>, arg: &str, name: &str) -> Result<Option<&'static str>, StepError> {
    Ok(Some(match name {
        "NOT_SET" => return Ok(None),
        "TEXT_HTML" => "text/html",
        "TEXT_PLAIN" => "text/plain",
        "APPLICATION_JSON" => "application/json",
        "APPLICATION_JSON_UTF8" => "application/json; charset=UTF-8",
        "APPLICATION_TAR" => "application/x-tar",
        "APPLICATION_ZIP" => "application/zip",
        "APPLICATION_OCTETSTREAM" => "application/octet-stream",
        "APPLICATION_FORM" => "application/x-www-form-urlencoded",
        "APPLICATION_FORM_DATA" => "multipart/form-data",
        other => {
            return Err(StepError::failed(format!(
                "{}: `{arg}` must be NOT_SET, TEXT_HTML, TEXT_PLAIN, APPLICATION_JSON, \
                 APPLICATION_JSON_UTF8, APPLICATION_TAR, APPLICATION_ZIP, \
                 APPLICATION_OCTETSTREAM, APPLICATION_FORM or APPLICATION_FORM_DATA, not `{other}`",
                call.name
            )));
        }
    }))
}

/// `validResponseCodes`: `200`, `200:299`, comma-separated.
fn code_ranges(spec: &str) -> Result<Vec<(u16, u16)>, StepError> {
    let bad = || {
        StepError::failed(format!(
            "httpRequest: `validResponseCodes` must be codes or ranges such as `200,201:204`, not `{spec}`"
        ))
    };
    spec.split(',')
        .map(|part| {
            let part = part.trim();
            let (lo, hi) = part.split_once(':').unwrap_or((part, part));
            let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            Ok((lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::code_ranges;

    #[test]
    fn response_code_ranges() {
        assert_eq!(code_ranges("100:399").unwrap(), [(100, 399)]);
        assert_eq!(
            code_ranges("200, 404:404,500").unwrap(),
            [(200, 200), (404, 404), (500, 500)]
        );
        assert!(code_ranges("abc").is_err());
        assert!(code_ranges("300:200").is_err());
    }
}

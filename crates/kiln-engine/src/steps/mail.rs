//! `mail` (Mailer plugin) and `emailext` (Email Extension plugin): messages sent over SMTP
//! through the build's `mail:` settings, with lettre. The SMTP password comes from the
//! username/password credential the settings name, and is masked from then on.

use super::StepCall;
use super::mail_tokens::Tokens;
use crate::Credential;
use crate::error::StepError;
use kiln_config::{MailConfig, MailTls};
use kiln_script::Value;
use kiln_syntax::ast::ExprKind;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// How long one message may take to send.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// One message, before it is built.
#[derive(Default)]
struct Email {
    from: Option<String>,
    reply_to: Option<String>,
    to: Vec<String>,
    cc: Vec<String>,
    bcc: Vec<String>,
    subject: String,
    body: String,
    mime_type: String,
    attachments: Vec<(String, Vec<u8>, String)>,
}

/// `mail to:, cc:, bcc:, from:, replyTo:, subject:, body:, mimeType:, charset:`.
pub(crate) async fn mail(call: &StepCall<'_>) -> Result<Value, StepError> {
    let settings = settings(call)?;
    let email = Email {
        from: call.string("from")?,
        reply_to: call.string("replyTo")?,
        to: addresses(&call.string("to")?.unwrap_or_default()),
        cc: addresses(&call.string("cc")?.unwrap_or_default()),
        bcc: addresses(&call.string("bcc")?.unwrap_or_default()),
        subject: call.req_string("subject")?,
        body: call.req_string("body")?,
        mime_type: call
            .string("mimeType")?
            .unwrap_or_else(|| "text/plain".to_owned()),
        attachments: Vec::new(),
    };
    charset_note(call)?;
    if email.to.is_empty() && email.cc.is_empty() && email.bcc.is_empty() {
        return Err(StepError::failed(
            "mail: Email not sent. No recipients of any kind specified ('to', 'cc', 'bcc').",
        ));
    }
    send(call, settings, email).await?;
    Ok(Value::Null)
}

/// `emailext(to:, subject:, body:, attachLog:, compressLog:, attachmentsPattern:,
/// recipientProviders:, mimeType:, replyTo:, from:)`. With nobody to send to, the plugin
/// logs that and goes on; so does kiln. The plugin's step also only logs a message it could
/// not send (no server, a refused connection or address) and leaves the build's result as
/// it was; so does kiln (`mail` fails the build, as Mailer's step does).
pub(crate) async fn emailext(call: &StepCall<'_>) -> Result<Value, StepError> {
    let not_sent = |e: StepError| {
        call.log(&format!("ERROR: {e}; no e-mail sent, the build goes on"));
        Ok(Value::Null)
    };
    let settings = match settings(call) {
        Ok(s) => s,
        Err(e) => return not_sent(e),
    };
    let env = call.scope.env.as_ref().clone();
    let subject = call
        .string("subject")?
        .unwrap_or_else(|| "$DEFAULT_SUBJECT".to_owned());
    let body = call
        .string("body")?
        .unwrap_or_else(|| "$DEFAULT_CONTENT".to_owned());
    let asks = |name: &str| {
        super::mail_tokens::uses(&subject, name) || super::mail_tokens::uses(&body, name)
    };
    let build_log = if asks("BUILD_LOG") {
        Some(call.build.log_text().await)
    } else {
        None
    };
    let changes = if asks("CHANGES") {
        Some(
            super::scm::head_change(call.build, call.scope)
                .await?
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let tokens = Tokens {
        env: &env,
        result: call.build.result(),
        previous: call.build.spec.previous_result,
        cause: call.build.spec.cause.description(),
        build_log,
        changes,
    };
    let mut email = Email {
        from: call.string("from")?,
        reply_to: call.string("replyTo")?,
        subject: tokens.expand(&subject),
        body: tokens.expand(&body),
        mime_type: call
            .string("mimeType")?
            .unwrap_or_else(|| "text/plain".to_owned()),
        ..Email::default()
    };
    for address in addresses(&tokens.expand(&call.string("to")?.unwrap_or_default())) {
        match (address.strip_prefix("cc:"), address.strip_prefix("bcc:")) {
            (Some(cc), _) => email.cc.push(cc.to_owned()),
            (_, Some(bcc)) => email.bcc.push(bcc.to_owned()),
            _ => email.to.push(address),
        }
    }
    email.to.extend(provided_recipients(call).await?);
    if email.to.is_empty() && email.cc.is_empty() && email.bcc.is_empty() {
        call.log("An attempt to send an e-mail to empty list of recipients, ignored.");
        return Ok(Value::Null);
    }
    email.attachments = attachments(call).await?;
    match send(call, settings, email).await {
        Ok(()) => Ok(Value::Null),
        Err(e) => not_sent(e),
    }
}

/// The build's `mail:` settings, or an error naming what to configure.
fn settings<'c>(call: &'c StepCall<'_>) -> Result<&'c MailConfig, StepError> {
    call.build.spec.services.mail.as_ref().ok_or_else(|| {
        StepError::failed(format!(
            "{}: no SMTP server is configured: set `mail.host` (and `port`, `from`) in kiln.yaml, \
             or for `kiln run` --smtp-host / KILN_SMTP_HOST",
            call.name
        ))
    })
}

fn charset_note(call: &StepCall<'_>) -> Result<(), StepError> {
    if let Some(charset) = call.string("charset")?
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        call.log(&format!(
            "mail: charset {charset} is not supported; the message is sent as UTF-8"
        ));
    }
    Ok(())
}

/// Addresses separated by commas or white space, as both plugins accept them.
fn addresses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_angle = false;
    for c in text.chars() {
        match c {
            '<' => in_angle = true,
            '>' => in_angle = false,
            ',' | ';' if !in_angle => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .flat_map(|part| {
            // `a@x b@y` (white space only, no display names) lists several addresses.
            let trimmed = part.trim().to_owned();
            if trimmed.contains('<') {
                vec![trimmed]
            } else {
                trimmed.split_whitespace().map(str::to_owned).collect()
            }
        })
        .filter(|a| !a.is_empty())
        .collect()
}

/// The recipients `recipientProviders` name, from what kiln knows: the author of the
/// commit being built (developers, culprits, suspects) and the user who started the build.
async fn provided_recipients(call: &StepCall<'_>) -> Result<Vec<String>, StepError> {
    let mut out = Vec::new();
    for provider in provider_names(call)? {
        match provider.as_str() {
            "developers"
            | "culprits"
            | "brokenBuildSuspects"
            | "brokenTestsSuspects"
            | "DevelopersRecipientProvider"
            | "CulpritsRecipientProvider"
            | "FailingTestSuspectsRecipientProvider"
            | "FirstFailingBuildSuspectsRecipientProvider" => {
                match super::scm::head_author(call.build, call.scope).await? {
                    Some(author) => out.push(author),
                    None => call.log(&format!(
                        "emailext: {provider}: the workspace is not a git checkout; no commit author to add"
                    )),
                }
            }
            "requestor" | "RequesterRecipientProvider" => match &call.build.spec.cause {
                crate::BuildCause::User(user) if user.contains('@') => out.push(user.clone()),
                crate::BuildCause::User(user) => call.log(&format!(
                    "emailext: requestor: kiln knows no e-mail address of user {user}"
                )),
                _ => call.log("emailext: requestor: the build was not started by a user"),
            },
            other => call.log(&format!(
                "emailext: recipient provider {other} is unknown to kiln; it adds nobody"
            )),
        }
    }
    out.dedup();
    Ok(out)
}

/// The providers as written: `[developers(), requestor()]` or `[[$class: '...']]`.
fn provider_names(call: &StepCall<'_>) -> Result<Vec<String>, StepError> {
    if let Some(expr) = call.expr("recipientProviders") {
        let items = match &expr.kind {
            ExprKind::List(items) => items.iter().collect(),
            _ => vec![expr],
        };
        let mut names = Vec::new();
        for item in items {
            match &item.kind {
                ExprKind::Call { callee, .. } if callee.as_ident().is_some() => {
                    names.push(callee.as_ident().unwrap_or_default().to_owned());
                }
                _ => match crate::eval::eval(item, call.build, call.scope)? {
                    v @ (Value::Map(_) | Value::Str(_)) => names.extend(descriptor_name(v)),
                    _ => return Err(bad_providers()),
                },
            }
        }
        return Ok(names);
    }
    match call.value("recipientProviders")? {
        None => Ok(Vec::new()),
        Some(Value::List(items)) => Ok(items.into_iter().flat_map(descriptor_name).collect()),
        Some(_) => Err(bad_providers()),
    }
}

fn descriptor_name(v: Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s),
        other => other
            .get(super::scripted::DESCRIPTOR_KEY)
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

fn bad_providers() -> StepError {
    StepError::failed(
        "emailext: `recipientProviders` must be a list such as `[developers(), requestor()]`",
    )
}

/// The workspace files `attachmentsPattern` matches, then the log with `attachLog`.
async fn attachments(call: &StepCall<'_>) -> Result<Vec<(String, Vec<u8>, String)>, StepError> {
    let mut out = match call.string("attachmentsPattern")? {
        Some(pattern) => workspace_files(call, &pattern).await?,
        None => Vec::new(),
    };
    if call.bool("attachLog", false)? {
        if call.bool("compressLog", false)? {
            call.log("emailext: compressLog is not supported by kiln; the log is attached as text");
        }
        out.push((
            "build.log".to_owned(),
            call.build.log_text().await.into_bytes(),
            "text/plain; charset=utf-8".to_owned(),
        ));
    }
    Ok(out)
}

/// The workspace files `pattern` (Ant-style, comma-separated) matches.
async fn workspace_files(
    call: &StepCall<'_>,
    pattern: &str,
) -> Result<Vec<(String, Vec<u8>, String)>, StepError> {
    let patterns: Vec<String> = pattern
        .split(',')
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let files = call
        .executor()?
        .list_files(&call.scope.cwd, &patterns, &[])
        .await?;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let bytes = call
            .executor()?
            .read_file(&call.scope.cwd.join(&f.path))
            .await?;
        let name = f
            .path
            .file_name()
            .map_or_else(|| "attachment".into(), |n| n.to_string_lossy().into_owned());
        out.push((name, bytes, "application/octet-stream".to_owned()));
    }
    Ok(out)
}

/// Builds the message and sends it; logs like the plugins do.
async fn send(call: &StepCall<'_>, settings: &MailConfig, email: Email) -> Result<(), StepError> {
    let failed = |what: String| StepError::failed(format!("{}: {what}", call.name));
    let from = email
        .from
        .clone()
        .or_else(|| settings.from.clone())
        .ok_or_else(|| failed("no sender: give `from:` or set `mail.from` in kiln.yaml".into()))?;
    let message = build_message(&email, &from).map_err(failed)?;
    let transport = transport(call, settings)?;
    let recipients = [&email.to, &email.cc, &email.bcc]
        .iter()
        .map(|l| l.len())
        .sum::<usize>();
    transport.send(message).await.map_err(|e| {
        failed(format!(
            "sending through {}:{} failed: {}",
            settings.host,
            settings.port,
            crate::error::error_chain(&e)
        ))
    })?;
    call.log(&format!(
        "Sent e-mail \"{}\" to {recipients} recipient(s) through {}:{}",
        email.subject, settings.host, settings.port
    ));
    Ok(())
}

fn build_message(email: &Email, from: &str) -> Result<Message, String> {
    let mailbox = |a: &str| -> Result<Mailbox, String> {
        a.parse::<Mailbox>()
            .map_err(|e| format!("`{a}` is not an e-mail address ({e})"))
    };
    let mut b = Message::builder()
        .from(mailbox(from)?)
        .subject(&email.subject);
    if let Some(r) = &email.reply_to {
        for a in addresses(r) {
            b = b.reply_to(mailbox(&a)?);
        }
    }
    for a in &email.to {
        b = b.to(mailbox(a)?);
    }
    for a in &email.cc {
        b = b.cc(mailbox(a)?);
    }
    for a in &email.bcc {
        b = b.bcc(mailbox(a)?);
    }
    let content_type = ContentType::parse(&format!("{}; charset=utf-8", email.mime_type))
        .map_err(|e| format!("`mimeType` {} is not a MIME type ({e})", email.mime_type))?;
    let text = SinglePart::builder()
        .header(content_type)
        .body(email.body.clone());
    let built = if email.attachments.is_empty() {
        b.singlepart(text)
    } else {
        let mut parts = MultiPart::mixed().singlepart(text);
        for (name, bytes, kind) in &email.attachments {
            let kind = ContentType::parse(kind).map_err(|e| e.to_string())?;
            parts = parts.singlepart(Attachment::new(name.clone()).body(bytes.clone(), kind));
        }
        b.multipart(parts)
    };
    built.map_err(|e| format!("cannot build the message: {e}"))
}

fn transport(
    call: &StepCall<'_>,
    settings: &MailConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, StepError> {
    let tls_error = |e: lettre::transport::smtp::Error| {
        StepError::failed(format!("{}: TLS setup failed: {e}", call.name))
    };
    let tls = match settings.tls {
        MailTls::None => Tls::None,
        MailTls::Starttls => {
            Tls::Required(TlsParameters::new(settings.host.clone()).map_err(tls_error)?)
        }
        MailTls::Tls => Tls::Wrapper(TlsParameters::new(settings.host.clone()).map_err(tls_error)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
        .port(settings.port)
        .tls(tls)
        .timeout(Some(SEND_TIMEOUT));
    if let Some(id) = &settings.credential {
        match call.build.spec.credentials.get(id) {
            Some(Credential::UsernamePassword { username, password }) => {
                call.build.add_secrets([password.clone()]);
                builder = builder.credentials(Credentials::new(username, password));
            }
            Some(_) => {
                return Err(StepError::failed(format!(
                    "{}: credential `{id}` of `mail.credential` must be a username/password credential",
                    call.name
                )));
            }
            None => {
                return Err(StepError::failed(format!(
                    "{}: credential `{id}` of `mail.credential` does not exist",
                    call.name
                )));
            }
        }
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::addresses;

    #[test]
    fn address_lists() {
        let check = |input: &str, expected: &[&str]| assert_eq!(addresses(input), expected);
        check("a@x, b@y", &["a@x", "b@y"]);
        check("a@x b@y;c@z", &["a@x", "b@y", "c@z"]);
        check("Ann Lee <a@x>, cc:b@y", &["Ann Lee <a@x>", "cc:b@y"]);
        check("", &[]);
    }
}

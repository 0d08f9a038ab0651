//! `slackSend` (Slack Notification plugin): a message through Slack's `chat.postMessage`
//! (a bot token, `botUser: true`), an incoming webhook (`webhookUrl:`, or a token
//! credential holding a webhook URL), or the plugin's legacy integration (`baseUrl` +
//! token). The API base URL comes from the step or kiln.yaml's `slack:`, so Mattermost and
//! Rocket.Chat work too. Returns `channelId`, `ts` and `threadId` as the plugin does.

use super::StepCall;
use super::http_client::{HttpCall, HttpReply, send};
use crate::Credential;
use crate::error::StepError;
use kiln_script::Value;
use serde_json::json;

const SLACK_API: &str = "https://slack.com/api/";

/// Where and how a message goes.
enum Route {
    /// `chat.postMessage` with a bot token.
    Bot { base: String, token: String },
    /// A URL that takes the message as its JSON body (incoming webhook, legacy integration).
    Hook { url: String },
}

pub(crate) async fn slack_send(call: &StepCall<'_>) -> Result<Value, StepError> {
    let fail_on_error = call.bool("failOnError", false)?;
    match send_all(call).await {
        Ok(v) => Ok(v),
        Err(e) if !fail_on_error => {
            call.log(&format!("Slack Send Pipeline step failed: {e}"));
            call.log("(slackSend does not fail the build without `failOnError: true`)");
            Ok(response(None))
        }
        Err(e) => Err(e),
    }
}

async fn send_all(call: &StepCall<'_>) -> Result<Value, StepError> {
    let settings = call.build.spec.services.slack.clone().unwrap_or_default();
    let message = call.string("message")?.unwrap_or_default();
    let color = call.string("color")?;
    let channels = call
        .string("channel")?
        .or(settings.channel.clone())
        .unwrap_or_default();
    let route = route(call, &settings)?;
    let mut last = None;
    let channels: Vec<&str> = channels
        .split([',', ';', ' '])
        .filter(|c| !c.is_empty())
        .collect();
    let targets: Vec<Option<&str>> = if channels.is_empty() {
        vec![None]
    } else {
        channels.into_iter().map(Some).collect()
    };
    for target in targets {
        let (channel, thread) = match target.map(|t| t.split_once(':').unwrap_or((t, ""))) {
            Some((c, t)) => (Some(c), (!t.is_empty()).then_some(t)),
            None => (None, None),
        };
        let body = payload(call, &message, color.as_deref(), channel, thread)?;
        last = post(call, &route, body, channel).await?;
    }
    Ok(response(last))
}

/// The returned object: `channelId`, `ts` and `threadId` (`channel:ts`) of the last post,
/// `null` when the API did not say (webhooks).
fn response(posted: Option<(String, String)>) -> Value {
    let (channel, ts) = match posted {
        Some((c, t)) => (Value::Str(c), Value::Str(t)),
        None => (Value::Null, Value::Null),
    };
    let thread = match (&channel, &ts) {
        (Value::Str(c), Value::Str(t)) => Value::Str(format!("{c}:{t}")),
        _ => Value::Null,
    };
    Value::Map(vec![
        ("channelId".to_owned(), channel),
        ("ts".to_owned(), ts),
        ("threadId".to_owned(), thread),
    ])
}

fn route(call: &StepCall<'_>, settings: &kiln_config::SlackConfig) -> Result<Route, StepError> {
    if let Some(url) = call.string("webhookUrl")? {
        return Ok(Route::Hook { url });
    }
    let credential = call
        .string("tokenCredentialId")?
        .or(settings.credential.clone());
    let token = match credential {
        Some(id) => Some(secret_text(call, &id)?),
        None => call.string("token")?,
    };
    let Some(token) = token else {
        return Err(StepError::failed(
            "slackSend: no token: give `tokenCredentialId` or `webhookUrl`, or set `slack.credential` in kiln.yaml",
        ));
    };
    call.build.add_secrets([token.clone()]);
    if token.starts_with("https://") || token.starts_with("http://") {
        return Ok(Route::Hook { url: token });
    }
    let base = call
        .string("baseUrl")?
        .or(settings.base_url.clone())
        .map(|b| format!("{}/", b.trim_end_matches('/')));
    let bot = call.bool("botUser", settings.bot_user)?;
    let team = call.string("teamDomain")?.or(settings.team_domain.clone());
    Ok(match (bot, base, team) {
        (true, base, _) => Route::Bot {
            base: base.unwrap_or_else(|| SLACK_API.to_owned()),
            token,
        },
        (false, Some(base), _) => Route::Hook {
            url: format!("{base}{token}"),
        },
        (false, None, Some(team)) => Route::Hook {
            url: format!("https://{team}.slack.com/services/hooks/jenkins-ci?token={token}"),
        },
        (false, None, None) => {
            return Err(StepError::failed(
                "slackSend: without `botUser: true` a `baseUrl` or `teamDomain` is needed (or a `webhookUrl`)",
            ));
        }
    })
}

fn secret_text(call: &StepCall<'_>, id: &str) -> Result<String, StepError> {
    match call.build.spec.credentials.get(id) {
        Some(Credential::Secret(s)) => Ok(s),
        Some(_) => Err(StepError::failed(format!(
            "slackSend: credential `{id}` must be a secret text (a token or webhook URL)"
        ))),
        None => Err(StepError::failed(format!(
            "slackSend: credential `{id}` does not exist"
        ))),
    }
}

/// The message as Slack's APIs take it: a coloured attachment when `color` is given.
fn payload(
    call: &StepCall<'_>,
    message: &str,
    color: Option<&str>,
    channel: Option<&str>,
    thread: Option<&str>,
) -> Result<serde_json::Value, StepError> {
    let mut body = json!({ "link_names": true });
    match color {
        Some(color) => {
            body["attachments"] = json!([{
                "color": slack_color(color),
                "text": message,
                "fallback": message,
                "mrkdwn_in": ["pretext", "text", "fields"],
            }]);
        }
        None => body["text"] = json!(message),
    }
    if let Some(c) = channel {
        body["channel"] = json!(c);
    }
    if let Some(t) = thread {
        body["thread_ts"] = json!(t);
    }
    if call.bool("replyBroadcast", false)? {
        body["reply_broadcast"] = json!(true);
    }
    for (arg, key) in [("username", "username"), ("iconEmoji", "icon_emoji")] {
        if let Some(v) = call.string(arg)? {
            body[key] = json!(v);
        }
    }
    Ok(body)
}

/// The plugin's colour names: `good`, `warning`, `danger` or a hex code, as Slack takes them.
fn slack_color(color: &str) -> &str {
    match color.to_ascii_lowercase().as_str() {
        "good" => "good",
        "warning" => "warning",
        "danger" => "danger",
        _ => color,
    }
}

/// Posts one message; the channel id and `ts` Slack answered, for a bot post.
async fn post(
    call: &StepCall<'_>,
    route: &Route,
    body: serde_json::Value,
    channel: Option<&str>,
) -> Result<Option<(String, String)>, StepError> {
    let where_ = channel.unwrap_or("the webhook's channel");
    let request = match route {
        Route::Bot { base, token } => HttpCall::new("POST", format!("{base}chat.postMessage"))
            .header("Authorization", format!("Bearer {token}")),
        Route::Hook { url } => HttpCall::new("POST", url.clone()),
    }
    .json(&body);
    let reply = send(request)
        .await
        .map_err(|e| StepError::failed(format!("slackSend: {e}")))?;
    if !reply.is_success() {
        return Err(StepError::failed(format!(
            "slackSend: posting to {where_} failed: HTTP {} {}",
            reply.status,
            reply.text().trim()
        )));
    }
    let posted = match route {
        Route::Bot { .. } => Some(bot_answer(&reply)?),
        Route::Hook { .. } => None,
    };
    call.log(&format!(
        "Slack Send Pipeline step: message posted to {where_}"
    ));
    Ok(posted)
}

/// `chat.postMessage`'s answer: `{"ok": true, "channel": "C1", "ts": "1.2"}`.
fn bot_answer(reply: &HttpReply) -> Result<(String, String), StepError> {
    let answer = reply
        .json()
        .map_err(|e| StepError::failed(format!("slackSend: {e}")))?;
    if answer["ok"] != json!(true) {
        return Err(StepError::failed(format!(
            "slackSend: Slack answered an error: {}",
            answer["error"].as_str().unwrap_or("unknown")
        )));
    }
    let field = |k: &str| answer[k].as_str().unwrap_or_default().to_owned();
    Ok((field("channel"), field("ts")))
}

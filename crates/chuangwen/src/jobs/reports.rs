//! The daily inspection sheets (督察单), made at 08:00 Beijing time on each
//! working day of a district's calendar, and webhook deliveries: signed with
//! HMAC-SHA256, retried with growing pauses, every attempt logged.

use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::JobContext;
use crate::domain::stats::beijing_day;
use crate::reports::{Document, build};
use crate::store::StoreError;
use crate::store::stats::day_start;

/// The hour the sheets are made (Beijing time).
pub const SHEET_HOUR: i64 = 8;

/// The next 08:00 Beijing time after `now`.
pub fn next_sheet_time(now: DateTime<Utc>) -> DateTime<Utc> {
    let today = day_start(beijing_day(now)) + Duration::hours(SHEET_HOUR);
    if now < today { today } else { today + Duration::days(1) }
}

/// Makes today's sheet for every unit with a running case in every district
/// whose calendar says today is a working day; returns how many.
pub async fn make_daily_sheets(ctx: &JobContext, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let day = beijing_day(now);
    let mut made = 0;
    for district in ctx.store.districts().await? {
        if !ctx.store.calendar(district.id).await?.is_working_day(day) {
            continue;
        }
        made += sheets_for(ctx, district.id, day, now).await?;
    }
    Ok(made)
}

/// Makes the sheets of one district for `day` (also the office's 立即生成).
pub async fn sheets_for(
    ctx: &JobContext,
    district_id: i64,
    day: chrono::NaiveDate,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let units = ctx.store.units(district_id).await?;
    let calendar = ctx.store.calendar(district_id).await?;
    let mut made = 0;
    for unit_id in ctx.store.units_with_running_cases(district_id).await? {
        let Some(unit) = units.iter().find(|u| u.id == unit_id) else { continue };
        let doc = build::daily_sheet(&ctx.store, district_id, unit, &calendar, day, now).await?;
        let title = format!("督察单 · {} · {}", unit.name, day);
        publish(&ctx.store, district_id, "daily_sheet", Some(unit.id), &day.to_string(), &title, &doc).await?;
        made += 1;
    }
    Ok(made)
}

/// Delivers a report to its inbox and its webhooks (`Store::deliver_report`).
pub async fn publish(
    store: &crate::store::Store,
    district_id: i64,
    kind: &str,
    unit_id: Option<i64>,
    day: &str,
    title: &str,
    doc: &Document,
) -> Result<i64, StoreError> {
    let body = serde_json::to_string(doc).expect("a document serialises");
    store
        .deliver_report(district_id, kind, unit_id, day, title, &body, |id| {
            webhook_payload(id, kind, title, unit_id, doc)
        })
        .await
}

/// The JSON a webhook receives for a report.
pub fn webhook_payload(report_id: i64, kind: &str, title: &str, unit_id: Option<i64>, doc: &Document) -> String {
    serde_json::json!({
        "event": kind,
        "report_id": report_id,
        "title": title,
        "unit_id": unit_id,
        "document": doc,
    })
    .to_string()
}

/// The job: today's sheets.
pub async fn run_daily_sheets(ctx: &JobContext) -> Result<(), String> {
    let made = make_daily_sheets(ctx, Utc::now()).await.map_err(|e| e.to_string())?;
    tracing::info!(sheets = made, "daily inspection sheets made");
    Ok(())
}

/// Attempts a webhook delivery gets before it is marked failed: pauses of
/// 5 s doubling up to an hour, about ten hours from the first to the last.
pub const DELIVERY_ATTEMPTS: i64 = 20;

/// The pause after `attempts` attempts (1 → 5 s, 2 → 10 s, … at most an hour).
pub fn delivery_backoff(attempts: i64) -> std::time::Duration {
    let secs = 5u64.saturating_mul(1u64 << (attempts - 1).clamp(0, 20));
    std::time::Duration::from_secs(secs.min(3600))
}

/// The signature header's value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// The job: one delivery attempt. An error makes the runner retry it later;
/// what cannot get better by waiting (the webhook deleted, its secret
/// unreadable) is marked failed at once.
pub async fn run_delivery(ctx: &JobContext, payload: &str, attempt: i64) -> Result<(), String> {
    let id: i64 = payload.trim().parse().map_err(|_| format!("bad delivery id {payload}"))?;
    let store = &ctx.store;
    let Some(delivery) = store.delivery(id).await.map_err(|e| e.to_string())? else { return Ok(()) };
    if delivery.state == "delivered" {
        return Ok(());
    }
    let give_up = |error: &'static str| async move {
        store.record_delivery_attempt(id, None, error, false, true).await.map_err(|e| e.to_string())
    };
    let Some((hook, sealed)) = store.webhook_with_secret(delivery.webhook_id).await.map_err(|e| e.to_string())? else {
        return give_up("webhook 已删除").await;
    };
    if !hook.active {
        return give_up("webhook 已停用").await;
    }
    let Ok(secret) = ctx.crypto.decrypt(&sealed) else {
        tracing::error!(webhook = hook.id, "the webhook's secret cannot be opened with the configured keys");
        return give_up("签名密钥无法解密（密钥配置已更换？）").await;
    };
    let timestamp = Utc::now().timestamp();
    let result = ctx
        .http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("x-chuangwen-event", &delivery.event)
        .header("x-chuangwen-delivery", id.to_string())
        .header("x-chuangwen-signature", signature(&secret, timestamp, &delivery.payload))
        .body(delivery.payload.clone())
        .send()
        .await;
    let gave_up = attempt >= DELIVERY_ATTEMPTS;
    let (status, error) = match result {
        Ok(response) if response.status().is_success() => {
            let status = Some(response.status().as_u16() as i64);
            return store.record_delivery_attempt(id, status, "", true, false).await.map_err(|e| e.to_string());
        }
        Ok(response) => (Some(response.status().as_u16() as i64), format!("接收方返回 {}", response.status())),
        // Without the URL: it may carry a token of the receiver's.
        Err(e) if e.is_timeout() => (None, "无法送达：超时".to_string()),
        Err(e) if e.is_connect() => (None, "无法送达：连接不上接收方".to_string()),
        Err(e) => (None, format!("无法送达：{}", e.without_url())),
    };
    store.record_delivery_attempt(id, status, &error, false, gave_up).await.map_err(|e| e.to_string())?;
    Err(error)
}

/// The HTTP client of webhook deliveries: short timeouts, and no redirects
/// (a signed report is posted where the administrator said, nowhere else).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with rustls")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_sheets_come_at_the_next_eight_oclock_in_beijing() {
        // 23:00 UTC on the 26th is 07:00 on the 27th in Beijing: today at 08:00.
        let before = Utc.with_ymd_and_hms(2026, 11, 26, 23, 0, 0).unwrap();
        assert_eq!(next_sheet_time(before), Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap());
        let after = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 1).unwrap();
        assert_eq!(next_sheet_time(after), Utc.with_ymd_and_hms(2026, 11, 28, 0, 0, 0).unwrap());
    }

    #[test]
    fn pauses_grow_and_stop_at_an_hour() {
        assert_eq!(delivery_backoff(1).as_secs(), 5);
        assert_eq!(delivery_backoff(2).as_secs(), 10);
        assert_eq!(delivery_backoff(19).as_secs(), 3600);
        // From the first attempt to the last: 5 + 10 + … + 2,560 s, then nine hours.
        let total: u64 = (1..DELIVERY_ATTEMPTS).map(|a| delivery_backoff(a).as_secs()).sum();
        assert_eq!(total, 5_115 + 9 * 3_600);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_time_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let s = signature("secret", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(s, "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686");
        assert_ne!(s, signature("other", 1_700_000_000, r#"{"a":1}"#));
    }
}

"""The words of each ESP's page in docs/esps/ (rendered with the adapter's own tables by
clicksift.reference, so the mapping and the settings cannot drift from the code)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guide:
    setup: str
    signature: str
    quirks: tuple[str, ...]
    docs: tuple[str, ...]            # the ESP's own pages this adapter follows


GUIDES: dict[str, Guide] = {
    "sendgrid": Guide(
        setup="In the SendGrid console open **Settings → Mail Settings → Event Webhooks**, "
              "create a webhook with the URL below, tick the events you want (at least "
              "Delivered, Opened, Clicked, Unsubscribed, Group Unsubscribes, Spam Reports, "
              "Bounced), and turn on **Signed Event Webhook Requests**.",
        signature="SendGrid signs each POST with ECDSA (P-256, SHA-256) over the "
                  "`X-Twilio-Email-Event-Webhook-Timestamp` header followed by the raw body; "
                  "the signature is in `X-Twilio-Email-Event-Webhook-Signature`. Copy the "
                  "**Verification Key** SendGrid shows after enabling signing into "
                  "`sendgrid_public_key`. Timestamps more than 5 minutes from the server's "
                  "clock are refused.",
        quirks=(
            "One POST carries a JSON array of up to hundreds of events; the whole batch is "
            "stored in one transaction, so a retry after a failure stores each event once.",
            "`deferred` (a temporary failure) and `dropped` (never left SendGrid) stay "
            "`unknown`; only `bounce` is a bounce.",
            "Opens that SendGrid attributes to Apple Mail Privacy Protection carry "
            "`sg_machine_open: true`; it is passed through in `esp_flags` and the classifier "
            "treats it as a privacy prefetch.",
            "The event id is `sg_event_id`; the message id is `sg_message_id` (one recipient). "
            "The campaign is `singlesend_id`, `marketing_campaign_id`, a `campaign_id` custom "
            "argument, or the first category, in that order.",
            "Times are whole Unix seconds, so bursts within one second cannot be ordered.",
        ),
        docs=("https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event",
              "https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/"
              "getting-started-event-webhook-security-features"),
    ),
    "mailgun": Guide(
        setup="In the Mailgun control panel open **Sending → Webhooks** for your domain (or "
              "the account-level webhooks) and add the URL below for Delivered, Opened, "
              "Clicked, Unsubscribed, Complained and Permanent/Temporary Failure.",
        signature="Every payload holds `signature.timestamp`, `signature.token` and "
                  "`signature.signature`, the hex HMAC-SHA256 of timestamp + token keyed with "
                  "the **HTTP webhook signing key** (Settings → API Security). Put that key in "
                  "`mailgun_signing_key`. Timestamps more than 5 minutes old are refused; a "
                  "replayed payload repeats its event id and is stored once.",
        quirks=(
            "One POST is one event (`event-data`).",
            "`failed` is a bounce only with `severity: permanent`; temporary failures stay "
            "`unknown`. `accepted` is `sent`.",
            "Mailgun marks machine opens in `client-info.bot` (for example `apple`); it is "
            "passed through as `esp_flags.bot`.",
            "The message id is the Message-Id header plus the recipient (a batch send shares "
            "one Message-Id). The campaign is the `campaign_id` user variable, Mailgun's "
            "campaign id, or the first tag.",
            "Mailgun's signature does not cover the event data; the HMAC proves the sender "
            "knew the key, and the timestamp bounds replays.",
            "Formats read: the current JSON webhooks, and the legacy (API v2) webhooks that "
            "accounts set up before 2023 still receive, as form fields "
            "(`application/x-www-form-urlencoded`, or `multipart/form-data`), at the same "
            "URL and with the same key. In a legacy event, a custom variable named like one "
            "of Mailgun's fields never takes its place; `dropped` stays `unknown` and "
            "`bounced` is a bounce. Import files hold one urlencoded body per line, or one "
            "multipart body.",
        ),
        docs=("https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/"
              "webhook-payloads",
              "https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/"
              "securing-webhooks",
              "https://help.mailgun.com/hc/en-us/articles/14048832145051-Legacy-Webhooks"),
    ),
    "postmark": Guide(
        setup="In Postmark select the server and the message stream, open **Webhooks → Add "
              "webhook**, enter the URL below with credentials in it "
              "(`https://USER:PASSWORD@your-host/webhooks/postmark`) and tick Delivery, "
              "Bounce, Spam complaint, Open (with *post every open*), Link click and "
              "Subscription change.",
        signature="Postmark does not sign webhooks. It sends the HTTP basic-auth credentials "
                  "written into the URL; set the same `USER:PASSWORD` in "
                  "`postmark_basic_auth`. They are compared in constant time. Use https.",
        quirks=(
            "One POST is one record; the kind is in `RecordType`.",
            "Times carry seven fraction digits (`2019-11-05T16:33:54.9070259Z`); they are "
            "read to the microsecond.",
            "Only permanent bounce types (`HardBounce`, `BadEmailAddress`, `Blocked`, "
            "`DMARCPolicy`, `ManuallyDeactivated`) are bounces; `SoftBounce`, `Transient`, "
            "`DnsError`, `AutoResponder` and the rest stay `unknown`. A bounce of type "
            "`SpamComplaint` is a complaint.",
            "`SubscriptionChange` with `SuppressSending: true` for a manual suppression is "
            "an unsubscribe; a reactivation stays `unknown`.",
            "Bounce `ID`s exceed 2^53 and are kept exact in the stored payload.",
            "The message id is `MessageID` plus the recipient. The campaign is the "
            "`campaign_id` metadata field or the tag.",
        ),
        docs=("https://postmarkapp.com/developer/webhooks/webhooks-overview",
              "https://postmarkapp.com/developer/webhooks/open-tracking-webhook",
              "https://postmarkapp.com/developer/webhooks/click-webhook"),
    ),
    "amazon_ses": Guide(
        setup="Create an SNS topic, and in SES a **configuration set** with an **event "
              "destination** publishing Sends, Deliveries, Opens, Clicks, Bounces, Complaints, "
              "Delivery delays and Subscriptions to that topic. Subscribe the URL below to "
              "the topic (protocol HTTPS) with **raw message delivery off**. Send with the "
              "configuration set, and tag messages with `campaign` to group them.",
        signature="SNS signs every envelope with RSA (SignatureVersion 1: SHA1, 2: SHA256) "
                  "over its fields. The certificate named by `SigningCertURL` must be in "
                  "`ses_certificates` (a PEM file, or a folder of certificates named as in "
                  "their URL): download it once from the `sns.REGION.amazonaws.com` address, "
                  "or turn on `ses_fetch_certificates` to let the server cache it. Only "
                  "`sns.*.amazonaws.com` certificate URLs are accepted. `ses_topic_arns` "
                  "limits the topics accepted.",
        quirks=(
            "SNS first posts a `SubscriptionConfirmation`. When its topic is in "
            "`ses_topic_arns` the server confirms it (a GET of `SubscribeURL`); otherwise "
            "it logs the URL to open and answers 200.",
            "SNS posts with `Content-Type: text/plain`.",
            "The event's time is the time in the SES record (`open.timestamp`, "
            "`click.timestamp`, ...), never the envelope's publish time.",
            "A `Bounce` is a bounce only with `bounceType: Permanent`; `DeliveryDelay`, "
            "`Reject` and `Rendering Failure` stay `unknown`. A `Subscription` event is an "
            "unsubscribe when it unsubscribes from all topics.",
            "The message id is SES's `messageId`, which names a send, not a recipient. Opens "
            "and clicks do not say which recipient acted: when the send had one addressee it "
            "is the recipient, otherwise the recipient stays unknown (send one message per "
            "recipient for per-person numbers).",
        ),
        docs=("https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-"
              "contents.html",
              "https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html",
              "https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-"
              "json.html"),
    ),
    "sparkpost": Guide(
        setup="In SparkPost open **Configuration → Webhooks → New webhook**, enter the URL "
              "below, choose **Basic Authentication** with a user and password, and select "
              "the message, engagement and unsubscribe events.",
        signature="SparkPost does not sign webhooks; it sends the basic-auth credentials "
                  "configured on the webhook. Set the same `USER:PASSWORD` in "
                  "`sparkpost_basic_auth` (compared in constant time). OAuth 2 is not "
                  "supported.",
        quirks=(
            "One POST carries an array of `{\"msys\": {...}}` records (up to thousands); "
            "SparkPost tests a new webhook with `[{\"msys\": {}}]`, which holds no events "
            "and is answered 200.",
            "Every kind of open is an open: `open`, `initial_open`, `amp_open`, "
            "`amp_initial_open`; `click` and `amp_click` are clicks.",
            "`bounce` and `out_of_band` are bounces only for permanent bounce classes (10, "
            "25, 26, 30, 50-54, 90); soft classes and `delay` stay `unknown`.",
            "`timestamp` is a string of Unix seconds; `event_id` is a big number kept as "
            "text.",
        ),
        docs=("https://developers.sparkpost.com/api/webhooks/",
              "https://developers.sparkpost.com/api/events/",
              "https://support.sparkpost.com/docs/deliverability/bounce-classification-codes"),
    ),
    "mailjet": Guide(
        setup="In Mailjet open **Account settings → Event notifications (webhooks)**, enter "
              "the URL below with credentials in it "
              "(`https://USER:PASSWORD@your-host/webhooks/mailjet`) for sent, open, click, "
              "bounce, blocked, spam and unsub. Grouping events into arrays is fine.",
        signature="Mailjet does not sign events; it sends the basic-auth credentials written "
                  "into the URL. Set the same `USER:PASSWORD` in `mailjet_basic_auth`.",
        quirks=(
            "Mailjet's `sent` means the recipient's server accepted the message: it is "
            "`delivered`.",
            "`bounce` is a bounce only with `hard_bounce: true`; `blocked` (never left "
            "Mailjet) stays `unknown`.",
            "`MessageID` exceeds 2^53 (`19421777396190490`); it is kept exact as text.",
            "Mailjet gives no event id: the id is derived from the message, type, time (whole "
            "seconds), URL, address and user agent, so two identical events in one second "
            "from separate POSTs are stored once.",
        ),
        docs=("https://dev.mailjet.com/email/guides/webhooks/",),
    ),
    "mandrill": Guide(
        setup="In Mandrill (Mailchimp Transactional) open **Settings → Webhooks → Add a "
              "webhook**, enter the URL below and tick the events. Mandrill checks the URL "
              "with a HEAD request, which the server answers 200.",
        signature="`X-Mandrill-Signature` is the base64 HMAC-SHA1, keyed with the webhook's "
                  "key, of the webhook URL exactly as configured in Mandrill followed by each "
                  "POST field's name and value. Set the key in `mandrill_webhook_key`; if the "
                  "URL Mandrill calls differs from `base_url` + `/webhooks/mandrill` (a "
                  "proxy, another host name), set it in `mandrill_webhook_url`.",
        quirks=(
            "The body is a form whose `mandrill_events` field is a JSON array of events.",
            "`send` is Mandrill's delivery to the recipient's server: it is `delivered`. "
            "`soft_bounce`, `deferral` and `reject` stay `unknown`; sync events (allowlist "
            "and denylist changes) have no `event` and stay `unknown`.",
            "The campaign is the `campaign_id` metadata field or the first tag.",
        ),
        docs=("https://mailchimp.com/developer/transactional/guides/track-respond-activity-"
              "webhooks/",
              "https://mailchimp.com/developer/transactional/guides/"
              "authenticate-webhook-requests/"),
    ),
    "resend": Guide(
        setup="In Resend open **Webhooks → Add endpoint**, enter the URL below and choose the "
              "`email.*` events.",
        signature="Resend delivers webhooks through Svix: `svix-signature` holds `v1,<base64>` "
                  "entries, each the HMAC-SHA256 of `svix-id.svix-timestamp.body` keyed with "
                  "the base64 part of the endpoint's signing secret. Put the secret "
                  "(`whsec_...`) in `resend_signing_secret`. Timestamps more than 5 minutes "
                  "from the server's clock are refused.",
        quirks=(
            "Opens carry no address and no user agent: they are judged on timing alone "
            "(see the per-ESP accuracy in docs/benchmarks.md).",
            "A send to several addressees cannot say which one opened or clicked; the "
            "recipient is known only when `to` has one address.",
            "A click's time is `click.timestamp`; other events use the event's `created_at` "
            "(the email's own `created_at` is its send time).",
            "`email.delivery_delayed` and `email.failed` stay `unknown`; `email.bounced` is a "
            "bounce when its type is Permanent.",
        ),
        docs=("https://resend.com/docs/dashboard/webhooks/event-types",
              "https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests",
              "https://docs.svix.com/receiving/verifying-payloads/how-manual"),
    ),
    "postal": Guide(
        setup="In Postal open the mail server's **Webhooks → Add webhook**, enter the URL "
              "below, and select MessageSent, MessageDelayed, MessageDeliveryFailed, "
              "MessageBounced, MessageLinkClicked and MessageLoaded.",
        signature="Postal signs the body with its RSA key: `X-Postal-Signature-256` (SHA-256; "
                  "older servers send only `X-Postal-Signature`, SHA-1). Copy the public key "
                  "Postal shows (the `p=` value of its DNS record, or a PEM file) into "
                  "`postal_public_key`.",
        quirks=(
            "`MessageSent` is delivery to the recipient's server; its time is the payload's "
            "`timestamp`. `MessageDelayed` and `MessageHeld` stay `unknown`; "
            "`MessageDeliveryFailed` is a bounce only with status `HardFail`.",
            "Postal creates one message per recipient; the message id is Postal's message "
            "id, the campaign its tag.",
            "Formats read: the events of outgoing mail; events about mail Postal received "
            "(`direction: incoming`: its delivery to your endpoint, a held or failed "
            "forward) are kept as `unknown`, never a delivery or a bounce of your mail.",
        ),
        docs=("https://docs.postalserver.io/developer/webhooks",),
    ),
    "brevo": Guide(
        setup="In Brevo open **Transactional → Settings → Webhook** (or **Contacts → "
              "Settings → Webhooks** for marketing campaigns), add the URL below, and set "
              "either basic authentication (credentials in the URL) or a bearer token.",
        signature="Brevo does not sign webhooks. Set the credentials (`USER:PASSWORD`) or the "
                  "bearer token in `brevo_credentials`; either form of the Authorization "
                  "header is accepted and compared in constant time.",
        quirks=(
            "Opens Brevo attributes to a privacy proxy (`proxy_open`, `unique_proxy_open`) "
            "are opens with `esp_flags.proxy_open`, which the classifier treats as a "
            "privacy prefetch.",
            "`sending_ip` is Brevo's own sending address, not the reader's; Brevo reports no "
            "reader address, so opens are judged on user agent and timing.",
            "The time is `ts_epoch` (milliseconds) when present, else `ts_event`, else `ts`; "
            "`date` has no time zone and is not used.",
            "`soft_bounce`, `deferred`, `blocked` and `error` stay `unknown`.",
        ),
        docs=("https://developers.brevo.com/docs/transactional-webhooks",
              "https://developers.brevo.com/docs/marketing-webhooks"),
    ),
    "mailchimp": Guide(
        setup="Mailchimp (Marketing) does not post opens and clicks to webhooks. Save the "
              "responses of `GET /3.0/reports/{campaign_id}/email-activity` (all pages) or "
              "`GET /3.0/reports/{campaign_id}/open-details` and import them.",
        signature="Files are trusted: `clicksift import` checks no signature.",
        quirks=(
            "Each file holds one response, or one response per line (paged output).",
            "Activity carries a time to the second and an IP address, no user agent and no "
            "delivery time, so timing after delivery cannot be used.",
            "A soft bounce stays `unknown`.",
            "The message id is the campaign id plus Mailchimp's `email_id`.",
        ),
        docs=("https://mailchimp.com/developer/marketing/api/email-activity-reports/",
              "https://mailchimp.com/developer/marketing/api/open-details/"),
    ),
    "braze": Guide(
        setup="Braze sends email events through **Currents** (Partner Integrations → Data "
              "Export) to your cloud storage (Amazon S3, Google Cloud Storage or Azure Blob "
              "Storage). Copy the bucket's `event_type=users.messages.email.*` folders (for "
              "example with `aws s3 sync`) and import the folder: `clicksift import --esp "
              "braze currents/`. Currents events as JSON (JSON Lines, or a Currents HTTP batch "
              "with `events`) are read too.",
        signature="Files are trusted: `clicksift import` checks no signature.",
        quirks=(
            "Formats read: Currents Avro files (the event type is the `event_type=` folder "
            "they sit in), and the same events as JSON with their `event_type`, flat or "
            "with `user` and `properties` (Currents' HTTP form).",
            "Send, Delivery, Open, Click, Bounce, MarkAsSpam and Unsubscribe are mapped; "
            "SoftBounce, Deferral and Abort, and Braze's events of other channels, stay "
            "`unknown`.",
            "Braze's flags are kept in `esp_flags`: `machine_open` is taken as the ESP's "
            "word for an open without the person; `is_suspected_bot_click` and "
            "`suspected_bot_click_reason` are Braze's suspicion, kept to compare with "
            "clicksift's verdicts (`clicksift report` shows both) and not used as evidence.",
            "Currents carries no client address (`ip_pool` is the sending pool): clicks are "
            "judged on the user agent, timing and the message's other requests.",
            "Braze processes every unsubscribe, bots' included. An imported unsubscribe "
            "recorded seconds after a machine's click on the message (and no person's click "
            "between) is judged again: when it is a machine's it is held for review "
            "(`clicksift reviews list`) to undo at Braze; a person's is mirrored into "
            "clicksift's subscriptions.",
            "The message id is the dispatch id (else the send id) plus the address; the "
            "campaign is the campaign or Canvas id.",
        ),
        docs=("https://www.braze.com/docs/user_guide/data/distribution/braze_currents/"
              "event_glossary/message_engagement_events",
              "https://www.braze.com/docs/user_guide/message_building_by_channel/email/"
              "bot_filtering"),
    ),
    "klaviyo": Guide(
        setup="Klaviyo does not post opens and clicks to webhooks. Save the pages of the "
              "Events API, `GET https://a.klaviyo.com/api/events?include=metric,profile` "
              "(filtered, for example, by `metric_id` of Opened Email and Clicked Email, and "
              "followed through `links.next`), one page per file or one per line, and import "
              "them: `clicksift import --esp klaviyo pages/`.",
        signature="Files are trusted: `clicksift import` checks no signature.",
        quirks=(
            "Formats read: Events API pages (JSON:API, with the metric names and profile "
            "addresses in `included`: save them with `include=metric,profile`), and the "
            "older v1 timeline pages (`event_name`, `person`).",
            "Received Email is a delivery; Opened and Clicked Email, Bounced Email, Marked "
            "Email as Spam and the unsubscribe metrics are mapped; Dropped Email and every "
            "other metric stay `unknown`.",
            "`Apple Privacy Open` and `Machine Open` are taken as the ESP's word for an open "
            "without the person; `Bot Click` is Klaviyo's suspicion, kept in `esp_flags` to "
            "compare with clicksift's verdicts and not used as evidence.",
            "Klaviyo reports no client address and no user agent: clicks are judged on "
            "timing and on the message's other requests.",
            "The message id is `$message` (the campaign or flow message) plus the address.",
        ),
        docs=("https://developers.klaviyo.com/en/reference/get_events",
              "https://help.klaviyo.com/hc/en-us/articles/4416791883163"),
    ),
    "constant_contact": Guide(
        setup="Constant Contact does not post engagement webhooks. Save the responses of the "
              "v3 email tracking reports "
              "(`GET /v3/reports/email_reports/{campaign_activity_id}/tracking/sends`, "
              "`.../opens`, `.../clicks`, `.../bounces`, `.../optouts`, all pages) and "
              "import them; import the sends too, they give the timing a reference.",
        signature="Files are trusted: `clicksift import` checks no signature.",
        quirks=(
            "Constant Contact reports no IP address and no user agent: clicks are judged on "
            "timing and on bursts of many links within seconds, opens on timing alone.",
            "Bounce codes B, D and S are bounces; F (mailbox full), V, X and Z stay "
            "`unknown`.",
            "The message id is the campaign activity id plus the contact id.",
        ),
        docs=("https://developer.constantcontact.com/api_guide/email_click_report.html",
              "https://developer.constantcontact.com/api_guide/email_open_report.html"),
    ),
}

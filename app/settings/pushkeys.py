"""Each push channel's own keys (its section also gets the keys every push channel has: app/settings/schema.py)."""

from __future__ import annotations

from app.settings.checks import url_problems
from app.settings.kinds import Choice, Flag, Key, Number, Text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Tuple

_URL = Text(check=url_problems)

OWN_KEYS: Dict[str, Tuple[Key, ...]] = {
    "ntfy": (Key("ntfy", "url", "channel.ntfy.url", _URL, "", "the topic URL, e.g. https://ntfy.sh/your-topic",
                 required="missing; set url = https://ntfy.sh/<your topic>"),
             Key("ntfy", "priority", "channel.ntfy.priority", Choice("min", "low", "default", "high", "urgent"),
                 "default", "the priority of known logins; urgent ones (rules, unknown key, outside work_hours) "
                 "use urgent (5), a new source at least high (4)"),
             Key("ntfy", "tags", "channel.ntfy.tags", Text(), "warning",
                 "ntfy tags, comma-separated (emoji short codes such as warning, lock)"),
             Key("ntfy", "click", "channel.ntfy.click", _URL, "", "a URL opened when the notification is tapped"),
             Key("ntfy", "icon", "channel.ntfy.icon", _URL, "", "the URL of a JPEG or PNG shown as the icon")),
    "telegram": (Key("telegram", "chat_id", "channel.telegram.chat_id", Text(), "",
                     "the chat: a number, or @channelname", required="missing; set chat_id = the chat's id"),
                 Key("telegram", "api_base", "channel.telegram.api_base", _URL, "https://api.telegram.org",
                     "the Bot API server (a self-hosted one behind TLS)"),
                 Key("telegram", "message_thread_id", "channel.telegram.message_thread_id",
                     Number(1, 2 ** 53, message="{text!r} is not a forum topic's id (a whole number)"), "",
                     "a forum topic's id: alerts go to that topic of the group")),
    "slack": (Key("slack", "channel", "channel.slack.channel", Text(), "",
                  "bot token mode: the channel chat.postMessage posts to, its id (C0123...) or name without # (a # "
                  "would start a comment); the secret is then the bot token (xoxb-...), not a webhook URL"),
              Key("slack", "api_base", "channel.slack.api_base", _URL, "https://slack.com/api",
                  "bot token mode: the Web API's base URL")),
    "discord": (Key("discord", "thread_id", "channel.discord.thread_id", Text(), "",
                    "a thread (or forum post) id: alerts go to that thread of the webhook's channel"),),
    "matrix": (Key("matrix", "homeserver", "channel.matrix.homeserver", _URL, "",
                   "the homeserver, e.g. https://matrix.example.org",
                   required="missing; set homeserver = https://your.homeserver"),
               Key("matrix", "room_id", "channel.matrix.room_id", Text(), "", "the room, e.g. !abc:example.org",
                   required="missing; set room_id = !room:server")),
    "gotify": (Key("gotify", "url", "channel.gotify.url", _URL, "", "the Gotify server, e.g. https://gotify.example",
                   required="missing; set url = https://your.gotify.server"),
               Key("gotify", "priority", "channel.gotify.priority", Number(0, 10), "5",
                   "the priority of known logins (4-7: sound); urgent logins and new sources use 8 (sound and "
                   "vibration)")),
    "pushover": (Key("pushover", "user_key", "channel.pushover.user_key", Text(), "", "your user or group key",
                     required="missing; set user_key = your Pushover user key"),
                 Key("pushover", "priority", "channel.pushover.priority", Number(-2, 1), "0",
                     "the priority of known logins (-2 to 1); urgent logins and new sources use 1"),
                 Key("pushover", "emergency", "channel.pushover.emergency", Flag(), "no",
                     "urgent logins use emergency priority 2: repeated every retry seconds until acknowledged "
                     "or expire seconds pass"),
                 Key("pushover", "retry", "channel.pushover.retry", Number(30, 10800), "60",
                     "emergency = yes: seconds between repeats (30 at least)"),
                 Key("pushover", "expire", "channel.pushover.expire", Number(30, 10800), "3600",
                     "emergency = yes: seconds the repeats go on (10800 at most)"),
                 Key("pushover", "sound", "channel.pushover.sound", Text(), "",
                     "a sound's name (pushover, siren, ...); empty: your default sound"),
                 Key("pushover", "device", "channel.pushover.device", Text(), "",
                     "the device name(s) to notify, comma-separated; empty: all your devices"),
                 Key("pushover", "api_base", "channel.pushover.api_base", _URL, "https://api.pushover.net",
                     "the API server")),
    "webhook": (Key("webhook", "url", "channel.webhook.url", _URL, "", "where the JSON event is POSTed",
                    required="missing; set url = https://your.receiver/path"),
                Key("webhook", "format", "channel.webhook.format", Choice("standard", "github", "plain"),
                    "standard", "the signature: Standard Webhooks, GitHub's X-Hub-Signature-256, or none")),
}

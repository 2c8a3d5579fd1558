#!/usr/bin/env bash
# Posts every seed example to a running gateway and prints each answer.
#   scripts/samples.sh [BASE_URL]          (default http://127.0.0.1:8080)
# Each post uses a fresh email/user so repeated runs create new leads rather
# than hitting the 10-minute duplicate rule; pass SAME=1 to post the seed
# payloads byte for byte (a second run then answers with the same lead_id).
# When the shipped mappings' tokens are set, the posts carry them as those
# mappings expect: WEBSITE_WEBHOOK_TOKEN as X-Webhook-Token, SAVE_LEAD_TOKEN
# as "Authorization: Bearer …", LEADSIE_WEBHOOK_TOKEN as ?token=.
set -euo pipefail
base=${1:-http://127.0.0.1:8080}
tag=${SAME:+}
[ -n "${SAME:-}" ] || tag="+$(date +%s%N | tail -c 7)"
email="johndoe${tag}@example.com"
[ -n "${SAME:-}" ] && email="johndoe@example.com"

post() { # name, path, content type, body, extra curl arguments…
  local name=$1 path=$2 type=$3 body=$4
  shift 4
  # The path may carry a token (?token=…): it is shown without it.
  printf '\n== %s\nPOST %s\n' "$name" "${path%%[?&]token=*}"
  curl -sS -X POST "$base$path" -H "Content-Type: $type" "$@" --data-binary "$body" -w '\nHTTP %{http_code}\n'
}

urlencode() { # ASCII: tokens are
  local s=$1 out='' c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [a-zA-Z0-9.~_-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf %s "$out"
}

# Each source's auth, as its mapping reads it (nothing when unset).
website_auth=() save_lead_auth=() leadsie_token=''
[ -z "${WEBSITE_WEBHOOK_TOKEN:-}" ] || website_auth=(-H "X-Webhook-Token: $WEBSITE_WEBHOOK_TOKEN")
[ -z "${SAVE_LEAD_TOKEN:-}" ] || save_lead_auth=(-H "Authorization: Bearer $SAVE_LEAD_TOKEN")
[ -z "${LEADSIE_WEBHOOK_TOKEN:-}" ] || leadsie_token="&token=$(urlencode "$LEADSIE_WEBHOOK_TOKEN")"

post "Ledsak website webhook (the seed's example body)" /api/webhook/website/webhook application/json "$(cat <<JSON
{
  "client": "example_client",
  "source": "website",
  "branch": "Main Branch",
  "lead_details": [
    {"lead_field": "name", "lead_value": "John Doe"},
    {"lead_field": "email", "lead_value": "$email"}
  ]
}
JSON
)" "${website_auth[@]+"${website_auth[@]}"}"

post "The same lead from a plain HTML form (urlencoded), with a phone and a budget" /hooks/website application/x-www-form-urlencoded \
  "name=John+Doe&email=$(printf %s "$email" | sed 's/+/%2B/g')&phone=%2B1+415+555+0100&budget=5000" \
  "${website_auth[@]+"${website_auth[@]}"}"

post "save_lead webhook (the seed's payload, filled in)" /hooks/save_lead application/json "$(cat <<JSON
{"data": {"email": "$email", "company": "Acme", "first_name": "John", "last_name": "Doe",
  "phone": "+14155550100", "website": "https://acme.example", "position": "CTO",
  "twitter": "@johndoe", "linkedin": "https://linkedin.com/in/johndoe", "notes": "met at expo", "score": 42}}
JSON
)" "${save_lead_auth[@]+"${save_lead_auth[@]}"}"

post "save_lead again with a new score (lead.updated, lead.score_changed, lead.field_updated)" /hooks/save_lead application/json \
  "{\"data\": {\"email\": \"$email\", \"score\": 57}}" "${save_lead_auth[@]+"${save_lead_auth[@]}"}"

user="user123456${tag//[^0-9]/}"
[ -n "${SAME:-}" ] && user="user123456"
post "Leadsie connection, partial success (?customUserId= wins over the body's user)" "/hooks/leadsie?customUserId=$user$leadsie_token" application/json "$(cat <<'JSON'
{
  "user": "someone-else",
  "requestUrl": "https://app.leadsie.com/connect/acme",
  "requestName": "Acme onboarding",
  "accessLevel": "admin",
  "status": "PARTIAL_SUCCESS",
  "connectionAssets": [
    {"type": "Ad Account", "name": "Acme Ads", "id": "act_1001", "isSuccess": true, "message": "", "time": "2026-11-22T10:00:00Z"},
    {"type": "Page", "name": "Acme", "id": "pg_2002", "isSuccess": true, "message": "", "time": "2026-11-22T10:00:01Z"},
    {"type": "Pixel", "name": "Acme Pixel", "id": "px_3003", "isSuccess": false, "message": "Pixel not shared", "time": "2026-11-22T10:00:02Z"}
  ]
}
JSON
)"

post "An error: a body that is not JSON" /hooks/save_lead application/json '{"data": ' "${save_lead_auth[@]+"${save_lead_auth[@]}"}"
post "An error: an unknown source" /hooks/nope application/json '{}'

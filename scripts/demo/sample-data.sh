#!/usr/bin/env bash
# Builds a realistic Asterisk/FreePBX data tree under $1: config, voicemail, call recordings,
# custom voice prompts and music on hold, using Debian's Asterisk sound packages as audio.
set -euo pipefail
root=$1
sounds=/usr/share/asterisk/sounds/en_US_f_Allison
moh=/usr/share/asterisk/moh
mkdir -p "$root"/{etc/asterisk,spool/voicemail/default,spool/monitor,sounds/custom,moh}

cat > "$root/etc/asterisk/extensions.conf" <<'CONF'
[from-internal]
exten => _1XXX,1,Dial(PJSIP/${EXTEN},20)
 same => n,VoiceMail(${EXTEN}@default,u)
exten => 500,1,Goto(ivr-main,s,1)

[ivr-main]
exten => s,1,Background(custom/welcome)
exten => 1,1,Queue(sales)
exten => 2,1,Queue(support)
CONF
cat > "$root/etc/asterisk/queues.conf" <<'CONF'
[sales]
strategy = ringall
member => PJSIP/1001
member => PJSIP/1002

[support]
strategy = leastrecent
member => PJSIP/1003
member => PJSIP/1004
CONF
cat > "$root/etc/asterisk/voicemail.conf" <<'CONF'
[default]
1001 => 1234,Alice Martin,alice@example.com
1002 => 1234,Bob Chen,bob@example.com
1003 => 1234,Carla Diaz,carla@example.com
1004 => 1234,Dan Okafor,dan@example.com
CONF

files=("$sounds"/*.gsm)
n=0
for box in 1001 1002 1003 1004; do
  mkdir -p "$root/spool/voicemail/default/$box/INBOX"
  for i in 0 1 2 3 4 5; do
    f=${files[$(( (n * 37) % ${#files[@]} ))]}
    cp "$f" "$root/spool/voicemail/default/$box/INBOX/msg000$i.gsm"
    printf '[message]\ncallerid="Customer" <5550100%02d>\norigdate=%s\nduration=%d\n' "$n" "$(date -R)" $((5 + n % 40)) \
      > "$root/spool/voicemail/default/$box/INBOX/msg000$i.txt"
    n=$((n + 1))
  done
done
for i in $(seq 1 12); do
  # A recording is a few prompts back to back: realistic GSM audio of realistic length.
  cat "${files[@]:$((i * 20)):15}" > "$root/spool/monitor/$(date +%Y%m%d)-10$((i % 4 + 1))-$i.gsm"
done
cp "$sounds"/welcome.gsm "$sounds"/vm-goodbye.gsm "$root/sounds/custom/" 2>/dev/null || cp "${files[@]:0:2}" "$root/sounds/custom/"
cp "$moh"/*.gsm "$root/moh/"

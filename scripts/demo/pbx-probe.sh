#!/bin/sh
# Simulated PBX activity for the demo: prints {"calls": N, "phones": M} like the Asterisk probe,
# busier during office hours, with some movement from second to second.
h=$(date +%H | sed 's/^0//'); s=$(date +%S | sed 's/^0//')
if [ "$h" -ge 8 ] && [ "$h" -lt 18 ]; then base=9; else base=1; fi
calls=$(( base + (s * 7 % 5) ))
phones=$(( 40 + (s % 3) ))
printf '{"calls": %d, "phones": %d}\n' "$calls" "$phones"

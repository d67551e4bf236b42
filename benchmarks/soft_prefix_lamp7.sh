#!/usr/bin/env bash
# Kept for the commands quoted in notes: the same as soft_prefix.sh lamp7.
exec bash "$(dirname "$0")/soft_prefix.sh" lamp7 "$@"

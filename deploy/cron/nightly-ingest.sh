#!/usr/bin/env bash
# Nightly drop-folder ingestion: ingest what is new in DROP_DIR (recursively), then structure it,
# so that what was dropped during the day is searchable in the morning.
#
#   nightly-ingest.sh DROP_DIR [PROJECT]
#
# Safe when runs overlap (a slow night, a second cron entry, a manual run): every llmforge step
# takes the project writer lock itself and waits for it (--wait), so a run that starts while
# another one writes queues behind it instead of failing; a file already ingested with the same
# content is skipped, so the catalog never holds it twice. Nothing here deletes or moves files in
# the drop folder: move them out yourself once they are ingested, if you want it to stay small.
#
# Environment: LLMFORGE (the llmforge command; default: llmforge on PATH), LLMFORGE_PROJECT (the
# project, when PROJECT is not given), LLMFORGE_NIGHTLY_WAIT (seconds to wait for the writer
# lock; default 21600, six hours).
# Exit status: 0 when everything new was ingested and structured (or nothing was new); 3 when
# some files could not be ingested (each named in the output; the rest is structured anyway);
# otherwise the status of the step that failed.
set -euo pipefail

say() { printf '%s nightly-ingest: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

usage() {
    sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
    case "${1:-}" in -h|--help) usage; exit 0 ;; "") usage >&2; exit 2 ;; esac
    local drop="$1" wait="${LLMFORGE_NIGHTLY_WAIT:-21600}"
    local -a llmforge
    read -r -a llmforge <<< "${LLMFORGE:-llmforge}"
    if [ -n "${2:-}" ]; then llmforge+=(--project "$2"); fi
    [ -d "$drop" ] || { say "error: the drop folder $drop does not exist"; exit 2; }
    if [ -z "$(find "$drop" -type f -print -quit)" ]; then
        say "nothing to ingest in $drop"
        exit 0
    fi
    say "ingesting $drop"
    local status=0
    "${llmforge[@]}" ingest --recursive --wait "$wait" "$drop" || status=$?
    case "$status" in
        0) ;;
        3) say "some files could not be ingested (named above); structuring the rest" ;;
        *) say "error: ingest failed with status $status"; exit "$status" ;;
    esac
    say "structuring"
    "${llmforge[@]}" structure --wait "$wait" || { local failed=$?; say "error: structure failed with status $failed"; exit "$failed"; }
    say "done"
    exit "$status"
}

main "$@"

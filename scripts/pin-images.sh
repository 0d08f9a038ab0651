#!/usr/bin/env bash
# Pins the container images kiln ships by digest: every image reference in deploy/ and
# examples/ (YAML `image:`/`*_image:` keys, Dockerfile `FROM`, a Jenkinsfile's `image 'x'` and
# `docker.image('x')`) that has no `@sha256:` digest yet becomes `REF@sha256:DIGEST` (the tag
# stays, for people; the digest is what is pulled). The digest is the registry's for the tag:
# for a multi-arch image its index, so every platform stays available.
#
# Images listed in deploy/unpinned-images.txt as `keep` (kiln's own images, pinned by their
# release) are left alone; `pending` ones are pinned and their line is removed. A test
# (crates/kiln-fake-kube/tests/it/deploy.rs) fails on an image in deploy/ that is neither
# pinned nor listed there with a reason.
#
# Usage: scripts/pin-images.sh [--root DIR] [--list | --dry-run] [--refresh] [PATH...]
#   --list     print FILE:LINE:REF for every image reference found, pinned or not; no network
#   --dry-run  print what would be pinned, change nothing
#   --refresh  also read the digest of every pinned reference's tag again and write the new
#              one where it moved (a tag rebuilt with security fixes); to move to a newer
#              release, edit the tag and run with --refresh
#   --root     the repository (default: this script's); PATHs are relative to it
#              (default: deploy examples)
# Reads digests with `crane digest`, else `skopeo inspect`, else the registry's HTTP API with
# curl (anonymous pull tokens, as Docker Hub and ghcr.io give for public images). Needs
# network access to the registries; fails, changing nothing more, on the first image whose
# digest it cannot read.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mode=pin
refresh=0
paths=()
while (($#)); do
    case "$1" in
    --root) root="$(cd "$2" && pwd)"; shift 2 ;;
    --list) mode=list; shift ;;
    --dry-run) mode=dry; shift ;;
    --refresh) refresh=1; shift ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    -*) echo "pin-images: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) paths+=("$1"); shift ;;
    esac
done
((${#paths[@]})) || paths=(deploy examples)
cd "$root"
allowlist=deploy/unpinned-images.txt

# The files that may name images.
files() {
    find "${paths[@]}" -type f \( -name '*.yaml' -o -name '*.yml' -o -name 'Jenkinsfile*' \
        -o -name 'Dockerfile*' \) | sort
}

# FILE:LINE:REF for each image reference of one file (comments and `${...}` skipped).
refs_of() {
    local file="$1"
    awk -v file="$file" '
        function out(ref) {
            gsub(/^["\047]|["\047,}]+$/, "", ref)
            if (ref == "" || ref ~ /\$/ || ref == "scratch" || (ref in stages)) return
            print file ":" FNR ":" ref
        }
        /^[ \t]*(#|\/\/)/ { next }
        toupper($1) == "FROM" {
            i = 2
            if ($i ~ /^--platform=/) i++
            out($i)
            for (j = i + 1; j < NF; j++) if (toupper($j) == "AS") stages[$(j + 1)] = 1
            next
        }
        {
            line = $0
            while (match(line, /(^|[ \t{,])[A-Za-z_]*image:[ \t]+["\047]?[^ \t"\047,}#]+/)) {
                m = substr(line, RSTART, RLENGTH)
                sub(/^.*image:[ \t]+/, "", m)
                out(m)
                line = substr(line, RSTART + RLENGTH)
            }
            line = $0
            while (match(line, /(^|[^A-Za-z_])image[ \t(]+["\047][^"\047]+["\047]/)) {
                m = substr(line, RSTART, RLENGTH)
                sub(/^.*image[ \t(]+["\047]/, "", m)
                out(m)
                line = substr(line, RSTART + RLENGTH)
            }
        }' "$file"
}

all_refs() {
    local f
    while IFS= read -r f; do refs_of "$f"; done < <(files)
}

pinned() { [[ "$1" =~ @sha256:[0-9a-f]{64}$ ]]; }

# The allowlist's kind (keep, pending) for an image, or nothing.
listed() {
    [[ -f "$allowlist" ]] || return 0
    awk -v ref="$1" '!/^[ \t]*(#|$)/ && $1 == ref { print $2; exit }' "$allowlist"
}

# registry, repository and tag (or digest) of a reference, as the registry API names them.
split_ref() {
    local ref="$1" first rest name tag
    first="${ref%%/*}"
    if [[ "$ref" == */* && ("$first" == *.* || "$first" == *:* || "$first" == localhost) ]]; then
        rest="${ref#*/}"
    else
        first=registry-1.docker.io
        rest="$ref"
        [[ "$rest" == docker.io/* ]] && rest="${rest#docker.io/}"
        [[ "$rest" == */* ]] || rest="library/$rest"
    fi
    name="${rest%%@*}"
    if [[ "${name##*/}" == *:* ]]; then
        tag="${name##*:}"
        name="${name%:*}"
    else
        tag=latest
    fi
    printf '%s %s %s\n' "$first" "$name" "$tag"
}

# The digest of a tag through the registry's HTTP API (a bearer token when asked for one).
digest_by_api() {
    local registry repo tag url accept headers auth realm service token
    read -r registry repo tag < <(split_ref "$1")
    url="https://$registry/v2/$repo/manifests/$tag"
    accept="application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
    headers="$(curl -sSI --max-time 30 -H "Accept: $accept" "$url")" || return 1
    if grep -qiE '^HTTP/[0-9.]+ 401' <<<"$headers"; then
        auth="$(grep -i '^www-authenticate:' <<<"$headers" | tr -d '\r')"
        realm="$(sed -nE 's/.*realm="([^"]*)".*/\1/p' <<<"$auth")"
        service="$(sed -nE 's/.*service="([^"]*)".*/\1/p' <<<"$auth")"
        [[ -n "$realm" ]] || return 1
        token="$(curl -sS --max-time 30 -G "$realm" --data-urlencode "service=$service" \
            --data-urlencode "scope=repository:$repo:pull" |
            sed -nE 's/.*"(access_)?token"[[:space:]]*:[[:space:]]*"([^"]*)".*/\2/p')"
        [[ -n "$token" ]] || return 1
        headers="$(curl -sSI --max-time 30 -H "Accept: $accept" \
            -H "Authorization: Bearer $token" "$url")" || return 1
    fi
    grep -i '^docker-content-digest:' <<<"$headers" | tr -d '\r' | awk '{print $2}'
}

digest_of() {
    local ref="$1"
    if command -v crane >/dev/null; then
        crane digest "$ref"
    elif command -v skopeo >/dev/null; then
        skopeo inspect --format '{{.Digest}}' "docker://$ref"
    else
        digest_by_api "$ref"
    fi
}

if [[ "$mode" == list ]]; then
    all_refs
    exit 0
fi

declare -A digests=()
changed=0
while IFS=: read -r file line ref; do
    # The tag the digest is read for: the reference itself, or a pinned one's tag.
    base="$ref"
    if pinned "$ref"; then
        ((refresh)) || continue
        base="${ref%@*}"
    fi
    [[ "$(listed "$base")" == keep ]] && continue
    if [[ -z "${digests[$base]:-}" ]]; then
        if [[ "$mode" == dry ]]; then
            digests[$base]="sha256:?"
        else
            digest="$(digest_of "$base" 2>/dev/null || true)"
            if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
                echo "pin-images: cannot read the digest of $base ($file:$line); nothing more changed" >&2
                exit 1
            fi
            digests[$base]="$digest"
        fi
    fi
    new="$base@${digests[$base]}"
    [[ "$new" == "$ref" ]] && continue
    echo "$file:$line: $ref -> $new"
    [[ "$mode" == dry ]] && continue
    REF="$ref" PINNED="$new" LINE="$line" \
        perl -i -pe 'if ($. == $ENV{LINE}) { s/\Q$ENV{REF}\E(?![\w.\/:@-])/$ENV{PINNED}/ } close ARGV if eof' "$file"
    changed=$((changed + 1))
done < <(all_refs)

if [[ "$mode" == pin && -f "$allowlist" ]]; then
    for ref in "${!digests[@]}"; do
        REF="$ref" perl -i -ne 'print unless /^\Q$ENV{REF}\E\s+pending\s/' "$allowlist"
    done
fi
if [[ "$mode" == dry ]]; then
    echo "pin-images: ${#digests[@]} image(s) would be pinned (nothing changed)"
else
    echo "pin-images: $changed reference(s) pinned"
fi

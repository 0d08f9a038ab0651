#!/usr/bin/env bash
# Runs every benchmark of the workspace, one after another, as BENCHMARKS.md's headings
# give their commands, and keeps each one's output under OUT_DIR.
#
# Usage: scripts/benchmarks.sh [--list] OUT_DIR [BENCH...]
#   OUT_DIR  created if missing; gets PACKAGE.BENCH.txt (the bench's stdout and stderr,
#            headed by its command, the commit and the load average), and summary.txt
#   BENCH    run only these (`scheduler`, `kiln-store.store`, ...); default: all of them
#   --list   print the benchmarks and their commands, run nothing
#
# Release builds (`cargo bench`), except the three that BENCHMARKS.md runs with
# `--profile dev`: kiln-kube's `executor` (its table's figures are a debug build's, so a
# release run is not comparable with them), `watch_expiry` (counts of API requests, the same
# in any build) and `scale_up` (dominated by the fake autoscaler's 2 s delay).
# Every bench is compiled first, so that no run shares the machine with the compiler; the
# load average is printed before each run, for the figures to be read against it (the
# machine should be idle). The benches against the fake cluster need root (mount
# namespaces); `controllers` needs Debian's PostgreSQL server programs. A bench that fails
# is reported and the others still run; the script then exits with 1.
#
# The list below must name every file in crates/*/benches/: the script refuses to run when
# one is missing from it, so a new bench cannot be left out of the reruns.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"

# PACKAGE BENCH [CARGO ARGUMENTS...], in BENCHMARKS.md's order.
benches=(
    "kiln-cli pipeline"
    "kiln-executor spawn"
    "kiln-script eval"
    "kiln-engine scripts"
    "kiln-scheduler scheduler"
    "kiln-store store"
    "kiln-kube executor --profile dev"
    "kiln-kube warm_pool"
    "kiln-scheduler stage_pods"
    "kiln-kube watch_expiry --profile dev"
    "kiln-kube scale_up --profile dev"
    "kiln-cli log_volume"
    "kiln-cli server_memory"
    "kiln-cli controllers"
)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

list=0
if [[ "${1:-}" == "--list" ]]; then
    list=1
    shift
fi
[[ "${1:-}" == -* ]] && usage

command_of() {
    local package bench rest
    read -r package bench rest <<<"$1"
    echo "cargo bench -p $package --bench $bench${rest:+ $rest}"
}

# Every bench file of the workspace must be in the list.
missing=0
for file in "$root"/crates/*/benches/*.rs; do
    package="$(basename "$(dirname "$(dirname "$file")")")"
    bench="$(basename "$file" .rs)"
    found=0
    for entry in "${benches[@]}"; do
        read -r p b _ <<<"$entry"
        [[ "$p" == "$package" && "$b" == "$bench" ]] && found=1
    done
    if [[ $found == 0 ]]; then
        echo "scripts/benchmarks.sh: ${file#"$root"/} is not in the script's list of benchmarks" >&2
        missing=1
    fi
done
[[ $missing == 0 ]] || exit 1

if [[ $list == 1 ]]; then
    for entry in "${benches[@]}"; do
        read -r p b _ <<<"$entry"
        printf '%-26s %s\n' "$p.$b" "$(command_of "$entry")"
    done
    exit 0
fi

[[ $# -ge 1 ]] || usage
out="$1"
shift
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The entries asked for (all by default); an unknown name is an error.
selected=()
if [[ $# == 0 ]]; then
    selected=("${benches[@]}")
else
    for want in "$@"; do
        hit=0
        for entry in "${benches[@]}"; do
            read -r p b _ <<<"$entry"
            if [[ "$want" == "$b" || "$want" == "$p.$b" ]]; then
                selected+=("$entry")
                hit=1
            fi
        done
        if [[ $hit == 0 ]]; then
            echo "scripts/benchmarks.sh: no benchmark named \`$want\` (see --list)" >&2
            exit 2
        fi
    done
fi

cd "$root"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit (with uncommitted changes)"
fi
summary="$out/summary.txt"
{
    echo "kiln benchmarks, commit $commit, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
} >"$summary"

echo "== compiling ${#selected[@]} benchmark(s)"
for entry in "${selected[@]}"; do
    # `cargo bench ... --no-run` builds what the run needs (the package's binaries too).
    # shellcheck disable=SC2046
    $(command_of "$entry") --no-run >>"$out/build.txt" 2>&1 || {
        echo "compiling failed: $(command_of "$entry") (see $out/build.txt)" >&2
        exit 1
    }
done

failed=0
for entry in "${selected[@]}"; do
    read -r p b _ <<<"$entry"
    cmd="$(command_of "$entry")"
    file="$out/$p.$b.txt"
    load="$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "== $cmd (load average $load)"
    {
        echo "\$ $cmd"
        echo "commit $commit; started $(date -u '+%Y-%m-%d %H:%M:%S UTC'); load average $load"
        echo
    } >"$file"
    started=$SECONDS
    # shellcheck disable=SC2086
    if $cmd >>"$file" 2>&1; then
        status=ok
    else
        status="FAILED (exit $?)"
        failed=1
    fi
    took=$((SECONDS - started))
    echo "   $status in ${took}s: $file"
    printf '%-26s load %-16s %-18s %5ss  %s\n' "$p.$b" "$load" "$status" "$took" "$cmd" >>"$summary"
done

echo "== summary ($summary)"
cat "$summary"
exit $failed

#!/bin/sh
# readme_commands.sh — runs README.md's commands that finish in under a
# minute (on synthetic data, or on the installed Fashion-MNIST) as they are
# written there, and checks that they print what the README says: the
# exit status and the figures the README quotes (sizes exactly, accuracies
# within a tolerance, since training is not bit-for-bit reproducible across
# thread counts and machines).
#
#   SLIMNAS=build/slimnas tests/readme_commands.sh [SECTION ...]
#
# Run from the source tree (README.md, samples/ are read from there). With
# no SECTION every section runs. One line per mismatch on stderr; the exit
# status is the number of mismatches (0: the README is right). Sections:
#   synopsis  every option of the "Command line" block is in that
#             command's --help; every command there exists
#   datasets  each dataset spec form is accepted (a missing folder is a
#             bad file, exit 1, never a usage error)
#   kinds     every base architecture named builds
#   stats     the AutoKeras reference table, row by row
#   graph     the graph JSON excerpt is what `new cnn` writes
#   config    the search config example loads and overrides as described
#   search    the search/resume/show commands on a quick synthetic run
#   profile   SLIMNAS_PROFILE=1 prints milliseconds per layer
#   worked    the worked example, as written, against its table (needs
#             Fashion-MNIST; about 1 minute on a quiet 2-core machine;
#             test_readme runs it only with SLIMNAS_README_ALL=1)
#   accuracy  the Accuracy table's rows that take under a minute
# SLIMNAS_README_SKIP=worked,accuracy skips sections (e.g. on a loaded
# machine); a section that needs Fashion-MNIST says so and passes when the
# package is not installed.
set -u

: "${SLIMNAS:?set SLIMNAS to the slimnas binary}"
README=${README:-README.md}
[ -r "$README" ] || { echo "readme_commands: no $README here" >&2; exit 99; }
case "$README" in /*) ;; *) README=$(pwd)/$README ;; esac
case "$SLIMNAS" in /*) BIN=$SLIMNAS ;; *) BIN=$(pwd)/$SLIMNAS ;; esac
SRC=$(pwd)
TMP=$(mktemp -d /tmp/sn_readme.XXXXXX)
trap 'rm -rf "$TMP"' EXIT INT TERM
FASHION=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
fails=0

bad() {
    echo "README: $*" >&2
    fails=$((fails + 1))
}

# The first fenced block after the first line matching the regex $1.
block() {
    awk -v h="$1" '
        !found && $0 ~ h { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$README"
}

# The text from the heading matching $1 to the next heading.
section_text() {
    awk -v h="$1" '
        !found && $0 ~ h { found = 1; print; next }
        found && /^#/ { exit }
        found { print }' "$README"
}

# Joins "\"-continued lines into one line per command.
join_lines() {
    awk '{ if (sub(/\\$/, "")) { acc = acc $0; next } print acc $0; acc = "" }'
}

# Runs a command line with ./slimnas and slimnas meaning $BIN, in the
# current directory; stdout+stderr to $1, returns its status. slimnas is
# found through a link in $TMP/bin; a ./slimnas link is made only in a
# directory under $TMP, never in the source tree (where it once replaced
# the user's ./slimnas with the sanitizer build's binary after `make
# check-asan`).
run_as_written() {
    out=$1
    shift
    mkdir -p "$TMP/bin" && ln -sf "$BIN" "$TMP/bin/slimnas" || return 99
    case "$*" in
    *./slimnas*)
        case "$(pwd)/" in
        "$TMP"/*) ln -sf "$BIN" ./slimnas ;;
        *) echo "readme_commands: ./slimnas outside $TMP" >"$out"; return 98 ;;
        esac ;;
    esac
    PATH="$TMP/bin:$PATH" sh -c "$*" >"$out" 2>&1
}

# |a - b| <= tol for decimals
near() {
    awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
        d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

# ---- synopsis ---------------------------------------------------------

sec_synopsis() {
    block '^## Command line' | join_lines >"$TMP/syn"
    # continuation lines (indented) belong to the command above
    awk '/^slimnas/ { if (cur) print cur; cur = $0; next }
         /^ / { cur = cur " " $0; next }
         END { if (cur) print cur }' "$TMP/syn" >"$TMP/cmds"
    [ -s "$TMP/cmds" ] || bad "no Command line block"
    while read -r line; do
        cmd=$(echo "$line" | awk '{ print $2 }')
        case "$cmd" in --*|'') cmd=ui ;; esac
        # the explorer, `slimnas` alone, is `ui`
        if [ "$line" = slimnas ] || echo "$line" | grep -q '^slimnas  '; then
            cmd=ui
        fi
        if ! "$BIN" "$cmd" --help >"$TMP/help" 2>&1; then
            bad "'slimnas $cmd --help' fails (Command line block)"
            continue
        fi
        for opt in $(echo "$line" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
            [ "$opt" = --KEY ] && continue
            grep -q -- "^ *\(-., \)\?$opt\b" "$TMP/help" ||
                bad "slimnas $cmd: README shows $opt, --help does not list it"
        done
    done <"$TMP/cmds"
    # every command of `slimnas --help` is in the block
    "$BIN" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' |
        while read -r c; do
            [ "$c" = ui ] && continue
            grep -q "^slimnas $c\b" "$TMP/cmds" ||
                echo "slimnas $c" >>"$TMP/missing"
        done
    [ -f "$TMP/missing" ] && while read -r m; do
        bad "'$m' is a command but not in the Command line block"
    done <"$TMP/missing"
    return 0
}

# ---- datasets ---------------------------------------------------------

sec_datasets() {
    text=$(section_text '^## Command line' | sed -n '/^Datasets/,/^$/p')
    specs=$(echo "$text" | grep -o '`[a-z][a-z0-9-]*\(:[A-Z]*\)\?`' | tr -d '`')
    [ -n "$specs" ] || bad "no dataset specs in the Datasets paragraph"
    "$BIN" new tiny2conv --input 12x12x1 --classes 10 -o "$TMP/t12.json"
    for s in $specs; do
        spec=$(echo "$s" | sed "s|:DIR|:$TMP/none|; s|:N|:100|")
        case "$s" in
        fashion-mnist)
            [ -r "$FASHION" ] || continue
            # a 12x12 graph on 28x28 data: the data loads, the fit fails (1)
            want=1 ;;
        *:DIR) want=1 ;;
        *) want=0 ;;
        esac
        "$BIN" train "$TMP/t12.json" --data "$spec" -j 1 >"$TMP/out" 2>&1
        rc=$?
        [ "$rc" = "$want" ] ||
            bad "--data $spec exits $rc, want $want: $(head -c 300 "$TMP/out")"
    done
    echo "$text" | grep -q -- '--augment on|off' &&
        { "$BIN" train --help | grep -q -- '--augment on|off' ||
            bad "train has no --augment on|off"; }
    return 0
}

# ---- kinds ------------------------------------------------------------

sec_kinds() {
    text=$(section_text '^## Command line' | sed -n '/^Base architectures/,/^$/p')
    kinds=$(echo "$text" | sed 's/(`slimnas new KIND`)//' | grep -o '`[a-z0-9_]*`' | tr -d '`')
    [ -n "$kinds" ] || bad "no kinds in the Base architectures paragraph"
    for k in $kinds; do
        "$BIN" new "$k" --input 32x32x3 --classes 10 >"$TMP/out" 2>&1 ||
            bad "slimnas new $k fails: $(head -c 200 "$TMP/out")"
    done
    [ -d "$SRC/samples/graphs" ] || bad "samples/graphs/ does not exist"
    return 0
}

# ---- stats: the AutoKeras reference table -------------------------------

sec_stats() {
    section_text '^## Sizes' >"$TMP/sizes"
    grep -q 'output shape, parameters, FLOPs' "$TMP/sizes" || true
    rows=$(grep '^| [a-z]* | [0-9,]* | [0-9,]* | [0-9,]* |$' "$TMP/sizes")
    [ -n "$rows" ] || bad "no reference table rows under Sizes"
    echo "$rows" | while IFS='|' read -r _ kind params ak macs _; do
        kind=$(echo $kind); params=$(echo $params); ak=$(echo $ak); macs=$(echo $macs)
        "$BIN" new "$kind" --input 32x32x3 --classes 10 >"$TMP/g.json"
        "$BIN" stats "$TMP/g.json" --flops autokeras >"$TMP/ak"
        "$BIN" stats "$TMP/g.json" >"$TMP/macs"
        grep -q "^total: $params params, $ak FLOPs" "$TMP/ak" ||
            echo "$kind: want $params params, $ak FLOPs; got $(grep '^total' "$TMP/ak")" >>"$TMP/statbad"
        grep -q "^total: $params params, $macs MACs" "$TMP/macs" ||
            echo "$kind: want $macs MACs; got $(grep '^total' "$TMP/macs")" >>"$TMP/statbad"
    done
    [ -f "$TMP/statbad" ] && while read -r l; do bad "stats $l"; done <"$TMP/statbad"
    # what the table of `slimnas stats` has, as the section says
    "$BIN" new cnn --input 28x28x1 --classes 10 | "$BIN" stats - >"$TMP/st"
    for w in 'output (HxWxC)' params MACs 'act bytes' 'total:' 'peak activation memory'; do
        grep -q "$w" "$TMP/st" || bad "slimnas stats prints no '$w'"
    done
    return 0
}

# ---- graph JSON excerpt ---------------------------------------------------

sec_graph() {
    block '^\*\*Graph JSON\*\*' | tr -d ' \t\n' | sed 's/\.\.\..*//' >"$TMP/want"
    [ -s "$TMP/want" ] || bad "no graph JSON excerpt"
    in=$(grep -o '"input": {"c": [0-9]*, "h": [0-9]*, "w": [0-9]*}' "$README" | head -n 1)
    c=$(echo "$in" | sed 's/.*"c": \([0-9]*\).*/\1/')
    h=$(echo "$in" | sed 's/.*"h": \([0-9]*\).*/\1/')
    "$BIN" new cnn --input "${h}x${h}x$c" --classes 10 | tr -d ' \t\n' >"$TMP/got"
    want=$(cat "$TMP/want")
    case "$(cat "$TMP/got")" in
    "$want"*) ;;
    *) bad "the graph JSON excerpt is not what 'slimnas new cnn --input ${h}x${h}x$c' writes" ;;
    esac
    return 0
}

# ---- config ---------------------------------------------------------------

sec_config() {
    cfg=$(section_text '^\*\*Search config\*\*' | tr '\n' ' ' | grep -o '`{[^`]*}`' | tr -d '`')
    [ -n "$cfg" ] || bad "no search config example"
    echo "$cfg" >"$TMP/cfg.json"
    # the file's settings, the command line over them
    "$BIN" search --config "$TMP/cfg.json" --data synthetic:300 \
        --run "$TMP/cfgrun" --bases cnn:4:2 --max-train 0 --root-epochs 1 \
        --max-candidates 1 -j 1 >"$TMP/out" 2>&1 ||
        bad "search --config (the README's example) fails: $(tail -n 2 "$TMP/out")"
    s="$TMP/cfgrun/settings.json"
    grep -q '"max-params":	10000' "$s" || bad "config: max-params 10k not stored"
    grep -q '"data":	"synthetic:300"' "$s" || bad "config: --data did not override"
    grep -q '"budget":	1800' "$s" || bad "config: budget 30m not stored"
    for f in fashion-mnist-micro fashion-mnist-50k cifar10-edge; do
        grep -q "$f.json" "$README" && [ ! -f "$SRC/samples/searches/$f.json" ] &&
            bad "samples/searches/$f.json is in the README but not in samples/"
    done
    return 0
}

# ---- search, resume, show on synthetic data ------------------------------

sec_search() {
    r="$TMP/srch"
    "$BIN" search --data synthetic:300 --run "$r" --bases cnn:4:2 --max-train 0 \
        --root-epochs 1 --max-candidates 4 --rates wider=2,prune=0 \
        --hv-accuracy 80% -j 1 >"$TMP/out" 2>&1 ||
        bad "search with --rates wider=2,prune=0 --hv-accuracy 80% fails: $(tail -n 2 "$TMP/out")"
    grep -q '"prune":	0' "$r/settings.json" || bad "--rates prune=0 not stored"
    grep -q '"accuracy":	0.8' "$r/settings.json" || bad "--hv-accuracy 80% not stored as 0.8"
    for f in settings.json results.log cand/0.json cand/0.bin; do
        [ -f "$r/$f" ] || bad "run directory has no $f (File formats)"
    done
    # `slimnas resume runs/NAME --final-at 5k` (or --budget 1h ...)
    "$BIN" resume "$r" --final-at 5k --final-augment 20k -j 1 >"$TMP/out" 2>&1 ||
        bad "resume --final-at 5k --final-augment 20k fails: $(tail -n 2 "$TMP/out")"
    grep -q '"final-at":	"5000"' "$r/settings.json" || bad "resume --final-at 5k not saved"
    grep -q '"final-augment":	"20000"' "$r/settings.json" ||
        bad "resume --final-augment 20k not saved"
    if grep -q '"final":' "$r/results.log"; then
        grep '"final":' "$r/results.log" | grep -q '"augment":false' ||
            bad "a final line of results.log has no \"augment\" (README, --final-augment)"
    fi
    "$BIN" resume "$r" --budget 1h --max-candidates 5 -j 1 >"$TMP/out" 2>&1 ||
        bad "resume --budget 1h fails"
    [ "$(wc -l <"$r/results.log")" -ge 5 ] || bad "resume with more candidates did not go on"
    for v in '' --front --tree '--candidate 0' --json; do
        "$BIN" show "$r" $v >"$TMP/out" 2>&1 || bad "show $v fails"
    done
    "$BIN" show "$r" --front | grep -q 'test' || bad "show --front has no test column"
    return 0
}

# ---- profile ----------------------------------------------------------------

sec_profile() {
    "$BIN" new tiny2conv --input 12x12x1 --classes 10 -o "$TMP/t12.json"
    SLIMNAS_PROFILE=1 "$BIN" train "$TMP/t12.json" --data synthetic:200 -j 1 \
        >"$TMP/out" 2>&1 || bad "SLIMNAS_PROFILE=1 slimnas train fails"
    grep -q 'conv1 .* conv ' "$TMP/out" || bad "SLIMNAS_PROFILE=1 prints no per-layer times"
    return 0
}

# ---- the worked example ----------------------------------------------------

# "val 84.43%, test 84.39%" in a table cell against "val acc X%, test acc Y%",
# within TOL points
check_acc() { # cell output-file what tol
    tol=${4:-1.5}
    wv=$(echo "$1" | sed -n 's/.*val \([0-9.]*\)%.*/\1/p')
    wt=$(echo "$1" | sed -n 's/.*test \([0-9.]*\)%.*/\1/p')
    gv=$(sed -n 's/.*val acc \([0-9.]*\)%.*/\1/p' "$2" | tail -n 1)
    gt=$(sed -n 's/.*test acc \([0-9.]*\)%.*/\1/p' "$2" | tail -n 1)
    [ -n "$wv" ] && { [ -n "$gv" ] && near "$gv" "$wv" "$tol" ||
        bad "$3: README says val $wv%, it printed ${gv:-nothing}"; }
    [ -n "$wt" ] && { [ -n "$gt" ] && near "$gt" "$wt" "$tol" ||
        bad "$3: README says test $wt%, it printed ${gt:-nothing}"; }
    return 0
}

sec_worked() {
    if [ ! -r "$FASHION" ]; then
        echo "# worked: Fashion-MNIST not installed, skipped"
        return 0
    fi
    mkdir -p "$TMP/we" && cd "$TMP/we" || return 0
    block '^## Worked example' | join_lines >cmds
    n=0
    while read -r c; do
        [ -n "$c" ] || continue
        n=$((n + 1))
        run_as_written "out$n" "$c" || bad "'$c' exits $? : $(tail -n 2 "out$n")"
    done <cmds
    [ "$n" = 5 ] || bad "worked example: $n commands, the table has 5 steps"
    # the table, row by row: step | params | MACs | result
    section_text '^## Worked example' | grep '^| [^-s]' | grep -v '^| step' >rows
    i=0
    while IFS='|' read -r _ step params macs result _; do
        i=$((i + 1))
        p=$(echo "$params" | awk '{ print $1 }')
        m=$(echo "$macs" | awk '{ print $1 }')
        case $i in
        1) o=out2; g=cnn.json ;;
        2) o=out3; g=wide.json ;;
        3) o=out4; g=sep.json ;;
        *) o=out5; g=sep.json ;;
        esac
        [ -f "$g" ] || { bad "step $i: no $g"; continue; }
        "$BIN" stats "$g" >st
        grep -q "^total: $p params, $m MACs" st ||
            bad "step $i ($step): README says $p params, $m MACs; stats: $(grep '^total' st)"
        if [ $i = 2 ] || [ $i = 3 ]; then
            pct=$(echo "$params" | sed -n 's/.*(\(.*\)%).*/\1/p' | sed 's/−/-/')
            grep -q "params [0-9,]* -> $p ($pct%)" "$o" ||
                bad "step $i: README says $p ($pct%), morph printed: $(grep '^params' "$o")"
            wd=$(echo "$result" | sed -n 's/.*difference\\| \([0-9.e+-]*\).*/\1/p')
            gd=$(sed -n 's/.*difference| \([0-9.e+-]*\) on.*/\1/p' "$o")
            if echo "$result" | grep -q 'check: ok'; then
                grep -q '^check: ok' "$o" || bad "step $i: README says check: ok"
                awk -v d="$gd" 'BEGIN { exit !(d < 1e-4) }' ||
                    bad "step $i: logit difference $gd is not below 1e-4"
            elif [ -n "$wd" ]; then
                awk -v a="$gd" -v b="$wd" 'BEGIN { exit !(a > b / 2 && a < b * 2) }' ||
                    bad "step $i: README says logit difference $wd, printed $gd"
            fi
            wc=$(echo "$result" | sed -n 's/.*to \([0-9.]*\)%.*/\1/p')
            if [ -n "$wc" ]; then
                gc=$(sed -n 's/.*child \([0-9.]*\)%.*/\1/p' "$o")
                near "$gc" "$wc" 15 ||
                    bad "step $i: README says accuracy falls to $wc%, printed $gc%"
            fi
        else
            # Training from scratch repeats to 0.1 point; fine-tuning
            # after the approximate separable step does not: seeds 1-5
            # gave 83.16-85.17% test, and reordering the batch-norm sums
            # alone moved seed 1 from 84.32% to 83.16%.
            if [ $i = 1 ]; then tol=1.5; else tol=2.5; fi
            check_acc "$result" "$o" "step $i" "$tol"
        fi
    done <rows
    [ $i = 4 ] || bad "worked example table: $i rows, want 4"
    # "slimnas morph cnn.json --list prints every applicable morphism ..."
    run_as_written list "./slimnas morph cnn.json --list" || bad "morph --list fails"
    grep -q 'wider' list || bad "morph --list lists no wider morphism"
    cd "$SRC" || return 0
}

# ---- the Accuracy table ---------------------------------------------------

sec_accuracy() {
    if [ ! -r "$FASHION" ]; then
        echo "# accuracy: Fashion-MNIST not installed, skipped"
        return 0
    fi
    text=$(section_text '^## Accuracy')
    cmd=$(echo "$text" | grep -o '`slimnas train GRAPH[^`]*`' | tr -d '`')
    [ -n "$cmd" ] || bad "no train command in Accuracy"
    echo "$text" | grep '^| `samples' >"$TMP/acc"
    ran=0
    while IFS='|' read -r _ graph params acc secs _; do
        graph=$(echo "$graph" | tr -d '` ')
        s=$(echo "$secs" | awk '{ print $1 }')
        awk -v s="$s" 'BEGIN { exit !(s < 60) }' || continue
        ran=$((ran + 1))
        c=$(echo "$cmd" | sed "s|GRAPH|$graph|")
        run_as_written "$TMP/accout" "$c" || bad "'$c' fails"
        p=$(echo $params)
        grep -q "$p params" "$TMP/accout" || bad "$graph: README says $p params"
        check_acc "test $(echo "$acc" | tr -d ' ')" "$TMP/accout" "$graph"
    done <"$TMP/acc"
    [ "$ran" -ge 1 ] || bad "no Accuracy row under a minute"
    return 0
}

all="synopsis datasets kinds stats graph config search profile worked accuracy"
[ $# -gt 0 ] || set -- $all
# what the source tree's ./slimnas is before the sections run (checked at
# the end: they must leave it alone)
tree_bin() { ls -ld "$SRC/slimnas" 2>/dev/null | awk '{ print $1, $NF }'; }
before=$(tree_bin)
for s in "$@"; do
    case ",${SLIMNAS_README_SKIP:-}," in
    *",$s,"*) echo "# $s: skipped (SLIMNAS_README_SKIP)"; continue ;;
    esac
    case " $all " in
    *" $s "*) "sec_$s" ;;
    *) echo "readme_commands: unknown section '$s'" >&2; exit 99 ;;
    esac
done
[ "$(tree_bin)" = "$before" ] ||
    bad "the source tree's ./slimnas changed: '$before' -> '$(tree_bin)'"
exit "$fails"

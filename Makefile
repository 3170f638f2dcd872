# slimnas — build, test, run, bench, install.
#
#   make            build ./slimnas for this machine (-march=native; installs
#                   missing Debian packages first)
#   make run        build and start the explorer on the bundled default search
#   make test       build and run every test; ends with "N passed, N failed"
#   make check      the tests with warnings as errors (WERROR=1)
#   make check-asan the tests under AddressSanitizer + UBSan
#   make check-tsan the threaded tests under ThreadSanitizer
#   make check-targets  -Werror builds at x86-64-v2/v3/v4 and native, gcc and clang
#   make bench      training/inference throughput as JSON
#   make bench-ops  the small nets' kernels one at a time (stable minima, JSON)
#   make install PREFIX=/usr/local [DESTDIR=...]   a portable build (ARCH_PORTABLE)
#   make uninstall  removes what install put there (same PREFIX/DESTDIR)
#   make CC=clang   works too
#
# Variables: CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS are yours: they are added
# to what slimnas needs, never replace it. OPT (default -O3), ARCH (default
# native; ARCH= for the compiler's default target), WERROR=1 (warnings are
# errors; CI and `make check` set it), BUILD (object folder), SAN.

CC      ?= cc
AR      ?= ar
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
BUILD   ?= build
ARCH    ?= native
OPT     ?= -O3
SAN     ?=
WERROR  ?=
# The installed binary must run on any x86-64 machine of the last decade:
# it is built for this baseline (SSE4.2, POPCNT), not for the build host.
ARCH_PORTABLE ?= $(if $(filter x86_64,$(shell uname -m)),x86-64-v2,)
PORTABLE_BUILD ?= build-portable

# Debian packages the build, the tests and the default run need.
DEB_PKGS := build-essential pkg-config libncurses-dev libcjson-dev \
            libopenblas-dev libreadline-dev zlib1g-dev libcmocka-dev \
            dataset-fashion-mnist tmux man-db bash-completion clang \
            libstb-dev libjpeg62-turbo-dev libpng-dev python3-numpy \
            python3-onnx python3-opencv libcairo2-dev libfontconfig-dev
# Only `make check-targets` (CI) needs these (none beyond the above now).
CHECK_PKGS :=

# MPI=1: candidates can train on MPI ranks (`search --mpi` under mpirun);
# Open MPI from Debian, found through pkg-config ompi-c.
MPI ?=
ifneq ($(filter-out 0,$(MPI)),)
DEB_PKGS += libopenmpi-dev openmpi-bin
MPI_ON := 1
endif

PKGS := ncursesw libcjson openblas readline zlib stb libjpeg libpng cairo fontconfig
# Flags come from pkg-config (plain -l flags where a .pc file is missing),
# written to $(BUILD)/flags.mk once the packages are there; make builds that
# file first and restarts, so a fresh machine needs one command.
FLAGS_MK := $(BUILD)/flags$(if $(MPI_ON),-mpi).mk
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(FLAGS_MK)
endif

# What slimnas needs is kept in SN_* variables; the user's CPPFLAGS,
# CFLAGS, LDFLAGS and LDLIBS come after them, so `make CFLAGS=-O2` changes
# the optimisation but cannot drop -std=c11 or the include path.
WARN       := -Wall -Wextra -Wshadow $(if $(filter-out 0,$(WERROR)),-Werror)
SN_CPPFLAGS := -Iinclude -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 $(DEP_CFLAGS) \
               $(MPI_CFLAGS)
SN_CFLAGS   := -std=c11 $(WARN) $(OPT) $(if $(ARCH),-march=$(ARCH)) \
               -fno-math-errno -ffp-contract=fast -g $(SAN)
SN_LDFLAGS  := $(SAN)
ALL_CPPFLAGS = $(SN_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = $(SN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS  = $(SN_LDFLAGS) $(LDFLAGS)

LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/cli/main.o
LIB      := $(BUILD)/libslimnas.a
TEST_SRC := $(filter-out $(if $(MPI_ON),,tests/test_mpi.c),$(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench/bench
DEPS_OK  := $(BUILD)/.deps-ok$(if $(MPI_ON),-mpi)

.PHONY: all run test test-mpi check check-asan check-tsan check-targets bench bench-torch bench-mpi \
        bench-search bench-ops install uninstall deps clean FORCE

all: slimnas

.DELETE_ON_ERROR:

# ---- dependencies -----------------------------------------------------
# Installs what is missing, with sudo when not root, and says what.
deps: $(DEPS_OK)
$(DEPS_OK):
	@$(call apt_install,$(DEB_PKGS))
	@mkdir -p $(BUILD) && touch $@

# $(call apt_install,PACKAGES): installs the missing ones, saying which.
apt_install = missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "slimnas: installing missing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing \
	    || { echo "slimnas: apt-get failed; install by hand:$$missing" >&2; exit 1; }; \
	fi

pc_cflags = $(filter-out -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=%,$(shell pkg-config --cflags $(1) 2>/dev/null))
pc_libs   = $(or $(shell pkg-config --libs $(1) 2>/dev/null),$(2))
$(FLAGS_MK): $(DEPS_OK) Makefile
	@echo 'DEP_CFLAGS := $(foreach p,$(PKGS),$(call pc_cflags,$(p)))' > $@
	@echo 'DEP_LIBS := $(call pc_libs,ncursesw,-lncursesw -ltinfo) $(call pc_libs,libcjson,-lcjson) $(call pc_libs,openblas,-lopenblas) $(call pc_libs,readline,-lreadline) $(call pc_libs,zlib,-lz) $(call pc_libs,stb,-lstb) $(call pc_libs,libjpeg,-ljpeg) $(call pc_libs,libpng,-lpng) $(call pc_libs,cairo,-lcairo) $(call pc_libs,fontconfig,-lfontconfig) -lpthread -lm' >> $@
	@echo 'TEST_LIBS := $(call pc_libs,cmocka,-lcmocka)' >> $@
	@echo 'MPI_CFLAGS := $(if $(MPI_ON),-DSN_MPI $(shell pkg-config --cflags ompi-c))' >> $@
	@echo 'DEP_LIBS += $(if $(MPI_ON),$(call pc_libs,ompi-c,-lmpi))' >> $@

# ---- build ------------------------------------------------------------
# $(BUILD)/.cflags holds the compile command; it changes (and everything is
# rebuilt) when the flags do, e.g. `make check` after `make`.
CFLAGS_STAMP := $(BUILD)/.cflags
$(CFLAGS_STAMP): FORCE
	@mkdir -p $(BUILD)
	@echo '$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS)' > $@.new
	@if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi
FORCE:

# Object rules depend on the deps stamp only for ordering (pkg-config must
# see the packages), so a rebuild of the stamp does not rebuild everything.
$(BUILD)/%.o: %.c $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@$(AR) rcs $@ $^

$(BUILD)/slimnas: $(MAIN_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(ALL_LDFLAGS) -o $@ $^ $(DEP_LIBS) $(LDLIBS)

# ./slimnas is the default build's binary; sanitizer builds keep theirs.
# Phony, compared by content: whatever ./slimnas became (a link, another
# build's binary, a file newer than the build), `make` puts the default
# build's binary back.
.PHONY: slimnas
slimnas: $(BUILD)/slimnas
	@[ "$(BUILD)" = build ] && { [ ! -L $@ ] && cmp -s $< $@ || \
	  { rm -f $@; cp $< $@; }; } || true

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB) $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Itests -MMD -MP -o $@ $< $(LIB) $(ALL_LDFLAGS) $(DEP_LIBS) $(TEST_LIBS) $(LDLIBS)

$(BENCH_BIN): bench/bench.c $(LIB) $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(DEP_LIBS) $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_BIN:=.d)

# ---- run, test, check -------------------------------------------------
run: slimnas
	./slimnas

test: $(BUILD)/slimnas $(TEST_BIN)
	@SLIMNAS=$(BUILD)/slimnas tests/run_tests.sh $(TEST_BIN)

check:
	$(MAKE) WERROR=1 test

check-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  ASAN_OPTIONS=detect_leaks=1 test

check-tsan:
	$(MAKE) BUILD=build-tsan OPT="-O1" SAN="-fsanitize=thread" \
	  TSAN_ONLY=1 test

bench: $(BENCH_BIN) slimnas
	@$(BENCH_BIN)

# bo against random with the same budget (20 candidates each), 3 seeds on
# Fashion-MNIST; prints both hypervolumes and their medians (not in CI:
# 25-40 minutes). BENCH_SEARCH_ARGS="--max-candidates 10 --seeds 1" or
# "--budget 5m --max-candidates 0" to change.
$(BUILD)/bench/bench_search: bench/bench_search.c $(LIB) $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(DEP_LIBS) $(LDLIBS)

bench-search: $(BUILD)/bench/bench_search
	@$(BUILD)/bench/bench_search $(BENCH_SEARCH_ARGS)

# The small networks' kernels one at a time (one thread, batch 128):
# stable minima for comparing two builds of a kernel, which the
# whole-network figures of `make bench` are too noisy for.
# SLIMNAS_BENCH_OPS=dw_ runs only the kernels whose names contain it.
$(BUILD)/bench/bench_ops: bench/bench_ops.c $(LIB) $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(DEP_LIBS) $(LDLIBS)

bench-ops: $(BUILD)/bench/bench_ops
	@$(BUILD)/bench/bench_ops

# The same networks in PyTorch, for a side-by-side comparison (not in CI;
# needs Debian's python3-torch, installed here on demand).
bench-torch:
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q 'ok installed' || \
	  { echo "slimnas: installing python3-torch"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get install -y -qq python3-torch; }
	@OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py

# Warnings depend on the target: -march changes gcc's inlining and with it
# which -Wmaybe-uninitialized fires. Every object, test and bench is built
# with -Werror for each target under gcc and clang (CI runs this).
CHECK_ARCHS ?= x86-64-v2 x86-64-v3 x86-64-v4 native
CHECK_CCS   ?= gcc clang
check-targets: | $(DEPS_OK)
	@$(call apt_install,$(CHECK_PKGS))
	@set -e; for cc in $(CHECK_CCS); do for a in $(CHECK_ARCHS); do \
	  echo "slimnas: -Werror build, $$cc -march=$$a"; \
	  $(MAKE) -s --no-print-directory CC=$$cc ARCH=$$a WERROR=1 \
	    BUILD=build-check/$$cc-$$a build-check/$$cc-$$a/slimnas \
	    $(TEST_BIN:$(BUILD)/%=build-check/$$cc-$$a/%) \
	    build-check/$$cc-$$a/bench/bench build-check/$$cc-$$a/bench/bench_search \
	    build-check/$$cc-$$a/bench/bench_ops build-check/$$cc-$$a/bench/bench_export_c; \
	done; done; echo "slimnas: every target built without a warning"

# ---- install ----------------------------------------------------------
# install builds its own portable binary in $(PORTABLE_BUILD) (-march=
# $(ARCH_PORTABLE)); ./slimnas from `make` stays tuned to this machine.
install: | $(DEPS_OK)
	$(MAKE) --no-print-directory BUILD=$(PORTABLE_BUILD) ARCH=$(ARCH_PORTABLE) \
	  $(PORTABLE_BUILD)/slimnas
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/slimnas/themes \
	  $(DESTDIR)$(DATADIR)/slimnas/samples $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(PORTABLE_BUILD)/slimnas $(DESTDIR)$(BINDIR)/slimnas
	cp -r themes/. $(DESTDIR)$(DATADIR)/slimnas/themes/
	cp -r samples/. $(DESTDIR)$(DATADIR)/slimnas/samples/
	install -m 644 docs/slimnas.1 $(DESTDIR)$(MANDIR)/man1/slimnas.1
	install -m 644 docs/slimnas.bash-completion $(DESTDIR)$(BASHCOMPDIR)/slimnas

# Removes exactly what install wrote; under a DESTDIR (a staging tree) also
# the folders left empty, so nothing stays behind.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/slimnas $(DESTDIR)$(MANDIR)/man1/slimnas.1 \
	  $(DESTDIR)$(BASHCOMPDIR)/slimnas
	rm -rf $(DESTDIR)$(DATADIR)/slimnas
	@if [ -n "$(DESTDIR)" ]; then \
	  for d in $(BINDIR) $(MANDIR)/man1 $(BASHCOMPDIR); do \
	    rmdir -p "$(DESTDIR)$$d" 2>/dev/null || true; done; fi

# clean removes $(BUILD) (default build) and the other build folders
# this Makefile makes; `make clean BUILD=dir` removes dir too.
clean:
	rm -rf $(BUILD) build build-asan build-tsan build-clang build-check \
	  build-mpi $(PORTABLE_BUILD) slimnas

# The standalone C export on trained Fashion-MNIST models (tiny2conv and
# mobile_tiny, 3 epochs each): params, weight and arena bytes, float and
# int8 test accuracy, batch-1 latency (not in CI: several minutes).
# BENCH_EXPORT_ARGS="--epochs 1 --max-train 20000 tiny2conv" to change.
$(BUILD)/bench/bench_export_c: bench/bench_export_c.c $(LIB) $(CFLAGS_STAMP) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB) $(ALL_LDFLAGS) $(DEP_LIBS) $(LDLIBS)

.PHONY: bench-export-c
bench-export-c: $(BUILD)/bench/bench_export_c
	@$(BUILD)/bench/bench_export_c $(BENCH_EXPORT_ARGS)

# ---- fuzzing and soak (not in CI) -----------------------------------------
# make fuzz: every libFuzzer target of tests/fuzz (fuzz_NAME.c) for
# FUZZ_TIME seconds each under AddressSanitizer + UBSan (clang; installed
# here on demand). New corpus units go to build-fuzz/corpus/NAME, crash
# inputs to tests/fuzz/NAME/crashes/: commit those, make test replays them
# (test_fuzz_corpus). FUZZ_TARGETS="graph weights" picks targets;
# FUZZ_ARGS passes libFuzzer options, e.g. FUZZ_ARGS=-runs=1000000.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BUILD   ?= build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_PKGS    := clang libclang-rt-14-dev

fuzz: $(FLAGS_MK)
	@missing=""; for p in $(FUZZ_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "slimnas: installing$$missing for make fuzz"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -qq $$missing; fi
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang \
	  OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/libslimnas.a
	@for t in $(FUZZ_TARGETS); do \
	  echo "  FUZZ    $$t ($(FUZZ_TIME) s)"; \
	  clang $(ALL_CPPFLAGS) -std=c11 $(WARN) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer \
	    -Itests -o $(FUZZ_BUILD)/fuzz_$$t tests/fuzz/fuzz_$$t.c \
	    $(FUZZ_BUILD)/libslimnas.a $(DEP_LIBS) || exit 1; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t tests/fuzz/$$t/crashes; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) \
	    -artifact_prefix=tests/fuzz/$$t/crashes/ $(FUZZ_ARGS) \
	    $(FUZZ_BUILD)/corpus/$$t tests/fuzz/$$t || exit 1; \
	done

# make soak: 50 kill -9 at random points (resumes, their start-up,
# --final, fork), checking after each that nothing finished is lost or
# changed and that the run loads; prints the figures (a few minutes).
SOAK_KILLS ?= 50
soak: $(BUILD)/slimnas
	@python3 tests/soak.py $(BUILD)/slimnas $(SOAK_KILLS)

.PHONY: fuzz soak

# ---- experiments: reports of several runs (slimnas report) ----------------
# experiment-bases: the same budget from each base architecture alone
# (samples/searches/experiment-bases.json, --bases KIND), fronts overlaid;
# experiment-budget: the same search (samples/searches/experiment-budget.json)
# at each budget in EXP_BUDGETS and seed in EXP_SEEDS. Runs go to EXP_DIR;
# a run already there is resumed (to the same budget: nothing to do), so
# running the target again only redraws. The PNGs go to docs/img/ (shown in
# the README), the HTML pages to EXP_DIR; EXP_OPTS go to every search
# (EXP_OPTS="--max-train 2k" for a quick look). Not in CI: with the defaults
# 2 x 5 x 10 minutes and 10 + 30 + 90 minutes of search.
EXP_DIR     ?= runs/experiments
EXP_DATA    ?= fashion-mnist
EXP_BASES   ?= cnn mobilenet mobilenetv2 resnet densenet
EXP_BUDGET  ?= 10m
EXP_BUDGETS ?= 10m 30m 90m
EXP_SEEDS   ?= 1
EXP_THREADS ?= 2
EXP_NICE    ?= nice -n 10
EXP_OPTS    ?=

.PHONY: experiment-bases experiment-budget

# $(call exp_run,DIR,CONFIG,OPTIONS,BUDGET[,DATA]): search, or resume DIR.
exp_run = if [ -d $(1) ]; then $(EXP_NICE) $(BUILD)/slimnas resume $(1) --budget $(4) \
            --headless -j $(EXP_THREADS); else $(EXP_NICE) $(BUILD)/slimnas search \
            --config $(2) --data $(or $(5),$(EXP_DATA)) $(3) $(EXP_OPTS) --budget $(4) --run $(1) \
            --headless -j $(EXP_THREADS); fi > $(1).txt

# The second set of bases runs on CIFAR-10 when EXP_CIFAR names its folder
# (cifar-10-batches-bin), else on CIFAR-shaped synthetic data: the
# synthetic figures at 32x32x3 (CIFAR's shape and cost, not its
# difficulty), 18,000 training images.
EXP_CIFAR   ?=
EXP_DATA2   = $(if $(wildcard $(EXP_CIFAR)/data_batch_1.bin),cifar10:$(EXP_CIFAR),synthetic:20000 --input 32x32x3)
EXP_NAME2   = $(if $(wildcard $(EXP_CIFAR)/data_batch_1.bin),CIFAR-10,CIFAR-shaped synthetic data (32x32x3))
exp_title   = "One base architecture each: $(1), at most 50k parameters, $(EXP_BUDGET) per run"

experiment-bases: $(BUILD)/slimnas
	@mkdir -p $(EXP_DIR) docs/img
	@for k in $(EXP_BASES); do echo "experiment-bases: $$k on $(EXP_DATA), $(EXP_BUDGET)"; \
	  $(call exp_run,$(EXP_DIR)/bases-$$k,samples/searches/experiment-bases.json,--bases $$k,$(EXP_BUDGET)) \
	  || exit 1; done
	@for k in $(EXP_BASES); do echo "experiment-bases: $$k on $(EXP_DATA2), $(EXP_BUDGET)"; \
	  $(call exp_run,$(EXP_DIR)/bases32-$$k,samples/searches/experiment-bases.json,--bases $$k,$(EXP_BUDGET),$(EXP_DATA2)) \
	  || exit 1; done
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases-%) -o docs/img/experiment-bases.png --members none \
	  --title $(call exp_title,$(EXP_DATA))
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases-%) -o $(EXP_DIR)/experiment-bases.html \
	  --title $(call exp_title,$(EXP_DATA))
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases32-%) -o docs/img/experiment-bases-32.png --members none \
	  --title $(call exp_title,$(EXP_NAME2))
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases32-%) -o $(EXP_DIR)/experiment-bases-32.html \
	  --title $(call exp_title,$(EXP_NAME2))

EXP_BUDGET_RUNS = $(foreach b,$(EXP_BUDGETS),$(foreach s,$(EXP_SEEDS),$(EXP_DIR)/budget-$(b)-s$(s)))
experiment-budget: $(BUILD)/slimnas
	@mkdir -p $(EXP_DIR) docs/img
	@for b in $(EXP_BUDGETS); do for s in $(EXP_SEEDS); do \
	  echo "experiment-budget: $$b, seed $$s"; \
	  $(call exp_run,$(EXP_DIR)/budget-$$b-s$$s,samples/searches/experiment-budget.json,--seed $$s,$$b) \
	  || exit 1; done; done
	$(BUILD)/slimnas report $(EXP_BUDGET_RUNS) -o docs/img/experiment-budget.png \
	  --title "The same search at $(EXP_BUDGETS): $(EXP_DATA), at most 50k parameters"
	$(BUILD)/slimnas report $(EXP_BUDGET_RUNS) -o $(EXP_DIR)/experiment-budget.html \
	  --title "The same search at $(EXP_BUDGETS): $(EXP_DATA), at most 50k parameters"
# The MPI build's own tests (test_mpi under mpirun, test_parallel) in
# build-mpi; `make MPI=1 test` runs every suite in an MPI build.
test-mpi:
	$(MAKE) --no-print-directory MPI=1 BUILD=build-mpi build-mpi/slimnas \
	  build-mpi/tests/test_mpi build-mpi/tests/test_parallel
	@SLIMNAS=build-mpi/slimnas tests/run_tests.sh build-mpi/tests/test_mpi \
	  build-mpi/tests/test_parallel

# Candidates per hour with 1, 2 and 3 MPI workers and in one process
# (synthetic data; not in CI). Builds with MPI.
bench-mpi:
	$(MAKE) MPI=1 slimnas
	@bench/bench_mpi.sh ./slimnas

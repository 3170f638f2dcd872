# slimnas — build, test, run, bench, install.
#
#   make            build ./slimnas (installs missing Debian packages first)
#   make run        build and start the explorer on the bundled default search
#   make test       build and run every test; ends with "N passed, N failed"
#   make check-asan the tests under AddressSanitizer + UBSan
#   make check-tsan the threaded tests under ThreadSanitizer
#   make bench      training/inference throughput as JSON
#   make install PREFIX=/usr/local
#   make CC=clang   works too

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O3 -march=native -fno-math-errno -ffp-contract=fast
SAN     ?=

# Debian packages the build, the tests and the default run need.
DEB_PKGS := build-essential pkg-config libncurses-dev libcjson-dev \
            libopenblas-dev libreadline-dev zlib1g-dev libcmocka-dev \
            dataset-fashion-mnist tmux libcairo2-dev libfontconfig-dev python3

PKGS := ncursesw libcjson openblas readline zlib cairo fontconfig
# Flags come from pkg-config (plain -l flags where a .pc file is missing),
# written to $(BUILD)/flags.mk once the packages are there; make builds that
# file first and restarts, so a fresh machine needs one command.
FLAGS_MK := $(BUILD)/flags.mk
ifeq ($(filter clean,$(MAKECMDGOALS)),)
-include $(FLAGS_MK)
endif

WARN     := -Wall -Wextra -Werror -Wshadow
CPPFLAGS += -Iinclude -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 $(DEP_CFLAGS)
CFLAGS   += -std=c11 $(WARN) $(OPT) -g $(SAN)
LDFLAGS  += $(SAN)

LIB_SRC  := $(filter-out src/cli/main.c,$(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ := $(BUILD)/src/cli/main.o
LIB      := $(BUILD)/libslimnas.a
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BUILD)/bench/bench
DEPS_OK  := $(BUILD)/.deps-ok

.PHONY: all run test check check-asan check-tsan bench bench-torch bench-search \
        install deps clean

all: slimnas

.DELETE_ON_ERROR:

# ---- dependencies -----------------------------------------------------
# Installs what is missing, with sudo when not root, and says what.
deps: $(DEPS_OK)
$(DEPS_OK):
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "slimnas: installing missing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing \
	    || { echo "slimnas: apt-get failed; install by hand:$$missing" >&2; exit 1; }; \
	fi
	@mkdir -p $(BUILD) && touch $@

pc_cflags = $(filter-out -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=%,$(shell pkg-config --cflags $(1) 2>/dev/null))
pc_libs   = $(or $(shell pkg-config --libs $(1) 2>/dev/null),$(2))
$(FLAGS_MK): $(DEPS_OK) Makefile
	@echo 'DEP_CFLAGS := $(foreach p,$(PKGS),$(call pc_cflags,$(p)))' > $@
	@echo 'DEP_LIBS := $(call pc_libs,ncursesw,-lncursesw -ltinfo) $(call pc_libs,libcjson,-lcjson) $(call pc_libs,openblas,-lopenblas) $(call pc_libs,readline,-lreadline) $(call pc_libs,zlib,-lz) $(call pc_libs,cairo,-lcairo) $(call pc_libs,fontconfig,-lfontconfig) -lpthread -lm' >> $@
	@echo 'TEST_LIBS := $(call pc_libs,cmocka,-lcmocka)' >> $@

# ---- build ------------------------------------------------------------
# Object rules depend on the deps stamp only for ordering (pkg-config must
# see the packages), so a rebuild of the stamp does not rebuild everything.
$(BUILD)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcs $@ $^

$(BUILD)/slimnas: $(MAIN_OBJ) $(LIB)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

# ./slimnas is the default build's binary; sanitizer builds keep theirs.
slimnas: $(BUILD)/slimnas
	@[ "$(BUILD)" = build ] && cp $< $@ || true

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -Itests -MMD -MP -o $@ $< $(LIB) $(DEP_LIBS) $(TEST_LIBS)

$(BENCH_BIN): bench/bench.c $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(DEP_LIBS)

-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_BIN:=.d)

# ---- run, test, check -------------------------------------------------
run: slimnas
	./slimnas

test: $(BUILD)/slimnas $(TEST_BIN)
	@SLIMNAS=$(BUILD)/slimnas tests/run_tests.sh $(TEST_BIN)

check: test

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
$(BUILD)/bench/bench_search: bench/bench_search.c $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB) $(DEP_LIBS)

bench-search: $(BUILD)/bench/bench_search
	@$(BUILD)/bench/bench_search $(BENCH_SEARCH_ARGS)

# The same networks in PyTorch, for a side-by-side comparison (not in CI;
# needs Debian's python3-torch, installed here on demand).
bench-torch:
	@dpkg-query -W -f='$${Status}' python3-torch 2>/dev/null | grep -q 'ok installed' || \
	  { echo "slimnas: installing python3-torch"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get install -y -qq python3-torch; }
	@OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py

# ---- install ----------------------------------------------------------
install: slimnas
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/slimnas/themes \
	  $(DESTDIR)$(PREFIX)/share/slimnas/samples
	install -m 755 slimnas $(DESTDIR)$(PREFIX)/bin/slimnas
	cp -r themes/. $(DESTDIR)$(PREFIX)/share/slimnas/themes/
	cp -r samples/. $(DESTDIR)$(PREFIX)/share/slimnas/samples/

clean:
	rm -rf build build-asan build-tsan slimnas

# ---- experiments: reports of several runs (slimnas report) ----------------
# experiment-bases: the same budget from each base architecture alone
# (samples/searches/experiment-bases.json, --bases KIND), fronts overlaid;
# experiment-budget: the same search (samples/searches/experiment-budget.json)
# at each budget in EXP_BUDGETS and seed in EXP_SEEDS. Runs go to EXP_DIR;
# a run already there is resumed (to the same budget: nothing to do), so
# running the target again only redraws. The PNGs go to docs/img/ (shown in
# the README), the HTML pages to EXP_DIR; EXP_OPTS go to every search
# (EXP_OPTS="--max-train 2k" for a quick look). Not in CI: with the defaults
# 5 x 10 minutes and 10 + 30 + 90 minutes of search.
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

# $(call exp_run,DIR,CONFIG,OPTIONS,BUDGET): search, or resume DIR.
exp_run = if [ -d $(1) ]; then $(EXP_NICE) $(BUILD)/slimnas resume $(1) --budget $(4) \
            --headless -j $(EXP_THREADS); else $(EXP_NICE) $(BUILD)/slimnas search \
            --config $(2) --data $(EXP_DATA) $(3) $(EXP_OPTS) --budget $(4) --run $(1) \
            --headless -j $(EXP_THREADS); fi > $(1).txt

experiment-bases: $(BUILD)/slimnas
	@mkdir -p $(EXP_DIR) docs/img
	@for k in $(EXP_BASES); do echo "experiment-bases: $$k, $(EXP_BUDGET)"; \
	  $(call exp_run,$(EXP_DIR)/bases-$$k,samples/searches/experiment-bases.json,--bases $$k,$(EXP_BUDGET)) \
	  || exit 1; done
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases-%) -o docs/img/experiment-bases.png --members none \
	  --title "One base architecture each: $(EXP_DATA), at most 50k parameters, $(EXP_BUDGET) per run"
	$(BUILD)/slimnas report $(EXP_BASES:%=$(EXP_DIR)/bases-%) -o $(EXP_DIR)/experiment-bases.html \
	  --title "One base architecture each: $(EXP_DATA), at most 50k parameters, $(EXP_BUDGET) per run"

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

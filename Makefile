# pyroom: one binary, built with GNU Make and pkg-config.
#   make          build build/pyroom (the command), build/pyroom-server and the page
#   make run      install what is missing, build, start on 127.0.0.1:8080
#   make check    install, build with -Werror, lint (layers, format), run every test suite
#   make lint     the include-layer rule, file and function sizes, the docs' tables, clang-format
#   make asan     unit and API tests under AddressSanitizer + UBSan
#   make bench    benchmarks (figures and ratios against a same-run baseline)

CC      ?= gcc
BUILD   ?= build
PKGS    := libmicrohttpd jansson libsodium sqlite3 libpq libseccomp zlib
# libseccomp is for the build only (the filter is compiled then: src/sandbox/seccomp.c):
# what the binaries link leaves it out.
RUN_PKGS := $(filter-out libseccomp,$(PKGS))
WARN    := -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wimplicit-fallthrough -Werror
HARDEN  := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection -fPIE
OPT     ?= -O2 -g
CFLAGS  += $(WARN) $(OPT) $(HARDEN) -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS))
LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS  += $(shell pkg-config --libs $(RUN_PKGS)) -lpthread
SECCOMP_LIBS := $(shell pkg-config --libs libseccomp)

# The binary's commands (main.c and its cmd_*.c beside it) sit above every layer; the
# layers (src/LAYER/*.c) make the library.
CMD_SRC := $(filter-out src/main_sandbox.c src/main_front.c,$(wildcard src/*.c))
CMD_OBJ := $(CMD_SRC:%.c=$(BUILD)/obj/%.o)
LIB_SRC := $(wildcard src/*/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all install run check asan bench deps web unit fuzz clean format lint
all: $(BUILD)/pyroom $(BUILD)/pyroom-server $(BUILD)/pyroom-sandbox $(if $(wildcard web/package.json),web)

deps:
	@./scripts/install-deps.sh

V ?= 0
Q := $(if $(filter 1,$(V)),,@)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Python embedded with .incbin (src/base/embed.h): the compiler's dependency files miss it.
$(BUILD)/obj/src/exec/lang.o: src/exec/lang_worker.py
$(BUILD)/obj/src/exec/warm_template.o: src/exec/warm_python.py src/exec/run_sitecustomize.py
$(BUILD)/obj/src/exec/runs_files.o: src/exec/run_sitecustomize.py src/exec/run_backend.py

# The OpenAPI document, generated from scripts/openapi.py and the error table, embedded by
# src/api/openapi.c (.incbin) and served at GET /api/openapi.json.
$(BUILD)/openapi.json: scripts/openapi.py scripts/codes.py src/api/errors.h src/base/events.h
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"
	$(Q)python3 scripts/openapi.py $@
$(BUILD)/obj/src/api/openapi.o: $(BUILD)/openapi.json
$(BUILD)/obj/src/api/openapi.o: CFLAGS += -DPYROOM_OPENAPI_FILE='"$(BUILD)/openapi.json"'

# The sandbox's system-call filter, compiled from src/sandbox/seccomp_rules.c with libseccomp
# by scripts/seccomp-gen.c and embedded by src/sandbox/seccomp.c.
$(BUILD)/seccomp-gen: scripts/seccomp-gen.c $(BUILD)/obj/src/sandbox/seccomp_rules.o $(BUILD)/obj/src/base/err.o
	@echo "  LD    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(SECCOMP_LIBS) -o $@
$(BUILD)/gen/seccomp_filter.h: $(BUILD)/seccomp-gen
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"
	$(Q)$(BUILD)/seccomp-gen $@.tmp && mv $@.tmp $@
$(BUILD)/obj/src/sandbox/seccomp.o: $(BUILD)/gen/seccomp_filter.h
$(BUILD)/obj/src/sandbox/seccomp.o: CFLAGS += -iquote . -DPYROOM_SECCOMP_FILTER='"$(BUILD)/gen/seccomp_filter.h"'

$(BUILD)/libpyroom.a: $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

# The server: every command, every library, full RELRO.
$(BUILD)/pyroom-server: $(CMD_OBJ) $(BUILD)/libpyroom.a
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# `pyroom`, the command users type (src/main_front.c says why): the sandbox commands with
# only the libraries they need; it execs pyroom-server beside it for the others, so building
# it builds that too.
SB_PKGS := jansson
$(BUILD)/pyroom: $(BUILD)/obj/src/main_front.o $(BUILD)/obj/src/cmd_sandbox.o $(BUILD)/libpyroom.a | $(BUILD)/pyroom-server
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -Wl,--as-needed $^ $(shell pkg-config --libs $(SB_PKGS)) -lpthread -o $@

# `pyroom sandbox` alone as a binary of its own (src/main_sandbox.c).
$(BUILD)/pyroom-sandbox: $(BUILD)/obj/src/main_sandbox.o $(BUILD)/obj/src/cmd_sandbox.o $(BUILD)/libpyroom.a
	@echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -Wl,--as-needed $^ $(shell pkg-config --libs $(SB_PKGS)) -lpthread -o $@

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libpyroom.a
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -MF $@.d -MT $@ $(LDFLAGS) $< $(BUILD)/libpyroom.a $(LDLIBS) $(SECCOMP_LIBS) -lcriterion -o $@

unit: $(UNIT_BIN)

web:
	@if [ -f web/package.json ]; then cd web && npm run --silent build; fi

# libFuzzer targets, built with clang. `make check` replays each committed corpus and explores
# for 5 s with a fixed seed; `make fuzz` explores longer (FUZZ_SECONDS) with a new seed.
fuzz:
	@SUITES=fuzz FUZZ_SEED=random FUZZ_SECONDS=$${FUZZ_SECONDS:-60} ./scripts/run-tests.sh

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	@echo "pyroom: http://127.0.0.1:8080"
	./$(BUILD)/pyroom serve --listen 127.0.0.1:8080 --database sqlite:data/pyroom.db

check: deps
	@$(MAKE) --no-print-directory all unit lint
	@./scripts/run-tests.sh

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang \
	  OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -Wno-missing-field-initializers" \
	  HARDEN="-fPIE" LDFLAGS="-pie -fsanitize=address,undefined" all unit
	@BUILD=build/asan SUITES="unit api-sqlite" ./scripts/run-tests.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@./scripts/run-bench.sh

# The three binaries side by side (pyroom execs pyroom-server from its own directory).
PREFIX ?= /usr/local
install: $(BUILD)/pyroom $(BUILD)/pyroom-server $(BUILD)/pyroom-sandbox
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $^ $(DESTDIR)$(PREFIX)/bin/

format:
	clang-format -i $(FORMAT_SRC)

# What a compiler does not check: a lower layer never includes a higher one
# (scripts/check-layers.py, docs/architecture.md), no C file over 800 lines and no function
# over 100 without a reason (scripts/check-size.py), the docs' copies of the code's tables
# (scripts/check-docs.py: error codes, settings, events; it runs the binary) and every C
# file is clang-formatted.
FORMAT_SRC = $(shell find src tests -name '*.[ch]' -not -path '*/node_modules/*' | sort)
lint: $(BUILD)/pyroom $(BUILD)/pyroom-server
	@python3 scripts/check-layers.py
	@python3 scripts/check-size.py
	@BUILD=$(BUILD) python3 scripts/check-docs.py
	@clang-format --dry-run --Werror $(FORMAT_SRC) || { echo "lint: run 'make format'"; exit 1; }
	@echo "lint: layers, sizes, docs tables and format ok"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)

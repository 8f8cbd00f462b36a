# SPDX-License-Identifier: MIT
# ipcns - one non-recursive Makefile.
#   make            build everything into build/
#   make check      install missing Debian packages, build, run every test
#   make demo       install missing packages, build, run the demo containers
#   make bench      benchmarks (ratios against native, not part of check)
#   make install    PREFIX=/usr/local DESTDIR=
#   make clang-format
#   make cross-check-aarch64   compile every source for aarch64 (needs gcc-aarch64-linux-gnu)

PREFIX ?= /usr/local
DESTDIR ?=
B := build
# CC has a make default (cc), so `CC ?= gcc' would never apply: gcc unless
# the caller chose a compiler on the command line or in the environment.
ifeq ($(origin CC),default)
CC := gcc
endif
# Every compile writes a dependency file beside its output (-MMD), with a
# phony target per header (-MP) so that a deleted header does not stop make.
DEPFLAGS = -MMD -MP -MF $@.d

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wformat=2 -Wformat-nonliteral -Wpointer-arith -Wundef -Wvla -Wcast-align \
	-Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -g -D_GNU_SOURCE -Iinclude -Iplugin/lib/ipc -Iplugin/lib/notify -Iruntime-hook \
	$(WARN) -fvisibility=hidden -fPIC
CFLAGS ?= -O2
ALL_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)
SAN_CFLAGS := $(BASE_CFLAGS) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
# ThreadSanitizer: ipcnsd's worker threads, checked by make check.
TSAN_CFLAGS := $(BASE_CFLAGS) -O1 -fsanitize=thread -fno-omit-frame-pointer
# Test, bench and example programs: the same warning wall.
TEST_CFLAGS := -std=gnu11 -O2 -g -D_GNU_SOURCE -Iinclude -Itests/lib $(WARN)

CORE_SRC := $(sort $(wildcard plugin/lib/ipc/*.c))
NOTIFY_SRC := $(sort $(wildcard plugin/lib/notify/*.c))
IPCNSD_SRC := $(sort $(wildcard plugin/ipcnsd/*.c))
CTL_SRC := $(sort $(wildcard plugin/ipcnsctl/*.c))
CRUN_SRC := $(sort $(wildcard plugin/crun/*.c))
RT_LIB_SRC := $(filter-out runtime-hook/runtime.c runtime-hook/hook.c,$(sort $(wildcard runtime-hook/*.c)))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
CONF_SRC := $(sort $(wildcard tests/conformance/*.c))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
# The fake front end of the unit tests, core-bench and the fuzzer.
FAKE_SRC := tests/lib/fake_caller.c
# Built for the programs above, kept (not intermediate files make deletes).
.SECONDARY: $(FAKE_SRC:%.c=$(B)/san/%.o) $(FAKE_SRC:%.c=$(B)/obj/%.o)
# The container side of the bats tests and of the soak.
IT_SRC := $(sort $(wildcard tests/integration/*.c))
SOAK_SRC := $(sort $(wildcard tests/soak/*.c))

LIB_SRC := $(CORE_SRC) $(NOTIFY_SRC) $(RT_LIB_SRC)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB_SAN_OBJ := $(LIB_SRC:%.c=$(B)/san/%.o)
LIB_TSAN_OBJ := $(LIB_SRC:%.c=$(B)/tsan/%.o)
# The libraries of each program (what its objects and the parts of
# libipcns.a it pulls in call).
IPCNSD_LIBS := -ljansson -lcap -lpthread -lfuse3
CTL_LIBS := -ljansson
RUNTIME_LIBS := -ljansson
HOOK_LIBS := -ljansson
CRUN_LIBS := -ljansson -lcap -lpthread -lfuse3
UNIT_LIBS := -lcmocka -ljansson -lcap -lpthread
TOOL_LIBS := -ljansson -lcap -lseccomp -lpthread

BINS := $(B)/bin/ipcnsd $(B)/bin/ipcns-keeper $(B)/bin/ipcns-runtime $(B)/bin/ipcnsctl $(B)/bin/ipcns-hook \
	$(B)/lib/libipcns-crun.so
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
CONF_BINS := $(CONF_SRC:tests/conformance/%.c=$(B)/tests/conformance/%)
# The conformance programs that also run as 32-bit (i386) programs, served
# through Linux's compat ABI (spec/compatibility.md): NAME.m32 beside NAME,
# built -m32 -static (a container needs no i386 libraries) when the
# compiler can (Debian's gcc-multilib, which tests/deps.sh installs on
# x86_64); run-all.sh and conformance.bats run them as a set of their own
# and say they are skipped where there is no i386 toolchain.  Left out:
# programs about 64-bit sizes and addresses (shm_get, shm_limits,
# shm_remap) and those making raw x86_64 calls (sem_basic, hostile_*
# but the six below).  compat_abi is the i386 ABI itself (ipc(2), the
# old structures), an i386 program only.
CONF32 := compat_abi hostile_cred hostile_filter hostile_memfd hostile_signal hostile_stop hostile_userns ids_userns \
	msg_block msg_ctl msg_get msg_kill msg_select msg_stream sem_undo sem_wait shm_at shm_ctl shm_dt \
	shm_fork shm_huge shm_ids shm_lock shm_perm sig_intr
HAVE_M32 := $(shell printf 'int main(void){return 0;}\n' | $(CC) -m32 -static -x c -o /dev/null - 2>/dev/null && \
	echo yes)
ifeq ($(HAVE_M32),yes)
# and restart.bats's container side, as a 32-bit program.
CONF32_BINS := $(CONF32:%=$(B)/tests/conformance/%.m32) $(B)/tests/integration/ipc-restart.m32 \
	$(B)/tests/integration/park32.m32
endif
TOOL_BINS := $(TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)
BENCH_BINS := $(BENCH_SRC:tests/bench/%.c=$(B)/tests/bench/%)
EXAMPLE_BINS := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)
IT_BINS := $(IT_SRC:%.c=$(B)/%)
SOAK_BINS := $(SOAK_SRC:%.c=$(B)/%)

.PHONY: all check demo bench install clang-format clean deps test-bins
all: $(BINS) test-bins
test-bins: $(UNIT_BINS) $(CONF_BINS) $(CONF32_BINS) $(TOOL_BINS) $(BENCH_BINS) $(EXAMPLE_BINS) $(IT_BINS) $(SOAK_BINS)

# Debian packages: installed when missing (fresh machines, CI).
deps:
	@tests/deps.sh

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(B)/san/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC-SAN  $<"
	@$(CC) $(SAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(B)/tsan/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC-TSAN $<"
	@$(CC) $(TSAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(B)/lib/libipcns.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@ && ar rcs $@ $^
$(B)/lib/libipcns-san.a: $(LIB_SAN_OBJ)
	@mkdir -p $(@D)
	@rm -f $@ && ar rcs $@ $^

$(B)/bin/ipcnsd: $(IPCNSD_SRC:%.c=$(B)/obj/%.o) $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(IPCNSD_LIBS)
$(B)/bin/ipcnsd-san: $(IPCNSD_SRC:%.c=$(B)/san/%.o) $(B)/lib/libipcns-san.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) -o $@ $^ $(IPCNSD_LIBS)
$(B)/bin/ipcnsd-tsan: $(IPCNSD_SRC:%.c=$(B)/tsan/%.o) $(LIB_TSAN_OBJ)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TSAN_CFLAGS) -o $@ $^ $(IPCNSD_LIBS)
# The keeper links nothing of ours: it is small and never needs upgrading.
$(B)/bin/ipcns-keeper: $(B)/obj/plugin/keeper/keeper.o
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^
$(B)/bin/ipcnsctl: $(CTL_SRC:%.c=$(B)/obj/%.o) $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(CTL_LIBS)
$(B)/bin/ipcns-runtime: $(B)/obj/runtime-hook/runtime.o $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(RUNTIME_LIBS)
$(B)/bin/ipcns-hook: $(B)/obj/runtime-hook/hook.o $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -o $@ $^ $(HOOK_LIBS)
$(B)/lib/libipcns-crun.so: $(CRUN_SRC:%.c=$(B)/obj/%.o) $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -shared -Wl,--version-script=plugin/crun/exports.map -o $@ $^ $(CRUN_LIBS)
# The plugin under ASan and UBSan for crun-plugin.bats: -z nodelete keeps it
# mapped after crun's dlclose, so that leak reports at exit name its frames.
$(B)/lib/libipcns-crun-san.so: $(CRUN_SRC:%.c=$(B)/san/%.o) $(B)/lib/libipcns-san.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) -shared -Wl,-z,nodelete -Wl,--version-script=plugin/crun/exports.map -o $@ $^ \
		$(CRUN_LIBS)

$(B)/tests/unit/%: tests/unit/%.c $(FAKE_SRC:%.c=$(B)/san/%.o) $(B)/lib/libipcns-san.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(SAN_CFLAGS) $(DEPFLAGS) -Itests/lib -Wno-missing-prototypes -o $@ $< $(FAKE_SRC:%.c=$(B)/san/%.o) \
		$(B)/lib/libipcns-san.a $(UNIT_LIBS)
$(B)/tests/conformance/%: tests/conformance/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/conformance/compat_abi.m32: tests/conformance/m32/compat_abi.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -m32 -static $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/conformance/%.m32: tests/conformance/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -m32 -static $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/integration/park32.m32: tests/integration/compat32/park32.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -m32 -static $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $<
$(B)/tests/integration/%.m32: tests/integration/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) -m32 -static $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/tools/%: tests/tools/%.c $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -Itests/lib -o $@ $< $(B)/lib/libipcns.a $(TOOL_LIBS)
# The core's own cost (no containers): linked with the library.
$(B)/tests/bench/core-bench: tests/bench/core-bench.c $(FAKE_SRC:%.c=$(B)/obj/%.o) $(B)/lib/libipcns.a
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(ALL_CFLAGS) -DHAVE_STATE $(DEPFLAGS) -Itests/lib -Wno-missing-prototypes -o $@ $< \
		$(FAKE_SRC:%.c=$(B)/obj/%.o) $(B)/lib/libipcns.a $(TOOL_LIBS)
$(B)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/integration/%: tests/integration/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $< -lpthread
$(B)/tests/soak/%: tests/soak/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $<
$(B)/examples/%: examples/%.c
	@mkdir -p $(@D)
	@echo "  LD      $@"
	@$(CC) $(TEST_CFLAGS) $(DEPFLAGS) -o $@ $<

# The dependency files of every object and program built so far.
-include $(shell find $(B) -name '*.d' 2>/dev/null)

check: deps
	@$(MAKE) --no-print-directory all $(B)/bin/ipcnsd-san $(B)/bin/ipcnsd-tsan $(B)/lib/libipcns-crun-san.so
	@tests/run-all.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@examples/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

# PostgreSQL tps in a runc container, plain and under ipcns (medians, ratio).
.PHONY: bench-pgbench
bench-pgbench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/pgbench.sh

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)/etc/ipcns
	install -m 0755 $(filter $(B)/bin/%,$(BINS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(filter %.so,$(BINS)) $(DESTDIR)$(PREFIX)/lib/
	install -D -m 0644 plugin/ipcnsd/ipcnsd.service $(DESTDIR)/etc/systemd/system/ipcnsd.service
	# The safe annotation policy (spec/security.md); an operator's own file is kept.
	[ -e $(DESTDIR)/etc/ipcns/config.json ] || install -m 0644 plugin/ipcnsd/ipcns-config.json $(DESTDIR)/etc/ipcns/config.json
	install -D -m 0644 plugin/keeper/ipcns-keeper.service $(DESTDIR)/etc/systemd/system/ipcns-keeper.service
	install -d $(DESTDIR)/usr/share/containers/oci/hooks.d
	install -m 0644 $(wildcard runtime-hook/hooks.d/*.json) $(DESTDIR)/usr/share/containers/oci/hooks.d/

clang-format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(B)

# Soak, not part of check: SOAK_SECONDS (default 600) of mixed System V IPC
# from SOAK_CONTAINERS (16) runc containers with churn; ipcnsd's VmRSS and
# fds sampled into build/soak/soak.csv; tolerance in tests/soak/soak.sh.
.PHONY: soak
soak: deps
	@$(MAKE) --no-print-directory all
	@tests/soak/soak.sh

# Fuzzing the core with libFuzzer (clang): `make fuzz` runs FUZZ_SECONDS
# (default 60) from the committed corpus tests/fuzz/corpus; `make
# fuzz-regress` runs every corpus file and crash reproducer
# (tests/fuzz/regress) once, as make check does (tests/integration/fuzz.bats).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Iplugin/lib/ipc -Itests/lib -Wall -Wextra -Wno-unused-parameter \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
.PHONY: fuzz fuzz-regress
# One compiler run over several sources cannot write one dependency file
# each: the target depends on every header the core and the tests include.
$(B)/fuzz/fuzz_core: tests/fuzz/fuzz_core.c $(FAKE_SRC) $(CORE_SRC) \
		$(wildcard include/ipcns/*.h plugin/lib/ipc/*.h tests/lib/*.h)
	@mkdir -p $(@D)
	@echo "  FUZZ-LD $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_core.c $(FAKE_SRC) $(CORE_SRC)
# The state loader and the journal's recovery (tests/fuzz/fuzz_state.c):
# `make fuzz-state', corpus tests/fuzz/state-corpus.
$(B)/fuzz/fuzz_state: tests/fuzz/fuzz_state.c $(CORE_SRC) $(wildcard include/ipcns/*.h plugin/lib/ipc/*.h)
	@mkdir -p $(@D)
	@echo "  FUZZ-LD $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz_state.c $(CORE_SRC)
.PHONY: fuzz-state
fuzz: $(B)/fuzz/fuzz_core
	@tests/fuzz/run.sh fuzz $(FUZZ_SECONDS)
fuzz-state: $(B)/fuzz/fuzz_state
	@FUZZ_TARGET=state tests/fuzz/run.sh fuzz $(FUZZ_SECONDS)
fuzz-regress: $(B)/fuzz/fuzz_core $(B)/fuzz/fuzz_state
	@tests/fuzz/run.sh regress
	@FUZZ_TARGET=state tests/fuzz/run.sh regress

# Cross-compile check for aarch64, not part of check: every C source (the
# library, ipcnsd, ipcnsctl, the crun plugin, ipcns-runtime and ipcns-hook,
# the unit, conformance, tool, bench and example programs, the fuzz targets)
# compiled for aarch64 with this Makefile's flags, warnings as errors (-c,
# not only -fsyntax-only, so that the warnings of the optimiser count too).
# Only compiled: nothing is linked or run.  Skipped, and says so, without
# $(CROSS_AARCH64) (Debian: gcc-aarch64-linux-gnu).  The libseccomp,
# libcap, jansson and cmocka headers are the host's, linked into
# $(B)/cross-aarch64/include: those -dev packages are Multi-Arch: same, so
# their headers are the same for every architecture.
CROSS_AARCH64 ?= aarch64-linux-gnu-gcc
CROSS_HEADERS := seccomp.h seccomp-syscalls.h jansson.h jansson_config.h sys/capability.h cmocka.h
.PHONY: cross-check-aarch64
cross-check-aarch64:
	@if ! command -v $(CROSS_AARCH64) >/dev/null 2>&1; then \
		echo "cross-check-aarch64: SKIPPED: $(CROSS_AARCH64) is not installed (apt-get install gcc-aarch64-linux-gnu)"; \
		exit 0; \
	fi; \
	inc=$(B)/cross-aarch64/include; \
	mkdir -p $$inc/sys; \
	for h in $(CROSS_HEADERS); do ln -sf /usr/include/$$h $$inc/$$h || exit 1; done; \
	n=0; bad=0; \
	cc1() { \
		f=$$1; shift; n=$$((n + 1)); \
		if ! $(CROSS_AARCH64) "$$@" -idirafter $$inc -c -o /dev/null $$f; then \
			bad=$$((bad + 1)); echo "cross-check-aarch64: FAILED: $$f"; \
		fi; \
	}; \
	for f in $(LIB_SRC) $(IPCNSD_SRC) $(CTL_SRC) $(CRUN_SRC) plugin/keeper/keeper.c runtime-hook/runtime.c \
		runtime-hook/hook.c; do cc1 $$f $(ALL_CFLAGS); done; \
	for f in $(UNIT_SRC); do cc1 $$f $(SAN_CFLAGS) -Itests/lib -Wno-missing-prototypes; done; \
	for f in $(TOOL_SRC) $(FAKE_SRC); do cc1 $$f $(ALL_CFLAGS) -Itests/lib; done; \
	for f in $(CONF_SRC) $(BENCH_SRC) $(EXAMPLE_SRC) $(IT_SRC) $(SOAK_SRC); do cc1 $$f $(TEST_CFLAGS); done; \
	for f in tests/fuzz/fuzz_core.c tests/fuzz/fuzz_state.c; do cc1 $$f $(TEST_CFLAGS) -Iplugin/lib/ipc; done; \
	echo "cross-check-aarch64: $$((n - bad)) of $$n sources compile for aarch64 ($$($(CROSS_AARCH64) -dumpversion))"; \
	[ $$bad -eq 0 ]

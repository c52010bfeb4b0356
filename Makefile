# pkiroll — see README.md. `make run` and `make test` work on a fresh
# Debian 12 machine (as root they install what is missing first).

# `make install` (see "Installing" below): programs, man pages, the
# configuration, the systemd units, the state directory, bash completion.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var/lib
# Debian keeps its packages' units in /lib/systemd/system; anything else
# under the prefix (systemd reads /usr/local/lib/systemd/system too).
UNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DESTDIR ?=

# B is the build directory: every object and binary goes under it, none
# beside the sources. `make asan` uses build/asan. The binaries:
# $(B)/bin/pkiroll and $(B)/bin/pkiroll-ca.
B ?= build
CC ?= cc
AR ?= ar
OPT ?= -O2 -g
SAN ?=
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
PKGS = openssl sqlite3 libzip jansson inih libxml-2.0 libcurl
# lib/ and its tools see the layers by folder ("cmp/cmp.h"); cmd/pkiroll
# sees the public header only, cmd/pkiroll-ca lib/ca_internal.h.
CPPFLAGS += -D_GNU_SOURCE
LIB_INC = -Ilib -Iinclude
CLI_INC = -Iinclude
# Recursively expanded: pkg-config runs only once `make deps` has run.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv
CA_LIBS = $(shell pkg-config --libs libmicrohttpd gnutls 2>/dev/null) -lpthread
ALL_CFLAGS = -std=c11 $(OPT) $(SAN) $(WARN) $(CPPFLAGS) $(LIB_INC) $(PKG_CFLAGS) $(CFLAGS)
CLI_CFLAGS = -std=c11 $(OPT) $(SAN) $(WARN) $(CPPFLAGS) $(CLI_INC) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)

# Debian packages the build, the tests and `make run` need. chromium and
# poppler-utils print the fingerprint sheet (tests/it/sheet_print.sh):
# about 160 MB, under a minute to install.
DEBS = build-essential pkg-config libssl-dev libsqlite3-dev libzip-dev \
       libcsv-dev libjansson-dev libinih-dev libmicrohttpd-dev openssl \
       jq time zip unzip bc procps sqlite3 libxml2-dev libxml2-utils python3 curl \
       libcurl4-openssl-dev tinyproxy libgnutls28-dev strace groff-base man-db systemd prometheus \
       chromium poppler-utils

LIB_SRC = $(wildcard lib/*/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(B)/obj/%.o)
CLI_SRC = $(wildcard cmd/pkiroll/*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(B)/obj/%.o)
CA_SRC = $(wildcard cmd/pkiroll-ca/*.c)
CA_OBJ = $(CA_SRC:%.c=$(B)/obj/%.o)
# pkiroll-ca without its main(): what fuzz_ca links
CA_CORE_SRC = $(filter-out cmd/pkiroll-ca/main.c,$(CA_SRC))
CA_CORE_OBJ = $(CA_CORE_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_OBJ = $(UNIT_SRC:%.c=$(B)/obj/%.o)
# the unit tests' fake CA issues with pkiroll-ca's certificate policy
UNIT_CA_OBJ = $(B)/obj/cmd/pkiroll-ca/mint.o
FUZZ_SRC = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN = $(FUZZ_SRC:tests/fuzz/%.c=$(B)/tests/fuzz/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(B)/tests/tools/%)
HDRS = $(wildcard include/*.h lib/*.h lib/*/*.h cmd/pkiroll/*.h cmd/pkiroll-ca/*.h tests/unit/*.h tests/fuzz/*.h)

LIBA = $(B)/lib/libpkiroll.a
PKIROLL = $(B)/bin/pkiroll
PKIROLL_CA = $(B)/bin/pkiroll-ca
UNIT = $(B)/tests/unit_tests

.PHONY: all deps test asan run install install-ca uninstall fmt fmt-check fuzz fuzz-smoke bench bench-scale clean check-deps

all: $(LIBA) $(PKIROLL) $(PKIROLL_CA)

$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# the tool builds on the public header alone
$(B)/obj/cmd/pkiroll/%.o: cmd/pkiroll/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(PKIROLL): $(CLI_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIBA) $(PKG_LIBS)

$(PKIROLL_CA): $(CA_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CA_OBJ) $(LIBA) $(PKG_LIBS) $(CA_LIBS)

$(UNIT_OBJ): CPPFLAGS += -Icmd/pkiroll-ca
$(UNIT): $(UNIT_OBJ) $(UNIT_CA_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(UNIT_OBJ) $(UNIT_CA_OBJ) $(LIBA) $(PKG_LIBS)

# Test tools (tests/tools): small programs on the library for the suite.
$(B)/tests/tools/%: tests/tools/%.c $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBA) $(PKG_LIBS)

# Fuzz targets: built with a replay driver (tests/fuzz/driver.c) so the
# suite runs their corpus; `make fuzz` builds them with libFuzzer.
$(B)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/driver.c $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< tests/fuzz/driver.c $(LIBA) $(PKG_LIBS)

$(B)/tests/fuzz/fuzz_ca: tests/fuzz/fuzz_ca.c tests/fuzz/driver.c $(CA_CORE_OBJ) $(LIBA) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Icmd/pkiroll-ca $(ALL_LDFLAGS) -o $@ $< tests/fuzz/driver.c \
	  $(CA_CORE_OBJ) $(LIBA) $(PKG_LIBS) $(CA_LIBS)

# Installs the Debian packages that are missing; does nothing when all are
# there. Needs root (or prints what to install).
deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 2; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null \
	    || { echo "apt-get install failed"; exit 2; }; \
	fi

test: deps
	$(MAKE) all $(UNIT) $(FUZZ_BIN) $(TOOL_BIN)
	tests/run.sh $(B)

asan: deps
	$(MAKE) B=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  all build/asan/tests/unit_tests $(FUZZ_SRC:tests/fuzz/%.c=build/asan/tests/fuzz/%) \
	  $(TOOL_SRC:tests/tools/%.c=build/asan/tests/tools/%)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  PKIROLL_SANITIZED=1 tests/run.sh build/asan

run: deps all
	PKIROLL=$(PKIROLL) PKIROLL_CA=$(PKIROLL_CA) examples/demo.sh

fuzz: deps
	@command -v clang >/dev/null || apt-get install -y -qq clang
	@mkdir -p build/fuzz
	for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  extra=; [ $$n = fuzz_ca ] && extra="-Icmd/pkiroll-ca $(CA_CORE_SRC) $(CA_LIBS)"; \
	  clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $(LIB_INC) $(PKG_CFLAGS) \
	    -o build/fuzz/$$n $$f $(LIB_SRC) $$extra $(PKG_LIBS) || exit 1; done
	@echo "fuzzers in build/fuzz; e.g. build/fuzz/fuzz_manifest -max_total_time=60 tests/fuzz/corpus/manifest"

# Every libFuzzer target for a bounded number of runs (FUZZ_RUNS) from its
# corpus, with the sanitizers: CI's smoke test. Prints execs per second.
FUZZ_RUNS ?= 20000
fuzz-smoke: fuzz
	tests/fuzz/smoke.sh build/fuzz $(FUZZ_RUNS)

bench: deps all $(TOOL_BIN)
	@command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null
	tests/bench/run.sh $(B)

# one store grown to 10k, 30k and 100k communities by real enrollment, and
# every command that touches them all timed at each size (BENCH_SCALE_SIZES)
bench-scale: deps all
	tests/bench/scale.sh $(B)

# Installing. pkiroll reads /etc/pkiroll.conf when no --config is given,
# and the unit's StateDirectory=pkiroll is /var/lib/pkiroll: SYSCONFDIR and
# LOCALSTATEDIR other than /etc and /var/lib need those changed too. An existing
# configuration is never replaced (the example goes beside it as
# pkiroll.conf.dist); the state directory is created 0700 and never
# removed. Without DESTDIR, as root, the pkiroll system user is created
# (systemd-sysusers) and given the state directory. `make install` uses the
# programs in $(B); `make -o all install` installs them without looking
# at the sources (what tests/it/install.sh does).
STATEDIR = $(LOCALSTATEDIR)/pkiroll
CONFFILE = $(SYSCONFDIR)/pkiroll.conf
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@CONFFILE@|$(CONFFILE)|g' -e 's|@STATEDIR@|$(STATEDIR)|g' \
	-e 's|@SYSUSERSDIR@|$(SYSUSERSDIR)|g'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(BASHCOMPDIR) \
	  $(DESTDIR)$(SYSCONFDIR)
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/pkiroll $(DESTDIR)$(STATEDIR)
	install -m 0755 $(PKIROLL) $(DESTDIR)$(BINDIR)/pkiroll
	install -m 0644 cmd/pkiroll/pkiroll.1 $(DESTDIR)$(MANDIR)/man1/pkiroll.1
	install -m 0644 cmd/pkiroll/pkiroll.conf.5 $(DESTDIR)$(MANDIR)/man5/pkiroll.conf.5
	$(SUBST) dist/pkiroll-renew.service.in >$(DESTDIR)$(UNITDIR)/pkiroll-renew.service
	install -m 0644 dist/pkiroll-renew.timer $(DESTDIR)$(UNITDIR)/pkiroll-renew.timer
	$(SUBST) dist/pkiroll.sysusers.in >$(DESTDIR)$(SYSUSERSDIR)/pkiroll.conf
	dist/bash-completion.sh $(PKIROLL) >$(DESTDIR)$(BASHCOMPDIR)/pkiroll
	$(SUBST) dist/pkiroll.conf.in >$(DESTDIR)$(CONFFILE).dist
	chmod 0644 $(DESTDIR)$(UNITDIR)/pkiroll-renew.service $(DESTDIR)$(SYSUSERSDIR)/pkiroll.conf \
	  $(DESTDIR)$(BASHCOMPDIR)/pkiroll $(DESTDIR)$(CONFFILE).dist
	@if [ -e $(DESTDIR)$(CONFFILE) ]; then \
	  echo "keeping $(DESTDIR)$(CONFFILE); the new example is $(DESTDIR)$(CONFFILE).dist"; \
	else mv $(DESTDIR)$(CONFFILE).dist $(DESTDIR)$(CONFFILE); fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers $(SYSUSERSDIR)/pkiroll.conf || exit 1; \
	  chown pkiroll:pkiroll $(STATEDIR) $(SYSCONFDIR)/pkiroll || exit 1; \
	  echo "user pkiroll owns $(STATEDIR) and $(SYSCONFDIR)/pkiroll"; \
	  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi; \
	fi

# The test CA, only on request.
install-ca: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(PKIROLL_CA) $(DESTDIR)$(BINDIR)/pkiroll-ca
	install -m 0644 cmd/pkiroll-ca/pkiroll-ca.1 $(DESTDIR)$(MANDIR)/man1/pkiroll-ca.1

# Removes what install and install-ca put in place, except the
# configuration (when it was changed) and the state directory: the
# keystores there hold keys the CA has certified.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pkiroll $(DESTDIR)$(BINDIR)/pkiroll-ca \
	  $(DESTDIR)$(MANDIR)/man1/pkiroll.1 $(DESTDIR)$(MANDIR)/man1/pkiroll-ca.1 \
	  $(DESTDIR)$(MANDIR)/man5/pkiroll.conf.5 $(DESTDIR)$(UNITDIR)/pkiroll-renew.service \
	  $(DESTDIR)$(UNITDIR)/pkiroll-renew.timer $(DESTDIR)$(SYSUSERSDIR)/pkiroll.conf \
	  $(DESTDIR)$(BASHCOMPDIR)/pkiroll $(DESTDIR)$(CONFFILE).dist
	@if $(SUBST) dist/pkiroll.conf.in | cmp -s - $(DESTDIR)$(CONFFILE); then rm -f $(DESTDIR)$(CONFFILE); \
	elif [ -e $(DESTDIR)$(CONFFILE) ]; then echo "keeping $(DESTDIR)$(CONFFILE) (changed)"; fi
	@[ ! -d $(DESTDIR)$(STATEDIR) ] || echo "keeping $(DESTDIR)$(STATEDIR) (store and keystores)"

FMT_SRC = $(wildcard include/*.h lib/*.h lib/*/*.[ch] cmd/*/*.[ch] tests/*/*.[ch])
fmt:
	clang-format -i $(FMT_SRC)

# Fails when a file is not as clang-format would write it (CI runs it).
fmt-check:
	@command -v clang-format >/dev/null || apt-get install -y -qq clang-format >/dev/null
	clang-format --dry-run -Werror $(FMT_SRC)

clean:
	rm -rf build

/*
 * The hook runner: exit status, the last 4 KiB of the output, stdin, the
 * environment given (and only it), the timeout over the process group,
 * and the configuration keys of the hooks.
 */
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/base.h"
#include "write/hook.h"
#include "t.h"

TEST(hook_status_output_stdin_env)
{
	char *env[] = {"HOOK_X=one two", "PATH=/usr/bin:/bin", NULL};
	struct hook_result r;
	const char *in = "{\"a\": 1}";

	CHECK(hook_run("cat; echo \" $HOOK_X\"; echo err >&2", env, in, strlen(in), 10, NULL, &r) ==
		      0,
	      "hook failed: %d %s", r.status, r.output);
	CHECK(r.status == 0 && !r.timed_out, "status %d", r.status);
	CHECK(strcmp(r.output, "{\"a\": 1} one two\nerr\n") == 0, "output: [%s]", r.output);
	CHECK(hook_run("test -z \"$HOME\" && exit 7", env, NULL, 0, 10, NULL, &r) < 0,
	      "a variable not given reached the hook");
	CHECK(r.status == 7, "status %d, want 7", r.status);
}

TEST(hook_output_keeps_the_last_4k)
{
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct hook_result r;

	CHECK(hook_run("i=0; while [ $i -lt 3000 ]; do echo line$i; i=$((i+1)); done", env, NULL, 0,
		       20, NULL, &r) == 0,
	      "hook failed");
	CHECK(r.outlen == HOOK_OUTPUT_MAX, "kept %zu bytes", r.outlen);
	CHECK(strstr(r.output, "line2999\n") != NULL, "the last line is missing");
	CHECK(strstr(r.output, "line0\n") == NULL, "the first line was kept");
}

TEST(hook_timeout_kills_the_group)
{
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct hook_result r;
	long long t0 = base_now_ms();

	/* the shell ignores SIGTERM: SIGKILL after the grace period */
	CHECK(hook_run("trap '' TERM; sleep 100 & echo started; wait", env, NULL, 0, 1, NULL, &r) <
		      0,
	      "a hung hook succeeded");
	CHECK(r.timed_out, "not marked timed out");
	CHECK(base_now_ms() - t0 < 1000 + HOOK_KILL_GRACE_MS + 3000, "took %lld ms",
	      base_now_ms() - t0);
	CHECK(strstr(r.output, "started") != NULL, "output lost: %s", r.output);
	CHECK(hook_run("/nonexistent/hook", env, NULL, 0, 5, NULL, &r) < 0 && r.status == 127,
	      "a missing command: status %d", r.status);
}

TEST(hook_config_keys)
{
	struct pkiroll_config cfg;

	CHECK(pkiroll_config_load(t_ctx(),
				  t_writes("h.conf",
					   "[pkiroll]\n"
					   "deploy_hook = /usr/local/sbin/gw-reload --all\n"
					   "post_hook = logger -t pkiroll\n"
					   "hook_timeout = 42\n"),
				  &cfg) == PKIROLL_OK,
	      "load: %s", t_log());
	CHECK(strcmp(cfg.deploy_hook, "/usr/local/sbin/gw-reload --all") == 0, "deploy_hook %s",
	      cfg.deploy_hook);
	CHECK(strcmp(cfg.post_hook, "logger -t pkiroll") == 0, "post_hook %s", cfg.post_hook);
	CHECK(cfg.hook_timeout == 42, "hook_timeout %d", cfg.hook_timeout);
	pkiroll_config_defaults(&cfg);
	CHECK(cfg.hook_timeout == PKIROLL_DEFAULT_HOOK_TIMEOUT && cfg.deploy_hook[0] == '\0',
	      "defaults");
	CHECK(pkiroll_config_load(t_ctx(), t_writes("h2.conf", "[pkiroll]\nhook_timeout = 0\n"),
				  &cfg) == PKIROLL_ERR_CONFIG,
	      "hook_timeout 0 taken");
}

/* CPU seconds this process has used. */
static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

TEST(hook_closed_output_is_not_polled_hot)
{
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct hook_result r;
	double c0 = cpu_now();

	/* the hook's output ends (POLLHUP for good) a second before it does */
	CHECK(hook_run("echo bye; exec >/dev/null 2>&1 </dev/null; sleep 1", env, "x", 1, 10, NULL,
		       &r) == 0,
	      "hook failed: %d %s", r.status, r.output);
	CHECK(strcmp(r.output, "bye\n") == 0, "output: [%s]", r.output);
	CHECK(cpu_now() - c0 < 0.3, "%.2f CPU seconds waiting for a quiet hook", cpu_now() - c0);
}

TEST(hook_left_running_writer_does_not_hold_the_run)
{
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct hook_result r;
	long long t0 = base_now_ms();

	/* a background writer outlives the shell: what was written is kept,
	 * the writer is killed with the group, the run goes on (the alarm
	 * ends a run that would not) */
	alarm(60);
	CHECK(hook_run("yes & echo started", env, NULL, 0, 30, NULL, &r) == 0, "hook failed: %d %s",
	      r.status, r.output);
	alarm(0);
	CHECK(base_now_ms() - t0 < 20000, "took %lld ms", base_now_ms() - t0);
	CHECK(r.outlen > 0, "no output kept");
}

/*
 * Running an operator's hook: /bin/sh -c COMMAND in its own process group,
 * with the environment given, input on its stdin, a timeout, and the last
 * of its output kept.
 */
#ifndef PKIROLL_WRITE_HOOK_H
#define PKIROLL_WRITE_HOOK_H

#include <stddef.h>

#define HOOK_OUTPUT_MAX 4096 /* the last bytes of stdout and stderr kept */
#define HOOK_KILL_GRACE_MS 5000

/* How a hook ended. */
struct hook_result {
	int started;			  /* 0: it could not start (fork, pipe) */
	int status;			  /* exit status, or 128 + signal */
	int timed_out;			  /* killed at the timeout (or on interruption) */
	char output[HOOK_OUTPUT_MAX + 1]; /* raw; display with text_escape_display() */
	size_t outlen;
};

/*
 * Runs command with /bin/sh -c, environment env (NULL-terminated), input
 * (inlen bytes, may be NULL) on its stdin, stdout and stderr captured (the
 * last HOOK_OUTPUT_MAX bytes). After timeout_s seconds, or as soon as
 * *interrupted is non-zero (may be NULL), its process group gets SIGTERM,
 * then SIGKILL after HOOK_KILL_GRACE_MS. Fills res; returns 0 when the
 * hook exited 0, else -1.
 */
int hook_run(const char *command, char *const *env, const char *input, size_t inlen, int timeout_s,
	     volatile int *interrupted, struct hook_result *res);

#endif

/*
 * pkiroll-ca's fault injection: the --fault and users add --fault specs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ca_internal.h"
#include "handler.h"

static int failinfo_bit(const char *name)
{
	for (int i = 0; cmp_failinfo_name(i) != NULL; i++)
		if (strcmp(cmp_failinfo_name(i), name) == 0)
			return i;
	return -1;
}

/* ctype=params: a media type in other case, with parameters */
#define CTYPE_PARAMS "application/PKIXCMP; charset=binary; x-vendor=1"

/* Seconds, 0..86400. 0 or -1. */
static int secs_parse(const char *v, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (end == v || *end != '\0' || n < 0 || n > 86400)
		return -1;
	*out = (int)n;
	return 0;
}

/* "N" or "N/SECS": N requests per window of SECS seconds (default 1). */
static int ratelimit_parse(const char *v, struct faults *f)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (end == v || n < 0 || n > 1000000)
		return -1;
	f->rl_n = (int)n;
	f->rl_secs = 1;
	if (*end == '/')
		return secs_parse(end + 1, &f->rl_secs) == 0 && f->rl_secs > 0 ? 0 : -1;
	return *end == '\0' ? 0 : -1;
}

int faults_parse(const char *spec, struct faults *f, char *err, size_t errlen)
{
	char buf[512], *tok, *save = NULL, *p;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		char *eq = strchr(tok, '=');
		const char *v = eq ? eq + 1 : NULL;

		if (eq)
			*eq = '\0';
		if (strcmp(tok, "delay") == 0 && v)
			f->delay_ms = atoi(v);
		else if (strcmp(tok, "waiting") == 0)
			f->waiting = v ? atoi(v) : 1;
		else if (strcmp(tok, "drop") == 0)
			f->drop = 1;
		else if (strcmp(tok, "close") == 0)
			f->close_conn = 1;
		else if (strcmp(tok, "http500") == 0)
			f->http500 = 1;
		else if (strcmp(tok, "garbage") == 0)
			f->garbage = 1;
		else if (strcmp(tok, "wrongmac") == 0)
			f->wrongmac = 1;
		else if (strcmp(tok, "consumed") == 0)
			f->consumed = 1;
		else if (strcmp(tok, "slow") == 0 && v)
			f->slow_ms = atoi(v);
		else if (strcmp(tok, "reject") == 0 && v && (f->reject_bit = failinfo_bit(v)) >= 0)
			;
		else if (strcmp(tok, "responder") == 0)
			f->responder = 1;
		else if (strcmp(tok, "signpbm") == 0)
			f->signpbm = 1;
		else if (strcmp(tok, "signerrors") == 0)
			f->signerrors = 1;
		else if (strcmp(tok, "lostconf") == 0)
			f->lostconf = 1;
		else if (strcmp(tok, "reconf") == 0 && v && (f->reconf_bit = failinfo_bit(v)) >= 0)
			;
		else if (strcmp(tok, "badconf") == 0)
			f->badconf = 1;
		else if (strcmp(tok, "flipconf") == 0)
			f->flipconf = 1;
		else if (strcmp(tok, "ejbca") == 0)
			f->ejbca = 1;
		else if (strcmp(tok, "ctype") == 0 && v && *v && strlen(v) < sizeof(f->ctype))
			snprintf(f->ctype, sizeof(f->ctype), "%s",
				 strcmp(v, "params") == 0 ? CTYPE_PARAMS : v);
		else if (strcmp(tok, "chunked") == 0 && !v)
			f->chunked = 1;
		else if ((strcmp(tok, "ratelimit") == 0 || strcmp(tok, "ratelimit429") == 0) && v &&
			 ratelimit_parse(v, f) == 0)
			f->rl_status = tok[9] == '4' ? 429 : 503;
		else if ((strcmp(tok, "retryafter") == 0 || strcmp(tok, "retrydate") == 0) && v &&
			 secs_parse(v, &f->retry_after) == 0)
			f->retry_date = tok[5] == 'd';
		else {
			snprintf(err, errlen,
				 "unknown fault \"%s%s%s\" (delay=MS, waiting=K, drop, close, "
				 "http500, garbage, wrongmac, reject=FAILINFO, consumed, slow=MS, "
				 "responder, signpbm, signerrors, lostconf, reconf=FAILINFO, "
				 "badconf, flipconf, ejbca; HTTP only: ctype=TYPE|params, chunked, "
				 "ratelimit=N[/SECS], ratelimit429=N[/SECS], retryafter=SECS, "
				 "retrydate=SECS)",
				 tok, v ? "=" : "", v ? v : "");
			return -1;
		}
	}
	return 0;
}

void faults_add(struct faults *dst, const struct faults *src)
{
	if (src->delay_ms)
		dst->delay_ms = src->delay_ms;
	if (src->waiting)
		dst->waiting = src->waiting;
	dst->drop |= src->drop;
	dst->close_conn |= src->close_conn;
	dst->http500 |= src->http500;
	dst->garbage |= src->garbage;
	dst->wrongmac |= src->wrongmac;
	dst->consumed |= src->consumed;
	if (src->reject_bit >= 0)
		dst->reject_bit = src->reject_bit;
	if (src->slow_ms)
		dst->slow_ms = src->slow_ms;
	dst->responder |= src->responder;
	dst->signpbm |= src->signpbm;
	dst->signerrors |= src->signerrors;
	dst->lostconf |= src->lostconf;
	if (src->reconf_bit >= 0)
		dst->reconf_bit = src->reconf_bit;
	dst->badconf |= src->badconf;
	dst->flipconf |= src->flipconf;
	dst->ejbca |= src->ejbca;
	if (src->ctype[0] != '\0')
		snprintf(dst->ctype, sizeof(dst->ctype), "%s", src->ctype);
	dst->chunked |= src->chunked;
	/* the limiter stands in front of the CA: a user's faults cannot reach it */
}

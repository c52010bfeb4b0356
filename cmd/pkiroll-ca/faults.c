/*
 * pkiroll-ca's fault injection: the --fault and users add --fault specs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmp/cmp.h"
#include "handler.h"

static int failinfo_bit(const char *name)
{
	for (int i = 0; cmp_failinfo_name(i) != NULL; i++)
		if (strcmp(cmp_failinfo_name(i), name) == 0)
			return i;
	return -1;
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
		else {
			snprintf(err, errlen,
				 "unknown fault \"%s%s%s\" (delay=MS, waiting=K, drop, close, "
				 "http500, garbage, wrongmac, reject=FAILINFO, consumed, slow=MS, "
				 "responder, signpbm, signerrors, lostconf, reconf=FAILINFO, "
				 "badconf, flipconf, ejbca)",
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
}

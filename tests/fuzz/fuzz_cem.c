/*
 * Fuzz target: a partner's CEM response as pkiroll cem-response reads it
 * (raw XML or a MIME entity, nested and base64).
 */
#include <stdint.h>

#include "input/cem_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cem_response r;
	char err[700];

	if (cem_response_parse(data, size, &r, err, sizeof(err)) == 0)
		cem_response_free(&r);
	return 0;
}

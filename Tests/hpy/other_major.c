// A module that declares itself built for HPy ABI major version 1, which refscale's context
// (HPy 0.9's, major version 0) must refuse before it calls anything. Built by
// Tests/hpy-workload-tests.sh; its entry points are those every universal-ABI module exports.
#include <stdint.h>

#define EXPORTED __attribute__((visibility("default")))

static const void *module_definition[5];

EXPORTED uint32_t get_required_hpy_major_version_other_major(void) { return 1; }
EXPORTED uint32_t get_required_hpy_minor_version_other_major(void) { return 0; }
EXPORTED void HPyInitGlobalContext_other_major(void *context) { (void)context; }
EXPORTED const void *HPyInit_other_major(void) { return module_definition; }
